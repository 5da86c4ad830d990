"""``infogan eval RUN``: metrics of a run, appended to its metric files."""

from __future__ import annotations

import json
from pathlib import Path

from infogan.api import evaluate_run, format_results
from infogan.cli.args import bounded_int
from infogan.config.schema import EVAL_SAMPLES
from infogan.errors import ConfigError
from infogan.metrics import METRICS


def add_parser(sub) -> None:
    """Register ``infogan eval``."""
    p = sub.add_parser("eval", help="evaluate a run: code accuracy on the test split, L_I per code, ...")
    p.add_argument("run", type=Path, nargs="?", help="run folder or snapshot file (not needed with --list)")
    p.add_argument("--metrics", help="comma-separated metric names (default: all that apply)")
    p.add_argument("--data", help="evaluation dataset (default: the run's dataset)")
    p.add_argument("--data-dir")
    p.add_argument("--samples", type=bounded_int(*EVAL_SAMPLES), help="sample count for sampling-based metrics "
                   "(names the protocol)")
    p.add_argument("--features", choices=("mnistnet", "dspritesnet", "inception"),
                   help="feature space of fid/kid/prd (default: the digit network on MNIST, the shape classifier on "
                   "dSprites, Inception elsewhere)")
    p.add_argument("--inception-weights", help="torch-fidelity's Inception-v3 weights file, for --features inception")
    p.add_argument("--list", action="store_true", help="list metrics and the datasets they apply to")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.set_defaults(func=_eval)


def _eval(args) -> int:
    if args.list:
        for m in METRICS.values():
            print(f"{m.name:10s} datasets: {', '.join(m.applies_to):32s} {m.description}")
        return 0
    if args.run is None:
        raise ConfigError("infogan eval needs a run folder or snapshot file: infogan eval RUN [--metrics ...] "
                          "(infogan eval --list shows the metrics)")
    names = args.metrics.split(",") if args.metrics else None
    options = {"num_samples": args.samples} if args.samples is not None else {}
    options.update({k: v for k, v in (("features", args.features), ("inception_weights", args.inception_weights)) if v})
    results = evaluate_run(args.run, names, dataset=args.data, data_dir=args.data_dir, **options)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(format_results(results))
    return 0
