"""SVHN, Fashion-MNIST, image folders, the folder-based paper datasets, fake data and the registry."""

from __future__ import annotations

import hashlib
import socket
import sys
import types

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

import infogan.data as data_pkg
from infogan.data import DATASETS, fashion, imagefolder, load_dataset, svhn
from infogan.data.celeba import load_celeba
from infogan.data.chairs import load_chairs
from infogan.data.faces import load_faces
from infogan.data.fake import load_fake
from infogan.data.idx import write_idx
from infogan.errors import DataError


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's real cache."""
    monkeypatch.setenv("INFOGAN_DATA_DIR", str(tmp_path / "default-cache"))


@pytest.fixture
def dead_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


# ---------------------------------------------------------------- SVHN
def _write_svhn(path, n=5, labels=(10, 1, 2, 10, 9), **extra):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    mat = {"X": x, "y": np.array(labels, dtype=np.uint8).reshape(n, 1)}
    mat.update(extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, mat)
    return x


def test_svhn_loads_and_maps_ten_to_zero(tmp_path):
    x = _write_svhn(tmp_path / "svhn" / "train_32x32.mat")
    data = svhn.load_svhn("train", tmp_path)
    assert data.images.shape == (5, 3, 32, 32) and data.images.dtype == torch.uint8
    assert data.labels.tolist() == [0, 1, 2, 0, 9] and data.name == "svhn"
    np.testing.assert_array_equal(data.images[3, 1].numpy(), x[:, :, 1, 3])  # X[h, w, c, n]


