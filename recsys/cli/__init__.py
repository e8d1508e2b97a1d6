"""``python -m recsys``: the command line mirrors the dashboard for automation.

Each sub-command lives in its own module exposing ``add_parser(subparsers)``,
which registers the parser and sets ``func`` to a ``run(args) -> int``.
Modules keep heavy imports (torch, pandas) inside ``run`` so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import sys

from recsys.cli import adapt_commands, spark_commands
from recsys.cli import (benchmark_command, data_commands, explain_commands, fairness_command, segment_commands,
                        train_commands)
from recsys.cli.errors import CliError

# Explicit list: adding a command means adding its module here.
COMMAND_MODULES = [data_commands, train_commands, benchmark_command, fairness_command, segment_commands,
                   explain_commands, adapt_commands, spark_commands]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recsys",
        description="Adaptive Recommendation Studio: validate and import data, train, "
        "evaluate, explain and export recommendations from the command line.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in COMMAND_MODULES:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as err:
        print(f"error: {err.reason}", file=sys.stderr)
        if err.details:
            print(err.details, file=sys.stderr)
        return 2
