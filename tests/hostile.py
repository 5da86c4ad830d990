"""Helpers shared by the hostile-input tests (test_hostile_*.py): the one-line CLI check, a tiny trained run,
copies of it to tamper with, and a deadline for reads that used to block."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from conftest import _build_tiny

import infogan
from infogan.cli import main
from infogan.models import register


def one_line_error(capsys, argv: list[str], expected: str) -> str:
    """Run the CLI in process: exit 2, one ``infogan: error:`` line on stderr containing ``expected``."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("infogan: error: ") and expected in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def train_tiny(outdir: Path, **train) -> Path:
    """A finished 4-step run of the tiny architecture (snapshot + state); returns its folder."""
    register("tiny", _build_tiny)
    cfg = infogan.get_preset("fake").replace(
        model={"arch": "tiny"}, train={"iterations": 4, "batch_size": 8, "tick": 2, "snapshot_every": 2,
                                       "precision": "fp32", "deterministic": True, **train})
    return infogan.train(cfg, outdir=outdir, progress=False).run_dir


def copy_run(run: Path, where: Path) -> Path:
    """A copy of a run folder to tamper with (``state.prev.pt`` left out, so that ``state.pt`` alone counts)."""
    copy = where / "run"
    shutil.copytree(run, copy)
    (copy / "state.prev.pt").unlink(missing_ok=True)
    return copy


def resume_argv(run: Path, *extra: str) -> list[str]:
    """``infogan train --resume RUN`` to step 6, without evaluation or progress bar."""
    return ["train", "--resume", str(run), "--no-eval", "--no-progress", "--iterations", "6", *extra]


class Timeout(Exception):
    """A call that should return at once was still running at its deadline."""


# Run as a separate process, so that it works even while the test holds the GIL in native code blocked on the
# FIFO: after the deadline, open the FIFO's writing end again and again, which releases every open of its
# reading end, and leave a marker saying the deadline passed.
_UNBLOCK = """
import os, sys, time
fifo, seconds, marker = sys.argv[1], float(sys.argv[2]), sys.argv[3]
time.sleep(seconds)
open(marker, "w").close()
while True:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass
    time.sleep(0.1)
"""


@contextlib.contextmanager
def deadline(seconds: float, fifo: Path | None = None):
    """Raise :class:`Timeout` when the block is still running after ``seconds`` (SIGALRM, for Python code); with
    ``fifo``, a reader blocked on it in native code is released too, and the block fails as timed out."""
    fired = []

    def alarm(signum, frame):
        fired.append(True)
        raise Timeout(f"still running after {seconds} s")

    marker = Path(tempfile.mkdtemp()) / "deadline-passed"
    helper = subprocess.Popen([sys.executable, "-c", _UNBLOCK, str(fifo), str(seconds), str(marker)]) if fifo else None
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if helper is not None:
            helper.kill()
            helper.wait()
    if fired or marker.exists():
        raise Timeout(f"still running after {seconds} s")


@contextlib.contextmanager
def memory_cap(extra: int = 2 << 30):
    """Cap this process's address space at what it maps now plus ``extra`` bytes for the block (RLIMIT_AS, soft
    limit only, restored after), so that an allocation blow-up fails the test instead of swapping the machine."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    mapped = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (mapped + extra if hard == resource.RLIM_INFINITY else
                                            min(hard, mapped + extra), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def threads_one():
    """Tiny models: a second thread only adds synchronisation."""
    torch.set_num_threads(1)
