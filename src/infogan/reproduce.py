"""``infogan reproduce mnist --seeds 5``: the paper's MNIST experiment for several seeds, the Figure 1 baseline
for each seed, then the report (:mod:`infogan.report`).

The reproduction folder holds fixed run names, ``<outdir>/mnist-seed3`` and ``<outdir>/mnist-baseline-seed3``,
and is resumable seed by seed: a finished run is skipped, an interrupted one continues from its last resume
state (``infogan.api.train(resume=...)``), one stopped before its first snapshot starts again. A folder made
with a different config is never overwritten: the command stops and says so.

    >>> from infogan import get_preset
    >>> from infogan.reproduce import reproduce
    >>> reproduce(get_preset("mnist"), "runs/reproduce-mnist", seeds=5)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infogan import checkpoint
from infogan.config import RunConfig
from infogan.errors import ConfigError
from infogan.storage import atomic_write_text
from infogan.runs import CONFIG_NAME, STATS_NAME

EXPERIMENTS = ("mnist",)  # experiments with a reproduction recipe (Figure 1, Figure 2, the 5% claim)
DEFAULT_TICK = 20  # stats every 20 iterations: Figure 1 resolves the first few hundred iterations
DEFAULT_BASELINE_ITERATIONS = 1000  # Figure 1's horizon; the baseline is only needed that far
# Execution choices that may change between sessions of one run without changing the experiment.
EXECUTION_FIELDS = {("data", "data_dir"), ("train", "device"), ("train", "compile"), ("train", "precision"),
                    ("train", "deterministic"), ("train", "sync_batchnorm")}


@dataclass(frozen=True)
class PlannedRun:
    """One run of a reproduction: its folder name and config."""

    name: str
    config: RunConfig

    @property
    def baseline(self) -> bool:
        return not self.config.optim.info_to_g


def with_tick(config: RunConfig, tick: int) -> RunConfig:
    """Set the tick; snapshot_every becomes the nearest multiple of it that is not larger (at least one tick)."""
    every = tick * max(1, min(config.train.snapshot_every, config.train.iterations) // tick)
    return config.replace(train={"tick": tick, "snapshot_every": every})


def plan(config: RunConfig, *, seeds: int = 5, first_seed: int = 0,
         baseline_iterations: int = DEFAULT_BASELINE_ITERATIONS) -> list[PlannedRun]:
    """The runs of a reproduction: for each seed the InfoGAN run, then its baseline (when asked for).

    Args:
        config: the InfoGAN config (preset, schedule, tick); its seed is replaced.
        seeds: number of seeds.
        first_seed: seeds are first_seed, first_seed + 1, ...
        baseline_iterations: iterations of each baseline (0: no baselines).
    Returns:
        The planned runs in training order.
    """
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    if baseline_iterations < 0:
        raise ConfigError(f"--baseline-iterations must be >= 0 (0 = no baselines), got {baseline_iterations}")
    if not config.optim.info_to_g:
        raise ConfigError("the reproduction trains its own baselines; start it from an InfoGAN config "
                          "(drop --baseline)")
    preset = config.preset
    runs = []
    for seed in range(first_seed, first_seed + seeds):
        runs.append(PlannedRun(f"{preset}-seed{seed}", config.replace(train={"seed": seed})))
        if baseline_iterations:
            base = config.replace(preset=f"{preset}-baseline", optim={"info_to_g": False},
                                  train={"seed": seed, "iterations": baseline_iterations})
            runs.append(PlannedRun(f"{preset}-baseline-seed{seed}", with_tick(base, base.train.tick)))
    return runs


def run_status(run_dir: Path, config: RunConfig) -> tuple[str, int]:
    """Where a planned run stands: ("new" | "restart" | "resume" | "finished", step).

    Raises:
        ConfigError: the folder holds a run with a different config (it is never overwritten).
    """
    if not check_folder(run_dir, config):
        return "new", 0
    if not (run_dir / checkpoint.STATE_NAME).exists():
        return "restart", 0
    step = int(checkpoint.load_state(run_dir / checkpoint.STATE_NAME)["step"])
    return ("finished" if step >= config.train.iterations else "resume"), step


def check_folder(run_dir: Path, config: RunConfig) -> bool:
    """False when ``run_dir`` does not exist; True when it holds a run of ``config``.

    Raises:
        ConfigError: the folder is not a run folder, or its run has a different config.
    """
    if not run_dir.exists():
        return False
    if not (run_dir / CONFIG_NAME).is_file():
        raise ConfigError(f"{run_dir} exists but is not a run folder; move it away or choose another --outdir")
    stored = RunConfig.from_json((run_dir / CONFIG_NAME).read_text(encoding="utf-8"))
    diff = config_differences(stored, config)
    if diff:
        raise ConfigError(f"{run_dir} was trained with a different config ({'; '.join(diff[:4])}); use the "
                          "same flags to continue it, or another --outdir for a new reproduction")
    return True


def config_differences(stored: RunConfig, wanted: RunConfig) -> list[str]:
    """Human-readable differences "section.field stored -> wanted", execution-only fields ignored."""
    a, b = stored.to_dict(), wanted.to_dict()
    out = []
    for section in sorted(set(a) | set(b)):
        x, y = a.get(section), b.get(section)
        if isinstance(x, dict) and isinstance(y, dict):
            out += [f"{section}.{k} {x.get(k)!r} -> {y.get(k)!r}" for k in sorted(set(x) | set(y))
                    if x.get(k) != y.get(k) and (section, k) not in EXECUTION_FIELDS]
        elif x != y:
            out.append(f"{section} {x!r} -> {y!r}")
    return out


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
    from infogan.api import train
    from infogan.runtime.engine import Engine
    from infogan.training import Trainer

    status, step = run_status(run_dir, run.config)
    if status == "finished":
        echo(f"{run.name}: finished at step {step}, skipped")
        return None
    started = time.perf_counter()
    if status == "resume":
        echo(f"{run.name}: resuming from step {step}")
        result = train(resume=run_dir, data=data_source(), progress=progress, iterations=run.config.train.iterations)
    else:
        if status == "new":
            run_dir.mkdir(parents=True)
            atomic_write_text(run_dir / CONFIG_NAME, run.config.to_json())
        else:  # stopped before its first snapshot: nothing to resume, stats lines would repeat
            atomic_write_text(run_dir / STATS_NAME, "")
        echo(f"{run.name}: training {run.config.train.iterations} iterations"
             + (" (restarted: no snapshot yet)" if status == "restart" else ""))
        engine = Engine.from_config(run.config.train)
        result = Trainer(run.config, run_dir, data_source(), progress=progress, engine=engine).run()
    _record_session(run_dir, step, result.step, time.perf_counter() - started)
    return result


def _record_session(run_dir: Path, from_step: int, to_step: int, wall_s: float) -> None:
    """Append this training session (machine, steps, wall time) to the run's machine.json."""
    from infogan.report.runs import MACHINE_NAME, machine_info

    path = run_dir / MACHINE_NAME
    sessions = json.loads(path.read_text())["sessions"] if path.exists() else []
    sessions.append({"machine": machine_info(), "from_step": from_step, "to_step": to_step,
                     "wall_s": round(wall_s, 2), "ended": time.strftime("%Y-%m-%dT%H:%M:%S")})
    atomic_write_text(path, json.dumps({"sessions": sessions}, indent=2) + "\n")


