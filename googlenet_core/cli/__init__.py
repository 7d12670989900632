"""The command line: ``python -m googlenet_core {summary,train,evaluate,predict}``.

One module per command, each with ``register(subparsers)`` and ``run(args)``;
this file is the table of contents. A ``ValueError`` from anywhere below ends
the command with one ``error:`` line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import evaluate, predict, summary, train

COMMANDS = (summary, train, evaluate, predict)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m googlenet_core",
        description="GoogLeNet as one table: shapes, parameters, MACs, training, prediction.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
