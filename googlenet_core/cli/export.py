"""``python -m googlenet_core export``: a network (or a run's weights) as code to take away.

``--format pytorch`` writes one self-contained ``.py`` file (torch only, see
:mod:`..network.codegen`); from a checkpoint it also writes the weights beside it as a
plain ``state_dict`` (``<name>.pt``) that the file's network loads strictly.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .._io import atomic_torch_save, atomic_write_text
from ..inference.checkpoints import load_checkpoint
from ..network.codegen import pytorch_source
from ..network.presets import list_presets
from .common import load_network

FORMATS = ("pytorch",)


def register(subparsers: Any) -> None:
    export = subparsers.add_parser(
        "export", help="write a network as one plain PyTorch file (with a run's weights)"
    )
    source = export.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=list_presets(), default=None)
    source.add_argument("--config", help="a network config JSON (exported from the dashboard)")
    source.add_argument("--checkpoint", help="a run's checkpoint: its network and its weights")
    export.add_argument("--format", choices=FORMATS, default="pytorch")
    export.add_argument("-o", "--output", required=True, help="the .py file to write")
    export.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix != ".py":
        raise ValueError(f"the output of --format pytorch is a .py file, got {out.name!r}")
    if args.checkpoint:
        loaded = load_checkpoint(args.checkpoint)  # weights only, strictly checked
        config = loaded.model.config
        title = f"The network of checkpoint {Path(args.checkpoint).name}, as plain PyTorch."
        atomic_write_text(out, pytorch_source(config, title))
        weights = out.with_suffix(".pt")
        state = {k: v.detach().contiguous().clone() for k, v in loaded.model.state_dict().items()}
        atomic_torch_save(state, weights)
        print(f"wrote {out} and its weights {weights} (classes: {', '.join(loaded.class_names)})")
        return 0
    config = load_network(args.preset, args.config)
    atomic_write_text(out, pytorch_source(config))
    print(f"wrote {out}")
    return 0
