"""Hostile or broken inputs: each gives one clear InfoGANError (the CLI: one line, exit 2), never a deep
traceback and never code execution. Broken IDX/gzip files, malformed configs, snapshots and resume states
from another architecture or latent layout, pickles that would run code, wrong images given to encode."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import struct

import numpy as np
import pytest
import torch
from conftest import _build_tiny
from hostile import one_line_error

import infogan
from infogan import snapshot
from infogan.data.idx import idx_image_data, read_idx, write_idx
from infogan.errors import CheckpointError, ConfigError, DataError, InfoGANError
from infogan.inference.generate import encode
from infogan.models import register

# (encode comes from infogan.inference.generate: the attribute infogan.encode is replaced by the infogan.encode module
# as soon as that module is imported, e.g. by the CLI)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # tiny models: a second thread only adds synchronisation
    yield


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished 4-step run of the tiny architecture (snapshot + state), trained once for the module."""
    register("tiny", _build_tiny)
    torch.set_num_threads(1)
    cfg = infogan.get_preset("fake").replace(
        model={"arch": "tiny"}, train={"iterations": 4, "batch_size": 8, "tick": 2, "snapshot_every": 2,
                                       "precision": "fp32", "deterministic": True})
    return infogan.train(cfg, outdir=tmp_path_factory.mktemp("runs"), progress=False).run_dir


# ----- IDX / gzip files -------------------------------------------------------------------------------------
VALID = b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 2, 2) + bytes(range(8))
BROKEN_IDX = {
    "empty": b"",
    "three bytes": b"\x00\x00\x08",
    "wrong magic": b"\x12\x34\x08\x03" + VALID[4:],
    "gzip magic, not gzip": b"\x1f\x8b" + b"\x00" * 30,
    "unknown type code": b"\x00\x00\x07\x03" + VALID[4:],
    "zero dimensions": b"\x00\x00\x08\x00",
    "truncated header": VALID[:9],
    "truncated data": VALID[:-1],
    "trailing bytes": VALID + b"\x00",
    "gzip truncated": gzip.compress(VALID, mtime=0)[:-6],
    "gzip bad crc": gzip.compress(VALID, mtime=0)[:-8] + b"\x00\x00\x00\x00" + gzip.compress(VALID, mtime=0)[-4:],
    "gzip of garbage": gzip.compress(b"\xff" * 100, mtime=0),
    "dims overflow 64 bits": b"\x00\x00\x08\x04" + struct.pack(">4I", *[65536] * 4),
    "dims of 4 GiB, no data": b"\x00\x00\x08\x02" + struct.pack(">2I", 2**32 - 1, 2**32 - 1),
    "a PNG": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    "a pickle": pickle.dumps({"a": 1}),
}


@pytest.mark.parametrize("name", sorted(BROKEN_IDX))
def test_broken_idx_file_is_one_data_error(tmp_path, name):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(BROKEN_IDX[name])
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        read_idx(path)


