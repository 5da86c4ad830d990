"""``infogan export RUN``: G (and Q) as ONNX or TorchScript, checked against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path

from infogan import snapshot
from infogan.cli.args import bounded_float
from infogan.inference.export import DEFAULT_TOLERANCE, FORMATS, export_model


def add_parser(subparsers) -> None:
    """Register ``infogan export``."""
    p = subparsers.add_parser("export", help="write the generator (and Q) as ONNX or TorchScript, checked "
                              "against PyTorch")
    p.add_argument("run", type=Path, help="run folder or snapshot file")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (needs infogan[export]) or torchscript")
    p.add_argument("--q", action="store_true", help="also export Q (images in [0, 1] -> code posterior)")
    p.add_argument("--outdir", type=Path, help="output folder (default RUN/export)")
    p.add_argument("--tolerance", type=bounded_float(0, 1), default=DEFAULT_TOLERANCE,
                   help=f"largest accepted |export - PyTorch| (default {DEFAULT_TOLERANCE:g})")
    p.set_defaults(func=_export_command)


def _export_command(args: argparse.Namespace) -> int:
    model = snapshot.load(args.run)
    run_dir = args.run if args.run.is_dir() else args.run.parent
    outdir = args.outdir or run_dir / "export"
    result = export_model(model, outdir, fmt=args.format, include_q=args.q, tolerance=args.tolerance,
                          root=None if args.outdir else run_dir)
    for name, path in result.files.items():
        print(f"{name}: {path} (max |export - PyTorch| = {result.max_abs_diff[name]:.2g})")
    print(f"manifest: {result.manifest}")
    return 0
