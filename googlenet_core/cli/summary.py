"""``python -m googlenet_core summary``: every stage's shapes, parameters and MACs."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from ..network.analysis import analyze
from ..network.presets import list_presets
from .common import load_network


def register(subparsers: Any) -> None:
    summary = subparsers.add_parser(
        "summary", help="print every stage's shapes, parameters and MACs"
    )
    summary.add_argument("--preset", choices=list_presets(), default=None)
    summary.add_argument("--config", help="a network config JSON (exported from the dashboard)")
    summary.add_argument("--input-size", type=int, help="override the input side in pixels")
    summary.add_argument("--layers", action="store_true", help="every conv/pool/linear layer")
    summary.add_argument("--json", action="store_true", help="machine-readable output")
    summary.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_network(args.preset, args.config)
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
