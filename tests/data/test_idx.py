"""IDX reader and writer: round trips and every way a file can be broken."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from infogan.data.idx import idx_image_data, parse_idx, read_idx, write_idx
from infogan.errors import DataError
from infogan.storage import TEMP_SUFFIX


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(tmp_path, suffix, dtype):
    array = (np.arange(2 * 3 * 4) - 7).astype(dtype).reshape(2, 3, 4)
    path = write_idx(tmp_path / f"a-idx3{suffix}", array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable
    assert not list(tmp_path.glob(f"*{TEMP_SUFFIX}"))  # atomic write cleaned up


def test_raw_layout_is_official(tmp_path):
    labels = np.array([7, 2, 1], dtype=np.uint8)
    path = write_idx(tmp_path / "labels", labels)
    assert path.read_bytes() == b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes([7, 2, 1])


def test_gzip_detected_by_magic_not_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "x.gz", array)
    (tmp_path / "x.gz").rename(tmp_path / "x-no-suffix")
    np.testing.assert_array_equal(read_idx(tmp_path / "x-no-suffix"), array)


def test_gzip_output_is_deterministic(tmp_path):
    array = np.arange(100, dtype=np.uint8).reshape(10, 10)
    assert write_idx(tmp_path / "a.gz", array).read_bytes() == write_idx(tmp_path / "b.gz", array).read_bytes()


def _raw(tmp_path, data: bytes, name: str = "broken-idx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_wrong_magic(tmp_path):
    path = _raw(tmp_path, b"\x12\x34\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(DataError, match="broken-idx.*not an IDX file"):
        read_idx(path)


def test_wrong_dtype_code(tmp_path):
    path = _raw(tmp_path, b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(DataError, match="broken-idx.*type code 0x07"):
        read_idx(path)


def test_truncated_data(tmp_path):
    path = write_idx(tmp_path / "t-idx3", np.zeros((4, 5, 5), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="t-idx3.*truncated"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = _raw(tmp_path, b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(path)


def test_trailing_bytes(tmp_path):
    path = write_idx(tmp_path / "t-idx1", np.zeros(4, dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with pytest.raises(DataError, match="trailing"):
        read_idx(path)


def test_gzip_corruption(tmp_path):
    path = write_idx(tmp_path / "c.gz", np.arange(5000, dtype=np.int32))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip one byte of the deflate stream (or its CRC)
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="c.gz.*corrupt gzip"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "c.gz", np.arange(5000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nothing-here"):
        read_idx(tmp_path / "nothing-here")


def test_parse_from_memory():
    data = gzip.compress(b"\x00\x00\x08\x02" + struct.pack(">II", 2, 2) + bytes([1, 2, 3, 4]))
    np.testing.assert_array_equal(parse_idx(data, "mem"), [[1, 2], [3, 4]])


def test_write_rejects_int64(tmp_path):
    with pytest.raises(DataError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))


def test_image_label_count_mismatch():
    with pytest.raises(DataError, match="5 images but 4 labels"):
        idx_image_data(np.zeros((5, 28, 28), np.uint8), np.zeros(4, np.uint8), name="mnist", source="dir")


def test_image_data_shapes():
    data = idx_image_data(np.zeros((5, 28, 28), np.uint8), np.arange(5, dtype=np.uint8), name="m", source="d")
    assert data.images.shape == (5, 1, 28, 28) and data.labels.dtype.is_floating_point is False
    assert str(data.labels.dtype) == "torch.int64"


def test_header_with_a_zero_and_unaddressable_other_dimensions_is_a_data_error():
    # found by the hypothesis test: numpy refuses to shape an empty array with these dimensions
    import struct

    from infogan.data.idx import parse_idx
    from infogan.errors import DataError

    buf = struct.pack(">HBB", 0, 8, 6) + struct.pack(">6I", 0, 1344, 1348, 5734, 10328, 85966)
    with pytest.raises(DataError, match="too large"):
        parse_idx(bytearray(buf), "hostile.idx")
