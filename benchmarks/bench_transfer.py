"""Start from trained weights vs from scratch, on a new task with few images (issue 25).

Offline, on the bundled digits: ``mini`` is trained on the digits 0-4 (the "pretrained"
network, a run folder like any other), then learns the digits 5-9 from only
``--shots`` images per class (20: what a class collects with a phone in a minute):

- **start-from**: ``TrainConfig(init=<the 0-4 run>, freeze=...)``, the CLI's
  ``train --init RUN --freeze ...``, for each ``--freeze`` variant: ``trunk`` (only the
  heads learn), a stage (it and the stages before it stay as trained), ``none``
  (every stage is fine-tuned);
- **scratch**: the same recipe, the same images, random weights.

Both are scored on the held-out fifth of the file (the last 20 %, the nearest it has to
writers the network never saw), digits 5-9 only, never used in training or tuning. The
figures: each one's best validation accuracy, the difference in points, and the
training time (optimisation only, as the trainer measures it). Several seeds of the
few-shot choice, because 100 images are a noisy sample.

Targets (issue 25): start-from at least 10 points above scratch; the heads trained in at
most 5 s on 2 cores.

    python benchmarks/bench_transfer.py [--shots 20] [--seeds 3] [--epochs 30]
        [--freeze trunk inception4a none]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from googlenet_core import get_preset  # noqa: E402
from googlenet_core.data.batches import ImageSet  # noqa: E402
from googlenet_core.data.datasets import TrainingData, load_dataset  # noqa: E402
from googlenet_core.training.config import TrainConfig  # noqa: E402
from googlenet_core.training.runs import Run  # noqa: E402
from googlenet_core.training.train import train  # noqa: E402


def classes(data: TrainingData, keep: range, shots: int | None, seed: int) -> TrainingData:
    """``data`` with only the digits in ``keep`` (relabelled from 0), and at most ``shots``
    training images of each, drawn with ``seed``; the validation split keeps all of them."""

    def only(split: ImageSet, per_class: int | None) -> ImageSet:
        generator = torch.Generator().manual_seed(seed)
        picked = []
        for digit in keep:
            index = torch.nonzero(split.labels == digit).flatten()
            if per_class is not None:
                index = index[torch.randperm(len(index), generator=generator)[:per_class]]
            picked.append(index)
        index = torch.cat(picked)
        return ImageSet(split.images[index], split.labels[index] - keep.start)

    return dataclasses.replace(
        data,
        class_names=tuple(str(d) for d in keep),
        train=only(data.train, shots),
        val=only(data.val, None),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=int, default=20, help="training images per new class")
    parser.add_argument("--seeds", type=int, default=3, help="few-shot draws (and seeds)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs on the few images")
    parser.add_argument("--pretrain-epochs", type=int, default=6)
    parser.add_argument(
        "--freeze",
        nargs="+",
        default=["trunk", "inception4a", "none"],
        help="the start-from variants: what each freezes",
    )
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))

    network = dataclasses.replace(get_preset("mini"), input_size=16, num_classes=5)
    data = load_dataset("digits", input_size=16, in_channels=1)
    with tempfile.TemporaryDirectory() as root:
        first = Run.create(network, TrainConfig(epochs=args.pretrain_epochs), root)
        pretrained = train(
            network,
            TrainConfig(epochs=args.pretrain_epochs),
            data=classes(data, range(0, 5), None, 0),
            run=first,
        )
        print(
            f"pretrained on 0-4: {pretrained.best_val_acc:.2%} on their held-out fifth, "
            f"{pretrained.train_seconds:.1f} s"
        )
        gains: dict[str, list[float]] = {f: [] for f in args.freeze}
        seconds: dict[str, list[float]] = {f: [] for f in args.freeze}
        for seed in range(args.seeds):
            task = classes(data, range(5, 10), args.shots, seed)
            recipe = TrainConfig(epochs=args.epochs, batch_size=32, seed=seed)
            scratch = train(network, recipe, data=task)
            said = [f"scratch {scratch.best_val_acc:.2%} ({scratch.train_seconds:.1f} s)"]
            for freeze in args.freeze:
                start = train(
                    network,
                    dataclasses.replace(recipe, init=str(first.path), freeze=freeze),
                    data=task,
                )
                gains[freeze].append(100 * (start.best_val_acc - scratch.best_val_acc))
                seconds[freeze].append(start.train_seconds)
                said.append(
                    f"start-from, freeze {freeze}: {start.best_val_acc:.2%} "
                    f"({start.train_seconds:.1f} s)"
                )
            print(
                f"seed {seed}: 5-9 from {len(task.train)} images, {len(task.val)} held out: "
                + "; ".join(said)
            )
    for freeze in args.freeze:
        print(
            f"start-from (freeze {freeze}) minus scratch: "
            f"{statistics.mean(gains[freeze]):+.1f} points, mean of {args.seeds} "
            f"(target >= +10); training at most {max(seconds[freeze]):.1f} s (target <= 5 s "
            "for the heads)"
        )


if __name__ == "__main__":
    main()
