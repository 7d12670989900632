"""``python -m googlenet_core export``: a network (or a run's weights) to take away.

- ``--format pytorch``: one self-contained ``.py`` file (torch only, see
  :mod:`..network.codegen`); from a checkpoint also the weights beside it as a plain
  ``state_dict`` (``<name>.pt``) that the file's network loads strictly.
- ``--format onnx``: the main classifier as ONNX (optional packages, see
  :mod:`..inference.export`); from a preset or config with fresh weights (for Netron).
- ``--format safetensors``: a checkpoint's weights with config, classes and
  preprocessing in the metadata.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .._io import atomic_torch_save, atomic_write_text
from ..inference.checkpoints import load_checkpoint
from ..inference.export import save_onnx, save_safetensors
from ..network.codegen import pytorch_source
from ..network.model import build_model
from ..network.presets import list_presets
from .common import load_network

FORMATS = {"pytorch": ".py", "onnx": ".onnx", "safetensors": ".safetensors"}


def register(subparsers: Any) -> None:
    export = subparsers.add_parser(
        "export", help="write a network as one plain PyTorch file (with a run's weights)"
    )
    source = export.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=list_presets(), default=None)
    source.add_argument("--config", help="a network config JSON (exported from the dashboard)")
    source.add_argument("--checkpoint", help="a run's checkpoint: its network and its weights")
    export.add_argument("--format", choices=list(FORMATS), default="pytorch")
    export.add_argument("-o", "--output", required=True, help="the file to write")
    export.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    suffix = FORMATS[args.format]
    if out.suffix != suffix:
        wrong = f"got {out.name!r}"
        raise ValueError(f"the output of --format {args.format} is a {suffix} file, {wrong}")
    if args.format == "safetensors" and not args.checkpoint:
        raise ValueError("--format safetensors exports a run's weights: give --checkpoint")
    loaded = load_checkpoint(args.checkpoint) if args.checkpoint else None
    config = loaded.config if loaded else load_network(args.preset, args.config)
    if args.format == "pytorch":
        title = None
        if loaded:
            title = f"The network of checkpoint {Path(args.checkpoint).name}, as plain PyTorch."
        atomic_write_text(out, pytorch_source(config, title))
        if loaded is None:
            print(f"wrote {out}")
            return 0
        weights = out.with_suffix(".pt")
        state = {k: v.detach().contiguous().clone() for k, v in loaded.model.state_dict().items()}
        atomic_torch_save(state, weights)
        print(f"wrote {out} and its weights {weights} (classes: {', '.join(loaded.class_names)})")
    elif args.format == "safetensors":
        assert loaded is not None
        save_safetensors(out, loaded.model, loaded.class_names, loaded.preprocessing)
        print(f"wrote {out}: weights, network, classes and preprocessing")
    else:
        model = loaded.model if loaded else build_model(config, seed=0)
        save_onnx(out, model)
        source = "the checkpoint's weights" if loaded else "freshly initialised weights (seed 0)"
        print(f"wrote {out}: the main classifier with {source}; input 'images', output 'logits'")
    return 0
