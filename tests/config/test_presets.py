"""Every paper preset: its values against Appendix C and docs/experiments.md, a few real training steps on
a small fixture in each loader's real on-disk format, bad input, and colour / greyscale sheets."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from torch import nn

import infogan
from infogan.api import load_training_data, write_samples, write_traversals
from infogan.cli import main
from infogan.config.presets import PRESETS, apply_schedule, get_preset
from infogan.config.presets import paper as presets_paper
from infogan.data import fashion, mnist
from infogan.data.idx import write_idx
from infogan.inference.viz import sample_sheet, save_grid, to_uint8, traversal_sheet
from infogan.latent.spec import Categorical, Continuous
from infogan.models import InfoGAN, build_model
from infogan.models.base import Discriminator
from infogan.training import Trainer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's real cache."""
    monkeypatch.setenv("INFOGAN_DATA_DIR", str(tmp_path / "default-cache"))


# ---------------------------------------------------------------- values against Appendix C (Chen et al. 2016)
# preset: (dataset, arch, (C, H, W), output, noise dims, categorical sizes, number of continuous codes,
#          lr D, lr G, lambda continuous, lambda categorical, G input)
PAPER = {
    "mnist": ("mnist", "mnist", (1, 28, 28), "sigmoid", 62, [10], 2, 2e-4, 1e-3, 1.0, 1.0, 74),
    "fashion-mnist": ("fashion-mnist", "mnist", (1, 28, 28), "sigmoid", 62, [10], 2, 2e-4, 1e-3, 1.0, 1.0, 74),
    "svhn": ("svhn", "svhn", (3, 32, 32), "tanh", 124, [10] * 4, 4, 2e-4, 1e-3, 1.0, 1.0, 168),
    "celeba": ("celeba", "svhn", (3, 32, 32), "tanh", 128, [10] * 10, 0, 2e-4, 1e-3, None, 1.0, 228),
    "faces-azimuth": ("faces", "faces", (1, 32, 32), "sigmoid", 128, [], 5, 2e-4, 5e-4, 0.2, None, 133),
    "faces-elevation": ("faces", "faces", (1, 32, 32), "sigmoid", 128, [], 5, 4e-4, 3e-4, 0.1, None, 133),
    "faces-lighting": ("faces", "faces", (1, 32, 32), "sigmoid", 128, [], 5, 8e-4, 3e-4, 0.1, None, 133),
    "chairs-rotation": ("chairs", "chairs", (1, 64, 64), "sigmoid", 128, [20] * 3, 1, 2e-4, 1e-3, 10.0, 1.0, 189),
    "chairs-width": ("chairs", "chairs", (1, 64, 64), "sigmoid", 128, [20] * 3, 1, 2e-4, 1e-3, 0.05, 2.0, 189),
}


def lambdas(spec, kind):
    values = {c.lambda_info for c in spec.codes if isinstance(c, kind)}
    assert len(values) <= 1, "one lambda per kind of code"
    return values.pop() if values else None


@pytest.mark.parametrize("name", sorted(PAPER))
def test_preset_values_match_appendix_c(name):
    dataset, arch, shape, output, noise, cats, n_cont, lr_d, lr_g, lam_cont, lam_cat, g_in = PAPER[name]
    cfg = get_preset(name)
    spec = cfg.model.latent
    assert (cfg.preset, cfg.data.dataset, cfg.model.arch, cfg.model.image_shape, cfg.model.output) == (
        name, dataset, arch, shape, output)
    assert spec.noise.dim == noise and spec.noise.prior == "uniform"
    assert [c.k for c in spec.codes if isinstance(c, Categorical)] == cats
    cont = [c for c in spec.codes if isinstance(c, Continuous)]
    assert len(cont) == n_cont and all(c.prior == "uniform" and c.q_std == "learned" for c in cont)
    assert (cfg.optim.lr_d, cfg.optim.lr_g, cfg.optim.beta1) == (lr_d, lr_g, 0.5)
    assert (lambdas(spec, Continuous), lambdas(spec, Categorical)) == (lam_cont, lam_cat)
    assert spec.g_input_dim == g_in == noise + sum(cats) + n_cont
    assert cfg.model.leaky_slope == 0.1
    assert cfg.train.batch_size == (64 if name == "mnist" else 128)  # mnist: the CPU-sized "quick" default


def test_every_paper_experiment_is_registered():
    assert set(PAPER) <= set(PRESETS)
    for name, factory in presets_paper.PRESETS.items():
        assert PRESETS[name] is factory and factory.__doc__ and "not stated in the paper" in factory.__doc__.lower()


