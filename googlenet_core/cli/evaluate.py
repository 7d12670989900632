"""``python -m googlenet_core evaluate``: a checkpoint's accuracy on a folder of class subfolders.

Prints JSON: the main head's accuracy (and each aux head's), per class, the
files skipped. The images go through the checkpoint's own preprocessing (for a
digits checkpoint, each photo's digit read into 8 x 8 blocks first) and
the same :func:`googlenet_core.training.evaluation.evaluate` the trainer
scores its validation set with.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import torch

from ..data import DatasetError
from ..data.batches import ImageSet
from ..data.digit_photos import WORK_SIDE, read_digit
from ..data.folders import describe_skipped, read_labelled_images
from ..inference.checkpoints import load_checkpoint
from ..training.config import DEVICES
from ..training.distributed import resolve_device
from ..training.evaluation import evaluate


def register(subparsers: Any) -> None:
    e = subparsers.add_parser(
        "evaluate",
        help="accuracy of a checkpoint on a folder of class subfolders (JSON)",
        description="Evaluate a checkpoint on a folder of class subfolders; prints JSON.",
    )
    e.add_argument("--checkpoint", required=True, metavar="FILE")
    e.add_argument("--data", required=True, metavar="DIR", help="a folder of class subfolders")
    e.add_argument("--batch-size", type=int, default=256)
    e.add_argument("--device", choices=DEVICES, default="auto")
    e.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    loaded = load_checkpoint(args.checkpoint)
    prep = loaded.preprocessing
    digits = prep.kind == "digit-blocks"
    try:
        found = read_labelled_images(
            args.data,
            input_size=prep.input_size,
            in_channels=prep.in_channels,
            prepare=(lambda image: read_digit(image).image) if digits else None,
            decode_side=WORK_SIDE if digits else None,
        )
    except DatasetError as exc:
        raise ValueError(str(exc)) from None
    index = {name: i for i, name in enumerate(loaded.class_names)}
    unknown = [c for c in found.classes if c not in index]
    if unknown:
        raise ValueError(
            f"class folder(s) {', '.join(repr(c) for c in unknown)} are not among the "
            f"checkpoint's classes ({', '.join(loaded.class_names[:20])})"
        )
    labels = torch.tensor([index[found.classes[int(i)]] for i in found.labels])
    device = resolve_device(args.device)
    model = loaded.model.to(device)
    result = evaluate(
        model, ImageSet(found.images, labels).to(device), prep, batch_size=args.batch_size
    )
    report: dict[str, Any] = {"accuracy": result.accuracy}
    for score in result.scores[1:]:
        report[f"accuracy_{score.head}"] = score.acc
    report["images"] = result.images
    report["per_class"] = {
        loaded.class_names[i]: round(acc, 6) for i, acc in result.per_class().items()
    }
    report["skipped"] = found.skipped
    if found.skipped:
        print(f"skipped: {describe_skipped(found.skipped)}", file=sys.stderr)
    report["checkpoint"] = os.path.abspath(args.checkpoint)
    report["data"] = os.path.abspath(args.data)
    if loaded.metrics:
        report["checkpoint_metrics"] = loaded.metrics
    print(json.dumps(report, indent=2, allow_nan=False))
    return 0
