"""``infogan sample`` and ``infogan traverse``: sample grids and the paper's Figure 2 traversal sheets."""

from __future__ import annotations

from pathlib import Path

from infogan.api import write_samples, write_traversals
from infogan.cli.args import SCALE, SEED, SPAN, bounded_int

MAX_SAMPLES = 10_000  # images of one sample grid
MAX_STEPS = 100  # columns of a traversal sheet


def add_parser(sub) -> None:
    """Register ``infogan sample`` and ``infogan traverse``."""
    _add_sample(sub)
    _add_traverse(sub)


def _add_sample(sub) -> None:
    """Register ``infogan sample``."""
    p = sub.add_parser("sample", help="write a PNG grid of samples (rows = categories of the first code)")
    p.add_argument("run", type=Path)
    p.add_argument("--out", type=Path, help="output PNG (default RUN/samples/sample-seed<seed>.png)")
    p.add_argument("--n", type=bounded_int(1, MAX_SAMPLES), default=100, help="number of images (default 100)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--scale", type=SCALE, default=2, help="pixel upscaling of the PNG")
    p.set_defaults(func=_sample)


def _sample(args) -> int:
    print(write_samples(args.run, out=args.out, n=args.n, seed=args.seed, scale=args.scale))
    return 0


def _add_traverse(sub) -> None:
    """Register ``infogan traverse``."""
    p = sub.add_parser("traverse", help="write the paper's Figure 2 traversal sheet of every code")
    p.add_argument("run", type=Path)
    p.add_argument("--outdir", type=Path, help="folder (default RUN/traversals)")
    p.add_argument("--codes", help="comma-separated code names (c1,c2,...; default all)")
    p.add_argument("--span", type=SPAN, default=2.0, help="continuous codes sweep [-span, span] (default 2)")
    p.add_argument("--steps", type=bounded_int(2, MAX_STEPS), default=10, help="columns of a continuous code's "
                   "sweep (default 10)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--scale", type=SCALE, default=2)
    p.add_argument("--gif", action="store_true", help="also an animated GIF of each continuous code sweeping "
                   "from -span to span and back")
    p.add_argument("--frames", type=bounded_int(2, MAX_STEPS), default=24, help="values per sweep of the GIF (default 24)")
    p.set_defaults(func=_traverse)


def _traverse(args) -> int:
    codes = args.codes.split(",") if args.codes else None
    for path in write_traversals(args.run, outdir=args.outdir, codes=codes, span=args.span, steps=args.steps,
                                 seed=args.seed, scale=args.scale, gif=args.gif, frames=args.frames):
        print(path)
    return 0
