"""Crash-safe, link-safe file writing: every file that matters is written to a temporary file in the same
folder, flushed and fsynced, then renamed over the target, so a crash at any instant leaves the last good
version readable.

A run folder handed over by someone else is data, never a way to write elsewhere: no write goes through a
symbolic link or onto anything but a regular file (:func:`check_target`), folders below a ``root`` (the run
folder) must be real folders (:func:`ensure_folder`), files are opened with ``O_NOFOLLOW`` where the project
opens them itself, and reads never block on a FIFO or run on from a device (:func:`read_regular`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from infogan.errors import TrainingError, UnsafeFileError

TEMP_SUFFIX = ".tmp"  # temporary files are ".<name>.<random>.tmp" beside their target
MAX_JSONL_BYTES = 1 << 30  # a stats or metric file read whole: millions of lines of a few hundred bytes
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # absent on Windows, where check_target's lstat is the guard
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO must not wait for a writer
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# The process umask, read once: mkstemp makes files 0600, but the files we write get the usual mode.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


# ----- what may be written and read ------------------------------------------------------------------------------
_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _refusal(path: os.PathLike | str, mode: int, *, writing: bool) -> UnsafeFileError:
    """The one-line refusal of ``path`` (lstat mode ``mode``), naming what it is and the fix."""
    if stat.S_ISLNK(mode):
        try:
            target = f" (to {os.readlink(path)})"
        except OSError:
            target = ""
        return UnsafeFileError(f"{path} is a symbolic link{target}; infogan never {'writes' if writing else 'reads'} "
                               "a run folder's files through links, so that a folder handed over cannot make it "
                               "write elsewhere: replace the link with a real file or folder and try again")
    what = "write over" if writing else "read"
    return UnsafeFileError(f"{path} is {_kind(mode)}, not a regular file; infogan only {what}s regular files: "
                           f"{'move it away' if writing else 'give a regular file'} and try again")


def check_target(path: str | os.PathLike) -> None:
    """Refuse to write ``path`` unless it is absent or a regular file (never a link, FIFO, device or folder).

    Raises:
        UnsafeFileError: naming what ``path`` is and the fix.
    """
    try:
        mode = os.lstat(path).st_mode
    except OSError:  # absent, or a parent that is not a folder: the write itself reports that
        return
    if not stat.S_ISREG(mode):
        raise _refusal(path, mode, writing=True)


def ensure_folder(folder: str | os.PathLike, *, root: str | os.PathLike | None = None) -> Path:
    """Create ``folder`` (and its parents) if needed; with ``root``, every folder from ``root`` down to it must be
    a real folder inside ``root``, not a link (``root`` itself may be one: the user chose it).

    Raises:
        UnsafeFileError: ``folder`` is not inside ``root``, or a folder on the way is a link or not a folder.
        OSError: a folder cannot be created.
    """
    folder = Path(folder)
    if root is None:
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    base, target = os.path.abspath(root), os.path.abspath(folder)
    if os.path.commonpath([base, target]) != base:
        raise UnsafeFileError(f"{folder} is outside the run folder {root}; infogan writes a run's files inside it only")
    current = Path(base)
    for part in Path(os.path.relpath(target, base)).parts if target != base else ():
        current = current / part
        try:
            os.mkdir(current)
            continue
        except FileExistsError:
            pass
        mode = os.lstat(current).st_mode
        if not stat.S_ISDIR(mode):
            raise _refusal(current, mode, writing=True)
    return folder


def open_regular(path: str | os.PathLike, flags: int = os.O_RDONLY, *, follow: bool = True, mode: int = 0o666) -> int:
    """``os.open`` that refuses anything but a regular file without blocking on a FIFO, and links too unless
    ``follow`` (``O_NOFOLLOW``). Returns the file descriptor.

    Raises:
        UnsafeFileError: ``path`` is a link (when not ``follow``), a FIFO, a device or a folder.
        OSError: the file cannot be opened (missing, permissions, ...).
    """
    try:
        fd = os.open(path, flags | _NONBLOCK | _CLOEXEC | (0 if follow else _NOFOLLOW), mode)
    except OSError:
        if not follow:
            with contextlib.suppress(OSError):
                link = os.lstat(path).st_mode
                if stat.S_ISLNK(link):
                    raise _refusal(path, link, writing=bool(flags & (os.O_WRONLY | os.O_RDWR))) from None
        raise
    st_mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(st_mode):
        os.close(fd)
        raise _refusal(path, st_mode, writing=bool(flags & (os.O_WRONLY | os.O_RDWR)))
    return fd


def read_regular(path: str | os.PathLike, *, limit: int, follow: bool = True, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (a FIFO, a device such as /dev/zero, a folder, and
    a link unless ``follow``, are refused without reading).

    Raises:
        UnsafeFileError: not a regular file, or larger than ``limit`` (named as ``what``).
        OSError: the file cannot be opened.
    """
    fd = open_regular(path, os.O_RDONLY, follow=follow)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFileError(f"{path} is larger than any {what} ({limit:,} bytes at most); it is not a {what}: "
                              "give the right file")
    return data


