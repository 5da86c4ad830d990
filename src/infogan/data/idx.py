"""The IDX file format of MNIST and Fashion-MNIST: a strict reader and a writer.

Layout (LeCun, "THE MNIST DATABASE"): two zero bytes, a type code, the number of dimensions, then one
big-endian uint32 per dimension, then the values in row-major order, big-endian. Files may be gzipped;
the reader tells raw from gzip by the magic bytes, not by the file name.

The reader refuses anything that does not add up exactly (wrong magic, unknown type code, truncated
or trailing data, a broken gzip stream) with a :class:`DataError` that names the file. It reads regular files
only and never holds more than the header announces: a gzip stream is decompressed step by step, its header
first, and stops once it yields more than that (a decompression bomb), and no header may announce more than
``MAX_IDX_BYTES``.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from infogan.data.base import ImageData
from infogan.errors import DataError, UnsafeFileError
from infogan.storage import atomic_open, open_regular

GZIP_MAGIC = b"\x1f\x8b"
MAX_IDX_BYTES = 1 << 30  # 20 x MNIST's training images; EMNIST's largest split (640 MB) still fits
_MAX_HEADER = 4 + 4 * 255
_CHUNK = 1 << 16  # compressed bytes per decompression step: at most ~64 MiB of output each (deflate <= 1032:1)

# IDX type code -> big-endian numpy dtype
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a raw or gzipped IDX file.

    Args:
        path: the file.

    Returns:
        A writable numpy array in native byte order with the file's shape and type.

    Raises:
        DataError: the file is missing, unreadable, not IDX, or its size does not match its header.
    """
    path = Path(path)
    try:
        with os.fdopen(open_regular(path), "rb") as f:  # a FIFO or device is refused, not waited on
            size = os.fstat(f.fileno()).st_size
            if size > MAX_IDX_BYTES + _MAX_HEADER:
                raise DataError(f"{path} is {size:,} bytes, more than an IDX file infogan reads "
                                f"({MAX_IDX_BYTES:,} bytes of data); it is not an MNIST-style file")
            buf = bytearray(size)
            f.readinto(buf)  # bytearray: numpy views of it are writable, so no extra copy later
    except OSError as e:
        raise DataError(f"cannot read IDX file {path}: {e.strerror or e}") from None
    except UnsafeFileError as e:
        raise DataError(f"cannot read IDX file: {e}") from None
    return parse_idx(buf, str(path))


