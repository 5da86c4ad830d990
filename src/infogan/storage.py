"""Crash-safe file writing: every file that matters is written to a temporary file in the same folder,
flushed and fsynced, then renamed over the target, so a crash at any instant leaves the last good
version readable."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from infogan.errors import TrainingError

TEMP_SUFFIX = ".tmp"  # temporary files are ".<name>.<random>.tmp" beside their target
# The process umask, read once: mkstemp makes files 0600, but the files we write get the usual mode.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, keep: str | os.PathLike | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it onto ``path``.

    On any failure the temporary file is removed and ``path`` is left as it was.

    Args:
        path: the file to replace.
        keep: if given, the version of ``path`` being replaced is kept under this name (a hard link, so
            no copy; a copy where the filesystem has no hard links). At every instant ``path`` holds a
            complete version, and ``keep`` the one before it.
    Yields:
        The temporary path to write.
    Raises:
        TrainingError: the folder cannot be written or the disk is full (the temporary file is removed).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise TrainingError(f"cannot write {path}: {exc.strerror or exc}. Choose a writable folder "
                            "(e.g. --outdir) or free some space.") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        if keep is not None and path.exists():
            _keep_version(path, Path(keep))
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise TrainingError(f"cannot write {path}: {exc.strerror or exc}. The previous version, if any, "
                            "is intact; free some space or choose another folder.") from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """:func:`atomic_path` as an open binary file: ``path`` is replaced only when the block succeeds.

    Raises:
        TrainingError: the folder cannot be written or the disk is full (nothing is left behind).
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        yield fh


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], None], *,
                 keep: str | os.PathLike | None = None) -> None:
    """Call ``writer(tmp_path)`` and atomically move the result to ``path`` (``keep``: see atomic_path)."""
    with atomic_path(path, keep=keep) as tmp:
        writer(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line and fsync it.

    A line is either whole or absent: a last line cut by an earlier crash is removed before appending
    (so the new line does not run into it), and a failed write (disk full) is truncated away.

    Raises:
        TrainingError: the file cannot be written; it is left as it was.
    """
    data = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    size = None
    try:
        with open(path, "ab+") as fh:
            size = _drop_cut_line(fh)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        if size is not None:
            with contextlib.suppress(OSError):
                os.truncate(path, size)
        raise TrainingError(f"cannot append to {path}: {exc.strerror or exc}. The file keeps its earlier "
                            "lines; free some space or choose another folder.") from None


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines file of objects, skipping lines that are not whole JSON objects (a last line cut
    by a crash, or garbage)."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def _drop_cut_line(fh) -> int:
    """Truncate a binary append-mode file after its last newline; return the resulting size."""
    size = fh.seek(0, os.SEEK_END)
    if size == 0:
        return 0
    fh.seek(size - 1)
    if fh.read(1) == b"\n":
        return size
    end = size
    while end > 0:  # scan back in blocks for the last newline
        start = max(0, end - 65536)
        fh.seek(start)
        block = fh.read(end - start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            end = start + cut + 1
            break
        end = start
    fh.truncate(end)
    return end


def _keep_version(path: Path, keep: Path) -> None:
    """Make ``keep`` a second name of the current ``path`` (atomically replacing any older ``keep``)."""
    if keep.exists() and os.path.samefile(path, keep):
        # already so (a write cut between this and its rename leaves both names on one file); renaming a
        # link onto another name of the same file does nothing and would leave the temporary name behind
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{keep.name}.", suffix=TEMP_SUFFIX, dir=keep.parent)
    os.close(fd)
    try:
        os.unlink(tmp)
        try:
            os.link(path, tmp)  # a hard link: the old version costs no copy and no extra write
        except OSError:  # filesystems without hard links (FAT, some network mounts): copy instead
            shutil.copyfile(path, tmp)
        os.replace(tmp, keep)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_temporary_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files an interrupted atomic write left in ``folder`` (not recursive).

    Only call this while no other process writes to the folder (e.g. under :func:`infogan.training.rundir.lock_run`).

    Returns:
        The paths removed.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX) and p.is_file():
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
