"""``python -m googlenet_core predict IMAGE... (--checkpoint FILE | --pretrained)``.

Prints one JSON object per image and line: ``{"file", "predictions": [{"label",
"prob"}, ...]}`` plus ``"aux1"`` / ``"aux2"`` when the network has aux heads (and
``"digit"``, what a digits checkpoint read: the ink found, the 8 x 8 grid, any
problem), or ``{"file", "error"}`` for a file that is not a usable image. A folder
is walked with its subfolders. Exits 0 when at
least one image was predicted, 1 when none was, 2 when the model cannot be
loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..inference.checkpoints import MissingConfigError, load_checkpoint
from ..inference.predictor import Predictor, predict_images
from ..network.presets import list_presets
from .common import load_network


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify images with a checkpoint or the ImageNet-pretrained GoogLeNet",
        description="Classify images: one JSON object per image on standard output.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", metavar="FILE", help="a .pt checkpoint or state_dict")
    source.add_argument(
        "--pretrained",
        action="store_true",
        help="torchvision's ImageNet weights (downloaded once, about 50 MB)",
    )
    parser.add_argument("--top-k", type=int, default=5, metavar="K", help="classes per head")
    parser.add_argument(
        "--drop-aux",
        action="store_true",
        help="remove exactly the aux-head weights and load the rest strictly",
    )
    parser.add_argument(
        "--preset",
        choices=list_presets(),
        help="for a plain state_dict: the network it was saved from",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="for a plain state_dict: its network config JSON"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    predictor = _load(args)
    for note in _model_notes(predictor):
        print(note, file=sys.stderr)
    files = _expand(args.images)
    results = predict_images(predictor, [(str(f), f) for f in files], top_k=args.top_k)
    for result in results:
        # allow_nan=False: never print the invalid JSON token NaN (a ValueError instead).
        print(json.dumps(result.to_json(), allow_nan=False), flush=True)
    return 0 if any(r.ok for r in results) else 1


def _load(args: argparse.Namespace) -> Predictor:
    if args.pretrained:
        # Deferred: it imports torchvision.models, a second of start-up for every command.
        from ..inference.pretrained import load_pretrained

        return load_pretrained(_progress_printer(), drop_aux=args.drop_aux)
    config = None
    if args.preset or args.config:
        config = load_network(args.preset, args.config)
    try:
        loaded = load_checkpoint(args.checkpoint, drop_aux=args.drop_aux, config=config)
    except MissingConfigError as exc:
        raise ValueError(f"{exc} (give --preset NAME or --config FILE)") from None
    return Predictor.from_checkpoint(loaded, source=args.checkpoint)


def _model_notes(predictor: Predictor) -> list[str]:
    notes = [f"model: {predictor.source}"]
    if predictor.dropped_keys:
        notes.append(
            f"drop-aux: removed {len(predictor.dropped_keys)} aux-head keys "
            "(aux1.*, aux2.*); every other key loaded strictly"
        )
    if not predictor.aux_trained and len(predictor.heads) > 1:
        notes.append("note: these weights' aux heads are not pretrained; only the main head counts")
    return notes


def _expand(paths: list[str]) -> list[Path]:
    """Files as given; a folder stands for every file in it and in its subfolders (a folder
    laid out like a training set, one subfolder a class), sorted, hidden ones left out."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = (p for p in path.rglob("*") if p.is_file())
            files.extend(
                sorted(
                    p
                    for p in found
                    if not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        else:
            files.append(path)  # a missing file is reported per file, like a bad one
    return files


def _progress_printer() -> Any:
    last = {"percent": -10}

    def report(done: int, total: int | None) -> None:
        if total:
            percent = 100 * done // total
            if percent >= last["percent"] + 10 or done == total:
                last["percent"] = percent
                print(f"downloading ImageNet weights: {percent}%", file=sys.stderr, flush=True)

    return report
