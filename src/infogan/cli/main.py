"""``infogan COMMAND ...``: build the parser from the subcommand modules, run, and turn user errors into
one line and exit status 2."""

from __future__ import annotations

import argparse
import sys

from infogan.cli import args as shared_args
from infogan.cli import (
    encode,
    evaluate,
    explore,
    export,
    report,
    reproduce,
    sheets,
    train,
)
from infogan.errors import InfoGANError

COMMANDS = (train, evaluate, sheets, reproduce, report, explore, encode, export)  # each has add_parser(sub)


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors (a bad flag or value too) print one line and exit 2, Ctrl-C exits 130."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not hasattr(args, "func"):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except InfoGANError as exc:
        print(f"infogan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("infogan: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The whole ``infogan`` parser."""
    parser = shared_args.Parser(prog="infogan", description="InfoGAN (Chen et al. 2016) in PyTorch.")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
