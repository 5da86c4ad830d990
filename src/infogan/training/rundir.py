"""Run folders: numbered, never overwritten (``runs/00007-mnist-seed0/``), and the files inside them.

A process that trains in a run folder holds its lock (:func:`lock_run`), so two processes never write the
same run; the lock goes with the process, however it ends (even SIGKILL). A run folder from elsewhere is
data: its files are read and written only as regular files, never through links (:func:`check_run_files`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from infogan.config import RunConfig, read_config
from infogan.errors import ConfigError, TrainingError
from infogan.storage import atomic_write_text, check_target, ensure_folder, open_regular

CONFIG_NAME = "config.json"
STATS_NAME = "stats.jsonl"
LOCK_NAME = ".lock"
SUBFOLDERS = ("samples", "traversals", "export")  # folders the project writes inside a run folder
_NUMBERED = re.compile(r"^(\d{5})-")
_OWN_FILES = re.compile(r"^(config\.json|stats\.jsonl|\.lock|state(\.prev)?\.pt|snapshot\.safetensors|machine\.json|"
                        r"metric-.*\.jsonl|events\.out\.tfevents\..*)$")


def create_run_dir(outdir: str | os.PathLike, config: RunConfig, *, desc: str | None = None) -> Path:
    """Create the next numbered run folder under ``outdir`` and write ``config.json`` into it.

    Args:
        outdir: parent folder (created if needed).
        config: the run config, written before step 0.
        desc: name suffix; default ``<preset>-seed<seed>``.
    Returns:
        The new folder. Existing folders are never reused: a clash (two processes starting at once)
        takes the next number.
    """
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainingError(f"cannot create the output folder {outdir}: {exc.strerror}. "
                            "Pass --outdir with a writable folder.") from None
    if not os.access(outdir, os.W_OK):
        raise TrainingError(f"the output folder {outdir} is not writable; pass --outdir with a writable folder")
    desc = desc or f"{config.preset}-seed{config.train.seed}"
    if not re.fullmatch(r"[A-Za-z0-9._+-]+", desc):
        raise ConfigError(f"run name {desc!r} may only use letters, digits and . _ + -")
    for _ in range(1000):
        numbers = [int(m.group(1)) for p in outdir.iterdir() if (m := _NUMBERED.match(p.name))]
        run_dir = outdir / f"{max(numbers, default=-1) + 1:05d}-{desc}"
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise TrainingError(f"cannot create the run folder {run_dir}: {exc.strerror}. Pass --outdir "
                                "with a writable folder.") from None
        try:
            atomic_write_text(run_dir / CONFIG_NAME, config.to_json())
        except TrainingError:
            with contextlib.suppress(OSError):  # leave no empty, config-less run folder behind
                run_dir.rmdir()
            raise
        return run_dir
    raise TrainingError(f"could not create a new run folder in {outdir}")


def read_run_config(run_dir: str | os.PathLike) -> RunConfig:
    """The config.json of a run folder."""
    path = Path(run_dir) / CONFIG_NAME
    if not os.path.lexists(path):
        raise ConfigError(f"{run_dir} is not a run folder (no {CONFIG_NAME}); give a folder made by "
                          "'infogan train'")
    return read_config(path, follow=False, what=f"the run's {CONFIG_NAME}")


def check_run_files(run_dir: str | os.PathLike) -> None:
    """Refuse a run folder in which a file or folder the project writes is a link or not what it must be
    (checked before training, so that nothing is trained for a write that would then be refused).

    Raises:
        UnsafeFileError: naming the entry and the fix.
    """
    run_dir = Path(run_dir)
    with os.scandir(run_dir) as entries:
        for entry in entries:
            if _OWN_FILES.match(entry.name):
                check_target(entry.path)
            elif entry.name in SUBFOLDERS:
                ensure_folder(entry.path, root=run_dir)


def remove_unstarted(run_dir: str | os.PathLike, has_state: bool) -> bool:
    """Remove a run folder this process created when its start failed before the first resume state (nothing
    in it can be resumed); a folder with a state is kept. Returns whether it was removed."""
    if has_state:
        return False
    with contextlib.suppress(OSError):
        shutil.rmtree(run_dir)  # never follows links inside the folder
    return not os.path.lexists(run_dir)


@contextlib.contextmanager
def lock_run(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold the run folder's lock for the ``with`` block (an exclusive ``flock`` on ``RUN/.lock``).

    Args:
        run_dir: the run folder.
    Raises:
        TrainingError: another live process holds the lock (its pid is named), or the folder is not writable.
    """
    try:
        import fcntl
    except ImportError:  # no flock on this platform (Windows): run without the guard
        yield
        return
    path = Path(run_dir) / LOCK_NAME
    try:  # never through a link: truncating the lock to write the pid would truncate what it points to
        fd = open_regular(path, os.O_RDWR | os.O_CREAT, follow=False, mode=0o644)
    except OSError as exc:
        raise TrainingError(f"cannot write in the run folder {run_dir}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise TrainingError(f"{run_dir} is being trained by another process (pid {owner}); wait for it "
                                "to finish or stop it first (two writers would corrupt the run)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock
