"""``python -m googlenet_core train ...`` and ``python -m googlenet_core evaluate ...``.

``train`` writes a run directory (see :mod:`.runs`) and shows a progress line;
it exits 0 when the run completes, 1 when it fails, 3 when it diverges and 130
when cancelled (Ctrl-C stops it cleanly after the current batch). Without
``--epochs`` it uses the quick recipe tuned for the preset and dataset.

The same command runs data-parallel under ``torchrun``::

    torchrun --nproc_per_node 2 -m googlenet_core train --preset mini --dataset digits

(gloo on CPU, NCCL on GPU; ``--batch-size`` is per process; rank 0 writes the run).

``evaluate`` prints JSON with the accuracy of a checkpoint (and of each aux
head it has) on a folder of class subfolders.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import torch

from .cli import load_config
from .config import GoogLeNetConfig
from .data import (
    DATASETS,
    DatasetError,
    ImageSet,
    TrainingData,
    describe_skipped,
    iterate_batches,
    read_labelled_images,
)
from .presets import base_preset, list_presets
from .runs import Run
from .train import (
    DEVICES,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    Event,
    TrainConfig,
    check_compatible,
    distributed_from_env,
    quick_recipe,
    recipe_input_size,
    resolve_device,
    train,
)

EXIT_CODES = {"completed": 0, "failed": 1, "diverged": 3, "cancelled": 130}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a network on a dataset, writing a run directory",
        description="Train a GoogLeNet; without --epochs, a quick recipe for the preset/dataset.",
    )
    net = p.add_mutually_exclusive_group()
    net.add_argument("--preset", choices=list_presets(), help="a named network (default: mini)")
    net.add_argument("--config", metavar="FILE", help="a network config JSON from the dashboard")
    p.add_argument(
        "--dataset",
        choices=[d for d in DATASETS if d not in ("folder", "upload")],
        help="built-in 'digits' (offline) or a torchvision download (default: digits)",
    )
    p.add_argument("--data", metavar="DIR", help="train on a folder of class subfolders instead")
    p.add_argument(
        "--input-size",
        type=int,
        metavar="PX",
        help="train at this image side (default: the recipe's, e.g. 16 px for mini on digits, "
        "else the network's)",
    )
    p.add_argument("--subset", type=int, metavar="N", help="at most N training images")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="per process under torchrun")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--schedule", choices=SCHEDULES)
    p.add_argument("--weight-decay", type=float)
    p.add_argument(
        "--aux-weights",
        type=float,
        nargs=2,
        metavar=("W1", "W2"),
        help="loss = main + W1*aux1 + W2*aux2 (default 0.3 0.3, as in the paper)",
    )
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="random shifts, rotations and scalings (default: the recipe's choice)",
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--precision", choices=PRECISIONS)
    p.add_argument(
        "--out", metavar="DIR", help="the run store (default $GOOGLENET_RUNS_DIR or runs/)"
    )
    p.add_argument("--data-dir", metavar="DIR", help="download cache (default .data-cache/)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=_train)

    e = subparsers.add_parser(
        "evaluate",
        help="accuracy of a checkpoint on a folder of class subfolders (JSON)",
        description="Evaluate a checkpoint on a folder of class subfolders; prints JSON.",
    )
    e.add_argument("--checkpoint", required=True, metavar="FILE")
    e.add_argument("--data", required=True, metavar="DIR", help="a folder of class subfolders")
    e.add_argument("--batch-size", type=int, default=256)
    e.add_argument("--device", choices=DEVICES, default="auto")
    e.set_defaults(func=_evaluate)


# ---- train ---------------------------------------------------------------------------------


def build_train_config(args: argparse.Namespace, preset: str | None) -> TrainConfig:
    """Flags over the quick recipe (when --epochs is absent) over TrainConfig's defaults."""
    dataset = "folder" if args.data else (args.dataset or "digits")
    if args.data and args.dataset:
        raise ValueError("give --dataset or --data, not both")
    fields: dict[str, Any] = {}
    if args.epochs is None:
        fields.update(quick_recipe(preset, dataset))
    flags = {
        "subset": args.subset,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "schedule": args.schedule,
        "weight_decay": args.weight_decay,
        "seed": args.seed,
        "device": args.device,
        "precision": args.precision,
    }
    fields.update({k: v for k, v in flags.items() if v is not None})
    if args.aux_weights is not None:
        fields["aux_weight1"], fields["aux_weight2"] = args.aux_weights
    if args.augment is not None:
        fields["augment"] = args.augment
    return TrainConfig(
        dataset=dataset, data_path=os.path.abspath(args.data) if args.data else None, **fields
    )


def training_network(
    model_config: GoogLeNetConfig, args: argparse.Namespace, preset: str | None, dataset: str
) -> GoogLeNetConfig:
    """The network at the side it trains at: --input-size, else the quick recipe's side
    (for a named preset, when the recipe is in use), else the network's own."""
    side = args.input_size
    if side is None and args.epochs is None and not args.config:
        side = recipe_input_size(preset, dataset)
    if side is None or side == model_config.input_size:
        return model_config
    return dataclasses.replace(model_config, input_size=side)  # validated: too small is refused


def _train(args: argparse.Namespace) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    model_config = load_config(args.preset or (None if args.config else "mini"), args.config)
    preset = base_preset(model_config)
    config = build_train_config(args, preset)
    model_config = training_network(model_config, args, preset, config.dataset)
    check_compatible(model_config, config)
    dist = distributed_from_env()
    run = Run.create(model_config, config, args.out, status="running") if dist.is_main else None
    stop = threading.Event()
    progress = _Progress(sys.stderr, quiet=args.quiet or not dist.is_main)
    restore = _stop_on_interrupt(stop, progress)
    try:
        result = train(
            model_config,
            config,
            callbacks=[progress],
            stop=stop,
            run=run,
            cache_dir=args.data_dir,
            distributed=dist,
        )
    finally:
        restore()
    if dist.is_main:
        progress.close()
        print(f"{result.status}: {result.message}")
        if run is not None:
            print(f"run directory: {run.path}")
    return EXIT_CODES[result.status]


def _stop_on_interrupt(stop: threading.Event, progress: _Progress) -> Callable[[], None]:
    """First Ctrl-C: stop after the current batch. Second: the usual KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        progress.note("stopping after this batch (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, handler)

    def restore() -> None:
        signal.signal(signal.SIGINT, previous)

    return restore


class _Progress:
    """A one-line progress display on a terminal; whole lines, at most every 2 s, elsewhere."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.total_steps = 0
        self.epochs = 0
        self.started = time.perf_counter()
        self.last_line = 0.0
        self.open_line = False

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        kind = event.get("type")
        if kind == "start":
            self.total_steps, self.epochs = event["total_steps"], event["epochs"]
            self.started = time.perf_counter()
            aux = ", ".join(
                f"{h} {'w=' + format(event['aux_weights'][h], 'g') if on else 'not in the loss'}"
                for h, on in event["aux_in_loss"].items()
                if event["aux_present"][h]
            )
            self.note(
                f"training on {event['device']} ({event['precision']}, "
                f"{event['world_size']} process(es)): {event['train_images']:,} images, "
                f"{event['val_images']:,} held out, {self.epochs} epoch(s) of "
                f"{event['steps_per_epoch']} steps" + (f"; {aux}" if aux else "")
            )
        elif kind == "step":
            done = event["step"] / max(self.total_steps, 1)
            elapsed = time.perf_counter() - self.started
            eta = elapsed * (1 - done) / max(done, 1e-9)
            line = (
                f"epoch {event['epoch']}/{self.epochs} step {event['step']}/{self.total_steps} "
                f"({done:.0%}) loss {event['loss']:.3f} (main {event['loss_main']:.3f}) "
                f"{event['images_per_s']:.0f} img/s, ETA {eta:.0f} s"
            )
            now = time.perf_counter()
            if self.tty:
                self.stream.write("\r\033[K" + line)
                self.stream.flush()
                self.open_line = True
            elif now - self.last_line >= 2.0:
                self.stream.write(line + "\n")
                self.last_line = now
        elif kind == "epoch":
            heads = [f"main {event['val_acc']:.2%}"]
            heads += [
                f"{h} {event[f'val_acc_{h}']:.2%}"
                for h in ("aux1", "aux2")
                if event.get(f"val_acc_{h}") is not None
            ]
            self.note(
                f"epoch {event['epoch']}/{self.epochs}: validation accuracy "
                f"{', '.join(heads)}; loss {event['val_loss']:.4f}"
            )
        elif kind in ("note", "download"):
            if kind == "note":
                self.note(event["message"])
            elif event.get("total"):
                self.note(f"downloading {event['file']}: {event['done'] / event['total']:.0%}")

    def note(self, text: str) -> None:
        if self.quiet:
            return
        self.close()
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.open_line = False


# ---- evaluate ------------------------------------------------------------------------------


def _evaluate(args: argparse.Namespace) -> int:
    from .checkpoints import load_checkpoint

    if args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    loaded = load_checkpoint(args.checkpoint)
    prep = loaded.preprocessing
    try:
        found = read_labelled_images(
            args.data, input_size=prep.input_size, in_channels=prep.in_channels
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
    model = loaded.model.to(device).eval()
    data = TrainingData(
        name="folder",
        class_names=tuple(loaded.class_names),
        train=ImageSet(found.images[:0], labels[:0]),
        val=ImageSet(found.images, labels).to(device),
        input_size=prep.input_size,
        in_channels=prep.in_channels,
        mean=prep.mean,
        std=prep.std,
        hflip=False,
        description=args.data,
        val_description="every image",
    )
    correct = [0, 0, 0]
    per_class_total = torch.zeros(len(loaded.class_names))
    per_class_right = torch.zeros(len(loaded.class_names))
    present = [False, False, False]
    with torch.no_grad():
        for x, y in iterate_batches(data, data.val, args.batch_size):
            heads = model.forward_heads(x)
            for h, logits in enumerate(heads):
                if logits is None:
                    continue
                present[h] = True
                right = logits.argmax(1) == y
                correct[h] += int(right.sum())
                if h == 0:
                    per_class_total.index_add_(0, y.cpu(), torch.ones(len(y)))
                    per_class_right.index_add_(0, y.cpu(), right.float().cpu())
    n = len(labels)
    report: dict[str, Any] = {"accuracy": correct[0] / n}
    for h, name in ((1, "aux1"), (2, "aux2")):
        if present[h]:
            report[f"accuracy_{name}"] = correct[h] / n
    report["images"] = n
    report["per_class"] = {
        loaded.class_names[i]: round(float(per_class_right[i] / per_class_total[i]), 6)
        for i in range(len(loaded.class_names))
        if per_class_total[i] > 0
    }
    report["skipped"] = found.skipped
    if found.skipped:
        print(f"skipped: {describe_skipped(found.skipped)}", file=sys.stderr)
    report["checkpoint"] = os.path.abspath(args.checkpoint)
    report["data"] = os.path.abspath(args.data)
    if loaded.metrics:
        report["checkpoint_metrics"] = loaded.metrics
    print(json.dumps(report, indent=2))
    return 0
