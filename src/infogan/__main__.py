"""``python -m infogan`` (and ``torchrun -m infogan train ...``) runs the command line; :func:`run` is also the
console script's entry point.

Importing the command line imports torch, which takes seconds: a Ctrl-C then lands before ``main`` can catch
it, so :func:`run` catches it around the import and exits quietly with status 130, as ``main`` does later.
"""

import sys


def run() -> int:
    """Import the command line and run it; Ctrl-C at any moment exits with status 130 and no traceback."""
    try:
        from infogan.cli import main
    except KeyboardInterrupt:
        print("infogan: interrupted", file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
