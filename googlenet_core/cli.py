"""The command line: ``python -m googlenet_core {summary,...}``.

Each subcommand lives beside the code it drives and registers itself here
through a ``register(subparsers)`` function, so this file stays a table of
contents.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

from .analysis import analyze
from .config import GoogLeNetConfig
from .presets import get_preset, list_presets


def load_config(preset: str | None, config_file: str | None) -> GoogLeNetConfig:
    """A preset by name, or a config JSON exported from the dashboard."""
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                return GoogLeNetConfig.from_json(fh.read())
        except OSError as exc:
            raise ValueError(f"cannot read {config_file}: {exc.strerror}") from None
    return get_preset(preset or "torchvision")


def _summary(args: argparse.Namespace) -> int:
    config = load_config(args.preset, args.config)
    if args.input_size is not None:
        config = dataclasses.replace(config, input_size=args.input_size)
    result = analyze(config)
    if args.json:
        payload = {
            "config": config.to_dict(),
            "total_params": result.total_params,
            "params_without_aux": result.params_without_aux,
            "total_macs": result.total_macs,
            "macs_without_aux": result.macs_without_aux,
            "rows": [dataclasses.asdict(r) for r in result.rows],
            "layers": [dataclasses.asdict(r) for r in result.layers] if args.layers else None,
        }
        print(json.dumps(payload, indent=2))
        return 0
    frame = result.layers_frame() if args.layers else result.to_frame()
    columns = ["name", "kind", "in_shape", "out_shape", "params", "macs"]
    if args.layers:
        columns.insert(0, "stage")
    frame = frame[columns]
    frame["params"] = frame["params"].map("{:,}".format)
    frame["macs"] = frame["macs"].map("{:,}".format)
    print(frame.to_string(index=False))
    print()
    print(f"parameters: {result.total_params:,} ({result.params_without_aux:,} without aux heads)")
    main_gmacs = result.macs_without_aux / 1e9
    print(f"MACs:       {result.total_macs:,} ({main_gmacs:.3f} G without aux heads)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m googlenet_core",
        description="GoogLeNet as one table: shapes, parameters, MACs, training, prediction.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    summary = sub.add_parser("summary", help="print every stage's shapes, parameters and MACs")
    summary.add_argument("--preset", choices=list_presets(), default=None)
    summary.add_argument("--config", help="a network config JSON (exported from the dashboard)")
    summary.add_argument("--input-size", type=int, help="override the input side in pixels")
    summary.add_argument("--layers", action="store_true", help="every conv/pool/linear layer")
    summary.add_argument("--json", action="store_true", help="machine-readable output")
    summary.set_defaults(func=_summary)
    for register in _registrars():
        register(sub)
    return parser


def _registrars() -> list:
    """Subcommands defined next to the code they drive (training, prediction)."""
    found = []
    for module in ("googlenet_core.train_cli", "googlenet_core.predict_cli"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        found.append(mod.register)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
