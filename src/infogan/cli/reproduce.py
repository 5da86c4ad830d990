"""``infogan reproduce mnist --seeds 5``: seeds plus Figure 1 baselines, resumably, then the report."""

from __future__ import annotations

import argparse
from pathlib import Path

from infogan.cli.args import (
    THREADS,
    add_config_arguments,
    bounded_int,
    config_from_args,
)
from infogan.config import RunConfig
from infogan.config.schema import EVAL_SAMPLES, MAX_ITERATIONS
from infogan.errors import ConfigError
from infogan.reproduce.plan import (
    DEFAULT_BASELINE_ITERATIONS,
    DEFAULT_TICK,
    EXPERIMENTS,
    plan,
)
from infogan.reproduce.run import reproduce
from infogan.runtime.device import resolve_device


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``infogan reproduce``."""
    p = subparsers.add_parser("reproduce", help="train the paper's experiment over seeds plus Figure 1 baselines, "
                              "then write report.html/report.md (resumable)")
    p.add_argument("experiment", choices=EXPERIMENTS, help="the paper experiment to reproduce")
    add_config_arguments(p)
    p.add_argument("--seeds", type=bounded_int(1, 1000), default=5, help="number of seeds (default 5; --seed sets the first, default 0)")
    p.add_argument("--baseline-iterations", type=bounded_int(0, MAX_ITERATIONS), default=DEFAULT_BASELINE_ITERATIONS,
                   help=f"iterations of each GAN baseline, Figure 1's horizon (default {DEFAULT_BASELINE_ITERATIONS}; "
                   "0 = none)")
    p.add_argument("--outdir", type=Path, help="reproduction folder (default runs/reproduce-<preset>)")
    p.add_argument("--attribute-draws", type=bounded_int(1, 100_000), default=200,
                   help="draws per continuous code in the report")
    p.add_argument("--quality-samples", type=bounded_int(*EVAL_SAMPLES), default=10_000,
                   help="samples of the report's FID/KID/precision/recall/purity and L_I (default 10,000)")
    p.add_argument("--jobs", type=bounded_int(1, 256), default=1, help="runs trained at once, each in its own process (default 1; "
                   "2 on a 2-core CPU finishes a reproduction sooner)")
    p.add_argument("--threads-per-job", type=THREADS, default=None,
                   help="torch threads of each parallel run (default: cores / jobs)")
    p.add_argument("--no-report", action="store_true", help="train only")
    p.add_argument("--dry-run", action="store_true", help="print the planned runs and exit")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_reproduce)
    return p


def _reproduce(args) -> int:
    if args.baseline:
        raise ConfigError("reproduce trains the baselines itself; drop --baseline (see --baseline-iterations)")
    first_seed = args.seed or 0
    cfg = config_from_args(args)
    if args.tick is None:
        cfg = cfg.with_tick(min(DEFAULT_TICK, cfg.train.tick))
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
                       device=str(_device(cfg)), jobs=args.jobs, threads=args.threads_per_job,
                       quality_samples=args.quality_samples)
    if report is not None:
        print(f"report: {report / 'report.html'}")
        print(f"report: {report / 'report.md'}")
    return 0


def _device(cfg: RunConfig):
    return resolve_device(cfg.train.device)
