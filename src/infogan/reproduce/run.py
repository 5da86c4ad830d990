"""``infogan reproduce mnist --seeds 5``: the paper's MNIST experiment for several seeds, the Figure 1 baseline
for each seed, then the report (:mod:`infogan.reproduce.report`).

The reproduction folder holds fixed run names, ``<outdir>/mnist-seed3`` and ``<outdir>/mnist-baseline-seed3``,
and is resumable seed by seed: a finished run is skipped, an interrupted one continues from its last resume
state, one stopped before its first snapshot starts again. Every run is started by
:func:`infogan.training.session.train_run`, the function behind ``infogan.train``.

    >>> from infogan import get_preset
    >>> from infogan.reproduce import reproduce
    >>> reproduce(get_preset("mnist"), "runs/reproduce-mnist", seeds=5)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from infogan.config import RunConfig
from infogan.errors import ConfigError, InfoGANError
from infogan.reproduce.plan import (
    DEFAULT_BASELINE_ITERATIONS,
    PlannedRun,
    check_folder,
    plan,
    run_status,
)
from infogan.reproduce.pool import (
    EXIT_DONE,
    EXIT_ERROR,
    EXIT_STOPPED,
    default_threads,
    run_in_processes,
)
from infogan.storage import atomic_write_text
from infogan.training.session import load_training_data, train_run


def train_planned(run: PlannedRun, run_dir: Path, data_source: Callable, *, progress: bool = True,
                  echo: Callable[[str], None] = print):
    """Bring one planned run to its last iteration: skip, start, restart or resume it.

    Args:
        run: the planned run.
        run_dir: its folder.
        data_source: returns the training ImageData (called only when something is trained).
        progress: show a progress bar.
        echo: status lines.
    Returns:
        The :class:`~infogan.training.TrainResult`, or None when the run was already finished.
    """
    status, step = run_status(run_dir, run.config)
    if status == "finished":
        echo(f"{run.name}: finished at step {step}, skipped")
        return None
    started = time.perf_counter()
    if status == "resume":
        echo(f"{run.name}: resuming from step {step}")
        result = train_run(resume=run_dir, data=data_source(), progress=progress, iterations=run.config.train.iterations)
    else:  # new, or stopped before its first snapshot: nothing to resume, start again from step 0
        echo(f"{run.name}: training {run.config.train.iterations} iterations"
             + (" (restarted: no snapshot yet)" if status == "restart" else ""))
        result = train_run(run.config, run_dir=run_dir, data=data_source(), progress=progress)
    _record_session(run_dir, step, result.step, time.perf_counter() - started)
    return result


def _record_session(run_dir: Path, from_step: int, to_step: int, wall_s: float) -> None:
    """Append this training session (machine, steps, wall time) to the run's machine.json."""
    from infogan.reproduce.report.runs import MACHINE_NAME, machine_info, read_sessions

    path = run_dir / MACHINE_NAME
    sessions = read_sessions(run_dir)
    sessions.append({"machine": machine_info(), "from_step": from_step, "to_step": to_step,
                     "wall_s": round(wall_s, 2), "ended": time.strftime("%Y-%m-%dT%H:%M:%S")})
    atomic_write_text(path, json.dumps({"sessions": sessions}, indent=2) + "\n")