# ----- atomic writes ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, keep: str | os.PathLike | None = None,
                root: str | os.PathLike | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it onto ``path``.

    On any failure the temporary file is removed and ``path`` is left as it was.

    Args:
        path: the file to replace: absent or a regular file (a link, FIFO, device or folder is refused, so a
            write never lands anywhere but at ``path``).
        keep: if given, the version of ``path`` being replaced is kept under this name (a hard link, so
            no copy; a copy where the filesystem has no hard links). At every instant ``path`` holds a
            complete version, and ``keep`` the one before it.
        root: the run folder ``path`` belongs to: the folders between them must be real folders, not links.
    Yields:
        The temporary path to write.
    Raises:
        UnsafeFileError: ``path``, ``keep`` or a folder on the way is a link or not what it must be.
        TrainingError: the folder cannot be written or the disk is full (the temporary file is removed).
    """
    path = Path(path)
    try:
        ensure_folder(path.parent, root=root)
        for target in (path, keep):
            if target is not None:
                check_target(target)
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
        check_target(path)  # again, just before the rename: nothing put there meanwhile is replaced
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
def atomic_open(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> Iterator[BinaryIO]:
    """:func:`atomic_path` as an open binary file: ``path`` is replaced only when the block succeeds.

    Raises:
        UnsafeFileError: see :func:`atomic_path`.
        TrainingError: the folder cannot be written or the disk is full (nothing is left behind).
    """
    with atomic_path(path, root=root) as tmp, open(tmp, "wb") as fh:
        yield fh


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], None], *,
                 keep: str | os.PathLike | None = None, root: str | os.PathLike | None = None) -> None:
    """Call ``writer(tmp_path)`` and atomically move the result to ``path`` (``keep``, ``root``: see atomic_path)."""
    with atomic_path(path, keep=keep, root=root) as tmp:
        writer(tmp)


def atomic_write_text(path: str | os.PathLike, text: str, *, root: str | os.PathLike | None = None) -> None:
    """Atomically replace ``path`` with ``text`` (UTF-8; ``root``: see atomic_path)."""
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"), root=root)


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line and fsync it (``path`` is opened with ``O_NOFOLLOW``: a link is refused).

    A line is either whole or absent: a last line cut by an earlier crash is removed before appending
    (so the new line does not run into it), and a failed write (disk full) is truncated away.

    Raises:
        UnsafeFileError: ``path`` is a link, a FIFO, a device or a folder.
        TrainingError: the file cannot be written; it is left as it was.
    """
    data = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    try:
        fd = open_regular(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, follow=False)
    except OSError as exc:
        raise TrainingError(f"cannot append to {path}: {exc.strerror or exc}. Choose a writable folder.") from None
    size = None
    with os.fdopen(fd, "ab+", buffering=0) as fh:  # unbuffered: nothing is left to flush after a failure
        try:
            size = _drop_cut_line(fh)
            view = memoryview(data)
            while view:
                view = view[fh.write(view):]
            os.fsync(fd)
        except OSError as exc:
            if size is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
            raise TrainingError(f"cannot append to {path}: {exc.strerror or exc}. The file keeps its earlier "
                                "lines; free some space or choose another folder.") from None


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines file of objects, skipping lines that are not whole JSON objects (a last line cut
    by a crash, or garbage). A missing file reads as no lines.

    Raises:
        UnsafeFileError: ``path`` is a link, a FIFO or a device, or larger than MAX_JSONL_BYTES.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return []
    out = []
    text = read_regular(path, limit=MAX_JSONL_BYTES, follow=False, what="JSON-lines file").decode("utf-8", "replace")
    for line in text.splitlines():
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


def remove_temporary_files(folder: str | os.PathLike, *, root: str | os.PathLike | None = None) -> list[Path]:
    """Delete the temporary files an interrupted atomic write left in ``folder`` (not recursive; regular files
    only, never what a link points to).

    Only call this while no other process writes to the folder (e.g. under :func:`infogan.training.rundir.lock_run`).

    Args:
        folder: the folder to clean.
        root: the run folder ``folder`` belongs to: a link on the way is refused, so nothing outside is deleted.
    Returns:
        The paths removed.
    Raises:
        UnsafeFileError: ``folder`` (below ``root``) is a link or not a folder.
    """
    removed: list[Path] = []
    folder = Path(folder)
    if root is not None:
        if not os.path.lexists(folder):
            return removed
        ensure_folder(folder, root=root)  # exists: only checks that no folder on the way is a link
    if not folder.is_dir():
        return removed
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