def reproduce(config: RunConfig, outdir: str | os.PathLike, *, seeds: int = 5, first_seed: int = 0,
              baseline_iterations: int = DEFAULT_BASELINE_ITERATIONS, data=None, progress: bool = True,
              report: bool = True, attribute_draws: int = 200, device: str = "cpu", jobs: int = 1,
              threads: int | None = None, echo: Callable[[str], None] = print) -> Path | None:
    """Train every planned run (resumably), then build the report in ``<outdir>/report``.

    Args:
        config: the InfoGAN config (e.g. ``with_tick(get_preset("mnist"), 20)``).
        outdir: the reproduction folder.
        seeds, first_seed, baseline_iterations: see :func:`plan`.
        data: training ImageData (default: loaded from the config, once, when something is trained).
        progress: progress bars.
        report: build the report at the end.
        attribute_draws: draws per continuous code in the report's attribute measures.
        device: where the report evaluates snapshots.
        jobs: runs trained at once, each in its own process (:mod:`infogan.parallel_runs`); 1 = one after
            the other in this process.
        threads: torch threads per worker when ``jobs > 1`` (default: the cores shared out).
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
        from infogan.parallel_runs import train_in_parallel

        runs_done = train_in_parallel(runs, outdir, jobs=jobs, threads=threads, data=data, echo=echo)
    else:
        runs_done = _train_in_turn(runs, outdir, config, data, progress, echo)
    if not runs_done or not report:
        return None
    from infogan.report import build_report

    return build_report([outdir / r.name for r in runs], outdir / "report", attribute_draws=attribute_draws,
                        device=device, echo=echo)


def _train_in_turn(runs, outdir: Path, config: RunConfig, data, progress: bool, echo) -> bool:
    """Train the runs one after the other in this process; False when one was stopped early."""
    from infogan.api import load_training_data

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


# ----- command line --------------------------------------------------------------------------------------
def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``infogan reproduce``."""
    from infogan.cli import add_config_arguments

    p = subparsers.add_parser("reproduce", help="train the paper's experiment over seeds plus Figure 1 baselines, "
                              "then write report.html/report.md (resumable)")
    p.add_argument("experiment", choices=EXPERIMENTS, help="the paper experiment to reproduce")
    add_config_arguments(p)
    p.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5; --seed sets the first, default 0)")
    p.add_argument("--baseline-iterations", type=int, default=DEFAULT_BASELINE_ITERATIONS,
                   help=f"iterations of each GAN baseline, Figure 1's horizon (default {DEFAULT_BASELINE_ITERATIONS}; "
                   "0 = none)")
    p.add_argument("--outdir", type=Path, help="reproduction folder (default runs/reproduce-<preset>)")
    p.add_argument("--attribute-draws", type=int, default=200, help="draws per continuous code in the report")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once, each in its own process (default 1; "
                   "2 on a 2-core CPU finishes a reproduction sooner)")
    p.add_argument("--threads-per-job", type=int, default=None,
                   help="torch threads of each parallel run (default: cores / jobs)")
    p.add_argument("--no-report", action="store_true", help="train only")
    p.add_argument("--dry-run", action="store_true", help="print the planned runs and exit")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_reproduce)
    return p


