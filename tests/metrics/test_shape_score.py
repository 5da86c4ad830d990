"""The dSprites shape score: its maths on synthetic inputs, the shipped classifier on real renders and on blobs,
the weights file and its errors, the training script on a tiny setting, and the registered metric end to end."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from scipy.ndimage import gaussian_filter

from infogan.config.presets import get_preset
from infogan.data.dsprites import render_dsprites, sample_factor_classes
from infogan.errors import ConfigError, DataError
from infogan.metrics import default_metrics, evaluate
from infogan.metrics import shape_score as ss
from infogan.metrics.shape_net import (
    REBUILD_COMMAND,
    WEIGHTS_PATH,
    WEIGHTS_SHA256,
    ShapeNet,
    load_shape_net,
)
from infogan.metrics.shipped import file_sha256
from infogan.models import build_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def net() -> ShapeNet:
    torch.set_num_threads(1)
    return load_shape_net()


def one_hot_rows(counts: list[int], confidence: float = 0.98) -> np.ndarray:
    rows = []
    for k, n in enumerate(counts):
        row = np.full(len(counts), (1 - confidence) / (len(counts) - 1))
        row[k] = confidence
        rows += [row] * n
    return np.array(rows)


# ---------------------------------------------------------------- the maths
def test_uniform_confident_histogram_scores_one():
    r = ss.score_probabilities(one_hot_rows([30, 30, 30]))
    assert (r["score"], r["confident_share"], r["balance"], r["tv_uniform"]) == (1.0, 1.0, 1.0, 0.0)
    assert r["kl_uniform"] == pytest.approx(0.0, abs=1e-12) and r["histogram"]["heart"] == pytest.approx(1 / 3)
    assert r["counts"] == {"square": 30, "ellipse": 30, "heart": 30} and r["num_images"] == 90


def test_single_shape_scores_zero_and_has_the_largest_distances():
    r = ss.score_probabilities(one_hot_rows([0, 50, 0]))
    assert r["confident_share"] == 1.0 and r["score"] == 0.0 and r["balance"] == 0.0
    assert r["tv_uniform"] == pytest.approx(2 / 3) and r["kl_uniform"] == pytest.approx(math.log(3))


def test_uneven_histogram_by_hand():
    hist = np.array([2, 1, 1])  # shares 1/2, 1/4, 1/4
    assert ss.tv_to_uniform(hist) == pytest.approx(0.5 * (1 / 6 + 1 / 12 + 1 / 12))
    assert ss.kl_to_uniform(hist) == pytest.approx(0.5 * math.log(1.5) + 0.5 * math.log(0.75))
    assert ss.balance(hist) == pytest.approx(1 - (1 / 6) / (2 / 3))
    assert ss.tv_to_uniform(hist / 4) == ss.tv_to_uniform(hist)  # counts or shares


def test_threshold_and_unconfident_images():
    probs = np.array([[0.9, 0.05, 0.05], [0.89, 0.1, 0.01], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]])
    assert ss.confident(probs).tolist() == [True, False, False, True]  # >= threshold counts
    assert ss.shape_histogram(probs).tolist() == [1, 0, 1]
    r = ss.score_probabilities(probs)
    assert r["confident_share"] == 0.5 and r["balance"] == pytest.approx(0.5)  # shares 1/2, 0, 1/2: TV 1/3
    assert r["score"] == pytest.approx(0.5 * r["balance"])
    assert r["mean_confidence"] == pytest.approx((0.9 + 0.89 + 0.5 + 1.0) / 4)
    assert r["mode_kl"] == pytest.approx(ss.kl_to_uniform(np.array([2, 0, 2])))  # argmax of every image


def test_no_confident_image():
    r = ss.score_probabilities(np.full((10, 3), 1 / 3))
    assert (r["score"], r["confident_share"], r["balance"]) == (0.0, 0.0, 0.0)
    assert r["tv_uniform"] == pytest.approx(2 / 3) and r["kl_uniform"] == pytest.approx(math.log(3))
    assert r["histogram"] == {"square": 0.0, "ellipse": 0.0, "heart": 0.0}


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.zeros(3), np.zeros((4, 1))])
def test_bad_probability_arrays(bad):
    with pytest.raises(ConfigError, match=r"\(N, K\)"):
        ss.score_probabilities(bad)


def test_protocol_names():
    assert ss.protocol_name(10_000) == "shape_dspritesnet_10k" and ss.protocol_name(2000) == "shape_dspritesnet_n2000"


# ---------------------------------------------------------------- the classifier
def test_real_renders_score_near_perfect(net):
    r = ss.real_reference(1500, seed=7, net=net)
    assert r["accuracy"] >= 0.995 and r["confident_share"] >= 0.99
    assert r["score"] >= 0.95 and r["tv_uniform"] < 0.05


def test_soft_edges_and_faint_noise_still_count(net):
    """G's sigmoid draws soft edges: renders blurred by 0.5 px, with a faint haze and noise, still score like renders."""
    x = render_dsprites(sample_factor_classes(np.random.default_rng(11), 600)).astype(np.float32)
    noise = np.random.default_rng(12).standard_normal(x.shape)
    soft = np.clip(np.stack([gaussian_filter(im, 0.5) for im in x]) + 0.04 + 0.03 * noise, 0, 1).astype(np.float32)
    r = ss.score_probabilities(net.probabilities(torch.from_numpy(soft).unsqueeze(1)).numpy())
    assert r["confident_share"] >= 0.98 and r["score"] >= 0.9


