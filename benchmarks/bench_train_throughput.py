"""Training throughput: this project's engine vs a typical tutorial loop, same model and data.

The baseline is the training loop of a typical GoogLeNet tutorial: a
``DataLoader`` (one worker) over a Dataset that turns each PIL image into a
tensor with per-sample torchvision transforms (``Resize``, ``ToTensor``), fp32
in the default memory format, Adam, batches of 32, and a line printed for every
step (here to /dev/null) with ``loss.item()`` and the batch accuracy. Both
sides train the same network (``forward_heads`` and the same
``main + 0.3 aux1 + 0.3 aux2`` loss) on the same bundled digits.

The engine is :func:`googlenet_core.training.train.train`: decoded tensors held
in memory (on the GPU when training there), batched augmentation off,
channels_last, bf16 autocast on CUDA, no per-step host sync.

On the CPU both train what the quick recipe trains: mini on the digits at the
recipe's 16 px (``--input-size 32`` for mini's design side). Each side trains
``--epochs`` epochs (default 3); the fastest epoch after the first is compared
(the first carries one-off warm-up such as kernel selection, and on a shared
machine other work only ever slows an epoch down). Two ratios are printed:
each loop as shipped (the tutorial's batch of 32 against the recipe's batch), and
at the same batch size (what the pipeline, memory format and fused optimiser
are worth alone).

    python benchmarks/bench_train_throughput.py                  # CPU, mini at 16 px
    python benchmarks/bench_train_throughput.py --device cuda    # GPU: torchvision preset,
                                                                 # 224 px, bf16, channels_last

Prints: engine images/s (measured) / tutorial-loop images/s (baseline) / ratio.
Target on CPU: a ratio of at least 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402
from torchvision import transforms  # noqa: E402

from googlenet_core import build_model, get_preset  # noqa: E402
from googlenet_core.data.digits import load_digits  # noqa: E402
from googlenet_core.training.config import TrainConfig  # noqa: E402
from googlenet_core.training.events import EpochEvent, Event, StartEvent  # noqa: E402
from googlenet_core.training.loss import aux_loss  # noqa: E402
from googlenet_core.training.plan import quick_recipe, recipe_input_size  # noqa: E402
from googlenet_core.training.train import train  # noqa: E402

TUTORIAL_BATCH = 32  # the batch size of the typical tutorial loop


class DigitImages(Dataset):
    """The bundled digits as PIL images, transformed one by one (the tutorial way)."""

    def __init__(self, count: int, transform: transforms.Compose) -> None:
        images, labels = load_digits()
        self.images = [Image.fromarray(images[i]) for i in range(count)]
        self.labels = [int(v) for v in labels[:count]]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[index]), self.labels[index]


def tutorial_loop(config, args, device: torch.device, batch_size: int) -> float:
    """The tutorial's training loop; returns the fastest later epoch's images per second."""
    steps = [transforms.Resize(size=(config.input_size, config.input_size))]
    if config.in_channels == 3:
        steps.append(transforms.Grayscale(num_output_channels=3))
    steps.append(transforms.ToTensor())
    dataset = DigitImages(args.subset, transforms.Compose(steps))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=1)
    torch.manual_seed(0)
    model = build_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates: list[float] = []
    with open(os.devnull, "w") as devnull:
        for epoch in range(args.epochs):
            model.train()
            if device.type == "cuda":
                torch.cuda.synchronize()
            tick = time.perf_counter()
            seen = 0
            for step, (images, labels) in enumerate(loader):
                images, labels = images.to(device), labels.to(device)
                heads = model.forward_heads(images)
                loss = aux_loss(heads, labels, 0.3, 0.3).total
                pre_lab = torch.argmax(heads.logits, dim=1)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                seen += len(labels)
                accuracy = torch.sum(pre_lab == labels).item() / len(labels)
                print(
                    f"Epoch [{epoch + 1}/{args.epochs}], Step [{step + 1}/{len(loader)}], "
                    f"Loss: {loss.item():.4f}, Acc:{accuracy:.4f}",
                    file=devnull,
                )
            if device.type == "cuda":
                torch.cuda.synchronize()
            rate = seen / (time.perf_counter() - tick)
            rates.append(rate)
            print(
                f"  tutorial loop (batch {batch_size}), epoch {epoch + 1}: {rate:.1f} images/s",
                flush=True,
            )
    return max(rates[1:] or rates)


def engine(config, args) -> float:
    rates: list[float] = []
    images = [0]

    def on_event(event: Event) -> None:
        if isinstance(event, StartEvent):
            images[0] = event.train_images
        if isinstance(event, EpochEvent):
            rate = images[0] / event.epoch_seconds
            rates.append(rate)
            print(
                f"  engine (batch {args.batch_size}), epoch {event.epoch}: {rate:.1f} images/s",
                flush=True,
            )

    train_config = TrainConfig(
        dataset="digits",
        subset=args.subset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer="adamw",
        lr=1e-3,
        augment=False,  # the tutorial loop has no augmentation either
        device=args.device,
        val_fraction=0.05,
    )
    result = train(config, train_config, callbacks=[on_event])
    if result.status != "completed":
        raise SystemExit(f"engine run {result.status}: {result.message}")
    return max(rates[1:] or rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--preset", help="default: mini on CPU, torchvision on CUDA")
    parser.add_argument(
        "--input-size", type=int, help="default: the recipe's on the CPU (16), else the preset's"
    )
    parser.add_argument("--subset", type=int, default=None, help="images per epoch")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    gpu = args.device == "cuda"
    if gpu and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU here")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.preset = args.preset or ("torchvision" if gpu else "mini")
    args.subset = args.subset or (3584 if gpu else 1024)
    recipe_batch = int(quick_recipe(args.preset, "digits").get("batch_size", 64))
    args.batch_size = args.batch_size or (128 if gpu else recipe_batch)
    config = get_preset(args.preset)
    if gpu and args.preset == "torchvision":
        config = dataclasses.replace(config, num_classes=10)
    side = args.input_size or (None if gpu else recipe_input_size(args.preset, "digits"))
    if side:
        config = dataclasses.replace(config, input_size=side)
    device = torch.device(args.device)
    what = (
        "GPU " + torch.cuda.get_device_name() if gpu else f"{torch.get_num_threads()} CPU thread(s)"
    )
    print(
        f"{args.preset} at {config.input_size} px, batch {args.batch_size}, {args.subset} digits "
        f"per epoch, {args.epochs} epochs, on {what}; load average {os.getloadavg()[0]:.2f}"
    )
    baseline = tutorial_loop(config, args, device, args.batch_size)
    as_shown = (
        tutorial_loop(config, args, device, TUTORIAL_BATCH)
        if args.batch_size != TUTORIAL_BATCH
        else None
    )
    measured = engine(config, args)
    print(
        f"training throughput, same batch ({args.batch_size}): engine {measured:.1f} images/s "
        f"(measured) / tutorial loop {baseline:.1f} images/s (baseline) / ratio "
        f"{measured / baseline:.2f}x"
    )
    if as_shown is not None:
        print(
            f"training throughput, each as shipped: engine at batch {args.batch_size} "
            f"{measured:.1f} images/s (measured) / tutorial loop at its batch {TUTORIAL_BATCH} "
            f"{as_shown:.1f} images/s (baseline) / ratio {measured / as_shown:.2f}x"
        )
    print(f"target >= 2x on CPU; load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
