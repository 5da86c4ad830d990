"""Untrusted sizes and unbounded reads: a config, snapshot or resume state decides what is allocated only within
stated bounds, checked before anything is built; configs, snapshots, IDX files and images are read only as
regular files, never further than their headers announce. The allocation cases run in a subprocess under a
memory cap (RLIMIT_AS), so that a regression fails instead of swapping."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch
from hostile import Timeout, copy_run, deadline, one_line_error, resume_argv

import infogan
from infogan import snapshot
from infogan.errors import DataError

pytestmark = pytest.mark.usefixtures("one_thread")


BASE = json.loads(infogan.get_preset("fake").to_json())


def _config(model: dict) -> dict:
    data = json.loads(json.dumps(BASE))
    data["model"].update(model)
    return data


HUGE = {  # name -> (model fields, what the refusal says)
    "noise 500,000": ({"latent": {"noise": {"dim": 500_000}, "codes": [{"kind": "categorical", "k": 10}]}},
                      "noise dim 500,000 is more than 4,096"),
    "noise 10^9": ({"latent": {"noise": {"dim": 10**9}, "codes": [{"kind": "categorical", "k": 10}]}},
                   "noise dim 1,000,000,000 is more than 4,096"),
    "100,000 codes": ({"latent": {"noise": {"dim": 62}, "codes": [{"kind": "continuous"}] * 100_000}},
                      "100,000 codes, more than 1000"),
    "10^8 categories": ({"latent": {"noise": {"dim": 62}, "codes": [{"kind": "categorical", "k": 10**8}]}},
                        "100,000,000 categories is more than 1,000"),
    "image side 10^5": ({"image_shape": [1, 100_000, 100_000]}, "image_shape[1] must be at most 1,024"),
    "G input 9,010 wide": ({"latent": {"noise": {"dim": 10}, "codes": [{"kind": "categorical", "k": 1000}] * 9}},
                           "G's input 9,010 wide, more than 8,192"),
}

# Imports everything first, then caps the address space at what it uses plus 1.5 GiB, runs each case and
# prints {case: outcome}. A case: ["cli", argv] (exit status and stderr), ["idx", path] or ["image", path].
DRIVER = r"""
import contextlib, io, json, os, resource, sys
from infogan.cli import main
from infogan.data.idx import read_idx
from infogan.data.imagefolder import decode_image
vm = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
resource.setrlimit(resource.RLIMIT_AS, (vm + (3 << 29), resource.RLIM_INFINITY))
out = {}
for name, (kind, arg) in json.load(open(sys.argv[1])).items():
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            if kind == "cli":
                result = main(arg)
            elif kind == "idx":
                result = "read %s" % (read_idx(arg).shape,)
            else:
                pixels = decode_image(arg, size=28, channels=3, crop=None)
                result = None if pixels is None else "decoded"
    except BaseException as exc:
        result = "raised %s: %s" % (type(exc).__name__, str(exc)[:300])
    out[name] = {"result": result, "err": err.getvalue()}