def test_docs_table_matches_the_presets():
    text = (ROOT / "docs" / "experiments.md").read_text()
    rows = re.findall(r"^\| `([a-z-]+)` \| ([a-z-]+) \| (\d+)x(\d+)x(\d) \| (\d+) = [^|]+ \| ([\d.e-]+) \| ([\d.e-]+) "
                      r"\| ([\d.-]+) / ([\d.-]+) \| (sigmoid|tanh), ", text, flags=re.MULTILINE)
    assert sorted(r[0] for r in rows) == sorted(PAPER)
    for name, dataset, h, w, c, g_in, lr_d, lr_g, lam_cont, lam_cat, output in rows:
        cfg = get_preset(name)
        spec = cfg.model.latent
        assert (cfg.data.dataset, cfg.model.image_shape, spec.g_input_dim, cfg.model.output) == (
            dataset, (int(c), int(h), int(w)), int(g_in), output), name
        assert (cfg.optim.lr_d, cfg.optim.lr_g) == (float(lr_d), float(lr_g)), name
        assert lambdas(spec, Continuous) == (None if lam_cont == "-" else float(lam_cont)), name
        assert lambdas(spec, Categorical) == (None if lam_cat == "-" else float(lam_cat)), name


@pytest.mark.parametrize("name, latent, g_in", [
    ("svhn", presets_paper.SVHN_MAIN_TEXT_LATENT, 166),
    ("chairs-rotation", presets_paper.CHAIRS_MAIN_TEXT_LATENT["chairs-rotation"], 209),
    ("chairs-width", presets_paper.CHAIRS_MAIN_TEXT_LATENT["chairs-width"], 209),
])
def test_main_text_reading_is_one_flag_away(name, latent, g_in, capsys):
    """Where the paper contradicts itself, --latent gives the other reading and keeps everything else."""
    assert main(["train", "--preset", name, "--latent", latent, "--dry-run"]) == 0
    cfg = infogan.RunConfig.from_json(capsys.readouterr().out)
    preset = get_preset(name)
    assert cfg.model.latent.g_input_dim == g_in and cfg.model.latent.g_input_dim != preset.model.latent.g_input_dim
    assert lambdas(cfg.model.latent, Continuous) == lambdas(preset.model.latent, Continuous)
    assert lambdas(cfg.model.latent, Categorical) == lambdas(preset.model.latent, Categorical)
    assert (cfg.model.arch, cfg.optim, cfg.data) == (preset.model.arch, preset.optim, preset.data)
    assert latent in preset.notes
    model = build_model(cfg.model)
    assert model.G[0][0].in_features == g_in


# ---------------------------------------------------------------- fixtures in the real on-disk formats
def write_svhn(data_dir: Path, split="train", n=6):
    rng = np.random.default_rng(0)
    path = data_dir / "svhn" / f"{split}_32x32.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                            "y": rng.integers(1, 11, (n, 1)).astype(np.uint8)})
    return path


def noise_image(size, mode, seed):
    """A random image of 4 x 4 blocks, one black and one white, so resizing keeps the full 0..255 range."""
    rng = np.random.default_rng(seed)
    channels = {"L": (), "RGB": (3,)}[mode]
    blocks = rng.integers(0, 256, (4, 4, *channels), dtype=np.uint8)
    blocks[0, 0], blocks[3, 3] = 0, 255
    return Image.fromarray(blocks, mode).resize(size, Image.Resampling.NEAREST)


def write_celeba(data_dir: Path, n=4):
    folder = data_dir / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    for i in range(n):  # the aligned images are 178 x 218 JPEGs
        noise_image((178, 218), "RGB", i).save(folder / f"{i + 1:06d}.jpg", quality=90)


def write_faces(data_dir: Path, n=4):
    for i in range(n):  # renders in one subfolder per face, PNG
        folder = data_dir / "faces" / f"face{i % 2:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        noise_image((64, 64), "L", i).save(folder / f"render{i}.png")


def write_chairs(data_dir: Path, n=4):
    for i in range(n):  # rendered_chairs/<chair id>/renders/*.png, dark chair on a white background
        folder = data_dir / "chairs" / "rendered_chairs" / f"chair{i % 2}" / "renders"
        folder.mkdir(parents=True, exist_ok=True)
        img = Image.new("RGB", (128, 128), "white")
        img.paste((0, 0, 0), (30 + 4 * i, 20, 90, 110))
        img.save(folder / f"image_{i:03d}.png")


