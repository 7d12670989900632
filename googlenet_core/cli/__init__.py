"""The command line: ``python -m googlenet_core {summary,train,evaluate,predict,export}``.

One module per command, each with ``register(subparsers)`` and ``run(args)``;
this file is the table of contents::

    summary.py   the layer table of a preset or a config file
    train.py     train a network, writing a run folder (the planner fills in the rest)
    evaluate.py  a checkpoint's every head on a folder of class subfolders
    predict.py   top-k of every head for image files, as JSON lines
    export.py    plain PyTorch code, safetensors or ONNX
    common.py    choosing a network from a preset or a file

Anything that goes wrong below (a bad
flag, file or link: a ``ValueError``; anything else a hostile file might
provoke) ends the command with one ``error:`` line and exit status 2, never a
traceback. ``GOOGLENET_DEBUG=1`` shows the traceback instead, for developers.

Messages (errors, a run's model card) are in English or Chinese: ``--lang zh|en``,
else the environment's ``LANGUAGE``/``LC_ALL``/``LANG`` as gettext reads them
(``LANG=zh_CN.UTF-8`` gives Chinese), else English.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._io import first_line
from ..i18n import LANGUAGES, language_from_env, use_language
from ..service.settings import current, problems
from . import evaluate, export, predict, summary, train

COMMANDS = (summary, train, evaluate, predict, export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m googlenet_core",
        description="GoogLeNet as one table: shapes, parameters, MACs, training, prediction.",
    )
    lang_help = (
        "the language of messages and model cards (default: from LANGUAGE/LC_ALL/LANG, else en)"
    )
    parser.add_argument("--lang", choices=LANGUAGES, help=lang_help)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    for command_parser in sub.choices.values():  # `train --lang zh` as well as `--lang zh train`
        command_parser.add_argument(
            "--lang", choices=LANGUAGES, default=argparse.SUPPRESS, help=lang_help
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with use_language(args.lang or language_from_env()):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    for problem in problems():  # a setting's typo: said, and its default used
        print(f"warning: {problem}", file=sys.stderr)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - whatever a file provokes: one line, no traceback
        if _debugging():
            raise
        print(f"error: {type(exc).__name__}: {first_line(exc, 300)}", file=sys.stderr)
        return 2


def _debugging() -> bool:
    """``$GOOGLENET_DEBUG``: a traceback instead of one line (developers)."""
    try:
        return current().debug
    except ValueError:  # another setting is malformed; its own error says so
        return False


def _one_line(text: str) -> str:
    """A multi-line message (a checkpoint's key listing) on one line for the terminal."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