print(json.dumps(out))
"""


def _run_capped(cases: dict, tmp_path: Path) -> dict:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    res = subprocess.run([sys.executable, "-c", DRIVER, str(path)], capture_output=True, text=True, timeout=300,
                         env=env, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.splitlines()[-1])


def _one_line(outcome: dict, expected: str) -> None:
    err = outcome["err"]
    assert outcome["result"] == 2, outcome
    assert err.startswith("infogan: error: ") and expected in err and len(err.strip().splitlines()) == 1, err


# ----- sizes decided by a file or a flag -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def capped_outcomes(tmp_path_factory, hostile_run) -> dict:
    """Every allocation case, run once in one memory-capped subprocess."""
    from safetensors.torch import save_file

    where = tmp_path_factory.mktemp("huge")
    _, tensors, _ = snapshot.read_snapshot(hostile_run)
    cases = {}
    for i, (name, (model, _)) in enumerate(HUGE.items()):
        config = json.dumps(_config(model))
        save_file(tensors, str(where / f"{i}.safetensors"), metadata={"format": snapshot.FORMAT, "config": config,
                                                                       "step": "4"})
        (where / f"{i}.json").write_text(config)
        cases[f"snapshot {name}"] = ["cli", ["sample", str(where / f"{i}.safetensors"), "--out", str(where / "s.png")]]
        cases[f"config {name}"] = ["cli", ["train", "--config", str(where / f"{i}.json"), "--iterations", "1",
                                           "--no-eval", "--no-progress", "--outdir", str(where / "runs")]]
    for name, latent in LATENT_FLAGS.items():
        cases[f"--latent {name}"] = ["cli", ["train", "--latent", latent[0], "--dry-run"]]
    cases["config /dev/zero"] = ["cli", ["train", "--config", "/dev/zero", "--dry-run"]]
    cases.update({f"idx {name}": ["idx", str(_bomb(where, name))] for name in BOMBS})
    cases["png bomb"] = ["image", str(_png_bomb(where / "bomb.png", 9000))]
    return _run_capped(cases, where)


@pytest.mark.parametrize("name", sorted(HUGE))
def test_a_snapshot_with_absurd_sizes_is_refused_before_building(capped_outcomes, name):
    _one_line(capped_outcomes[f"snapshot {name}"], HUGE[name][1])


@pytest.mark.parametrize("name", sorted(HUGE))
def test_a_config_with_absurd_sizes_is_refused_before_building(capped_outcomes, name):
    # 100,000 code objects take 2.5 MB of JSON: the config file's own size bound refuses them first
    expected = "is larger than any config file" if name == "100,000 codes" else HUGE[name][1]
    _one_line(capped_outcomes[f"config {name}"], expected)


LATENT_FLAGS = {"noise 500,000": ("noise500000,cat10", "noise dim 500,000 is more than 4,096"),
                "9,999,999 categories": ("noise62,cat9999999", "9,999,999 categories is more than 1,000"),
                "G input too wide": ("noise10,cat1000x9", "G's input 9,010 wide")}


@pytest.mark.parametrize("name", sorted(LATENT_FLAGS))
def test_a_latent_flag_with_absurd_sizes_is_refused(capped_outcomes, name):
    _one_line(capped_outcomes[f"--latent {name}"], LATENT_FLAGS[name][1])


def test_a_config_from_dev_zero_is_refused_without_reading(capped_outcomes):
    _one_line(capped_outcomes["config /dev/zero"], "/dev/zero is a character device, not a regular file")


# ----- decompression bombs ---------------------------------------------------------------------------------------
HEADER = b"\x00\x00\x08\x03" + struct.pack(">3I", 1, 28, 28)
BOMBS = {  # each decompresses to 4 GiB from a few MB: 64 gzip members of 64 MiB of zeros after a valid start
    "trailing 4 GiB": (HEADER + bytes(784), "holds more than the 800 bytes its IDX header announces"),
    "header of 4 GiB": (b"\x00\x00\x08\x02" + struct.pack(">2I", 65536, 65536), "more than 1,073,741,824"),
}


def _bomb(where: Path, name: str) -> Path:
    path = where / f"bomb-{len(name)}.gz"
    if not path.exists():
        zeros = gzip.compress(bytes(64 << 20), compresslevel=9, mtime=0)
        path.write_bytes(gzip.compress(BOMBS[name][0], mtime=0) + zeros * 64)
    return path


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_gzip_bomb_is_refused_before_it_is_decompressed(capped_outcomes, name):
    result = capped_outcomes[f"idx {name}"]["result"]
    assert result.startswith("raised DataError") and BOMBS[name][1] in result, result


def _png_bomb(path: Path, side: int) -> Path:
    """A greyscale PNG of side x side black pixels (under Pillow's own limit) in well under 1 MB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pack, row = zlib.compressobj(9), bytes(side + 1)  # filter byte 0, then the row
    body = b"".join(pack.compress(row) for _ in range(side)) + pack.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">2I5B", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def test_a_png_bomb_is_refused_from_its_header(capped_outcomes):
    assert capped_outcomes["png bomb"]["result"] is None  # skipped as unreadable, nothing decoded


def test_an_idx_file_that_is_a_fifo_is_refused(tmp_path):
    from infogan.data.idx import read_idx

    fifo = tmp_path / "train-images-idx3-ubyte"
    os.mkfifo(fifo)
    with deadline(20, fifo), pytest.raises(DataError, match="is a FIFO, not a regular file"):
        read_idx(fifo)


# ----- files that used to block ----------------------------------------------------------------------------------
def test_a_config_that_is_a_fifo_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with deadline(20, fifo):
        one_line_error(capsys, ["train", "--config", str(fifo), "--dry-run"], f"{fifo} is a FIFO")


@pytest.mark.parametrize("command", [["sample"], ["eval"]])
def test_a_snapshot_that_is_a_fifo_is_refused_at_once(tmp_path, capsys, command):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    with deadline(20, fifo):
        one_line_error(capsys, [*command, str(fifo)], f"{fifo} is a FIFO")


def _looped_folder(root: Path) -> Path:
    """Two images in two class folders, links back up from one of them and a link to itself at the top:
    every path through a link loops."""
    from PIL import Image

    (root / "digits" / "b").mkdir(parents=True)
    (root / "digits" / "a").mkdir()
    Image.new("L", (28, 28), 40).save(root / "digits" / "a" / "a.png")
    Image.new("L", (28, 28), 200).save(root / "digits" / "b" / "c.png")
    os.symlink("..", root / "digits" / "b" / "up")
    os.symlink("../..", root / "digits" / "b" / "top")
    os.symlink(".", root / "digits" / "self")
    return root / "digits"


def test_an_image_folder_with_link_loops_lists_each_image_once(tmp_path):
    from infogan.data.imagefolder import load_image_folder, scan_images

    folder = _looped_folder(tmp_path)
    with deadline(30):
        files = scan_images(folder)
        data = load_image_folder(folder, size=28, channels=1, cache=False)
    assert sorted(p.name for p in files) == ["a.png", "c.png"] and data.images.shape[0] == 2
    assert data.labels.tolist() == [0, 1]


def test_encode_of_a_folder_with_link_loops_returns(tmp_path, hostile_run, capsys):
    folder = _looped_folder(tmp_path)
    with deadline(30):
        assert infogan.cli.main(["encode", str(hostile_run), str(folder)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3  # the header and one row per image


def test_an_image_that_is_a_fifo_is_skipped(tmp_path):
    from infogan.data.imagefolder import decode_image, scan_images

    os.mkfifo(tmp_path / "x.png")
    with deadline(20, tmp_path / "x.png"):
        assert scan_images(tmp_path) == []
        assert decode_image(tmp_path / "x.png", size=28, channels=1, crop=None) is None


# ----- snapshot and state fields of the wrong type -----------------------------------------------------------------
def _resave(hostile_run, tmp_path, *, step: str = "4", change=None) -> Path:
    from safetensors.torch import save_file

    config, tensors, _ = snapshot.read_snapshot(hostile_run)
    if change:
        change(tensors)
    path = tmp_path / "snap.safetensors"
    save_file(tensors, str(path), metadata={"format": snapshot.FORMAT, "config": config.to_json(), "step": step})
    return path


@pytest.mark.parametrize("step", ["four", "-1", "1000000000000000000", "4.0", ""])
def test_a_snapshot_step_that_is_not_a_step_is_refused(tmp_path, hostile_run, capsys, step):
    path = _resave(hostile_run, tmp_path, step=step)
    one_line_error(capsys, ["sample", str(path)], "the stored step")


@pytest.mark.parametrize("how, expected", [
    ("int8", "dtype mismatch G.0.0.weight: checkpoint int8 vs model float32"),
    ("bool", "dtype mismatch G.0.0.weight: checkpoint bool vs model float32"),
    ("nan", "holds NaN or infinite values in ['G.0.0.weight']"),
    ("inf", "holds NaN or infinite values in ['G.0.0.weight']"),
])
def test_snapshot_tensors_of_the_wrong_type_or_not_finite_are_refused(tmp_path, hostile_run, capsys, how, expected):
    def change(tensors):
        w = tensors["G.0.0.weight"]
        tensors["G.0.0.weight"] = {"int8": w.to(torch.int8), "bool": w > 0, "nan": w.clone().fill_(float("nan")),
                                   "inf": w.clone().fill_(float("inf"))}[how]

    path = _resave(hostile_run, tmp_path, change=change)
    one_line_error(capsys, ["sample", str(path)], expected)


@pytest.mark.parametrize("field, value, expected", [
    ("step", 10**18, "step 1000000000000000000 is more than 1,000,000,000"),
    ("elapsed", "soon", "elapsed 'soon' is not a number of seconds"),
    ("elapsed", float("nan"), "elapsed nan is not a number of seconds"),
    ("world_size", 0, "world_size 0 is not an integer in 1..65536"),
    ("rollbacks", 99, "rollbacks 99 is not an integer in 0..3"),
    ("model", "int8", "dtype mismatch G.0.0.weight: checkpoint int8 vs model float32"),
    ("model", "bool", "dtype mismatch G.0.0.weight: checkpoint bool vs model float32"),
    ("model", "nan", "holds NaN or infinite values"),
    ("opt_d", "nan", "opt_d holds tensors that are not finite floating-point numbers"),
])
def test_resume_state_fields_of_the_wrong_type_are_refused(tmp_path, hostile_run, capsys, field, value, expected):
    run = copy_run(hostile_run, tmp_path)
    state = torch.load(run / "state.pt", weights_only=True)  # the raw dict, to tamper with
    if field == "model":
        w = state["model"]["G.0.0.weight"]
        state["model"]["G.0.0.weight"] = {"int8": w.to(torch.int8), "bool": w > 0, "nan": w * float("nan")}[value]
    elif field == "opt_d":
        moments = next(iter(state["opt_d"]["state"].values()))
        moments["exp_avg"] = moments["exp_avg"] * float("nan")
    else:
        state[field] = value
    torch.save(state, run / "state.pt")
    one_line_error(capsys, resume_argv(run), expected)


def test_the_timeout_helper_fires(tmp_path):
    with pytest.raises(Timeout):
        with deadline(0.2):
            while True:
                pass