def write_idx_dataset(folder: Path, names, module, monkeypatch, n=6):
    """Tiny IDX files; the loader's MD5 table is pointed at them (the official ones are for the real files)."""
    rng = np.random.default_rng(1)
    images_name, labels_name = names
    write_idx(folder / images_name, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    write_idx(folder / labels_name, rng.integers(0, 10, n).astype(np.uint8))
    md5 = dict(module.MD5)
    for name in names:
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    monkeypatch.setattr(module, "MD5", md5)


def write_fixture(dataset: str, data_dir: Path, monkeypatch) -> None:
    if dataset == "svhn":
        write_svhn(data_dir)
    elif dataset == "celeba":
        write_celeba(data_dir)
    elif dataset == "faces":
        write_faces(data_dir)
    elif dataset == "chairs":
        write_chairs(data_dir)
    elif dataset == "fashion-mnist":
        write_idx_dataset(data_dir / "fashion-mnist", fashion.SPLITS["train"], fashion, monkeypatch)
    elif dataset == "mnist":
        write_idx_dataset(data_dir / "mnist", mnist.SPLITS["train"], mnist, monkeypatch)
        monkeypatch.setattr(mnist, "fetch_mnist", lambda *a, **k: pytest.fail("tried to download MNIST"))


TINY = {"iterations": 2, "batch_size": 4, "tick": 2, "snapshot_every": 2, "precision": "fp32"}


def train_briefly(cfg, tmp_path, monkeypatch, batch_size=4):
    """Two real training steps; records the range of the real batches the trainer draws."""
    seen = []
    real_batch = Trainer.real_batch

    def spy(self, batch):
        x = real_batch(self, batch)
        seen.append((x.min().item(), x.max().item()))
        return x

    monkeypatch.setattr(Trainer, "real_batch", spy)
    result = infogan.train(cfg.replace(train={**TINY, "batch_size": batch_size}), outdir=tmp_path / "runs",
                           progress=False)
    assert result.step == 2 and not result.stopped_early
    stats = [json.loads(line) for line in (result.run_dir / "stats.jsonl").read_text().splitlines()]
    assert stats[-1]["step"] == 2 and all(math.isfinite(stats[-1][k]) for k in ("loss_d", "loss_g", "gan_d"))
    low, high = min(s[0] for s in seen), max(s[1] for s in seen)
    if cfg.model.output == "tanh":  # tanh presets see [-1, 1], sigmoid presets [0, 1]
        assert -1 <= low < -0.5 and 0.5 < high <= 1
    else:
        assert 0 <= low < 0.5 < high <= 1
    c = cfg.model.image_shape[0]
    with Image.open(result.run_dir / "samples" / "fakes0000002.png") as sheet:
        assert sheet.mode == ("RGB" if c == 3 else "L")
    return result


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n.startswith("chairs") else n
                                  for n in sorted(PAPER)])
def test_preset_trains_on_its_loader_fixture(name, tmp_path, monkeypatch):
    cfg = get_preset(name)
    data_dir = tmp_path / "data"
    write_fixture(cfg.data.dataset, data_dir, monkeypatch)
    cfg = cfg.replace(data={"data_dir": str(data_dir)})
    data = load_training_data(cfg)
    assert data.shape == cfg.model.image_shape and data.name == cfg.data.dataset
    run = train_briefly(cfg, tmp_path, monkeypatch, batch_size=2 if name.startswith("chairs") else 4).run_dir
    model = infogan.load(run)
    assert model.run_config.preset == name and model.step == 2
    if cfg.model.image_shape[0] == 3:  # colour presets: sample and traversal sheets of the trained run are RGB
        rows, cols = model.spec.codes[0].k, 2  # rows = the categories of c1, as in the paper's figures
        with Image.open(write_samples(run, n=rows * cols)) as img:
            assert img.mode == "RGB" and img.size == (2 * (cols * 33 + 1), 2 * (rows * 33 + 1))
        (path,) = write_traversals(run, codes=["c1"])
        with Image.open(path) as img:
            assert img.mode == "RGB" and img.size == (2 * (10 * 33 + 1), 2 * (10 * 33 + 1))


