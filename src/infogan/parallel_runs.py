"""Train the planned runs of a reproduction in several worker processes at once (``reproduce --jobs N``).

On a small CPU one MNIST run does not use two cores well (on a 2-core AVX2 EPYC, one 2-thread run trains at
115 img/s, two 1-thread runs at about 89 img/s each), so running seeds side by side shortens a reproduction.
Each run trains in its own spawned process with ``threads`` torch threads; the parent starts the longest runs
first (InfoGAN runs before baselines) and keeps ``jobs`` of them going.

Stopping: SIGINT or SIGTERM to the parent (Ctrl-C reaches the workers too) starts no new run and asks every
running worker to stop; each saves its state, and running the same command again resumes every run from
where it stopped (:func:`infogan.reproduce.train_planned`). A worker that fails prints its one-line error;
the parent waits for the others and then raises :class:`~infogan.errors.TrainingError` naming the run.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from pathlib import Path

from infogan.errors import InfoGANError, TrainingError

EXIT_DONE, EXIT_ERROR, EXIT_STOPPED = 0, 2, 3


def default_threads(jobs: int) -> int:
    """Torch threads per worker: the machine's cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // jobs)


def train_in_parallel(runs: Sequence, outdir: Path, *, jobs: int, threads: int | None = None, data=None,
                      echo: Callable[[str], None] = print) -> bool:
    """Bring every planned run to its last iteration with up to ``jobs`` worker processes.

    Args:
        runs: :class:`~infogan.reproduce.PlannedRun` objects; run ``r`` trains in ``outdir / r.name``.
        outdir: the reproduction folder.
        jobs: how many runs train at once (>= 1).
        threads: torch threads per worker (default :func:`default_threads`).
        data: training ImageData sent to each worker (default: each worker loads the config's dataset).
        echo: the parent's status lines (the workers print their own).
    Returns:
        True when every run finished; False when a stop was requested (run the same command again).
    Raises:
        TrainingError: a worker failed; the others were let finish first.
    """
    from infogan.reproduce import run_status

    threads = threads or default_threads(jobs)
    pending = []
    for run in runs:
        status, step = run_status(outdir / run.name, run.config)
        if status == "finished":  # no process started just to say so
            echo(f"{run.name}: finished at step {step}, skipped")
        else:
            pending.append(run)
    # longest first: the InfoGAN runs, then the short baselines fill the lanes that free up
    pending.sort(key=lambda r: -r.config.train.iterations)
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's thread pools
    active: dict = {}  # sentinel -> (process, run)
    failed: list[tuple[int, str]] = []  # (position in the plan, message)
    stopped = [False]

    def request_stop(*_):
        stopped[0] = True
        for proc, _run in active.values():
            if proc.is_alive():
                proc.terminate()  # SIGTERM: the worker's Trainer stops gracefully and saves its state

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if pending:
            echo(f"training {len(pending)} run(s), {jobs} at a time, {threads} thread(s) each")
        while active or (pending and not stopped[0] and not failed):
            while pending and len(active) < jobs and not stopped[0] and not failed:
                run = pending.pop(0)
                proc = ctx.Process(target=_worker, args=(run, outdir / run.name, data, threads),
                                   name=f"infogan-{run.name}")
                proc.start()
                active[proc.sentinel] = (proc, run)
            for sentinel in wait(list(active)):
                proc, run = active.pop(sentinel)
                proc.join()
                if proc.exitcode == EXIT_STOPPED or (stopped[0] and proc.exitcode != EXIT_DONE):
                    stopped[0] = True
                elif proc.exitcode != EXIT_DONE:
                    failed.append((runs.index(run), f"{run.name} (exit code {proc.exitcode})"))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        raise TrainingError(f"training failed for {', '.join(m for _, m in sorted(failed))}: see its message "
                            "above; the other runs are kept, and the same command continues them")
    if stopped[0]:
        echo("stopped; run the same command again to continue every run from where it stopped")
    return not stopped[0]


def _worker(run, run_dir: Path, data, threads: int) -> None:
    """One run in a spawned process; its exit code tells the parent how it ended."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent relays Ctrl-C as SIGTERM, once
    import torch

    from infogan.reproduce import train_planned

    torch.set_num_threads(threads)

    def echo(line: str) -> None:
        print(line, flush=True)

    def data_source():
        if data is not None:
            return data
        from infogan.api import load_training_data

        return load_training_data(run.config)

    try:
        result = train_planned(run, run_dir, data_source, progress=False, echo=echo)
    except InfoGANError as exc:
        print(f"{run.name}: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_ERROR)
    if result is not None and result.stopped_early:
        echo(f"{run.name}: stopped at step {result.step}")
        sys.exit(EXIT_STOPPED)
    if result is not None:
        echo(f"{run.name}: finished at step {result.step}")
    sys.exit(EXIT_DONE)