def test_gzip_corrupted_in_the_middle(tmp_path):
    path = write_idx(tmp_path / "x.gz", np.arange(4000, dtype=np.int32))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(path)


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((5, 28, 28), np.uint8), np.zeros(4, np.uint8), "5 images but 4 labels"),
    (np.zeros((5, 28), np.uint8), np.zeros(5, np.uint8), "uint8 (N, H, W)"),
    (np.zeros((5, 28, 28), np.float32), np.zeros(5, np.uint8), "uint8 (N, H, W)"),
    (np.zeros((5, 28, 28), np.uint8), np.zeros(5, np.float64), "integers (N,)"),
])
def test_image_label_files_that_do_not_belong_together(images, labels, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        idx_image_data(images, labels, name="mnist", source="folder")


def test_corrupt_mnist_cache_is_refused_without_fetching(tmp_path):
    from infogan.data.mnist import load_mnist

    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (folder / name).write_bytes(BROKEN_IDX["truncated data"])
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_mnist("train", tmp_path, download=False)


# ----- malformed configs ----------------------------------------------------------------------------------------
BASE = json.loads(infogan.get_preset("fake").to_json())


def _mutate(section: str | None, key: str, value):
    data = json.loads(json.dumps(BASE))
    (data if section is None else data[section])[key] = value
    return json.dumps(data)


BAD_CONFIGS = {
    "unknown top-level key": (_mutate(None, "learning_rate", 1), "unknown key(s) ['learning_rate']"),
    "unknown train key": (_mutate("train", "epochs", 5), "unknown key(s) ['epochs'] in train"),
    "zero iterations": (_mutate("train", "iterations", 0), "iterations must be a positive integer"),
    "negative batch": (_mutate("train", "batch_size", -8), "batch_size must be a positive integer"),
    "string batch": (_mutate("train", "batch_size", "64"), "batch_size must be a positive integer"),
    "float iterations": (_mutate("train", "iterations", 1.5), "iterations must be a positive integer"),
    "zero tick": (_mutate("train", "tick", 0), "tick must be a positive integer"),
    "snapshot not a multiple": (_mutate("train", "snapshot_every", 3), "must be a multiple of tick"),
    "negative seed": (_mutate("train", "seed", -1), "seed must be an integer >= 0"),
    "unknown nan policy": (_mutate("train", "nan_policy", "ignore"), "nan_policy must be"),
    "string as bool": (_mutate("train", "deterministic", "no"), "deterministic must be true or false"),
    "negative lr": (_mutate("optim", "lr_d", -2e-4), "lr_d must be a positive number"),
    "beta1 of 1": (_mutate("optim", "beta1", 1.0), "beta1 must be in [0, 1)"),
    "zero image size": (_mutate("model", "image_shape", [1, 0, 28]), "image_shape[1] must be a positive integer"),
    "two-number image shape": (_mutate("model", "image_shape", [28, 28]), "image_shape must be (C, H, W)"),
    "K = 1 (string)": (_mutate("model", "latent", "noise62,cat1"), "k >= 2"),
    "K = 0 (object)": (_mutate("model", "latent", {"noise": {"dim": 62},
                                                   "codes": [{"kind": "categorical", "k": 0}]}), "k >= 2"),
    "negative lambda (string)": (_mutate("model", "latent", "noise62,cat10:lambda=-1"), "lambda must be"),
    "negative lambda (object)": (_mutate("model", "latent", {"codes": [{"kind": "continuous", "lambda_info": -0.5}]}),
                                 "lambda must be"),
    "NaN lambda": (_mutate("model", "latent", "noise62,unif2:lambda=nan"), "lambda must be a finite number"),
    "unknown code kind": (_mutate("model", "latent", {"codes": [{"kind": "bernoulli"}]}), "unknown code kind"),
    "latent of the wrong type": (_mutate("model", "latent", 74), "latent must be a spec string"),
    "10^9 codes": (_mutate("model", "latent", "cat2x1000000"), "more than 1000 codes"),
    "negative subset": (_mutate("data", "subset", -1), "subset must be an integer >= 0"),
    "section not an object": (_mutate(None, "train", [1, 2]), "config section 'train' must be an object"),
    "not JSON": ("{iterations: 5}", "config is not valid JSON"),
    "JSON array": ("[1, 2, 3]", "a config must be a JSON object"),
    "empty file": ("", "config is not valid JSON"),
    "deeply nested": ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
}


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_malformed_config_file_is_one_line(tmp_path, capsys, name):
    text, expected = BAD_CONFIGS[name]
    path = tmp_path / "config.json"
    path.write_text(text)
    one_line_error(capsys, ["train", "--config", str(path), "--dry-run"], expected)


@pytest.mark.parametrize("args, expected", [
    (["--preset", "nope"], "unknown preset 'nope'; known presets:"),
    (["--latent", "noise62,cat1"], "k >= 2"),
    (["--latent", "noise62,cat10:lambda=-3"], "lambda must be a finite number >= 0"),
    (["--latent", "noise" + "9" * 5000], "bad latent item"),
    (["--batch-size", "0"], "argument --batch-size: must be an integer in 1..65,536, got '0'"),
    (["--iterations", "-5"], "argument --iterations: must be an integer in 1..1,000,000,000, got '-5'"),
    (["--lr-g", "-1"], "argument --lr-g: must be a finite number in (0, 1], got '-1'"),
    (["--subset", "-1"], "argument --subset: must be an integer in 0..1,000,000,000, got '-1'"),
    (["--config", "/nonexistent/config.json"], "cannot read --config"),
    (["--config", "/"], "cannot read --config"),
])
def test_malformed_command_line_is_one_line(capsys, args, expected):
    one_line_error(capsys, ["train", *args, "--dry-run"], expected)


def test_binary_config_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_bytes(os.urandom(64) + b"\xff\xfe")
    one_line_error(capsys, ["train", "--config", str(path), "--dry-run"], "not a UTF-8 JSON file")


# ----- snapshots and resume states from elsewhere -----------------------------------------------------------------
def _snapshot_with(tmp_path, tensors: dict, config) -> str:
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file(tensors, str(path), metadata={"format": snapshot.FORMAT, "config": config.to_json(), "step": "4"})
    return str(path)


def test_snapshot_from_another_latent_layout_names_the_tensors(tmp_path, tiny_run, capsys):
    config, tensors, _ = snapshot.read_snapshot(tiny_run)
    other = config.replace(model={"latent": infogan.parse_latent("noise62,cat5,unif2")})
    path = _snapshot_with(tmp_path, tensors, other)
    with pytest.raises(CheckpointError, match=r"does not fit this architecture/latent layout: shape mismatch "
                                              r"G\.0\.0\.weight: checkpoint \(64, 74\) vs model \(64, 69\)"):
        infogan.load(path)
    err = one_line_error(capsys, ["sample", path, "--out", str(tmp_path / "s.png")], "D.q_head.1.weight")
    assert not (tmp_path / "s.png").exists() and "(9, 16)" in err


def test_snapshot_from_another_architecture_names_the_tensors(tmp_path, tiny_run, capsys):
    config, tensors, _ = snapshot.read_snapshot(tiny_run)
    path = _snapshot_with(tmp_path, tensors, config.replace(model={"arch": "mnist"}))
    one_line_error(capsys, ["sample", path], "shape mismatch G.0.0.weight: checkpoint (64, 74) vs model (1024, 74)")
    del tensors["D.d_head.weight"]
    tensors["D.extra.weight"] = torch.zeros(1)
    path = _snapshot_with(tmp_path, tensors, config)
    with pytest.raises(CheckpointError, match=r"missing \['D.d_head.weight'\], unexpected \['D.extra.weight'\]"):
        infogan.load(path)


BROKEN_SNAPSHOTS = {
    "empty": b"",
    "random bytes": bytes(range(256)) * 4,
    "header length of 2^63": struct.pack("<Q", 2**63) + b"{}",
    "header not JSON": struct.pack("<Q", 8) + b"not json",
}


@pytest.mark.parametrize("name", sorted(BROKEN_SNAPSHOTS) + ["truncated", "foreign metadata", "config not JSON",
                                                             "config deeply nested"])
def test_broken_snapshot_is_one_line(tmp_path, tiny_run, capsys, name):
    from safetensors.torch import save_file

    path = tmp_path / "snap.safetensors"
    if name in BROKEN_SNAPSHOTS:
        path.write_bytes(BROKEN_SNAPSHOTS[name])
    elif name == "truncated":
        path.write_bytes((tiny_run / "snapshot.safetensors").read_bytes()[:3000])
    else:
        meta = {"foreign metadata": {"framework": "pt"},
                "config not JSON": {"format": snapshot.FORMAT, "config": "{", "step": "1"},
                "config deeply nested": {"format": snapshot.FORMAT, "config": "[" * 50_000 + "]" * 50_000}}[name]
        save_file({"w": torch.zeros(2)}, str(path), metadata=meta)
    with pytest.raises(CheckpointError):
        infogan.load(path)
    one_line_error(capsys, ["eval", str(path)], str(path))


def _copy_run(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "state.prev.pt").unlink()  # the tests below tamper with state.pt alone
    return run


def _resume(run) -> list[str]:
    return ["train", "--resume", str(run), "--no-eval", "--no-progress", "--iterations", "6"]


def test_resume_state_from_another_latent_layout_is_refused(tmp_path, tiny_run, capsys):
    run = _copy_run(tiny_run, tmp_path)
    state = torch.load(run / "state.pt", weights_only=True)  # the raw dict, to tamper with
    state["config"] = infogan.RunConfig.from_json(state["config"]).replace(
        model={"latent": infogan.parse_latent("noise62,cat10,unif3")}).to_json()
    torch.save(state, run / "state.pt")
    err = one_line_error(capsys, _resume(run), "state.pt belongs to another run: its config differs from")
    assert "config.json (model.latent 'noise62:uniform,cat10" in err


def test_resume_state_whose_weights_do_not_fit_is_refused(tmp_path, tiny_run, capsys):
    run = _copy_run(tiny_run, tmp_path)
    state = torch.load(run / "state.pt", weights_only=True)  # the raw dict, to tamper with
    state["model"]["G.0.0.weight"] = torch.zeros(64, 69)
    torch.save(state, run / "state.pt")
    one_line_error(capsys, _resume(run), "does not fit this architecture/latent layout: shape mismatch G.0.0.weight: "
                                         "checkpoint (64, 69) vs model (64, 74)")


def test_resume_state_with_foreign_optimiser_state_is_refused(tmp_path, tiny_run, capsys):
    run = _copy_run(tiny_run, tmp_path)
    state = torch.load(run / "state.pt", weights_only=True)  # the raw dict, to tamper with
    state["opt_d"], state["opt_g"] = state["opt_g"], state["opt_d"]
    torch.save(state, run / "state.pt")
    one_line_error(capsys, _resume(run), "optimiser states that do not fit this model")


@pytest.mark.parametrize("field, value, expected", [
    ("step", "4", "step '4' is not an integer >= 0"),
    ("step", -1, "step -1 is not an integer >= 0"),
    ("config", {"preset": "fake"}, "config is not a JSON string"),
    ("model", [torch.zeros(1)], "model is not a dict of named tensors"),
    ("rng_ranks", [{"latent": torch.zeros(3)}], "unusable random-generator states"),
    ("opt_d", None, "opt_d is not a dict"),
])
def test_malformed_resume_state_is_refused(tmp_path, tiny_run, capsys, field, value, expected):
    run = _copy_run(tiny_run, tmp_path)
    state = torch.load(run / "state.pt", weights_only=True)  # the raw dict, to tamper with
    state[field] = value
    torch.save(state, run / "state.pt")
    one_line_error(capsys, _resume(run), expected)


# ----- pickles that would run code --------------------------------------------------------------------------------
class Evil:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["pickle protocol 2", "pickle protocol 5", "torch.save zip", "inside a valid state"])
def test_code_running_pickle_as_resume_state_is_refused(tmp_path, tiny_run, capsys, how):
    run = _copy_run(tiny_run, tmp_path)
    marker = tmp_path / "pwned"
    path = run / "state.pt"
    if how.startswith("pickle"):
        path.write_bytes(pickle.dumps({"step": 1, "config": "{}", "x": Evil(marker)}, protocol=int(how[-1])))
    elif how == "torch.save zip":
        torch.save({"step": 1, "config": "{}", "x": Evil(marker)}, path)
    else:
        state = torch.load(path, weights_only=True)
        state["rng"]["extra"] = Evil(marker)
        torch.save(state, path)
    with pytest.warns(UserWarning) if how == "pickle protocol 5" else _nothing():
        one_line_error(capsys, _resume(run), "it was refused")
    assert not marker.exists()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("command", [["sample"], ["eval"], ["traverse"]])