def test_imagefolder_with_a_preset_from_the_command_line(tmp_path, capsys):
    """`infogan train --data imagefolder:PATH --preset NAME`: PNG and JPEG files of mixed sizes and modes."""
    folder = tmp_path / "my images"
    folder.mkdir()
    noise_image((50, 40), "RGB", 0).save(folder / "a.png")
    noise_image((64, 64), "L", 1).save(folder / "b.jpg", quality=90)
    noise_image((33, 80), "RGB", 2).convert("RGBA").save(folder / "c.PNG")
    noise_image((200, 150), "RGB", 3).save(folder / "d.jpeg", quality=90)
    cache = tmp_path / "cache"
    args = ["train", "--preset", "celeba", "--data", f"imagefolder:{folder}", "--data-dir", str(cache),
            "--outdir", str(tmp_path / "runs"), "--iterations", "2", "--batch-size", "4", "--precision", "fp32",
            "--no-eval", "--no-progress"]
    assert main(args) == 0
    run = tmp_path / "runs" / "00000-celeba-seed0"
    assert f"run folder: {run}" in capsys.readouterr().out
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["dataset"] == f"imagefolder:{folder}" and cfg["model"]["image_shape"] == [3, 32, 32]
    assert len(list((cache / "imagefolder-cache").glob("*/images.npy"))) == 1  # the preprocessing cache
    # the same folder for a greyscale 64 x 64 preset: resized and converted, a second cache entry
    chairs = get_preset("chairs-width").replace(data={"dataset": f"imagefolder:{folder}", "data_dir": str(cache)})
    data = load_training_data(chairs)
    assert data.images.shape == (4, 1, 64, 64) and data.images.dtype == torch.uint8
    assert len(list((cache / "imagefolder-cache").glob("*/images.npy"))) == 2


