"""``infogan train``: a new numbered run folder from a preset and overrides, or ``--resume RUN``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infogan.api import finish_run, train
from infogan.cli.args import add_config_arguments, config_from_args, given_config_flags
from infogan.config.presets import MEASURED, PRESETS, get_preset, schedule_names
from infogan.errors import ConfigError
from infogan.runtime.distributed import is_main_process
from infogan.training.session import resumed_config

DEFAULT_OUTDIR = "runs"


def schedules_help() -> str:
    """Each preset's default schedule (iterations x batch, images seen) and the training times measured."""
    lines = ["default schedule of each preset (--schedule picks another; --iterations/--batch-size override):"]
    for name in PRESETS:
        t = get_preset(name).train
        named = schedule_names(name)
        others = f"; other schedules: {', '.join(named[1:])}" if len(named) > 1 else ""
        lines.append(f"  {name:16s} {(named[0] + ': ') if named else ''}{t.iterations:,} x {t.batch_size} = "
                     f"{t.iterations * t.batch_size:,} images{others}")
        lines += [f"  {'':16s}   measured: {note}" for note in MEASURED.get(name, [])]
    return "\n".join(lines)


def add_parser(sub) -> None:
    """Register ``infogan train``."""
    p = sub.add_parser("train", help="train a model (a new numbered run folder, or --resume RUN)",
                       epilog=schedules_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p)
    p.add_argument("--outdir", help=f"parent of the numbered run folders (default ./{DEFAULT_OUTDIR})")
    p.add_argument("--name", help="run folder suffix (default <preset>-seed<seed>)")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue this run folder from its last state")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config (with --resume: the config "
                   "the resume trains with) and exit")
    p.add_argument("--no-eval", action="store_true", help="skip the final evaluation and traversal sheets")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--dist-backend", choices=["auto", "gloo", "nccl"], default="auto",
                   help="under torchrun: process-group backend (auto = NCCL on GPUs, gloo on CPUs)")
    p.set_defaults(func=_train)


def _train(args) -> int:
    if args.resume:
        _check_resume_flags(args)
        if args.dry_run:
            print(resumed_config(args.resume, args.iterations).to_json())
            return 0
        result = train(resume=args.resume, progress=not args.no_progress,
                       iterations=args.iterations, dist_backend=args.dist_backend)
    else:
        cfg = config_from_args(args)
        if args.dry_run:
            print(cfg.to_json())
            t = cfg.train
            print(f"{cfg.preset}: {t.iterations:,} iterations x {t.batch_size} = {t.iterations * t.batch_size:,} "
                  "images seen", file=sys.stderr)
            return 0
        result = train(cfg, outdir=args.outdir or DEFAULT_OUTDIR, name=args.name, progress=not args.no_progress,
                       dist_backend=args.dist_backend)
    if not is_main_process():  # under torchrun, rank 0 alone reports, evaluates and writes sheets
        return 0
    print(f"run folder: {result.run_dir} (step {result.step})")
    if result.stopped_early:
        print(f"stopped at step {result.step}; continue with: infogan train --resume {result.run_dir}")
        return 0
    if not args.no_eval:
        finish_run(result.run_dir, echo=print)
    return 0


def _check_resume_flags(args) -> None:
    """A resume continues the run's own config: a flag that would change it cannot apply, so it is refused
    instead of being ignored (``--iterations`` alone may change: it extends the run)."""
    ignored = given_config_flags(args, allowed=("iterations",))
    ignored += [flag for flag, value in (("--outdir", args.outdir), ("--name", args.name)) if value is not None]
    if ignored:
        raise ConfigError(f"{', '.join(ignored)} cannot apply to --resume: the run continues with the config it "
                          f"was started with ({args.resume}/config.json; only --iterations changes, to extend it); "
                          "drop them, or start a new run with them")
