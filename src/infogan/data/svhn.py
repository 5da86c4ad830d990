"""SVHN cropped digits (Netzer et al., 2011), format 2: the official ``*_32x32.mat`` files.

Each file holds ``X``, uint8 (32, 32, 3, N), and ``y``, (N, 1) with digits 1..9 as themselves and the
digit 0 stored as 10. The loader maps 10 to 0, so labels are the digits. Files are cached in
``default_data_dir(data_dir) / "svhn"``; their MD5s are verified after download (the checksums
torchvision lists for the same official URLs). A file already in the folder is trusted as is, so users
can place their own copy there.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io
import torch

from infogan.data.base import ImageData, default_data_dir
from infogan.data.fetch import fetch_first
from infogan.errors import DataError

BASE_URL = "http://ufldl.stanford.edu/housenumbers/"
FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat", "extra": "extra_32x32.mat"}
# Source: torchvision.datasets.SVHN's split list for these URLs.
MD5 = {
    "train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
    "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
    "extra_32x32.mat": "a93ce644f1a588dc4d68dda5feec44a7",
}


def svhn_folder(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the SVHN ``.mat`` files: ``default_data_dir(data_dir) / "svhn"``.

    Args:
        data_dir: cache root, or None for ``$INFOGAN_DATA_DIR`` / ``~/.cache/infogan``.

    Returns:
        The folder path (not created).
    """
    return default_data_dir(data_dir) / "svhn"


def load_svhn(split: str = "train", data_dir: str | os.PathLike | None = None, *,
              download: bool = True) -> ImageData:
    """Load one SVHN split from its official ``.mat`` file, fetching it first if needed.

    Args:
        split: "train" (73,257 digits), "test" (26,032) or "extra" (531,131).
        data_dir: cache root (see :func:`default_data_dir`); files live in its ``svhn/`` folder.
        download: fetch a missing file from the official site; when False it raises DataError.

    Returns:
        ImageData with images (N, 3, 32, 32) uint8, labels (N,) int64 in 0..9, name "svhn".

    Raises:
        DataError: unknown split, file missing and not downloadable, or not a valid SVHN file.
    """
    if split not in FILES:
        raise DataError(f"unknown SVHN split {split!r}; use one of {sorted(FILES)}")
    folder = svhn_folder(data_dir)
    path = folder / FILES[split]
    if not path.is_file():
        hint = (f"Download {BASE_URL}{path.name} (cropped digits, format 2) by hand and put it in "
                f"{folder}.")
        if not download:
            raise DataError(f"SVHN file {path} is missing (download=False, so nothing was fetched). {hint}")
        fetch_first([BASE_URL + path.name], path, md5=MD5[path.name], hint=hint)
    return read_svhn_mat(path)


def read_svhn_mat(path: str | os.PathLike) -> ImageData:
    """Read one SVHN ``*_32x32.mat`` file.

    Args:
        path: the ``.mat`` file (MATLAB v5 format, as published).

    Returns:
        ImageData with images (N, 3, 32, 32) uint8 and labels (N,) int64, 10 mapped to 0.

    Raises:
        DataError: unreadable file, missing ``X`` or ``y``, wrong shapes, types or label values.
    """
    path = Path(path)
    try:
        mat = scipy.io.loadmat(path, variable_names=("X", "y"))
    except NotImplementedError:  # MATLAB v7.3 (HDF5) files
        raise DataError(f"{path}: MATLAB v7.3 files are not supported; use the official format-2 file "
                        f"from {BASE_URL}") from None
    except Exception as e:  # noqa: BLE001 -- scipy raises ValueError, TypeError, MatReadError ... on corrupt files
        raise DataError(f"{path}: not a readable .mat file ({type(e).__name__}: {e}); delete it and "
                        f"download it again from {BASE_URL}{path.name}") from None
    missing = [key for key in ("X", "y") if key not in mat]
    if missing:
        raise DataError(f"{path}: no variable {' or '.join(missing)}; an SVHN cropped-digit file holds "
                        f"X (32, 32, 3, N) and y (N, 1); use the official files from {BASE_URL}")
    x, y = mat["X"], mat["y"]
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8:
        raise DataError(f"{path}: X must be uint8 (32, 32, 3, N), got {x.dtype} {x.shape}")
    n = x.shape[3]
    if y.shape not in ((n, 1), (n,)) or y.dtype.kind not in "iuf":
        raise DataError(f"{path}: y must be (N, 1) = ({n}, 1) numbers, got {y.dtype} {y.shape}")
    labels = y.reshape(n)
    if labels.dtype.kind == "f" and not np.array_equal(labels, np.rint(labels)):
        raise DataError(f"{path}: y holds non-integer labels")
    labels = labels.astype(np.int64)
    if n and (labels.min() < 0 or labels.max() > 10):
        raise DataError(f"{path}: labels outside 1..10 (found {labels.min()}..{labels.max()})")
    labels[labels == 10] = 0  # SVHN stores the digit 0 as 10
    images = np.ascontiguousarray(x.transpose(3, 2, 0, 1))  # (32, 32, 3, N) -> (N, 3, 32, 32)
    return ImageData(images=torch.from_numpy(images), labels=torch.from_numpy(labels), name="svhn")