# ---------------------------------------------------------------- bad input: one clear line, no traceback
def cli_error(args, capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("infogan: error: ")
    return err


def train_args(preset, data_dir, *extra):
    return ["train", "--preset", preset, "--data-dir", str(data_dir), "--iterations", "2", "--batch-size", "2",
            "--no-eval", "--no-progress", *extra]


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    err = cli_error(train_args("faces-azimuth", tmp_path, "--data", f"imagefolder:{tmp_path / 'empty'}"), capsys)
    assert "no images" in err and str(tmp_path / "empty") in err
    (tmp_path / "faces").mkdir()  # the preset's own dataset folder, present but empty
    assert "no images" in cli_error(train_args("faces-lighting", tmp_path), capsys)


def test_unreadable_images(tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not a png")
    (folder / "b.jpg").write_bytes(b"\xff\xd8 truncated")
    err = cli_error(train_args("celeba", tmp_path, "--data", f"imagefolder:{folder}"), capsys)
    assert "none of the 2 image files" in err
    noise_image((40, 40), "RGB", 0).save(folder / "c.png")  # one good image: the others are skipped, loudly
    cfg = get_preset("celeba").replace(data={"dataset": f"imagefolder:{folder}", "data_dir": str(tmp_path)})
    with pytest.warns(UserWarning, match=r"skipped 2 image file\(s\).*a\.png, b\.jpg"):
        assert load_training_data(cfg).images.shape == (1, 3, 32, 32)


def test_mixed_sizes(tmp_path, capsys):
    """Folders of mixed sizes are resized to the preset's size; a fixed-size dataset must match the preset."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, size in enumerate([(10, 10), (300, 120), (64, 64), (31, 77)]):
        noise_image(size, "RGB" if i % 2 else "L", i).save(folder / f"{i}.png")
    cfg = get_preset("faces-azimuth").replace(data={"dataset": f"imagefolder:{folder}", "data_dir": str(tmp_path)})
    assert load_training_data(cfg).images.shape == (4, 1, 32, 32)
    write_svhn(tmp_path)
    err = cli_error(train_args("faces-azimuth", tmp_path, "--data", "svhn"), capsys)
    assert "'svhn' is 3 x 32 x 32" in err and "channels=1" in err
    err = cli_error(train_args("chairs-rotation", tmp_path, "--data", "svhn"), capsys)
    assert "image_size=64" in err


def test_wrong_mat_files(tmp_path, capsys):
    path = tmp_path / "svhn" / "train_32x32.mat"
    path.parent.mkdir()
    scipy.io.savemat(path, {"images": np.zeros((32, 32, 3, 2), np.uint8), "labels": np.ones((2, 1))})
    err = cli_error(train_args("svhn", tmp_path), capsys)
    assert "no variable X or y" in err and str(path) in err
    scipy.io.savemat(path, {"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1))})
    assert "X must be uint8 (32, 32, 3, N)" in cli_error(train_args("svhn", tmp_path), capsys)
    path.write_bytes(b"MATLAB 5.0 MAT-file, but not really" * 10)
    assert "not a readable .mat file" in cli_error(train_args("svhn", tmp_path), capsys)


def test_missing_datasets_say_where_to_get_them(tmp_path, capsys):
    for preset, url in (("celeba", "CelebA"), ("faces-elevation", "faces.dmi.unibas.ch"),
                        ("chairs-width", "seeing3Dchairs")):
        err = cli_error(train_args(preset, tmp_path), capsys)
        assert url in err and "cannot be downloaded automatically" in err and str(tmp_path) in err


# ---------------------------------------------------------------- colour and greyscale sheets
class Constant(nn.Module):
    """A stand-in G that draws every image in one colour (C values in G's output range)."""

    def __init__(self, values, size):
        super().__init__()
        self.register_buffer("image", torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1).expand(
            1, len(values), size, size).clone())
        self.unused = nn.Parameter(torch.zeros(1))  # generate() reads the device off a parameter

    def forward(self, x):
        return self.image.expand(x.shape[0], -1, -1, -1)


def stub_model(preset, values):
    cfg = get_preset(preset).model
    G = Constant(values, cfg.image_shape[1])
    return InfoGAN(cfg, G, Discriminator(nn.Identity(), nn.Identity(), nn.Identity()))


def test_to_uint8_colour_tanh_and_greyscale_sigmoid():
    tanh = torch.tensor([-1.0, 0.0, 1.0, 0.5, -2.0, 2.0]).view(1, 3, 1, 2)  # (B, C, H, W)
    out = to_uint8(tanh, "tanh")
    assert out.shape == (1, 1, 2, 3) and out.dtype == np.uint8  # (B, H, W, C)
    assert out[0, 0].tolist() == [[0, 255, 0], [128, 191, 255]]  # pixel (0, 0) = (R -1, G 1, B -2)
    grey = to_uint8(torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1, 1), "sigmoid")
    assert grey.shape == (3, 1, 1, 1) and grey.ravel().tolist() == [0, 128, 255]


def test_colour_sheets_keep_the_channels(tmp_path):
    model = stub_model("svhn", [1.0, 0.0, -1.0])  # tanh range: orange (255, 128, 0)
    latent = model.spec.sample(30, generator=torch.Generator().manual_seed(0))
    sheet = sample_sheet(model, latent)
    assert sheet.shape == (10 * 33 + 1, 3 * 33 + 1, 3)  # rows = the 10 categories of c1
    assert sheet[1:33, 1:33].reshape(-1, 3).tolist() == [[255, 128, 0]] * 32 * 32
    assert (sheet[0] == 255).all() and (sheet[:, 33] == 255).all()  # white padding
    path = save_grid(sheet, tmp_path / "s.png", scale=2)
    with Image.open(path) as img:
        assert img.mode == "RGB" and img.getpixel((5, 5)) == (255, 128, 0) and img.size == (2 * 100, 2 * 331)
    celeba = stub_model("celeba", [-1.0, -1.0, 1.0])
    assert traversal_sheet(celeba, 9).shape == (10 * 33 + 1, 10 * 33 + 1, 3)  # a Cat(10) code, 10 noise rows
    assert traversal_sheet(celeba, 9)[5, 5].tolist() == [0, 0, 255]


def test_greyscale_sheets(tmp_path):
    faces = stub_model("faces-azimuth", [0.25])  # sigmoid range
    sheet = traversal_sheet(faces, 2, steps=7)  # no categorical code: rows are 10 noise draws
    assert sheet.shape == (10 * 33 + 1, 7 * 33 + 1, 1) and sheet[1, 1, 0] == 64
    chairs = stub_model("chairs-rotation", [1.0])
    assert traversal_sheet(chairs, 3, steps=5).shape == (20 * 65 + 1, 5 * 65 + 1, 1)  # rows: c1's 20 categories
    latent = chairs.spec.sample(100)
    assert sample_sheet(chairs, latent).shape == (20 * 65 + 1, 5 * 65 + 1, 1)
    with Image.open(save_grid(sheet, tmp_path / "g.png")) as img:
        assert img.mode == "L" and img.getpixel((1, 1)) == 64


def test_official_preset_walks_epochs_and_the_readme_preset_draws_with_replacement():
    # the official code walks a reshuffle per epoch; mnist-consistent keeps the sampling its bar was met with
    assert get_preset("mnist-official").train.sampling == "epoch"
    assert apply_schedule(get_preset("mnist-official"), "official").train.sampling == "epoch"
    assert get_preset("mnist-consistent").train.sampling == "uniform"
    assert get_preset("mnist").train.sampling == "uniform"
