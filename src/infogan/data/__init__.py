"""Datasets as in-memory uint8 tensors, behind one entry point: :func:`load_dataset`.

    >>> from infogan.data import load_dataset
    >>> data = load_dataset("mnist", split="test")   # fetched, verified and cached on first use
    >>> data.images.shape, data.labels.shape
    (torch.Size([10000, 1, 28, 28]), torch.Size([10000]))

Loaders are imported lazily, so ``import infogan.data`` stays cheap (SciPy and Pillow load only when
a dataset needs them).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

from infogan.data.base import ImageData, default_data_dir
from infogan.errors import DataError

DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "svhn", "celeba", "faces", "chairs", "dsprites", "fake")
IMAGEFOLDER_PREFIX = "imagefolder:"

# name -> (module, function); public names re-exported lazily through __getattr__
_LOADERS = {
    "mnist": ("infogan.data.mnist", "load_mnist"),
    "fashion-mnist": ("infogan.data.fashion", "load_fashion_mnist"),
    "svhn": ("infogan.data.svhn", "load_svhn"),
    "celeba": ("infogan.data.celeba", "load_celeba"),
    "faces": ("infogan.data.faces", "load_faces"),
    "chairs": ("infogan.data.chairs", "load_chairs"),
    "dsprites": ("infogan.data.dsprites", "load_dsprites"),
    "fake": ("infogan.data.fake", "load_fake"),
    "imagefolder": ("infogan.data.imagefolder", "load_image_folder"),
}
# Fixed image shape (C, H, W) of the datasets that come in one size only.
NATIVE_SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "svhn": (3, 32, 32),
                 "dsprites": (1, 64, 64)}
# Defaults for the image-folder datasets; each can be overridden with image_size / channels.
FOLDER_DEFAULTS = {"celeba": (32, 3), "faces": (32, 1), "chairs": (64, 1), "imagefolder": (64, 3)}
FAKE_SIZE = 512  # images per fake split


def load_dataset(spec: str, *, split: str = "train", data_dir: str | os.PathLike | None = None,
                 image_size: int | None = None, channels: int | None = None,
                 download: bool = True, subset: int | None = None) -> ImageData:
    """Load a dataset split by name.

    Args:
        spec: one of :data:`DATASETS`, or ``"imagefolder:PATH"`` for any folder of images
            (center-cropped to a square; default 64 x 64 RGB).
        split: "train" or "test" for mnist, fashion-mnist and svhn (svhn also "extra"), and fake;
            the others have a "train" split only.
        data_dir: cache root (see :func:`default_data_dir`).
        image_size: output side for the image-folder datasets (celeba 32, faces 32, chairs 64 by
            default) and fake (28); for fixed-size datasets it must equal the native size.
        channels: 1 or 3, with the same rules as ``image_size`` (fake defaults to 1).
        download: allow network fetches (mnist, fashion-mnist, svhn).
        subset: keep only N images: the first N of the split, or for dsprites a random subset of N
            (seed 0) rendered on demand without building the full 737,280-image cache.

    Returns:
        ImageData with images (N, C, H, W) uint8.

    Raises:
        DataError: unknown spec or split, a size the dataset does not have, or a loader failure.
    """
    name, path = _parse_spec(spec)
    if subset is not None and (not isinstance(subset, int) or subset < 1):
        raise DataError(f"subset must be a positive number of images, got {subset!r}")
    data = _load(name, path, split, data_dir, image_size, channels, download, subset)
    if subset is None or name == "dsprites" or len(data) <= subset:
        return data
    cut = lambda t: None if t is None else t[:subset]  # noqa: E731
    return ImageData(data.images[:subset], cut(data.labels), cut(data.factors), data.factor_names, data.name)


def _load(name, path, split, data_dir, image_size, channels, download, subset) -> ImageData:
    if name in NATIVE_SHAPES:
        _check_native(name, image_size, channels)
    if split != "train" and name not in ("mnist", "fashion-mnist", "svhn", "fake"):
        raise DataError(f"dataset {name!r} has only a 'train' split, got split={split!r}")
    loader = _loader(name)
    if name in ("mnist", "fashion-mnist", "svhn"):
        return loader(split, data_dir, download=download)
    if name == "dsprites":
        return loader(data_dir, subset=subset)
    if name == "fake":
        shape = (channels or 1, image_size or 28, image_size or 28)
        return loader(shape=shape, n=FAKE_SIZE, seed=0 if split == "train" else 1)
    size, chans = FOLDER_DEFAULTS[name]
    size, chans = image_size or size, channels or chans
    if name == "imagefolder":
        return loader(path, size=size, channels=chans, crop="center", data_dir=data_dir)
    return loader(data_dir, image_size=size, channels=chans)


def _parse_spec(spec: str) -> tuple[str, str | None]:
    """(dataset name, folder path or None) from a spec string."""
    if isinstance(spec, str) and spec.startswith(IMAGEFOLDER_PREFIX):
        path = spec[len(IMAGEFOLDER_PREFIX):]
        if not path:
            raise DataError("empty path in 'imagefolder:'; write imagefolder:/path/to/images")
        return "imagefolder", path
    if spec not in DATASETS:
        raise DataError(f"unknown dataset {spec!r}; valid: {', '.join(DATASETS)}, or "
                        f"{IMAGEFOLDER_PREFIX}PATH for a folder of images")
    return spec, None


def _check_native(name: str, image_size: int | None, channels: int | None) -> None:
    """Refuse a requested size the dataset does not have (nothing is resized silently)."""
    c, h, _ = NATIVE_SHAPES[name]
    if (image_size is not None and image_size != h) or (channels is not None and channels != c):
        raise DataError(f"dataset {name!r} is {c} x {h} x {h} (channels x height x width), but "
                        f"image_size={image_size}, channels={channels} was requested; use a model "
                        f"configuration for {h} x {h} x {c} images")


def _loader(name: str) -> Callable[..., ImageData]:
    module, function = _LOADERS[name]
    return getattr(importlib.import_module(module), function)


def __getattr__(attr: str) -> Any:
    """Lazy re-exports: ``infogan.data.load_mnist`` and friends import their module on first use."""
    for module, function in _LOADERS.values():
        if attr == function:
            return getattr(importlib.import_module(module), function)
    raise AttributeError(f"module 'infogan.data' has no attribute {attr!r}")


__all__ = [
    "DATASETS",
    "IMAGEFOLDER_PREFIX",
    "ImageData",
    "default_data_dir",
    "load_celeba",
    "load_chairs",
    "load_dataset",
    "load_dsprites",
    "load_faces",
    "load_fake",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist",
    "load_svhn",
]
