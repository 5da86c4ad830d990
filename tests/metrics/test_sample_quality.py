"""Sample-quality metrics: the statistics on synthetic features with known answers, the shipped digit
network, its load errors, the Inception path without torch-fidelity, and the registered drivers end to end."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save

from infogan import snapshot
from infogan.api import format_results
from infogan.data import load_dataset
from infogan.errors import ConfigError, DataError
from infogan.metrics import evaluate
from infogan.metrics import sample_quality_eval as sqe
from infogan.metrics.feature_nets import WEIGHTS, load_feature_net, weights_path
from infogan.metrics.inception import WEIGHTS_FILE, load_inception
from infogan.metrics.sample_quality import (
    category_purity,
    frechet_distance,
    kernel_distance,
    knn_radii,
    precision_recall,
)
from infogan.metrics.shipped import file_sha256 as sha256_file
from infogan.metrics.shipped import state_bytes
from infogan.storage import read_jsonl

ROOT = Path(__file__).resolve().parents[2]


def gaussian(n: int, dim: int = 16, seed: int = 0, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)) + shift


@pytest.fixture(scope="module")
def mnist_test():
    return load_dataset("mnist", split="test")


# ----- FID ----------------------------------------------------------------------------------------------
def test_fid_of_a_set_with_itself_is_zero():
    x = gaussian(2000)
    assert abs(frechet_distance(x, x)) < 1e-6


def test_fid_grows_with_feature_noise_and_is_symmetric():
    real, base = gaussian(3000, seed=0), gaussian(3000, seed=1)
    noise = gaussian(3000, seed=2)
    values = [frechet_distance(real, base + s * noise) for s in (0.0, 0.25, 0.5, 1.0)]
    assert values == sorted(values) and values[0] < 0.5 < values[-1]
    a, b = gaussian(1500, seed=3), gaussian(1500, seed=4, shift=0.3) * 1.2
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)


def _blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = 3
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = images.float() / 255
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))


@pytest.mark.realdata
def test_fid_grows_with_pixel_noise_and_blur_on_real_digits(mnist_test):
    net = load_feature_net("mnist")
    reference = net.embed(mnist_test.images[:1000])
    others = mnist_test.images[1000:2000]
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(others.shape, generator=gen)
    noisy = [frechet_distance(reference, net.embed((others.float() / 255 + s * noise).clamp(0, 1)))
             for s in (0.0, 0.1, 0.2, 0.4)]
    blurred = [frechet_distance(reference, net.embed(_blur(others, s))) for s in (0.5, 1.0, 1.5, 2.5)]
    assert noisy == sorted(noisy) and noisy[-1] > 10 * noisy[0]
    assert blurred == sorted(blurred) and blurred[-1] > 10 * blurred[0]


# ----- KID ----------------------------------------------------------------------------------------------
def test_kid_near_zero_for_one_distribution_and_positive_for_two():
    x = gaussian(4000)
    same = kernel_distance(x[:2000], x[2000:], subsets=50, subset_size=500)
    assert abs(same["kid"]) < 2 * same["kid_std"] + 1e-4
    other = kernel_distance(x[:2000], gaussian(2000, seed=5, shift=0.5), subsets=50, subset_size=500)
    assert other["kid"] > 10 * other["kid_std"] and other["kid"] > 100 * abs(same["kid"])


def test_kid_is_reproducible_shrinks_its_subsets_and_leaves_the_global_rng_alone():
    a, b = gaussian(300), gaussian(300, seed=1, shift=0.2)
    state = torch.random.get_rng_state()
    first = kernel_distance(a, b, subsets=10)
    assert torch.equal(state, torch.random.get_rng_state())
    assert first == kernel_distance(a, b, subsets=10) and first["subset_size"] == 300
    assert kernel_distance(a, b, subsets=10, seed=1)["kid"] == pytest.approx(first["kid"], rel=0.5)


# ----- precision / recall -------------------------------------------------------------------------------
def test_precision_recall_identical_and_disjoint_sets():
    x = gaussian(1000)
    assert precision_recall(x, x) == {"precision": 1.0, "recall": 1.0, "k": 3}
    far = precision_recall(x, gaussian(1000, seed=1, shift=100.0))
    assert far["precision"] == 0.0 and far["recall"] == 0.0


def test_precision_recall_known_intermediate_answer():
    # real: 0, 1, ..., 99 on a line; the 3rd neighbour is 2 away (3 at the two ends), so the real balls cover
    # [-3, 102]. Fake: 0..49 (inside) and 1000..1049 (outside): precision 1/2. The fake balls around 0..49
    # cover [-3, 52], which holds the real points 0..52: recall 53/100.
    real = torch.arange(100.0).unsqueeze(1)
    fake = torch.cat([torch.arange(50.0), 1000 + torch.arange(50.0)]).unsqueeze(1)
    r = knn_radii(real)
    assert r[0] == 3 and r[1] == 2 and r[50] == 2 and r[99] == 3
    result = precision_recall(real, fake, chunk=17)  # chunks that do not divide the sets
    assert result["precision"] == 0.5 and result["recall"] == pytest.approx(0.53)


# ----- purity -------------------------------------------------------------------------------------------
def test_purity_perfect_random_and_mixed():
    categories = torch.arange(1000) % 10
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    perfect = category_purity(categories, perm[categories])
    assert perfect["purity"] == 1.0 and perfect["nmi"] == pytest.approx(1.0) and perfect["digits_covered"] == 10
    assert perfect["mean_entropy"] == 0.0 and [c["majority"] for c in perfect["per_category"]] == perm.tolist()

    random = category_purity(torch.arange(20000) % 10, torch.randint(10, (20000,), generator=torch.Generator()
                                                                       .manual_seed(1)))
    assert random["purity"] < 0.15 and random["nmi"] < 0.01
    assert random["mean_entropy"] == pytest.approx(math.log(10), abs=0.01)

    # category 0: three 1s and one 7; category 1: all 1s -> purities 0.75 and 1, one digit covered
    mixed = category_purity(torch.tensor([0, 0, 0, 0, 1, 1]), torch.tensor([1, 1, 1, 7, 1, 1]))
    assert mixed["purity"] == pytest.approx(0.875) and mixed["digits_covered"] == 1
    assert mixed["per_category"][0]["entropy"] == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


# ----- the shipped network ------------------------------------------------------------------------------
def test_shipped_weights_match_their_hash_and_size():
    path = weights_path("mnist")
    assert sha256_file(path) == WEIGHTS["mnist"][1]
    assert path.stat().st_size < 1_000_000
    net = load_feature_net("mnist")
    assert not net.training and net.num_features == 128
    assert sum(p.numel() for p in net.parameters()) < 250_000
    x = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    assert net(x).shape == (4, 128) and torch.allclose(net(x), net(x.float() / 255))
    assert state_bytes(net, arch="DigitFeatureNet-128") == path.read_bytes()  # the serialisation is deterministic: rebuilds reproduce the hash


@pytest.mark.realdata
def test_shipped_network_classifies_real_digits(mnist_test):
    net = load_feature_net("mnist")
    predicted = net.classify(mnist_test.images[:500])
    assert (predicted == mnist_test.labels[:500]).float().mean() >= 0.98


def _one_line_error(exc_info, *needles):
    text = str(exc_info.value)
    assert "\n" not in text
    for needle in needles:
        assert needle in text, text


def test_corrupt_and_missing_weights_give_one_line(tmp_path):
    corrupt = tmp_path / "mnist_features.safetensors"
    shutil.copyfile(weights_path("mnist"), corrupt)
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    with pytest.raises(DataError) as exc:
        load_feature_net("mnist", path=corrupt)
    _one_line_error(exc, str(corrupt), "SHA-256", "train_feature_net.py")
    with pytest.raises(DataError) as exc:
        load_feature_net("mnist", path=tmp_path / "absent.safetensors")
    _one_line_error(exc, "absent.safetensors", "train_feature_net.py")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(DataError) as exc:
        load_feature_net("mnist", path=garbage, sha256=sha256_file(garbage))
    _one_line_error(exc, "garbage.safetensors", "train_feature_net.py")
    wrong = tmp_path / "wrong.safetensors"  # readable, right hash, another network's tensors
    wrong.write_bytes(save({"x": torch.zeros(3)}))
    with pytest.raises(DataError) as exc:
        load_feature_net("mnist", path=wrong, sha256=sha256_file(wrong))
    _one_line_error(exc, "wrong.safetensors", "do not fit", "train_feature_net.py")


@pytest.mark.skipif(importlib.util.find_spec("torch_fidelity") is not None, reason="torch-fidelity is installed")
def test_inception_without_torch_fidelity_gives_one_line(tiny_run):
    with pytest.raises(ConfigError) as exc:
        load_inception()
    _one_line_error(exc, "torch-fidelity", WEIGHTS_FILE, "inception_weights")
    model = snapshot.load(tiny_run.run_dir)
    with pytest.raises(ConfigError) as exc:  # through the registry, before any data is loaded
        evaluate(model, ["fid"], dataset="fashion-mnist", data_dir="/nonexistent", num_samples=100)
    _one_line_error(exc, "torch-fidelity")


def test_feature_kinds_and_protocol_names():
    assert sqe.feature_kind("mnist") == "mnistnet" and sqe.feature_kind("fashion-mnist") == "inception"
    assert sqe.feature_kind("mnist", "inception") == "inception"
    with pytest.raises(ConfigError, match="MNIST only"):
        sqe.feature_kind("fashion-mnist", "mnistnet")
    assert sqe.protocol_name("fid", "mnist", "mnistnet", 10_000) == "fid_mnistnet_10k"
    assert sqe.protocol_name("fid", "mnist", "inception", 10_000) == "fid_inception_10k"
    assert sqe.protocol_name("prd", "svhn", "inception", 2000) == "prd_inception_svhn_n2000"
    assert sqe.protocol_name("kid", "mnist", "mnistnet", 500, subset_size=500) == "kid_mnistnet_n500_subset500"


# ----- drivers end to end -------------------------------------------------------------------------------
def test_registered_metrics_end_to_end(tiny_run):
    model = snapshot.load(tiny_run.run_dir)
    results = evaluate(model, ["fid", "kid", "prd", "purity"], num_samples=200, run_dir=tiny_run.run_dir)
    protocols = {"fid_mnistnet_fake_n200", "kid_mnistnet_fake_n200_subset200", "prd_mnistnet_fake_n200",
                 "purity_mnistnet_fake_20x10"}
    assert set(results) == protocols
    for protocol in protocols:
        lines = read_jsonl(tiny_run.run_dir / f"metric-{protocol}.jsonl")
        assert len(lines) == 1 and lines[0]["protocol"] == protocol
    fid = results["fid_mnistnet_fake_n200"]
    assert fid["fid"] > fid["floor"] >= 0 and fid["num_samples"] == 200 and fid["num_real"] == 512
    kid = results["kid_mnistnet_fake_n200_subset200"]
    assert kid["kid"] > kid["floor"] and kid["subset_size"] == 200
    prd = results["prd_mnistnet_fake_n200"]
    assert 0 <= prd["precision"] <= 1 and 0 <= prd["recall"] <= 1 and prd["floor_precision"] > prd["precision"]
    purity = results["purity_mnistnet_fake_20x10"]
    assert purity["per_category_samples"] == 20 and len(purity["per_category"]) == 10
    assert 0.1 <= purity["purity"] <= 1 and 1 <= purity["digits_covered"] <= 10

    text = format_results(results)
    assert "FID" in text and "floor" in text and "precision" in text and "purity" in text


def test_generated_features_are_shared_until_the_model_changes(tiny_run):
    model = snapshot.load(tiny_run.run_dir)
    first = sqe.generated_features(model, "mnistnet", 64)
    assert sqe.generated_features(model, "mnistnet", 64) is first
    assert sqe.generated_features(model, "mnistnet", 32) is not first
    again = sqe.generated_features(model, "mnistnet", 64)
    assert torch.equal(again, first)  # same seed, same images
    with torch.no_grad():
        next(model.G.parameters()).mul_(1.5)
    assert not torch.equal(sqe.generated_features(model, "mnistnet", 64), first)


@pytest.mark.realdata
def test_fid_on_mnist_carries_its_floor(tiny_run):
    model = snapshot.load(tiny_run.run_dir)
    r = evaluate(model, ["fid"], dataset="mnist", num_samples=300)["fid_mnistnet_n300"]
    assert r["num_real"] == 10_000 and r["fid"] > 10 * r["floor"] > 0


@pytest.mark.realdata
def test_training_script_on_a_subset(tmp_path):
    out, result = tmp_path / "w.safetensors", tmp_path / "r.json"
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train_feature_net.py"), "--subset", "512",
                          "--epochs", "1", "--out", str(out), "--result", str(result)],
                         check=False, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    record = json.loads(result.read_text())
    assert record["seed"] == 0 and record["epochs"] == 1 and record["train_images"] == 512
    assert 0 <= record["test_accuracy"] <= 1 and record["machine"]["cpu"] and record["machine"]["torch"]
    assert f"SHA-256 {record['sha256']}" in res.stdout and sha256_file(out) == record["sha256"]
    net = load_feature_net("mnist", path=out, sha256=record["sha256"])
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 128)


def test_cli_eval_prints_each_statistic_with_its_floor(tiny_run):
    run = str(tiny_run.run_dir)
    res = subprocess.run([sys.executable, "-m", "infogan", "eval", run, "--metrics", "fid,kid,prd,purity",
                          "--samples", "200"], check=False, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("fid_mnistnet_fake_n200: FID ") and "floor" in lines[0]
    assert "KID" in lines[1] and "floor" in lines[1] and "precision" in lines[2] and "purity" in lines[3]
    if importlib.util.find_spec("torch_fidelity") is None:
        res = subprocess.run([sys.executable, "-m", "infogan", "eval", run, "--metrics", "fid", "--features",
                              "inception"], check=False, capture_output=True, text=True, timeout=300)
        assert res.returncode == 2 and "torch-fidelity" in res.stderr and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
