"""``infogan encode RUN PATH...``: Q's posterior for real images, as a table (and cluster folders)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from infogan import snapshot
from infogan.cli.args import bounded_int
from infogan.errors import ConfigError
from infogan.inference.encode import TABLE_FORMATS, encode_inputs
from infogan.storage import atomic_path

MAX_BATCH = 4096  # images per Q call


def add_parser(subparsers) -> None:
    """Register ``infogan encode``."""
    p = subparsers.add_parser("encode", help="Q's posterior for real images: a CSV / JSON-lines table, and "
                              "optionally one folder per predicted category")
    p.add_argument("run", type=Path, help="run folder or snapshot file")
    p.add_argument("inputs", nargs="+", metavar="PATH", help="image files, folders, or a dataset split such "
                   "as mnist:test")
    p.add_argument("--out", type=Path, help="table file (.csv or .jsonl); default: standard output")
    p.add_argument("--format", choices=TABLE_FORMATS, help="table format (default: from --out's suffix, else csv)")
    p.add_argument("--cluster-dir", type=Path, help="new folder: copy each image into <code>_<category>/")
    p.add_argument("--cluster-code", help="categorical code that picks the folder (default: the first)")
    p.add_argument("--link", action="store_true", help="symlink instead of copying into --cluster-dir")
    p.add_argument("--crop", choices=["center"], help="take the centred square before resizing (default: "
                   "stretch)")
    p.add_argument("--batch-size", type=bounded_int(1, MAX_BATCH), default=256, help="images per Q call")
    p.add_argument("--data-dir", help="dataset cache folder")
    p.set_defaults(func=_encode_command)


def _encode_command(args: argparse.Namespace) -> int:
    fmt = args.format or ("jsonl" if args.out and args.out.suffix in (".jsonl", ".json") else "csv")
    if args.out:
        _check_output(args.out, args.inputs)
    model = snapshot.load(args.run)

    def report(file: str, reason: str) -> None:
        print(f"infogan: skipped {file}: {reason}", file=sys.stderr)

    options = {"fmt": fmt, "cluster_dir": args.cluster_dir, "cluster_code": args.cluster_code, "link": args.link,
               "crop": args.crop, "batch_size": args.batch_size, "data_dir": args.data_dir, "on_skip": report}
    if args.out:
        with atomic_path(args.out) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
            summary = encode_inputs(model, args.inputs, fh, **options)
    else:
        try:
            summary = encode_inputs(model, args.inputs, sys.stdout, **options)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader (e.g. `| head`) stopped early: stop quietly, as Unix tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    where = f" -> {args.out}" if args.out else ""
    print(f"infogan: encoded {summary.encoded} image(s), skipped {len(summary.skipped)}{where}", file=sys.stderr)
    if args.cluster_dir:
        sizes = ", ".join(f"{k}: {v}" for k, v in summary.clusters.items())
        print(f"infogan: clusters in {args.cluster_dir} ({sizes})", file=sys.stderr)
    return 0


def _check_output(out: Path, inputs: list[str]) -> None:
    """Refuse a table path that is one of the input images (a file given, or an image in a folder given):
    writing the table would replace it."""
    from infogan.data.imagefolder import EXTENSIONS

    if not out.exists():
        return
    for text in inputs:
        path = Path(text).expanduser()
        same = path.is_file() and os.path.samefile(path, out)
        inside = path.is_dir() and out.suffix.lower() in EXTENSIONS and \
            os.path.commonpath([path.resolve(), out.resolve()]) == str(path.resolve())
        if same or inside:
            raise ConfigError(f"--out {out} is one of the input images ({text}); writing the table there would "
                              "replace it: choose another --out, e.g. codes.csv")
