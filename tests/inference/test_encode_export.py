"""``infogan encode`` (files, folders, dataset splits, unreadable and wrong-size images, clusters) and
``infogan export`` (ONNX and TorchScript round trips within a stated tolerance)."""

from __future__ import annotations

import csv
import io
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from infogan import snapshot
from infogan.cli import main
from infogan.errors import CheckpointError, ConfigError
from infogan.inference.generate import encode, generate

TOLERANCE = 1e-4  # fp32 CPU: exported outputs differ from PyTorch by ~1e-7 (G) and ~1e-6 (Q posterior)


@pytest.fixture(scope="module")
def model(tiny_trained_run):
    return snapshot.load(tiny_trained_run)


@pytest.fixture
def image_folder(tmp_path):
    """Readable images of the model's size and of wrong sizes and modes, one corrupt file, one non-image."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(root / "digit.png")
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(root / "grey28.png")
    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(root / "sub" / "grey40x30.bmp")  # RGB, wrong size
    Image.fromarray(rng.integers(0, 256, (56, 56, 4), dtype=np.uint8)).save(root / "sub" / "digit.png")  # RGBA
    (root / "sub" / "broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    (root / "notes.txt").write_text("not an image; ignored by the folder scan")
    return root


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_encode_folder_skips_unreadable_and_resizes_wrong_sizes(tiny_trained_run, model, image_folder, capsys):
    assert main(["encode", str(tiny_trained_run), str(image_folder)]) == 0
    out, err = capsys.readouterr()
    rows = read_csv(out)
    assert list(rows[0]) == ["file", "c1", "c1_prob", "c2_mean", "c2_std", "c3_mean", "c3_std"]
    assert [r["file"].removeprefix(str(image_folder) + "/") for r in rows] == [
        "digit.png", "grey28.png", "sub/digit.png", "sub/grey40x30.bmp"]
    assert f"skipped {image_folder / 'sub' / 'broken.jpg'}: not a readable image" in err
    assert "encoded 4 image(s), skipped 1" in err
    # an RGB 40x30 image of grey 200 becomes the 28x28 greyscale image of 200: the same posterior
    grey28, grey40 = rows[1], rows[3]
    assert grey28["c1"] == grey40["c1"] and float(grey28["c2_mean"]) == pytest.approx(float(grey40["c2_mean"]), abs=1e-4)
    # rows are the library's encode() of the decoded pixels
    digit = torch.from_numpy(np.array(Image.open(image_folder / "digit.png")))[None, None]
    expected = encode(model, digit)
    probs = expected["probs"][0][0]
    assert int(rows[0]["c1"]) == int(probs.argmax()) and float(rows[0]["c1_prob"]) == pytest.approx(float(probs.max()), abs=1e-5)
    assert float(rows[0]["c3_std"]) == pytest.approx(float(expected["stds"][1][0]), abs=1e-5)


def test_encode_dataset_split_to_jsonl_with_labels_and_clusters(tiny_trained_run, model, tmp_path, capsys):
    out, clusters = tmp_path / "codes.jsonl", tmp_path / "clusters"
    assert main(["encode", str(tiny_trained_run), "fake:test", "--out", str(out), "--cluster-dir", str(clusters),
                 "--batch-size", "100"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 512 and rows[7]["file"] == "fake:test#7" and isinstance(rows[7]["label"], int)
    assert set(rows[0]) == {"file", "label", "c1", "c1_prob", "c2_mean", "c2_std", "c3_mean", "c3_std"}
    written = {p.parent.name: 0 for p in clusters.glob("*/*.png")}
    for p in clusters.glob("*/*.png"):
        written[p.parent.name] += 1
    counts = {}
    for r in rows:
        counts[f"c1_{r['c1']}"] = counts.get(f"c1_{r['c1']}", 0) + 1
    assert written == counts and sum(written.values()) == 512
    assert f"clusters in {clusters}" in capsys.readouterr().err
    # the PNG written for a dataset image holds that image's pixels
    from infogan.data import load_dataset

    first = next(clusters.glob("*/fake-test-0.png"))
    pixels = np.asarray(Image.open(first))
    assert np.array_equal(pixels, load_dataset("fake", split="test").images[0, 0].numpy())


def test_encode_cluster_links_and_name_clashes(tiny_trained_run, image_folder, tmp_path, capsys):
    clusters = tmp_path / "by-category"
    assert main(["encode", str(tiny_trained_run), str(image_folder), "--cluster-dir", str(clusters), "--link",
                 "--cluster-code", "c1", "--format", "jsonl"]) == 0
    names = sorted(p.name.replace("-1.", ".") for p in clusters.glob("c1_*/*"))  # a clash gets a -1 suffix
    assert names == ["digit.png", "digit.png", "grey28.png", "grey40x30.bmp"]
    assert all(p.is_symlink() and p.resolve().parent in (image_folder, image_folder / "sub")
               for p in clusters.glob("c1_*/*"))
    capsys.readouterr()
    assert main(["encode", str(tiny_trained_run), str(image_folder), "--cluster-dir", str(clusters)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["nowhere/at/all"], "is not an existing file or folder, nor a dataset"),
    (["mnist:validation"], "split"),
    (["fake:test", "--cluster-dir", "CLU", "--cluster-code", "c2"], "--cluster-code 'c2' is not a categorical code"),
    (["fake:test", "--batch-size", "0"], "argument --batch-size: must be an integer in 1..4,096"),
])
def test_encode_errors(tiny_trained_run, tmp_path, capsys, args, message):
    args = [a.replace("CLU", str(tmp_path / "c")) for a in args]
    assert main(["encode", str(tiny_trained_run), *args]) == 2
    assert message in capsys.readouterr().err


def test_encode_with_nothing_readable_fails(tiny_trained_run, tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"garbage")
    assert main(["encode", str(tiny_trained_run), str(tmp_path / "bad.png")]) == 2
    err = capsys.readouterr().err
    assert "skipped" in err and "no readable image among the inputs" in err


def test_export_torchscript_round_trip(tiny_trained_run, model, tmp_path, capsys):
    outdir = tmp_path / "ts"
    assert main(["export", str(tiny_trained_run), "--format", "torchscript", "--q", "--outdir", str(outdir)]) == 0
    assert "generator:" in capsys.readouterr().out
    manifest = json.loads((outdir / "export.json").read_text())
    assert manifest["files"] == {"generator": "generator.pt", "q": "q.pt"}
    assert all(d <= TOLERANCE for d in manifest["max_abs_diff"].values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated upstream but still loads
        g, q = torch.jit.load(str(outdir / "generator.pt")), torch.jit.load(str(outdir / "q.pt"))
    latent = model.spec.sample(5, generator=torch.Generator().manual_seed(9))
    c = torch.stack([x.float() for x in latent.codes], dim=1)  # (5, 3): category index, then values
    images = g(latent.z, c)
    assert (images - generate(model, list(latent.codes), latent.z)).abs().max() <= TOLERANCE
    probs, c2_mean, c2_std, c3_mean, c3_std = q(images)
    post = encode(model, images)
    expected = [post["probs"][0], post["means"][0], post["stds"][0], post["means"][1], post["stds"][1]]
    for got, want in zip([probs, c2_mean, c2_std, c3_mean, c3_std], expected):
        assert got.shape == want.shape and (got - want).abs().max() <= TOLERANCE


def test_export_onnx_round_trip(tiny_trained_run, model, tmp_path):
    import onnxruntime as ort

    from infogan.inference.export import export_model

    result = export_model(model, tmp_path / "onnx", fmt="onnx", include_q=True)
    assert set(result.files) == {"generator", "q"} and max(result.max_abs_diff.values()) <= TOLERANCE
    g = ort.InferenceSession(str(result.files["generator"]), providers=["CPUExecutionProvider"])
    assert [i.name for i in g.get_inputs()] == ["z", "c"]
    latent = model.spec.sample(7, generator=torch.Generator().manual_seed(3))
    c = torch.stack([x.float() for x in latent.codes], dim=1)
    (images,) = g.run(None, {"z": latent.z.numpy(), "c": c.numpy()})
    reference = generate(model, list(latent.codes), latent.z)
    assert images.shape == (7, 1, 28, 28) and np.abs(images - reference.numpy()).max() <= TOLERANCE
    q = ort.InferenceSession(str(result.files["q"]), providers=["CPUExecutionProvider"])
    assert [o.name for o in q.get_outputs()] == ["c1_probs", "c2_mean", "c2_std", "c3_mean", "c3_std"]
    outputs = q.run(None, {"images": images})
    post = encode(model, torch.from_numpy(images))
    assert np.abs(outputs[0] - post["probs"][0].numpy()).max() <= TOLERANCE
    assert np.abs(outputs[1] - post["means"][0].numpy()).max() <= TOLERANCE


def test_export_refuses_a_mismatch_and_bad_options(model, tmp_path, monkeypatch):
    from infogan.inference import export
    with pytest.raises(ConfigError, match="unknown export format"):
        export.export_model(model, tmp_path, fmt="tflite")
    real_run = export._run
    monkeypatch.setattr(export, "_run", lambda *a: [t + 1e-2 for t in real_run(*a)])  # a broken backend
    with pytest.raises(CheckpointError, match="differ from PyTorch by up to 0.01"):
        export.export_model(model, tmp_path / "bad", fmt="torchscript")
