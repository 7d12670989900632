"""``python -m googlenet_core train ...``: train a network, writing a run directory.

Every flag is one explicit choice; everything not given comes from
:func:`googlenet_core.training.plan.plan_training`, the same planner the Train
page asks, so the command and the page train the same thing for the same
choices (for mini on the digits: 16 px, three epochs, batch 64). The plan's
reasons are printed before training starts.

Exits 0 when the run completes, 1 when it fails, 3 when it diverges and 130
when cancelled (Ctrl-C stops it cleanly after the current batch). The same
command runs data-parallel under ``torchrun``::

    torchrun --nproc_per_node 2 -m googlenet_core train --preset mini --dataset digits

(gloo on CPU, NCCL on GPU; ``--batch-size`` is per process; rank 0 writes the run).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import torch

from ..data.datasets import DATASETS
from ..network.presets import list_presets
from ..service.host import Figure, training_threads
from ..service.settings import current
from ..training.config import DEVICES, OPTIMIZERS, PRECISIONS, SCHEDULES
from ..training.distributed import distributed_from_env
from ..training.events import DownloadEvent, EpochEvent, Event, NoteEvent, StartEvent, StepEvent
from ..training.plan import Choices, Subset, TrainPlan, plan_training
from ..training.runs import Run
from ..training.train import train
from ..training.transfer import check_init
from .common import load_network

EXIT_CODES = {"completed": 0, "failed": 1, "diverged": 3, "cancelled": 130, "interrupted": 130}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a network on a dataset, writing a run directory",
        description="Train a GoogLeNet. Flags you leave out are planned for the network "
        "and dataset (the same plan the Train page shows), and the reasons are printed.",
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
        help="train at this image side (default: the plan's, e.g. 16 px for mini on digits)",
    )
    p.add_argument(
        "--subset",
        type=_subset,
        metavar="N|all",
        help="at most N training images, or 'all' (default: the plan's; all but on a CPU "
        "with a heavy network or a downloaded set)",
    )
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
        help="random shifts, rotations and scalings; on the digits slants, widths and rotations "
        "(default: the plan's choice)",
    )
    p.add_argument(
        "--init",
        metavar="imagenet|PATH",
        help="start from trained weights: torchvision's ImageNet weights (from torch's hub "
        "cache), a run folder or a checkpoint file; the trunk must match the network",
    )
    p.add_argument(
        "--freeze",
        metavar="none|trunk|STAGE",
        help="what does not train: nothing, the trunk (only the heads train) or every stage "
        "up to STAGE (default with --init: trunk on a CPU, none on a GPU)",
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--precision", choices=PRECISIONS)
    p.add_argument(
        "--out", metavar="DIR", help="the run store (default $GOOGLENET_RUNS_DIR or runs/)"
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="download cache (default $GOOGLENET_DATA_DIR or .data-cache/)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: the CPUs this process may use and that other "
        "processes leave idle, or $GOOGLENET_THREADS)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def _subset(text: str) -> Subset:
    if text == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of images or 'all', got {text!r}"
        ) from None


def plan_from_args(args: argparse.Namespace) -> TrainPlan:
    """The plan for these flags: each flag given is a choice, the rest is planned."""
    if args.data and args.dataset:
        raise ValueError("give --dataset or --data, not both")
    config = load_network(args.preset or (None if args.config else "mini"), args.config)
    dataset = "folder" if args.data else (args.dataset or "digits")
    w1, w2 = args.aux_weights if args.aux_weights is not None else (None, None)
    choices = Choices(
        subset=args.subset,
        input_size=args.input_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        schedule=args.schedule,
        weight_decay=args.weight_decay,
        aux_weight1=w1,
        aux_weight2=w2,
        augment=args.augment,
        seed=args.seed,
        init=args.init,
        freeze=args.freeze,
        threads=args.threads,
        device=args.device,
        precision=args.precision,
    )
    data_path = os.path.abspath(args.data) if args.data else None
    if args.init is not None:
        check_init(args.init)  # before a run folder is made for it
    return plan_training(config, dataset, choices, data_path=data_path)


def run(args: argparse.Namespace) -> int:
    settings = current()
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError("--threads must be at least 1")
        threads = Figure(args.threads, "--threads")
    else:
        threads = training_threads()
    torch.set_num_threads(threads.value)
    plan = plan_from_args(args)
    dist = distributed_from_env()
    progress = _Progress(sys.stderr, quiet=args.quiet or not dist.is_main)
    if plan.train_config.device != "cuda":
        if plan.train_config.threads is not None and args.threads is None:
            progress.note(f"{plan.train_config.threads} CPU thread(s): {plan.reasons['threads']}")
        else:
            progress.note(f"{threads.value} CPU thread(s): {threads.source}")
    if "input_size" in plan.reasons:
        progress.note(f"input side {plan.config.input_size} px: {plan.reasons['input_size']}")
    if plan.train_config.subset is not None and "subset" in plan.reasons:
        progress.note(f"{plan.train_config.subset:,} training images: {plan.reasons['subset']}")
    for note in plan.notes:
        progress.note(note)
    run_dir = (
        Run.create(plan.config, plan.train_config, args.out or settings.runs_dir, status="running")
        if dist.is_main
        else None
    )
    stop = threading.Event()
    restore = _stop_on_interrupt(stop, progress)
    try:
        result = train(
            plan.config,
            plan.train_config,
            class_names=plan.class_names,
            callbacks=[progress],
            stop=stop,
            run=run_dir,
            cache_dir=args.data_dir or settings.data_dir,
            distributed=dist,
        )
    finally:
        restore()
    if dist.is_main:
        progress.close()
        print(f"{result.status}: {result.message}")
        if run_dir is not None:
            print(f"run directory: {run_dir.path}")
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
        if isinstance(event, StartEvent):
            self.total_steps, self.epochs = event.total_steps, event.epochs
            self.started = time.perf_counter()
            aux = ", ".join(
                f"{h.name} w={h.weight:g}" if h.in_loss else f"{h.name} not in the loss"
                for h in event.aux_heads
            )
            self.note(
                f"training on {event.device} ({event.precision}, "
                f"{event.world_size} process(es)): {event.train_images:,} images, "
                f"{event.val_images:,} held out, {self.epochs} epoch(s) of "
                f"{event.steps_per_epoch} steps" + (f"; {aux}" if aux else "")
            )
        elif isinstance(event, StepEvent):
            self._step(event)
        elif isinstance(event, EpochEvent):
            heads = [f"{s.head} {s.acc:.2%}" for s in event.val]
            self.note(
                f"epoch {event.epoch}/{self.epochs}: validation accuracy "
                f"{', '.join(heads)}; loss {event.val_loss:.4f}"
            )
        elif isinstance(event, NoteEvent):
            self.note(event.message)
        elif isinstance(event, DownloadEvent) and event.total:
            self.note(f"downloading {event.file}: {event.done / event.total:.0%}")

    def _step(self, event: StepEvent) -> None:
        done = event.step / max(self.total_steps, 1)
        elapsed = time.perf_counter() - self.started
        eta = elapsed * (1 - done) / max(done, 1e-9)
        line = (
            f"epoch {event.epoch}/{self.epochs} step {event.step}/{self.total_steps} "
            f"({done:.0%}) loss {event.loss:.3f} (main {event.loss_main:.3f}) "
            f"{event.images_per_s:.0f} img/s, ETA {eta:.0f} s"
        )
        now = time.perf_counter()
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
            self.open_line = True
        elif now - self.last_line >= 2.0:
            self.stream.write(line + "\n")
            self.last_line = now

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