def reproduce(config: RunConfig, outdir: str | os.PathLike, *, seeds: int = 5, first_seed: int = 0,
              baseline_iterations: int = DEFAULT_BASELINE_ITERATIONS, data=None, progress: bool = True,
              report: bool = True, attribute_draws: int = 200, device: str = "cpu", jobs: int = 1,
              threads: int | None = None, quality_samples: int = 10_000,
              echo: Callable[[str], None] = print) -> Path | None:
    """Train every planned run (resumably), then build the report in ``<outdir>/report``.

    Args:
        config: the InfoGAN config (e.g. ``get_preset("mnist").with_tick(20)``).
        outdir: the reproduction folder.
        seeds, first_seed, baseline_iterations: see :func:`plan`.
        data: training ImageData (default: loaded from the config, once, when something is trained).
        progress: progress bars.
        report: build the report at the end.
        attribute_draws: draws per continuous code in the report's attribute measures.
        device: where the report evaluates snapshots.
        jobs: runs trained at once, each in its own process (:mod:`infogan.reproduce.pool`); 1 = one after
            the other in this process.
        threads: torch threads per worker when ``jobs > 1`` (default: the cores shared out).
        quality_samples: samples of the report's sample-quality metrics and L_I.
        echo: status lines.
    Returns:
        The report folder; None when training was interrupted (run the same call again to continue) or
        ``report`` is False.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads-per-job must be at least 1, got {threads}")
    outdir = Path(outdir)
    runs = plan(config, seeds=seeds, first_seed=first_seed, baseline_iterations=baseline_iterations)
    for run in runs:  # refuse a mismatched folder before training anything
        check_folder(outdir / run.name, run.config)
    if jobs > 1:
        runs_done = train_in_parallel(runs, outdir, jobs=jobs, threads=threads, data=data, echo=echo)
    else:
        runs_done = _train_in_turn(runs, outdir, config, data, progress, echo)
    if not runs_done or not report:
        return None
    from infogan.reproduce.report import build_report

    return build_report([outdir / r.name for r in runs], outdir / "report", attribute_draws=attribute_draws,
                        device=device, quality_samples=quality_samples, echo=echo)


def _train_in_turn(runs, outdir: Path, config: RunConfig, data, progress: bool, echo) -> bool:
    """Train the runs one after the other in this process; False when one was stopped early."""
    cache: list = [data] if data is not None else []

    def data_source():
        if not cache:
            cache.append(load_training_data(config))
        return cache[0]

    for run in runs:
        result = train_planned(run, outdir / run.name, data_source, progress=progress, echo=echo)
        if result is not None and result.stopped_early:
            echo(f"{run.name}: stopped at step {result.step}; run the same command again to continue")
            return False
    return True


def train_in_parallel(runs: Sequence[PlannedRun], outdir: Path, *, jobs: int, threads: int | None = None,
                      data=None, echo: Callable[[str], None] = print) -> bool:
    """Bring every planned run to its last iteration with up to ``jobs`` worker processes.

    Finished runs are skipped without a process; the others start longest first (the InfoGAN runs, then
    the short baselines fill the lanes that free up), each with ``threads`` torch threads.

    Args:
        runs: the planned runs; run ``r`` trains in ``outdir / r.name``.
        outdir: the reproduction folder.
        jobs: how many runs train at once (>= 1).
        threads: torch threads per worker (default: the cores shared out).
        data: training ImageData sent to each worker (default: each worker loads the config's dataset).
        echo: the parent's status lines (the workers print their own).
    Returns:
        True when every run finished; False when a stop was requested (run the same command again).
    Raises:
        TrainingError: a worker failed; the others were let finish first.
    """
    threads = threads or default_threads(jobs)
    pending = []
    for run in runs:
        status, step = run_status(outdir / run.name, run.config)
        if status == "finished":  # no process started just to say so
            echo(f"{run.name}: finished at step {step}, skipped")
        else:
            pending.append(run)
    pending.sort(key=lambda r: -r.config.train.iterations)
    if pending:
        echo(f"training {len(pending)} run(s), {jobs} at a time, {threads} thread(s) each")
    done = run_in_processes([(r.name, (r, outdir / r.name, data, threads)) for r in pending], _worker, jobs=jobs,
                            echo=echo, what="run")
    if not done:
        echo("stopped; run the same command again to continue every run from where it stopped")
    return done


def _worker(run: PlannedRun, run_dir: Path, data, threads: int) -> None:
    """One planned run in a spawned process; its exit code tells the parent how it ended."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent relays Ctrl-C as SIGTERM, once
    import torch

    torch.set_num_threads(threads)

    def echo(line: str) -> None:
        print(line, flush=True)

    try:
        result = train_planned(run, run_dir, lambda: data if data is not None else load_training_data(run.config),
                               progress=False, echo=echo)
    except InfoGANError as exc:
        print(f"{run.name}: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_ERROR)
    if result is not None and result.stopped_early:
        echo(f"{run.name}: stopped at step {result.step}")
        sys.exit(EXIT_STOPPED)
    if result is not None:
        echo(f"{run.name}: finished at step {result.step}")
    sys.exit(EXIT_DONE)
