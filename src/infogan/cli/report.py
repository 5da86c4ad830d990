"""``infogan report RUN...``: report.html and report.md from run folders."""

from __future__ import annotations

import argparse
from pathlib import Path

from infogan.cli.args import bounded_int
from infogan.reproduce.report import build_report
from infogan.runtime.device import resolve_device


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``infogan report``."""
    p = subparsers.add_parser("report", help="build report.html/report.md from run folders (InfoGAN and baselines)")
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN",
                   help="run folders, or a folder of run folders (e.g. a reproduction's --outdir)")
    p.add_argument("--out", type=Path, help="report folder (default: report/ beside the runs)")
    p.add_argument("--attribute-draws", type=bounded_int(1, 100_000), default=200,
                   help="draws per continuous code for the slant/width measures (default 200)")
    p.add_argument("--device", default="cpu", help="where to evaluate snapshots: cpu (default), cuda")
    p.add_argument("--quality-samples", type=int, default=10_000,
                   help="samples of FID/KID/precision/recall/purity and L_I (default 10,000; names the protocols)")
    p.set_defaults(func=_report)
    return p


def _report(args) -> int:
    out = build_report(args.runs, args.out, attribute_draws=args.attribute_draws,
                       device=str(resolve_device(args.device)), quality_samples=args.quality_samples)
    print(f"report: {out / 'report.html'}")
    print(f"report: {out / 'report.md'}")
    return 0
