"""Getting files onto disk safely: verified downloads and atomic writes.

A file under the cache folder is either complete or absent. Every writer goes through
:func:`infogan.storage.atomic_open`: bytes land in a temporary file in the destination's own folder, are
flushed and fsynced, then moved into place with ``os.replace`` (atomic on POSIX and Windows). An
interrupted download or a checksum mismatch leaves no partial file behind.

Downloads use the standard library only (``urllib`` respects the usual ``*_proxy`` variables) and fail
fast on unreachable hosts: the connect timeout is a few seconds.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from infogan.errors import DataError, InfoGANError
from infogan.storage import atomic_open

CHUNK = 1 << 20  # 1 MiB per read: large enough for speed, small enough for a smooth progress bar
USER_AGENT = "infogan-data-fetch/0.1 (+https://github.com/openai/InfoGAN reimplementation)"


class DownloadError(DataError):
    """Every source of a file failed; ``failures`` holds one ``"source: reason"`` line per source."""

    def __init__(self, message: str, failures: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.failures = list(failures)


def file_md5(path: str | os.PathLike) -> str:
    """MD5 hex digest of a file, read in chunks.

    Args:
        path: the file.

    Returns:
        32 lowercase hex characters.
    """
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def verify_md5(path: str | os.PathLike, md5: str) -> bool:
    """Whether ``path`` exists and its MD5 equals ``md5``.

    Args:
        path: the file to check.
        md5: the expected hex digest (case-insensitive).

    Returns:
        True when the file exists and matches; False when it is missing or differs.
    """
    p = Path(path)
    return p.is_file() and file_md5(p) == md5.lower()


def read_verified(path: str | os.PathLike, md5: str) -> bytearray | None:
    """Read a whole file and check its MD5 in the same pass.

    Args:
        path: the file.
        md5: expected hex digest.

    Returns:
        The file's bytes (a bytearray, so numpy views of it are writable), or None when the file
        is missing, unreadable or does not match.
    """
    try:
        with open(path, "rb") as f:
            buf = bytearray(os.fstat(f.fileno()).st_size)
            f.readinto(buf)
    except OSError:
        return None
    return buf if hashlib.md5(buf).hexdigest() == md5.lower() else None


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    md5: str | None = None,
    gunzip: bool = False,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` atomically, optionally gunzipping and checking the MD5.

    Args:
        url: http(s) or file URL.
        dest: final path. It is only created (or replaced) when the whole body arrived and,
            if ``md5`` is given, matched.
        md5: expected MD5 of the bytes written to ``dest`` (after decompression when ``gunzip``).
        gunzip: decompress a gzip stream on the fly while downloading.
        connect_timeout: seconds to wait for the connection; unreachable hosts fail this fast.
        read_timeout: seconds without any data after which the transfer is abandoned.
        progress: show a tqdm progress bar (hidden automatically when stderr is not a terminal).

    Returns:
        ``dest`` as a Path.

    Raises:
        DataError: network failure, HTTP error, truncated body, bad gzip data or MD5 mismatch.
            No partial file is left behind.
    """
    dest = Path(dest)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=connect_timeout)
    except urllib.error.HTTPError as e:
        raise DataError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DataError(f"{url}: cannot connect ({e.reason})") from None
    except (OSError, ValueError) as e:  # socket timeouts, malformed URLs
        raise DataError(f"{url}: cannot connect ({e})") from None
    with response:
        _set_read_timeout(response, read_timeout)
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        digest = hashlib.md5()
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS) if gunzip else None  # 16+: gzip header
        received = 0
        try:
            with atomic_open(dest) as out, tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name,
                leave=False, disable=None if progress else True,
            ) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    received += len(block)
                    bar.update(len(block))
                    data = decompressor.decompress(block) if decompressor else block
                    digest.update(data)
                    out.write(data)
                if total is not None and received != total:
                    raise DataError(f"{url}: truncated download ({received} of {total} bytes)")
                if decompressor is not None:
                    tail = decompressor.flush()
                    digest.update(tail)
                    out.write(tail)
                    if not decompressor.eof:
                        raise DataError(f"{url}: gzip stream ends early (truncated download)")
                if md5 is not None and digest.hexdigest() != md5.lower():
                    raise DataError(
                        f"{url}: MD5 mismatch (got {digest.hexdigest()}, expected {md5.lower()}); "
                        "the file is corrupt or not the expected version"
                    )
        except InfoGANError:  # ours (a bad body, a full disk): already names the problem
            raise
        except zlib.error as e:
            raise DataError(f"{url}: not valid gzip data ({e})") from None
        except (OSError, ValueError) as e:  # IncompleteRead, reset connections, read timeouts
            raise DataError(f"{url}: transfer failed after {received} bytes ({type(e).__name__}: {e})") from None
    return dest


def fetch_first(
    urls: Sequence[str],
    dest: str | os.PathLike,
    *,
    md5: str | None = None,
    gunzip: bool = False,
    connect_timeout: float = 5.0,
    progress: bool = True,
    hint: str = "",
) -> Path:
    """Try each source in order until one delivers a verified file.

    Args:
        urls: candidate URLs for the same file, best first.
        dest: final path.
        md5: expected MD5 of the file as written (see :func:`download`).
        gunzip: decompress the downloaded gzip stream.
        connect_timeout: per-source connect timeout in seconds.
        progress: show progress bars.
        hint: extra sentence appended to the error (e.g. where to download by hand).

    Returns:
        ``dest`` as a Path.

    Raises:
        DownloadError: no source worked; the message lists every source with its failure.
    """
    failures: list[str] = []
    for url in urls:
        try:
            return download(url, dest, md5=md5, gunzip=gunzip, connect_timeout=connect_timeout,
                            progress=progress)
        except DataError as e:
            failures.append(str(e))
    raise DownloadError(format_failures(f"could not download {Path(dest).name}", failures, hint), failures)


def format_failures(what: str, failures: Sequence[str], hint: str = "") -> str:
    """One error message: a headline, one indented line per failed source, then the fix.

    Args:
        what: the headline, e.g. "could not download train_32x32.mat".
        failures: "source: reason" lines.
        hint: how to fix it by hand.

    Returns:
        The message text.
    """
    lines = [f"{what}; tried {len(failures)} source(s):"] + [f"  - {f}" for f in failures]
    if hint:
        lines.append(hint)
    return "\n".join(lines)


def _set_read_timeout(response: object, seconds: float) -> None:
    """Lengthen the socket timeout once connected (urllib uses one timeout for both phases).

    Best effort: reaches the socket through the HTTPResponse's buffered reader; silently does
    nothing for file:// responses or if the standard library's internals change.
    """
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None and hasattr(sock, "settimeout"):
        sock.settimeout(seconds)
