"""The ``infogan`` command line: thin modules, one per subcommand, that parse arguments and call the library.
Nothing in the package imports it."""

from infogan.cli.main import main

__all__ = ["main"]
