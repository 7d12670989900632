"""Features computed once for a frozen trunk: their rate, the cache's speed-up, and the time
from "5 classes x 30 camera photos" to a trained model (issue 25).

All on torchvision's GoogLeNet at 224 px, on this host's CPU threads, the way the Train
page runs it (a worker uses the same code):

1. **Feature extraction rate**: images per second through the frozen trunk (eval mode,
   no gradients, batches of 32), against a training step of the whole network (forward
   and backward, batch 16) per image: what a frozen start saves per image and epoch.
2. **5 classes x 30 photos**: camera-like JPEGs (640 x 480: a coloured object on a
   cluttered, unevenly lit background, sensor noise) collected into a
   :class:`~googlenet_core.data.collected.Collection`, read back as the zip the Train page
   trains on, planned with ``Choices(init=<weights file>)`` (a frozen trunk, augmentation
   off, as the planner proposes on a CPU) and trained with :func:`train`:
   - **first run**: the features computed, then stored;
   - **second run**: the same photos: the features read from the store;
   - **every step**: the same run with the frozen stages run on every step
     (``cache_features=False``): the baseline the cache is measured against.
   Each is timed end to end (reading the photos, features, epochs, evaluation,
   checkpoints), which is what a student waits for.

The weights are a file in torchvision's exact format (every key and shape of
``googlenet-1378be20.pth``) with seeded random values, because this machine cannot
download the real ones: the times are those of the real weights (the same arithmetic),
the accuracy is not (see the README).

    python benchmarks/bench_features.py [--photos 30] [--classes 5] [--epochs 10]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from googlenet_core.data.collected import Collection  # noqa: E402
from googlenet_core.inference.pretrained import imagenet_network  # noqa: E402
from googlenet_core.network.model import build_model  # noqa: E402
from googlenet_core.training.plan import Choices, plan_training  # noqa: E402
from googlenet_core.training.train import train  # noqa: E402

COLOURS = [(200, 40, 40), (40, 150, 60), (40, 70, 200), (230, 190, 30), (150, 60, 170)]
SHAPES = ["ellipse", "rectangle", "triangle", "ellipse", "rectangle"]


def photo(kind: int, rng: np.random.Generator) -> bytes:
    """A phone-like photo of object ``kind`` on a desk: position, size, light and noise vary."""
    w, h = 640, 480
    background = np.clip(
        rng.normal(rng.uniform(90, 180), 25, (h, w, 3)) * np.linspace(0.7, 1.2, w)[None, :, None],
        0,
        255,
    ).astype(np.uint8)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    for _ in range(6):  # clutter
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        grey = int(rng.uniform(40, 220))
        draw.rectangle([x, y, x + rng.uniform(20, 90), y + rng.uniform(20, 90)], fill=(grey,) * 3)
    size = rng.uniform(110, 220)
    cx, cy = rng.uniform(size, w - size), rng.uniform(size * 0.8, h - size * 0.8)
    box = [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]
    colour = tuple(int(np.clip(c * rng.uniform(0.75, 1.2), 0, 255)) for c in COLOURS[kind % 5])
    shape = SHAPES[kind % 5]
    if shape == "ellipse":
        draw.ellipse(box, fill=colour)
    elif shape == "rectangle":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([(cx, box[1]), (box[0], box[3]), (box[2], box[3])], fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=int(rng.uniform(70, 92)))
    return out.getvalue()


def extraction_rate(images: int = 96, batch: int = 32) -> tuple[float, float]:
    """(images/s through the frozen trunk, images/s of whole-network training steps)."""
    config = imagenet_network()
    model = build_model(config, seed=0).eval()
    stop = len(model.trunk_names)
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        model.forward_prefix(x[:2], stop)  # warm-up
        started = time.perf_counter()
        for _ in range(images // batch):
            model.forward_prefix(x, stop)
        extract = images / (time.perf_counter() - started)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    step_batch = 16
    xs, ys = torch.randn(step_batch, 3, 224, 224), torch.randint(0, 1000, (step_batch,))
    steps = 3
    started = time.perf_counter()
    for _ in range(steps):
        heads = model.forward_heads(xs)
        loss = sum(torch.nn.functional.cross_entropy(h, ys) for h in heads if h is not None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    trained = steps * step_batch / (time.perf_counter() - started)
    return extract, trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=30, help="photos per class")
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} CPU threads")

    extract, trained = extraction_rate()
    print(
        f"1. torchvision's GoogLeNet at 224 px: {extract:.1f} images/s through the frozen "
        f"trunk vs {trained:.1f} images/s trained whole ({extract / trained:.1f}x per image)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        weights = root / "googlenet_state_dict.pth"
        torch.save(build_model(imagenet_network(), seed=1).state_dict(), weights)
        store = Collection(root / "classes")
        rng = np.random.default_rng(0)
        started = time.perf_counter()
        for kind in range(args.classes):
            name = store.add_class(f"object {kind}")
            for _ in range(args.photos):
                assert store.add_photo(name, photo(kind, rng)) is None
        archive = store.archive()
        collected = time.perf_counter() - started
        print(
            f"2. {args.classes} classes x {args.photos} photos (640 x 480 JPEG) kept and zipped "
            f"in {collected:.1f} s ({len(archive) / 1e6:.1f} MB)"
        )
        plan = plan_training(
            imagenet_network(),
            "upload",
            Choices(init=str(weights), epochs=args.epochs, device="cpu"),
            data_path="photos",
            archive=archive,
            device_type="cpu",
        )
        recipe = plan.train_config
        print(
            f"   plan: freeze={recipe.freeze}, augment={recipe.augment}, {recipe.epochs} epochs, "
            f"batch {recipe.batch_size}, {plan.config.input_size} px, "
            f"subset {recipe.subset or 'all'}"
        )
        cache = root / "cache"
        results = {}
        for label, cached in (("first run", True), ("second run", True), ("every step", False)):
            result = train(
                plan.config, recipe, archive=archive, cache_dir=cache, cache_features=cached
            )
            assert result.status == "completed", result.message
            results[label] = result
            print(
                f"   {label:>10}: {result.elapsed_seconds:6.1f} s end to end "
                f"({result.train_seconds:.1f} s of optimisation), best validation accuracy "
                f"{result.best_val_acc:.1%}"
            )
        first, second = results["first run"], results["second run"]
        every = results["every step"]
        again = first.elapsed_seconds / second.elapsed_seconds
        once = every.elapsed_seconds / first.elapsed_seconds
        print(
            f"   the cache: a second run on the same photos is {again:.1f}x as fast as the "
            f"first; the first {once:.1f}x as fast as running the frozen trunk on every step"
        )


if __name__ == "__main__":
    main()