def _blobs(n: int, seed: int) -> np.ndarray:
    """Gaussian blobs and blurred discs of sprite size, drawn here (not by the training script)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64] + 0.5
    out = np.empty((n, 64, 64), dtype=np.float32)
    for i in range(n):
        cx, cy = rng.uniform(12, 52, size=2)
        d2 = (xx - cx) ** 2 + (yy - cy) ** 2
        if i % 2:
            out[i] = np.exp(-d2 / (2 * rng.uniform(2.0, 4.0) ** 2))
        else:
            disc = (d2 <= rng.uniform(4.0, 8.0) ** 2).astype(np.float32)
            out[i] = np.clip(gaussian_filter(disc, rng.uniform(1.0, 2.0)) * rng.uniform(1.0, 1.5), 0, 1)
    return out


def test_blobs_score_low(net):
    probs = net.probabilities(torch.from_numpy(_blobs(200, 0)).unsqueeze(1)).numpy()
    r = ss.score_probabilities(probs)
    assert r["confident_share"] < 0.05 and r["score"] < 0.05


def test_translation_does_not_change_what_it_sees(net):
    """Two position classes apart is a whole 3 px shift: the centred crop, hence the output, is the same."""
    classes = np.array([[2, 3, 11, 4, 20], [2, 3, 11, 10, 26]])
    x = torch.from_numpy(render_dsprites(classes)).unsqueeze(1).float()
    crops = net.crop(x)
    assert crops.shape == (2, 1, 32, 32) and torch.equal(crops[0], crops[1])
    assert torch.allclose(net.probabilities(x)[0], net.probabilities(x)[1])


def test_features_and_uint8_input(net):
    x = torch.from_numpy(render_dsprites(np.array([[0, 5, 0, 16, 16], [1, 0, 7, 3, 30]]))).unsqueeze(1)
    feats = net.embed(x * 255)
    assert feats.shape == (2, ShapeNet.num_features)
    assert torch.allclose(feats, net.features(x.float()))
    with pytest.raises(ConfigError, match="64, 64"):
        net(torch.zeros(2, 3, 64, 64))


# ---------------------------------------------------------------- the weights file
def test_shipped_weights_match_the_hash_and_are_small():
    assert file_sha256(WEIGHTS_PATH) == WEIGHTS_SHA256
    assert WEIGHTS_PATH.stat().st_size < 512 * 1024
    assert 'metrics/weights/*.safetensors' in (ROOT / "pyproject.toml").read_text()


def test_missing_and_corrupt_weights_give_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="cannot be read") as missing:
        load_shape_net(tmp_path / "nothing.safetensors")
    bad = tmp_path / "bad.safetensors"
    shutil.copy(WEIGHTS_PATH, bad)
    data = bytearray(bad.read_bytes())
    data[-10] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt") as corrupt:
        load_shape_net(bad)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign))
    with pytest.raises(DataError, match="do not fit") as unfit:
        load_shape_net(foreign, sha256=None)
    for err in (missing, corrupt, unfit):
        message = str(err.value)
        assert "\n" not in message and REBUILD_COMMAND in message


# ---------------------------------------------------------------- the training script
def test_training_script_runs_on_a_tiny_setting(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("train_shape_net", ROOT / "benchmarks" / "train_shape_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    weights, result = tmp_path / "w.safetensors", tmp_path / "r.json"
    payload = module.main(["--steps", "3", "--batch-size", "16", "--test-size", "24", "--weights", str(weights),
                           "--result", str(result)])
    saved = json.loads(result.read_text())
    assert saved["sha256"] == payload["sha256"] == file_sha256(weights) and saved["seed"] == 0
    assert {"accuracy", "confident_share", "seconds", "cpu", "torch", "file_bytes"} <= set(saved)
    assert 0.0 <= saved["accuracy"] <= 1.0 and saved["torch"] == torch.__version__
    assert isinstance(load_shape_net(weights, sha256=payload["sha256"]), ShapeNet)
    assert "SHA-256" in capsys.readouterr().out


# ---------------------------------------------------------------- the registered metric
def test_registered_metric_runs_end_to_end(tmp_path, net):
    assert "shape" in default_metrics("dsprites") and "shape" not in default_metrics("mnist")
    torch.manual_seed(0)
    model = build_model(get_preset("dsprites").model)
    results = evaluate(model, ["shape"], dataset="dsprites", num_samples=40, run_dir=tmp_path)
    (protocol, record), = results.items()
    assert protocol == "shape_dspritesnet_n40" and record["metric"] == "shape" and record["num_samples"] == 40
    assert 0.0 <= record["score"] <= 1.0 and record["threshold"] == ss.CONFIDENCE_THRESHOLD
    assert record["real"]["score"] > 0.9 and record["real"]["num_images"] == 40
    assert record["relative_to_real"] == pytest.approx(record["score"] / record["real"]["score"])
    line = json.loads((tmp_path / "metric-shape_dspritesnet_n40.jsonl").read_text().splitlines()[-1])
    assert line["score"] == record["score"]
    again = ss.shape_score_for_model(model, num_samples=40, net=net)  # fixed seed: the same numbers
    assert again["score"] == record["score"] and again["counts"] == record["counts"]


def test_metric_refuses_other_models_and_datasets():
    mnist = build_model(get_preset("mnist").model)
    with pytest.raises(ConfigError, match="64x64 greyscale"):
        ss.shape_score_for_model(mnist, num_samples=4)
    with pytest.raises(ConfigError, match="does not apply"):
        evaluate(mnist, ["shape"], dataset="mnist", num_samples=4)


def test_dsprites_samples_are_measured_in_the_shape_classifiers_features():
    from infogan.metrics.sample_quality_eval import feature_kind, protocol_name

    assert feature_kind("dsprites") == "dspritesnet"
    assert protocol_name("fid", "dsprites", "dspritesnet", 10_000) == "fid_dspritesnet_dsprites_10k"
    with pytest.raises(ConfigError, match="dSprites only"):
        feature_kind("mnist", "dspritesnet")
    net = load_shape_net()
    renders = torch.from_numpy(render_dsprites(sample_factor_classes(np.random.default_rng(0), 8))).unsqueeze(1)
    assert net.embed(renders).shape == (8, ShapeNet.num_features)
