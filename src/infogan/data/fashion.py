"""Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): MNIST's layout with Zalando article images.

The cache folder ``default_data_dir(data_dir) / "fashion-mnist"`` holds the four gzipped IDX files
under their official names. Their MD5s are the ones published in the table of the project README
(github.com/zalandoresearch/fashion-mnist) and are checked on every load.
"""

from __future__ import annotations

import os
from pathlib import Path

from infogan.data.base import ImageData, default_data_dir
from infogan.data.fetch import fetch_first, read_verified
from infogan.data.idx import idx_image_data, parse_idx
from infogan.errors import DataError

SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# MD5 of the gzipped files; source: the "Get the Data" table of the Fashion-MNIST README.
MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
# The README's download links (S3), then the data folder of the GitHub repository.
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def fashion_folder(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the four Fashion-MNIST files: ``default_data_dir(data_dir) / "fashion-mnist"``.

    Args:
        data_dir: cache root, or None for ``$INFOGAN_DATA_DIR`` / ``~/.cache/infogan``.

    Returns:
        The folder path (not created).
    """
    return default_data_dir(data_dir) / "fashion-mnist"


def load_fashion_mnist(split: str = "train", data_dir: str | os.PathLike | None = None, *,
                       download: bool = True) -> ImageData:
    """Load one Fashion-MNIST split, fetching and verifying the files first if needed.

    Args:
        split: "train" (60,000 images) or "test" (10,000 images).
        data_dir: cache root (see :func:`default_data_dir`); files live in its ``fashion-mnist/`` folder.
        download: fetch missing or corrupt files; when False such files raise DataError instead.

    Returns:
        ImageData with images (N, 1, 28, 28) uint8, labels (N,) int64 (see ``CLASSES``),
        name "fashion-mnist".

    Raises:
        DataError: unknown split, files missing (or corrupt) and not downloadable.
    """
    if split not in SPLITS:
        raise DataError(f"unknown Fashion-MNIST split {split!r}; use one of {sorted(SPLITS)}")
    folder = fashion_folder(data_dir)
    buffers = {}
    for name in SPLITS[split]:
        buf = read_verified(folder / name, MD5[name])
        if buf is None:
            if not download:
                raise DataError(f"Fashion-MNIST file {name} is missing or corrupt in {folder} "
                                f"(download=False, so nothing was fetched). {_manual_hint(folder)}")
            fetch_first([base + name for base in MIRRORS], folder / name, md5=MD5[name],
                        hint=_manual_hint(folder))
            buf = read_verified(folder / name, MD5[name])
            if buf is None:
                raise DataError(f"{folder / name} changed while loading; run again")
        buffers[name] = buf
    images_name, labels_name = SPLITS[split]
    images = parse_idx(buffers[images_name], str(folder / images_name))  # (N, 28, 28) uint8
    labels = parse_idx(buffers[labels_name], str(folder / labels_name))  # (N,) uint8
    return idx_image_data(images, labels, name="fashion-mnist", source=str(folder))


def _manual_hint(folder: Path) -> str:
    return (f"Download {', '.join(MD5)} from {MIRRORS[0]} or "
            "https://github.com/zalandoresearch/fashion-mnist (folder data/fashion) and put them, "
            f"still gzipped, in {folder}.")