def test_code_running_pickle_as_snapshot_is_refused(tmp_path, capsys, command):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"model": Evil(marker)}, path)
    with pytest.raises(CheckpointError, match="not a readable safetensors snapshot"):
        infogan.load(path)
    one_line_error(capsys, [*command, str(path)], "not a readable safetensors snapshot")
    assert not marker.exists()


def test_code_running_pickle_in_the_mnist_wheel_is_refused(tmp_path):
    from infogan.data.mnist import restricted_unpickle

    marker = tmp_path / "pwned"
    with pytest.raises(DataError, match="refusing to unpickle global (posix|os).system"):
        restricted_unpickle(pickle.dumps(Evil(marker)), "mnist.pkl")
    assert not marker.exists()


# ----- encode ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("images, expected", [
    (torch.zeros(2, 1, 32, 32, dtype=torch.uint8), "shape (B, 1, 28, 28), got (2, 1, 32, 32)"),
    (torch.zeros(2, 3, 28, 28, dtype=torch.uint8), "got (2, 3, 28, 28)"),
    (torch.zeros(1, 28, 28, dtype=torch.uint8), "got (1, 28, 28)"),
    (torch.zeros(0, 1, 28, 28, dtype=torch.uint8), "got (0, 1, 28, 28)"),
    (torch.zeros(2, 1, 28, 28, dtype=torch.int32), "got a torch.int32 tensor"),
    (np.zeros((2, 1, 28, 28), np.uint8), "got a ndarray"),
    ([[0]], "got a list"),
])
def test_encode_refuses_wrong_images(tiny_run, images, expected):
    model = infogan.load(tiny_run)
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        encode(model, images)
    out = encode(model, torch.zeros(2, 1, 28, 28, dtype=torch.uint8))  # the right input works
    assert out["probs"][0].shape == (2, 10)


def test_every_error_is_an_infogan_error():
    for klass in (ConfigError, DataError, CheckpointError):
        assert issubclass(klass, InfoGANError)