def _reproduce(args) -> int:
    from infogan.cli import config_from_args

    if args.baseline:
        raise ConfigError("reproduce trains the baselines itself; drop --baseline (see --baseline-iterations)")
    first_seed = args.seed or 0
    cfg = config_from_args(args)
    if args.tick is None:
        cfg = with_tick(cfg, min(DEFAULT_TICK, cfg.train.tick))
    outdir = args.outdir or Path("runs") / f"reproduce-{cfg.preset}"
    runs = plan(cfg, seeds=args.seeds, first_seed=first_seed, baseline_iterations=args.baseline_iterations)
    if args.dry_run:
        for run in runs:
            t = run.config.train
            print(f"{outdir / run.name}: {t.iterations} iterations, batch {t.batch_size}, tick {t.tick}, "
                  f"snapshot every {t.snapshot_every}, info_to_g {run.config.optim.info_to_g}")
        return 0
    report = reproduce(cfg, outdir, seeds=args.seeds, first_seed=first_seed,
                       baseline_iterations=args.baseline_iterations, progress=not args.no_progress,
                       report=not args.no_report, attribute_draws=args.attribute_draws,
                       device=str(_device(cfg)), jobs=args.jobs, threads=args.threads_per_job)
    if report is not None:
        print(f"report: {report / 'report.html'}")
        print(f"report: {report / 'report.md'}")
    return 0


def _device(cfg: RunConfig):
    from infogan.runtime.device import resolve_device

    return resolve_device(cfg.train.device)
