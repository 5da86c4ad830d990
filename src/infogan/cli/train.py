"""``infogan train``: a new numbered run folder from a preset and overrides, or ``--resume RUN``."""

from __future__ import annotations

from pathlib import Path

from infogan.api import finish_run, train
from infogan.cli.args import add_config_arguments, config_from_args
from infogan.runtime.distributed import is_main_process


def add_parser(sub) -> None:
    """Register ``infogan train``."""
    p = sub.add_parser("train", help="train a model (a new numbered run folder, or --resume RUN)")
    add_config_arguments(p)
    p.add_argument("--outdir", default="runs", help="parent of the numbered run folders (default ./runs)")
    p.add_argument("--name", help="run folder suffix (default <preset>-seed<seed>)")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue this run folder from its last state")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-eval", action="store_true", help="skip the final evaluation and traversal sheets")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--dist-backend", choices=["auto", "gloo", "nccl"], default="auto",
                   help="under torchrun: process-group backend (auto = NCCL on GPUs, gloo on CPUs)")
    p.set_defaults(func=_train)


def _train(args) -> int:
    if args.resume:
        result = train(resume=args.resume, progress=not args.no_progress,
                       iterations=args.iterations, dist_backend=args.dist_backend)
    else:
        cfg = config_from_args(args)
        if args.dry_run:
            print(cfg.to_json())
            return 0
        result = train(cfg, outdir=args.outdir, name=args.name, progress=not args.no_progress,
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
