"""Careless command lines and images: every numeric flag of every subcommand is checked against its range, a
latent spec needs a code, a config must fit its architecture, ``encode`` never replaces its input, 16-bit
greyscale is rescaled rather than clipped, and Ctrl-C during start-up exits quietly with status 130."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hostile import memory_cap, one_line_error
from PIL import Image

import infogan

pytestmark = pytest.mark.usefixtures("one_thread")


INT, FLOAT = "must be an integer in", "must be a finite number in"
BAD_NUMBERS = [  # (subcommand and its positional arguments, flag, value, what the line says)
    (["train", "--dry-run"], "--tick", "0", f"{INT} 1..1,000,000,000"),
    (["train", "--dry-run"], "--iterations", "0", INT),
    (["train", "--dry-run"], "--iterations", "1e9", INT),
    (["train", "--dry-run"], "--batch-size", "1000000", f"{INT} 1..65,536"),
    (["train", "--dry-run"], "--lr-d", "0", f"{FLOAT} (0, 1]"),
    (["train", "--dry-run"], "--lr-g", "nan", FLOAT),
    (["train", "--dry-run"], "--seed", "-1", f"{INT} 0..4,294,967,295"),
    (["train", "--dry-run"], "--seed", "99999999999999999999", INT),
    (["train", "--dry-run"], "--snapshot-every", "0", INT),
    (["train", "--dry-run"], "--eval-every", "-1", INT),
    (["train", "--dry-run"], "--eval-samples", "10", f"{INT} 100..100,000"),
    (["train", "--dry-run"], "--subset", "-1", INT),
    (["train", "--dry-run"], "--consistency", "inf", FLOAT),
    (["reproduce", "mnist", "--dry-run"], "--seeds", "0", f"{INT} 1..1,000"),
    (["reproduce", "mnist", "--dry-run"], "--jobs", "0", INT),
    (["reproduce", "mnist", "--dry-run"], "--baseline-iterations", "-1", INT),
    (["reproduce", "mnist", "--dry-run"], "--attribute-draws", "0", INT),
    (["reproduce", "mnist", "--dry-run"], "--threads-per-job", "0", INT),
    (["reproduce", "mnist", "--dry-run"], "--tick", "0", INT),
    (["sample", "RUN"], "--n", "-5", f"{INT} 1..10,000"),
    (["sample", "RUN"], "--n", "1e9", INT),
    (["sample", "RUN"], "--n", "0", INT),
    (["sample", "RUN"], "--scale", "100000", f"{INT} 1..16"),
    (["sample", "RUN"], "--seed", "-3", INT),
    (["traverse", "RUN"], "--steps", "1e7", f"{INT} 2..100"),
    (["traverse", "RUN"], "--steps", "0", INT),
    (["traverse", "RUN"], "--span", "nan", f"{FLOAT} (0, 10]"),
    (["traverse", "RUN"], "--span", "0", FLOAT),
    (["traverse", "RUN"], "--scale", "0", INT),
    (["eval", "RUN"], "--samples", "-1", f"{INT} 100..100,000"),
    (["eval", "RUN"], "--samples", "0", INT),
    (["encode", "RUN", "mnist:test"], "--batch-size", "0", f"{INT} 1..4,096"),
    (["explore", "RUN"], "--port", "70000", f"{INT} 0..65,535"),
    (["explore", "RUN"], "--span", "-inf", FLOAT),
    (["explore", "RUN"], "--threads", "0", INT),
    (["export", "RUN"], "--tolerance", "nan", f"{FLOAT} [0, 1]"),
    (["report", "RUN"], "--attribute-draws", "0", INT),
]


@pytest.mark.parametrize("command, flag, value, expected", BAD_NUMBERS,
                         ids=[f"{c[0]} {f} {v}" for c, f, v, _ in BAD_NUMBERS])
def test_a_numeric_flag_out_of_its_range_is_one_line(hostile_run, capsys, command, flag, value, expected):
    argv = [str(hostile_run) if a == "RUN" else a for a in command]
    with memory_cap():  # e.g. --scale 100000 would otherwise ask for terabytes
        err = one_line_error(capsys, [*argv, f"{flag}={value}"], f"argument {flag}: {expected}")
    assert f"got '{value}'" in err and f"see 'infogan {command[0]} --help'" in err


def test_an_unknown_flag_is_one_line(capsys):
    one_line_error(capsys, ["train", "--iterationz", "5"], "unrecognized arguments: --iterationz 5")


def test_a_numeric_flag_in_range_still_works(hostile_run, tmp_path):
    out = tmp_path / "grid.png"
    assert infogan.cli.main(["sample", str(hostile_run), "--n", "20", "--scale", "1", "--out", str(out)]) == 0
    assert Image.open(out).size == (2 * 29 + 1, 10 * 29 + 1)  # 2 columns, 10 rows of categories


@pytest.mark.parametrize("latent, expected", [
    ("noise62", "the latent spec 'noise62:uniform' has no codes: InfoGAN needs at least one"),
    ("", "empty latent spec"),
    (" ", "empty latent spec"),
])
def test_a_latent_spec_without_codes_is_one_line(capsys, latent, expected):
    one_line_error(capsys, ["train", "--latent", latent, "--dry-run"], expected)


def test_a_plain_gan_is_refused_by_the_library_too(tmp_path):
    cfg = infogan.get_preset("fake").replace(model={"latent": infogan.parse_latent("noise62")})
    with pytest.raises(infogan.config.schema.ConfigError, match="has no codes"):
        infogan.train(cfg, outdir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("settings, expected", [
    (["--set", "model.image_shape=[1,32,32]"], "architecture 'mnist' handles 28 x 28 images only, but image_shape is "
                                               "(1, 32, 32)"),
    (["--preset", "svhn", "--set", "model.image_shape=[3,40,40]"], "architecture 'svhn' handles image sides that "
                                                                   "are multiples of 16"),
    (["--preset", "dsprites", "--set", "model.image_shape=[1,28,28]"], "architecture 'dsprites' handles 64 x 64"),
])
def test_a_config_that_does_not_fit_its_architecture_is_one_line(capsys, settings, expected):
    one_line_error(capsys, ["train", "--preset", "fake", *settings, "--dry-run"]
                   if "--preset" not in settings else ["train", *settings, "--dry-run"], expected)


def test_the_tick_flag_of_zero_is_refused_even_in_a_dry_run(capsys):
    one_line_error(capsys, ["train", "--preset", "fake", "--tick", "0", "--dry-run"], "argument --tick")


# ----- encode never replaces its input ---------------------------------------------------------------------------
def test_encode_refuses_an_output_that_is_an_input_image(hostile_run, tmp_path, capsys):
    image = tmp_path / "x.png"
    Image.new("L", (28, 28), 90).save(image)
    before = image.read_bytes()
    one_line_error(capsys, ["encode", str(hostile_run), str(image), "--out", str(image)], "is one of the input images")
    folder = tmp_path
    one_line_error(capsys, ["encode", str(hostile_run), str(folder), "--out", str(image)], "is one of the input images")
    assert image.read_bytes() == before


# ----- 16-bit greyscale ---------------------------------------------------------------------------------------------
def _gradient_16bit(path: Path) -> Path:
    """A full-range 16-bit greyscale gradient, left (0) to right (65535)."""
    ramp = np.linspace(0, 65535, 28 * 28).reshape(28, 28).round().astype(np.uint16)
    Image.fromarray(ramp).save(path)  # mode I;16: a 16-bit PNG
    assert Image.open(path).mode == "I;16"
    return path


def _check_rescaled(pixels: np.ndarray) -> None:
    assert pixels.min() <= 2 and pixels.max() >= 253, (pixels.min(), pixels.max())
    assert (pixels == 255).mean() < 0.05 and 100 < pixels.mean() < 155  # clipped, 99.5% would be 255


def test_16_bit_greyscale_is_rescaled_by_the_decoder(tmp_path):
    from infogan.data.imagefolder import decode_image, load_image_folder

    path = _gradient_16bit(tmp_path / "g.png")
    _check_rescaled(decode_image(path, size=28, channels=1, crop=None))
    _check_rescaled(decode_image(path, size=28, channels=3, crop=None))
    _check_rescaled(load_image_folder(tmp_path, size=28, channels=1, cache=False).images.numpy())


def test_16_bit_greyscale_is_rescaled_by_encode(hostile_run, tmp_path):
    from infogan.inference.encode import iter_batches, resolve_inputs

    path = _gradient_16bit(tmp_path / "g.png")
    sources = resolve_inputs([str(path)], (1, 28, 28))
    (_, images, _, _), = list(iter_batches(sources, (1, 28, 28)))
    _check_rescaled(images.numpy())


def test_16_bit_greyscale_is_rescaled_by_the_explorer(hostile_run, tmp_path):
    from infogan.web.explorer import Explorer

    path = _gradient_16bit(tmp_path / "g.png")
    preview = Explorer(infogan.load(hostile_run)).posterior(path.read_bytes())["input"]
    png = base64.b64decode(preview.split(",", 1)[1])
    _check_rescaled(np.asarray(Image.open(io.BytesIO(png))))


# ----- Ctrl-C during start-up -------------------------------------------------------------------------------------
# torch is imported while the command line starts; this finder makes that import wait, announced on stdout, so
# that the test can interrupt exactly there
SLOW_TORCH = """
import sys, time
class SlowTorch:
    def find_spec(self, name, path, target=None):
        if name == "torch":
            print("importing torch", flush=True)
            time.sleep(60)
        return None
sys.meta_path.insert(0, SlowTorch())
sys.argv = ["infogan", "train", "--preset", "fake", "--dry-run"]
"""


@pytest.mark.parametrize("entry", ["python -m infogan", "console script"])
def test_ctrl_c_while_starting_exits_quietly_with_130(entry):
    start = ("import runpy; runpy.run_module('infogan', run_name='__main__', alter_sys=True)"
             if entry == "python -m infogan" else "from infogan.__main__ import run; sys.exit(run())")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_TORCH + start], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert proc.stdout.readline().strip() == "importing torch"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and err.strip() == "infogan: interrupted"
