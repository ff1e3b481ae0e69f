"""The ``nucseg-zoo`` command line.

Each sub-command lives in ``nucseg_zoo/commands/<name>.py`` with two functions:
``register(subparsers)`` adds its parser, ``run(args) -> int`` does the work. Heavy
packages are imported inside ``run`` so that ``nucseg-zoo --help`` stays fast.
Results go to stdout; progress and messages go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback

COMMANDS = ("demo", "datasets", "segment", "score", "evaluate", "train", "package", "leaderboard", "compare", "submit")


def _available_commands() -> list:
    modules = []
    for name in COMMANDS:
        try:
            modules.append(importlib.import_module(f"nucseg_zoo.commands.{name}"))
        except ModuleNotFoundError as err:
            if err.name != f"nucseg_zoo.commands.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(prog="nucseg-zoo", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _available_commands():
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nucseg-zoo`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.run(args) or 0)
    except (ValueError, OSError, RuntimeError) as err:  # OSError: missing, existing, unwritable files
        if args.verbose:  # e.g. the traceback of a Python segmenter's own failure (the cause)
            traceback.print_exception(err, file=sys.stderr)
        print(f"nucseg-zoo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
