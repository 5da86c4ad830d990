"""``infogan explore RUN``: the latent explorer on 127.0.0.1."""

from __future__ import annotations

import argparse
from pathlib import Path

from infogan import snapshot
from infogan.cli.args import SPAN, THREADS, bounded_int
from infogan.web.server import serve


def add_parser(subparsers) -> None:
    """Register ``infogan explore``."""
    p = subparsers.add_parser("explore", help="latent explorer in the browser: sliders, traversals, encode an image")
    p.add_argument("run", type=Path, help="run folder or snapshot file")
    p.add_argument("--port", type=bounded_int(0, 65535), default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="print the URL without opening a browser")
    p.add_argument("--span", type=SPAN, default=2.0, help="continuous sliders cover [-span, span] (default 2)")
    p.add_argument("--threads", type=THREADS, help="torch CPU threads (default: torch's, one per core)")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.set_defaults(func=_explore_command)


def _explore_command(args: argparse.Namespace) -> int:
    model = snapshot.load(args.run)
    run_dir = args.run if args.run.is_dir() else args.run.parent  # where its metric files are
    serve(model, port=args.port, open_browser=not args.no_browser, span=args.span, threads=args.threads,
          verbose=args.verbose, run_dir=run_dir)
    return 0