def test_svhn_wrong_keys(tmp_path):
    path = tmp_path / "svhn" / "test_32x32.mat"
    path.parent.mkdir(parents=True)
    scipy.io.savemat(path, {"images": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(DataError, match="no variable X or y"):
        svhn.load_svhn("test", tmp_path)


def test_svhn_wrong_shape_and_labels(tmp_path):
    path = tmp_path / "a.mat"
    scipy.io.savemat(path, {"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1))})
    with pytest.raises(DataError, match=r"X must be uint8 \(32, 32, 3, N\)"):
        svhn.read_svhn_mat(path)
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.ones((3, 1))})
    with pytest.raises(DataError, match="y must be"):
        svhn.read_svhn_mat(path)
    _write_svhn(path, n=2, labels=(11, 1))
    with pytest.raises(DataError, match="labels outside"):
        svhn.read_svhn_mat(path)


def test_svhn_corrupt_file(tmp_path):
    path = tmp_path / "svhn" / "train_32x32.mat"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(DataError, match="train_32x32.mat"):
        svhn.load_svhn("train", tmp_path)


def test_svhn_missing(tmp_path, monkeypatch, dead_url):
    with pytest.raises(DataError) as info:
        svhn.load_svhn("train", tmp_path, download=False)
    assert "http://ufldl.stanford.edu/housenumbers/train_32x32.mat" in str(info.value)
    assert str(tmp_path / "svhn") in str(info.value)
    monkeypatch.setattr(svhn, "BASE_URL", dead_url)  # never download 180 MB in a unit test
    with pytest.raises(DataError) as info:
        svhn.load_svhn("test", tmp_path)
    assert f"{dead_url}test_32x32.mat" in str(info.value) and str(tmp_path / "svhn") in str(info.value)


# ---------------------------------------------------------------- Fashion-MNIST
def test_fashion_loads_verified_files(tmp_path, monkeypatch):
    folder = tmp_path / "fashion-mnist"
    images = np.random.default_rng(1).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([9, 0, 3], np.uint8))
    md5 = dict(fashion.MD5)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    monkeypatch.setattr(fashion, "MD5", md5)
    data = load_dataset("fashion-mnist", split="test", data_dir=tmp_path)
    assert data.images.shape == (3, 1, 28, 28) and data.labels.tolist() == [9, 0, 3]
    np.testing.assert_array_equal(data.images[:, 0].numpy(), images)


def test_fashion_unreachable(tmp_path, monkeypatch, dead_url):
    monkeypatch.setattr(fashion, "MIRRORS", (dead_url,))
    with pytest.raises(DataError) as info:
        fashion.load_fashion_mnist("train", tmp_path)
    message = str(info.value)
    assert dead_url in message and str(tmp_path / "fashion-mnist") in message and "zalandoresearch" in message
    with pytest.raises(DataError, match="download=False"):
        fashion.load_fashion_mnist("train", tmp_path, download=False)


# ---------------------------------------------------------------- image folders
@pytest.fixture
def mixed_folder(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    Image.new("L", (20, 30), 200).save(root / "a.png")
    Image.new("RGBA", (40, 40), (255, 0, 0, 128)).save(root / "b.PNG")
    Image.new("RGB", (50, 25), (0, 255, 0)).save(root / "c.jpg", quality=95)
    Image.new("P", (16, 16), 3).save(root / "d.gif")
    (root / "broken.jpeg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "notes.txt").write_text("ignored: not an image extension")
    return root


def test_image_folder_shapes_cache_and_skip(mixed_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning, match=r"skipped 1 image file.*broken\.jpeg"):
        rgb = imagefolder.load_image_folder(mixed_folder, size=16, channels=3, data_dir=cache)
    assert rgb.images.shape == (4, 3, 16, 16) and rgb.images.dtype == torch.uint8 and rgb.labels is None
    assert rgb.images[1, 0].float().mean() > 250 and rgb.images[1, 1].float().mean() < 5  # b.PNG is red
    assert abs(rgb.images[2, 1].float().mean() - 255) < 3  # c.jpg is green
    with pytest.warns(UserWarning, match="skipped 1"):
        grey = imagefolder.load_image_folder(mixed_folder, size=8, channels=1, data_dir=cache)
    assert grey.images.shape == (4, 1, 8, 8) and int(grey.images[0].float().mean()) == 200

    def no_decoding(*args, **kwargs):
        raise AssertionError("cache miss: an image was decoded again")

    monkeypatch.setattr(imagefolder.Image, "open", no_decoding)
    with pytest.warns(UserWarning, match="skipped 1"):
        again = imagefolder.load_image_folder(mixed_folder, size=16, channels=3, data_dir=cache)
    assert torch.equal(again.images, rgb.images)
    Image.new("L", (8, 8)).save(mixed_folder / "e.png")  # a new file changes the cache key
    with pytest.raises(AssertionError, match="cache miss"):
        imagefolder.load_image_folder(mixed_folder, size=16, channels=3, data_dir=cache)


def test_image_folder_center_crop(tmp_path):
    img = Image.new("RGB", (60, 40), (0, 0, 255))
    img.paste((255, 0, 0), (20, 10, 40, 30))  # red 20 x 20 square in the middle
    root = tmp_path / "one"
    root.mkdir()
    img.save(root / "x.png")
    out = imagefolder.load_image_folder(root, size=10, channels=3, crop=20, cache=False)
    assert out.images[0, 0].min() > 250 and out.images[0, 2].max() < 5
    square = imagefolder.load_image_folder(root, size=10, channels=3, crop="center", cache=False)
    assert square.images.shape == (1, 3, 10, 10)


def test_image_folder_labels_from_subfolders(tmp_path):
    root = tmp_path / "classes"
    for cls, n in (("zebra", 2), ("apple", 3)):
        (root / cls / "deep").mkdir(parents=True)
        for i in range(n):
            Image.new("L", (8, 8), i).save(root / cls / "deep" / f"{i}.png")
    data = imagefolder.load_image_folder(root, size=8, channels=1, cache=False)
    assert data.labels.tolist() == [0, 0, 0, 1, 1]  # apple = 0, zebra = 1
    Image.new("L", (8, 8)).save(root / "loose.png")
    with pytest.raises(DataError, match="both directly inside"):
        imagefolder.load_image_folder(root, size=8, channels=1, cache=False)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        imagefolder.load_image_folder(tmp_path / "nope", size=8, channels=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        imagefolder.load_image_folder(tmp_path / "empty", size=8, channels=1)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="none of the 1 image files"):
        imagefolder.load_image_folder(tmp_path / "bad", size=8, channels=1)
    with pytest.raises(DataError, match="channels"):
        imagefolder.load_image_folder(tmp_path / "bad", size=8, channels=2)


# ---------------------------------------------------------------- CelebA, faces, chairs
def test_celeba_wrapper(tmp_path):
    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    for i in range(3):
        img = Image.new("RGB", (178, 218), (0, 0, 255))
        img.paste((255, 0, 0), (35, 55, 143, 163))  # the centered 108 x 108 face region
        img.save(folder / f"{i + 1:06d}.jpg", quality=95)
    data = load_dataset("celeba", data_dir=tmp_path)
    assert data.images.shape == (3, 3, 32, 32) and data.name == "celeba" and data.labels is None
    assert data.images[:, 0].float().mean() > 240 and data.images[:, 2].float().mean() < 15
    assert load_celeba(path=tmp_path / "celeba").images.shape == (3, 3, 32, 32)  # parent folder works


def test_folder_datasets_missing_say_where(tmp_path):
    cases = [(load_celeba, "mmlab.ie.cuhk.edu.hk/projects/CelebA.html", "celeba/img_align_celeba"),
             (load_faces, "faces.dmi.unibas.ch", "faces"),
             (load_chairs, "www.di.ens.fr/willow/research/seeing3Dchairs", "chairs/rendered_chairs")]
    for loader, url, folder in cases:
        with pytest.raises(DataError) as info:
            loader(tmp_path)
        message = str(info.value)
        assert url in message and str(tmp_path / folder) in message and "imagefolder:PATH" in message


def test_chairs_labels_and_size(tmp_path):
    for chair in ("c2", "c1"):
        (tmp_path / "chairs" / "rendered_chairs" / chair / "renders").mkdir(parents=True)
        Image.new("RGB", (100, 100), "white").save(tmp_path / "chairs/rendered_chairs" / chair / "renders/a.png")
    data = load_dataset("chairs", data_dir=tmp_path)
    assert data.images.shape == (2, 1, 64, 64) and data.labels.tolist() == [0, 1]
    assert int(data.images.min()) == 255  # white background kept as is


# ---------------------------------------------------------------- fake data and registry
def test_fake_is_deterministic():
    a, b = load_fake((3, 8, 8), n=20, seed=3), load_fake((3, 8, 8), n=20, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.images.shape == (20, 3, 8, 8) and sorted(a.labels.bincount().tolist()) == [2] * 10
    assert not torch.equal(load_fake((3, 8, 8), n=20, seed=4).images, a.images)


def test_registry_fake_and_errors(tmp_path):
    assert load_dataset("fake").images.shape[1:] == (1, 28, 28)
    assert load_dataset("fake", image_size=32, channels=3).shape == (3, 32, 32)
    assert not torch.equal(load_dataset("fake").images, load_dataset("fake", split="test").images)
    with pytest.raises(DataError) as info:
        load_dataset("cifar10")
    assert all(name in str(info.value) for name in DATASETS) and "imagefolder:PATH" in str(info.value)
    with pytest.raises(DataError, match="1 x 28 x 28"):
        load_dataset("mnist", image_size=32, data_dir=tmp_path)
    with pytest.raises(DataError, match="only a 'train' split"):
        load_dataset("celeba", split="test", data_dir=tmp_path)


def test_registry_imagefolder(mixed_folder, tmp_path):
    with pytest.warns(UserWarning):
        data = load_dataset(f"imagefolder:{mixed_folder}", image_size=12, channels=1, data_dir=tmp_path)
    assert data.images.shape == (4, 1, 12, 12)


def test_registry_dispatches_dsprites_lazily(monkeypatch):
    calls = []
    module = types.ModuleType("infogan.data.dsprites")

    def fake_loader(data_dir=None, *, subset=None, seed=0, npz_path=None):
        calls.append(data_dir)
        return load_fake((1, 64, 64), n=4)

    module.load_dsprites = fake_loader
    monkeypatch.setitem(sys.modules, "infogan.data.dsprites", module)
    assert load_dataset("dsprites", data_dir="somewhere").shape == (1, 64, 64) and calls == ["somewhere"]
    assert data_pkg.load_dsprites is fake_loader
