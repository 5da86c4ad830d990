"""Any folder of images as an :class:`ImageData`, decoded once and cached.

The folder is scanned recursively for png, jpg, jpeg, bmp, gif and webp files (case-insensitive, in
sorted path order; regular files only, a linked folder once however many links and loops lead to it).
Each image is decoded with Pillow (:func:`decode_image`, also used by ``infogan encode`` and the explorer),
converted to greyscale ("L") or "RGB" (an alpha channel is dropped, a GIF contributes its first frame,
16-bit greyscale is rescaled by its bit depth, not clipped), optionally center-cropped to a square, and
resized with Lanczos filtering (antialiased when shrinking). Images of more than ``MAX_IMAGE_PIXELS`` are
refused before they are decoded (decompression bombs).

The result is cached under ``default_data_dir(data_dir) / "imagefolder-cache" / <key>``, where the
key hashes the folder's absolute path, every file's relative name, size and modification time, and
the preprocessing options. Later epochs and later runs load two ``.npy`` files instead of decoding;
touching, adding or removing any image changes the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from infogan.data.base import ImageData, default_data_dir
from infogan.errors import DataError, TrainingError, UnsafeFileError
from infogan.storage import atomic_open, open_regular

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
CACHE_VERSION = 2  # bump when preprocessing changes, so old caches are not reused (2: 16-bit greyscale rescaled)
_MODES = {1: "L", 3: "RGB"}
# Pixels of one image, checked from its header before decoding: 16 megapixels (a 4096 x 4096 photo) is far
# beyond what is resized to 28-64 pixels here, and a fifth of Pillow's own limit, whose images take 1.4 GB.
MAX_IMAGE_PIXELS = 4096 * 4096
_BIT_DEPTH = {"I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16}  # greyscale modes wider than 8 bits


def load_image_folder(
    path: str | os.PathLike,
    *,
    size: int,
    channels: int,
    crop: str | int | None = None,
    cache: bool = True,
    data_dir: str | os.PathLike | None = None,
    name: str = "imagefolder",
    workers: int | None = None,
) -> ImageData:
    """Load every image under ``path`` as one uint8 tensor.

    Args:
        path: folder to scan recursively.
        size: output height and width in pixels.
        channels: 1 (greyscale) or 3 (RGB).
        crop: None to resize the whole image (non-square images are stretched), "center" for the
            largest centered square, or an int k for a centered k x k square (e.g. 108 for CelebA).
        cache: read and write the preprocessing cache.
        data_dir: cache root (see :func:`default_data_dir`).
        name: dataset name stored in the result.
        workers: decoding threads (Pillow releases the GIL while decoding); default: CPU count, max 16.

    Returns:
        ImageData with images (N, channels, size, size) uint8. If the images sit in subfolders,
        labels (N,) int64 are the index of each image's top-level subfolder in sorted order;
        if all images sit directly in ``path``, labels are None.

    Raises:
        DataError: bad options, a missing or empty folder, images both at the top level and in
            subfolders, or no readable image at all. Unreadable files are skipped with a warning.
    """
    root = Path(path).expanduser()
    _check_options(root, size, channels, crop)
    files = scan_images(root)
    if not files:
        raise DataError(f"no images ({', '.join(EXTENSIONS)}) found under {root}; point the path at "
                        "the folder that holds the image files")
    classes, labels = _folder_labels(root, files)
    stats = [f.stat() for f in files]
    key = _cache_key(root, files, stats, size, channels, crop)
    cache_dir = default_data_dir(data_dir) / "imagefolder-cache" / key
    if cache:
        cached = _read_cache(cache_dir)
        if cached is not None:
            images, skipped = cached
            _warn_skipped(root, skipped)
            skipped_set = set(skipped)
            keep = np.array([str(f.relative_to(root)) not in skipped_set for f in files], dtype=bool)
            return _image_data(images, labels[keep] if labels is not None else None, name)

    out = np.empty((len(files), channels, size, size), dtype=np.uint8)  # (N, C, H, W)
    ok = np.zeros(len(files), dtype=bool)

    def work(i: int) -> None:
        pixels = decode_image(files[i], size=size, channels=channels, crop=crop)
        if pixels is not None:
            out[i] = pixels.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
            ok[i] = True

    n_workers = workers or min(16, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        jobs = pool.map(work, range(len(files)))
        for _ in tqdm(jobs, total=len(files), desc=f"decoding {root.name}", unit="img", leave=False,
                      disable=None):  # hidden when stderr is not a terminal
            pass
    skipped = [str(f.relative_to(root)) for f, good in zip(files, ok) if not good]
    if not ok.any():
        raise DataError(f"none of the {len(files)} image files under {root} could be decoded "
                        f"(e.g. {skipped[0]}); check that they are real images")
    _warn_skipped(root, skipped)
    images = out if ok.all() else out[ok]  # (N_ok, C, H, W); no copy when nothing was skipped
    if cache:
        _write_cache(cache_dir, images, skipped, root, size, channels, crop, classes)
    return _image_data(images, labels[ok] if labels is not None else None, name)


def scan_images(root: Path) -> list[Path]:
    """All image files under ``root`` (recursive, case-insensitive extensions), sorted by path.

    Links to folders are followed, but every folder is scanned once: a link loop (a folder linking to itself
    or to a parent) or a second link to a folder already scanned adds nothing. Only regular files are listed
    (a FIFO named ``x.png`` would block the decoder).

    Args:
        root: an existing folder.

    Returns:
        Sorted list of file paths.
    """
    found, seen = [], set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        try:
            st = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # reached again through a link: scanned already
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()
        for name in names:
            if name.lower().endswith(EXTENSIONS) and _is_regular(Path(folder) / name):
                found.append(Path(folder) / name)
    return sorted(found)


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def decode_image(path, *, size: int, channels: int, crop: str | int | None) -> np.ndarray | None:
    """Decode, convert, crop and resize one image: the one decoder of image files (image folders,
    ``infogan encode``, the explorer's uploads).

    Args:
        path: the image file (a regular file: a FIFO or device is refused), or an open binary stream.
        size: output side in pixels.
        channels: 1 or 3.
        crop: see :func:`load_image_folder`.

    Returns:
        uint8 array (size, size, channels), or None if Pillow cannot read the file or it has more than
        ``MAX_IMAGE_PIXELS`` pixels.
    """
    try:
        stream = os.fdopen(open_regular(path), "rb") if isinstance(path, (str, os.PathLike)) else path
    except (OSError, UnsafeFileError):
        return None
    try:
        with (stream if stream is not path else contextlib.nullcontext()), Image.open(stream) as img:
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                return None  # refused from the header, before anything is decoded
            img = to_8bit(img).convert(_MODES[channels])
            width, height = img.size
            if crop is not None:
                side = min(width, height) if crop == "center" else int(crop)
                if side > min(width, height):
                    return None  # too small for the requested crop: reported as unreadable
                left, top = (width - side) // 2, (height - side) // 2
                img = img.crop((left, top, left + side, top + side))
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.LANCZOS)
            pixels = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None  # truncated, corrupt, or not an image despite the extension
    return pixels.reshape(size, size, channels)


def to_8bit(img: Image.Image) -> Image.Image:
    """Greyscale wider than 8 bits rescaled to "L" by its own bit depth, so that full range stays full range
    (Pillow's convert("L") clips it: a 16-bit gradient would be 255 almost everywhere): 16 bits for the I;16
    modes and for mode I from a PNG (older Pillow), 31 for other mode I images (32-bit signed); float images
    ("F") are read as [0, 1]. Any other mode is returned as it is."""
    if img.mode in _BIT_DEPTH or img.mode == "I":
        depth = _BIT_DEPTH.get(img.mode, 16 if img.format == "PNG" else 31)
        scale = 255.0 / (2**depth - 1)
    elif img.mode == "F":
        scale = 255.0
    else:
        return img
    values = np.asarray(img, dtype=np.float64)  # (H, W)
    return Image.fromarray(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8), mode="L")


def _check_options(root: Path, size: int, channels: int, crop: str | int | None) -> None:
    if not root.exists():
        raise DataError(f"image folder {root} does not exist; pass the folder that holds the images")
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; pass the folder that holds the images")
    if not isinstance(size, int) or size < 1:
        raise DataError(f"image size must be a positive integer, got {size!r}")
    if channels not in _MODES:
        raise DataError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels!r}")
    if not (crop is None or crop == "center" or (isinstance(crop, int) and crop >= 1)):
        raise DataError(f"crop must be None, 'center' or a positive integer, got {crop!r}")


def _folder_labels(root: Path, files: list[Path]) -> tuple[list[str], np.ndarray | None]:
    """Class names (sorted top-level subfolders) and one label per file, or ([], None) if flat."""
    tops = [f.relative_to(root).parts for f in files]
    nested = [len(parts) > 1 for parts in tops]
    if not any(nested):
        return [], None
    if not all(nested):
        loose = next(str(f.relative_to(root)) for f, n in zip(files, nested) if not n)
        raise DataError(f"{root} has images both directly inside it (e.g. {loose}) and in subfolders; "
                        "put every image in a class subfolder, or point at a folder with no subfolders")
    classes = sorted({parts[0] for parts in tops})
    index = {c: i for i, c in enumerate(classes)}
    return classes, np.array([index[parts[0]] for parts in tops], dtype=np.int64)


def _cache_key(root: Path, files: list[Path], stats: list[os.stat_result], size: int, channels: int,
               crop: str | int | None) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, str(root.resolve()), size, channels, crop]).encode())
    for f, st in zip(files, stats):
        h.update(f"\0{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


def _read_cache(cache_dir: Path) -> tuple[np.ndarray, list[str]] | None:
    """(images, skipped names) from a complete cache entry, or None (meta.json is written last)."""
    try:
        meta = json.loads((cache_dir / "meta.json").read_text())
        images = np.load(cache_dir / "images.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[0] != meta.get("count"):
        return None
    return images, list(meta.get("skipped", []))


def _write_cache(cache_dir: Path, images: np.ndarray, skipped: list[str], root: Path, size: int,
                 channels: int, crop: str | int | None, classes: list[str]) -> None:
    try:
        with atomic_open(cache_dir / "images.npy") as f:
            np.save(f, images, allow_pickle=False)
        meta = {"version": CACHE_VERSION, "source": str(root.resolve()), "count": int(images.shape[0]),
                "size": size, "channels": channels, "crop": crop, "classes": classes, "skipped": skipped}
        with atomic_open(cache_dir / "meta.json") as f:
            f.write(json.dumps(meta, indent=1).encode())
    except (OSError, TrainingError) as e:  # a read-only or full cache folder must not stop training
        warnings.warn(f"could not write the image cache in {cache_dir} ({e}); images will be decoded "
                      "again next time", stacklevel=3)


def _warn_skipped(root: Path, skipped: list[str]) -> None:
    if skipped:
        shown = ", ".join(skipped[:10]) + (" ..." if len(skipped) > 10 else "")
        warnings.warn(f"skipped {len(skipped)} image file(s) under {root} that could not be decoded "
                      f"(or are smaller than the crop): {shown}", stacklevel=3)


def _image_data(images: np.ndarray, labels: np.ndarray | None, name: str) -> ImageData:
    return ImageData(images=torch.from_numpy(images),
                     labels=None if labels is None else torch.from_numpy(labels), name=name)


def locate_folder(path: str | os.PathLike | None, data_root: Path, relative: str, *, title: str,
                  source: str, notes: str = "") -> Path:
    """Find the image folder of a dataset that cannot be downloaded automatically.

    Args:
        path: folder given by the user: either the image folder itself or a folder holding it
            (under its usual name); None to use ``data_root / relative``.
        data_root: the cache root, ``default_data_dir(data_dir)``.
        relative: where the image folder lives under the root, e.g. "celeba/img_align_celeba".
        title: dataset name for the message.
        source: where to get the data.
        notes: extra sentence for the message.

    Returns:
        The existing folder.

    Raises:
        DataError: the folder does not exist; says where to download it and where to put it.
    """
    default = data_root / relative
    inner = default.name
    if path is not None:
        given = Path(path).expanduser()
        if (given / inner).is_dir():
            return given / inner
        if given.is_dir():
            return given
        where = f"{given} does not exist"
    elif default.is_dir():
        return default
    else:
        where = f"it is not in {default}"
    raise DataError(
        f"{title}: {where}, and it cannot be downloaded automatically. Get it from {source}"
        f"{' (' + notes + ')' if notes else ''}, then put the {inner!r} folder at {default} "
        f"(or put it at DIR/{relative} and pass --data-dir DIR, or set INFOGAN_DATA_DIR=DIR), or pass "
        "the folder itself with --data imagefolder:PATH (generic preprocessing: pass the image size "
        "and channels)."
    )
