"""Downloads against a local HTTP server: good, corrupt, truncated and unreachable sources."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import random
import socket
import threading
from functools import partial

import pytest

from infogan.data.fetch import (
    DownloadError,
    download,
    fetch_first,
    file_md5,
    verify_md5,
)
from infogan.errors import DataError
from infogan.storage import TEMP_SUFFIX, atomic_open

GOOD = random.Random(0).randbytes(1_500_000)  # incompressible, several read chunks
GOOD_MD5 = hashlib.md5(GOOD).hexdigest()


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/lying":  # promises more bytes than it sends, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[: len(GOOD) // 2])
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    (root / "good.bin").write_bytes(GOOD)
    corrupt = bytearray(GOOD)
    corrupt[1000] ^= 1
    (root / "corrupt.bin").write_bytes(bytes(corrupt))
    (root / "short.bin").write_bytes(GOOD[:-100])  # truncated copy, served with a correct length
    (root / "good.bin.gz").write_bytes(gzip.compress(GOOD))
    (root / "broken.gz").write_bytes(gzip.compress(GOOD)[:500_000])
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port_url():
    with socket.socket() as s:  # reserve a port, then free it: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/file.bin"


def _no_leftovers(folder):
    return not [p for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX)]


def test_download_good(server, tmp_path):
    dest = download(f"{server}/good.bin", tmp_path / "sub" / "out.bin", md5=GOOD_MD5, progress=False)
    assert dest.read_bytes() == GOOD
    assert verify_md5(dest, GOOD_MD5) and file_md5(dest) == GOOD_MD5
    assert _no_leftovers(dest.parent)


def test_download_gunzip(server, tmp_path):
    dest = download(f"{server}/good.bin.gz", tmp_path / "raw.bin", md5=GOOD_MD5, gunzip=True, progress=False)
    assert dest.read_bytes() == GOOD


def test_download_broken_gzip(server, tmp_path):
    with pytest.raises(DataError, match="gzip"):
        download(f"{server}/broken.gz", tmp_path / "raw.bin", gunzip=True, progress=False)
    assert not (tmp_path / "raw.bin").exists() and _no_leftovers(tmp_path)


def test_md5_mismatch_leaves_nothing(server, tmp_path):
    with pytest.raises(DataError, match="MD5 mismatch"):
        download(f"{server}/corrupt.bin", tmp_path / "out.bin", md5=GOOD_MD5, progress=False)
    assert not (tmp_path / "out.bin").exists() and _no_leftovers(tmp_path)


def test_md5_mismatch_keeps_previous_file(server, tmp_path):
    (tmp_path / "out.bin").write_bytes(b"old")
    with pytest.raises(DataError):
        download(f"{server}/corrupt.bin", tmp_path / "out.bin", md5=GOOD_MD5, progress=False)
    assert (tmp_path / "out.bin").read_bytes() == b"old"


def test_truncated_transfer_detected(server, tmp_path):
    with pytest.raises(DataError, match="lying"):
        download(f"{server}/lying", tmp_path / "out.bin", progress=False)
    assert not (tmp_path / "out.bin").exists() and _no_leftovers(tmp_path)


def test_http_404(server, tmp_path):
    with pytest.raises(DataError, match="404"):
        download(f"{server}/missing.bin", tmp_path / "out.bin", progress=False)


def test_fetch_first_skips_corrupt_and_truncated(server, tmp_path, closed_port_url):
    urls = [closed_port_url, f"{server}/corrupt.bin", f"{server}/short.bin", f"{server}/good.bin"]
    dest = fetch_first(urls, tmp_path / "out.bin", md5=GOOD_MD5, progress=False)
    assert dest.read_bytes() == GOOD


def test_fetch_first_reports_every_failure(server, tmp_path, closed_port_url):
    urls = [closed_port_url, f"{server}/corrupt.bin", f"{server}/short.bin", f"{server}/lying"]
    with pytest.raises(DownloadError) as info:
        fetch_first(urls, tmp_path / "out.bin", md5=GOOD_MD5, progress=False, hint="Put it in /x.")
    message = str(info.value)
    assert len(info.value.failures) == 4
    for url in urls:
        assert url in message
    assert "cannot connect" in message and "MD5 mismatch" in message and "Put it in /x." in message
    assert not (tmp_path / "out.bin").exists()


def test_unreachable_fails_fast(tmp_path, closed_port_url):
    import time

    start = time.monotonic()
    with pytest.raises(DataError, match="cannot connect"):
        download(closed_port_url, tmp_path / "x", connect_timeout=2.0, progress=False)
    assert time.monotonic() - start < 5


def test_verify_md5_missing_file(tmp_path):
    assert not verify_md5(tmp_path / "nope", GOOD_MD5)


def test_atomic_open_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "f.bin") as f:
        f.write(b"partial")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_atomic_open_gives_the_usual_file_mode(tmp_path):
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    with atomic_open(tmp_path / "f.bin") as f:
        f.write(b"whole")
    path = tmp_path / "f.bin"
    assert path.read_bytes() == b"whole"
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