def parse_idx(buf: bytes | bytearray, source: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes (raw or gzip) already in memory.

    Args:
        buf: the file content.
        source: name used in error messages.

    Returns:
        A numpy array in native byte order (writable when ``buf`` is a bytearray or was gzipped).

    Raises:
        DataError: any structural problem, naming ``source``.
    """
    if bytes(buf[:2]) == GZIP_MAGIC:
        buf = _gunzip(buf, source)
    if len(buf) < 4:
        raise DataError(f"{source}: too short to be an IDX file ({len(buf)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", bytes(buf[:4]))
    if zero != 0:
        raise DataError(f"{source}: not an IDX file (magic {bytes(buf[:4]).hex()}, expected 0000xxyy)")
    if code not in IDX_DTYPES:
        raise DataError(f"{source}: unknown IDX type code 0x{code:02x} (valid: 08 09 0b 0c 0d 0e)")
    header = 4 + 4 * ndim
    if ndim == 0 or len(buf) < header:
        raise DataError(f"{source}: truncated IDX header ({len(buf)} bytes for {ndim} dimensions)")
    dims = struct.unpack(f">{ndim}I", bytes(buf[4:header]))
    dtype = IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize  # Python ints: a hostile header cannot wrap 64 bits
    actual = len(buf) - header
    if actual < expected:
        raise DataError(
            f"{source}: truncated IDX data ({actual} bytes, header {dims} needs {expected}); "
            "delete the file and fetch it again"
        )
    if actual > expected:
        raise DataError(f"{source}: {actual - expected} unexpected trailing bytes after IDX data {dims}")
    if expected > MAX_IDX_BYTES:
        raise DataError(f"{source}: IDX header {dims} announces {expected:,} bytes, more than {MAX_IDX_BYTES:,}; "
                        "the header is corrupt or the file is not one infogan reads")
    nonzero = math.prod(d for d in dims if d) * dtype.itemsize
    if nonzero >= np.iinfo(np.intp).max:  # an empty array whose other dimensions numpy cannot even address
        raise DataError(f"{source}: IDX dimensions {dims} are too large for an array; the header is corrupt")
    array = np.frombuffer(buf, dtype=dtype, count=expected // dtype.itemsize, offset=header).reshape(dims)
    if dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))  # copy into native byte order
    elif not array.flags.writeable:
        array = array.copy()
    return array


def _announced(head: bytes | bytearray) -> int | None:
    """Header plus data bytes that the first bytes of an IDX file announce; None while too few bytes are there
    to tell, 0 for a header that is not IDX (parse_idx then names what is wrong)."""
    if len(head) < 4:
        return None
    if head[0] or head[1] or head[2] not in IDX_DTYPES or head[3] == 0:
        return 0
    header = 4 + 4 * head[3]
    if len(head) < header:
        return None
    dims = struct.unpack(f">{head[3]}I", bytes(head[4:header]))
    return header + math.prod(dims) * IDX_DTYPES[head[2]].itemsize


def _gunzip(buf: bytes | bytearray, source: str) -> bytearray:
    """Decompress gzip member after member (as ``gzip.decompress`` does), never further than the IDX header
    inside announces: more output than that is refused as soon as it appears (a decompression bomb).

    Raises:
        DataError: corrupt or truncated gzip data, or more data than the header announces.
    """
    view, out, pos = memoryview(buf), bytearray(), 0
    inflate, total = zlib.decompressobj(16 + zlib.MAX_WBITS), None
    try:
        while True:
            if inflate.eof:  # a member ended: padding zeros, then another member or the end
                pos -= len(inflate.unused_data)
                while pos < len(view) and view[pos] == 0:
                    pos += 1
                if pos >= len(view):
                    return out
                inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            if pos >= len(view):
                raise DataError(f"{source}: corrupt gzip data (the stream ends early); delete the file and fetch it again")
            chunk = view[pos:pos + _CHUNK]
            pos += len(chunk)
            out += inflate.decompress(chunk)
            total = _announced(out) if total is None else total
            if total == 0:
                return out  # not an IDX header: parse_idx names the problem
            if total is not None and total - _MAX_HEADER > MAX_IDX_BYTES:
                raise DataError(f"{source}: IDX header announces {total:,} bytes, more than {MAX_IDX_BYTES:,}; the "
                                "header is corrupt or the file is not one infogan reads")
            if total is not None and len(out) > total:
                raise DataError(f"{source}: the gzip stream holds more than the {total:,} bytes its IDX header "
                                "announces (trailing data, or a decompression bomb); delete the file and fetch it again")
    except zlib.error as e:
        raise DataError(f"{source}: corrupt gzip data ({e}); delete the file and fetch it again") from None


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write an array as an IDX file, gzipped when ``path`` ends in ``.gz``; written atomically.

    Args:
        path: destination. Gzip output uses mtime 0 so equal arrays give equal bytes.
        array: uint8, int8, int16, int32, float32 or float64 array with 1 to 255 dimensions.

    Returns:
        ``path`` as a Path.

    Raises:
        DataError: the dtype or rank cannot be stored in IDX.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODES.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise DataError(f"cannot write {array.dtype} to IDX {path}: use uint8, int8/16/32 or float32/64")
    if not 1 <= array.ndim <= 255:
        raise DataError(f"cannot write a {array.ndim}-dimensional array to IDX {path}")
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    body = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    with atomic_open(path) as f:
        if path.suffix == ".gz":
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
                gz.write(header)
                gz.write(body)
        else:
            f.write(header)
            f.write(body)
    return path


def idx_image_data(images: np.ndarray, labels: np.ndarray, *, name: str, source: str) -> ImageData:
    """Pair an IDX image array (N, H, W) with an IDX label array (N,) as :class:`ImageData`.

    Args:
        images: uint8 array (N, H, W).
        labels: integer array (N,).
        name: dataset name for ImageData.
        source: what to name in error messages (the folder or files).

    Returns:
        ImageData with images (N, 1, H, W) uint8 and labels (N,) int64, sharing the arrays' memory.

    Raises:
        DataError: wrong rank or type, or image and label counts differ.
    """
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{source}: image file must hold uint8 (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{source}: label file must hold integers (N,), got {labels.dtype} {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{source}: {images.shape[0]} images but {labels.shape[0]} labels; the image and label "
            "files do not belong together: delete them and fetch them again"
        )
    image_tensor = torch.from_numpy(images).unsqueeze(1)  # (N, 1, H, W), no copy
    label_tensor = torch.from_numpy(labels.astype(np.int64, copy=False))  # (N,)
    return ImageData(images=image_tensor, labels=label_tensor, name=name)
