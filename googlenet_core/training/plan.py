"""The one planner: what a run will train, decided once for the CLI and the Train page alike.

:func:`plan_training` turns (network, dataset, the user's explicit choices,
device) into the exact network and :class:`TrainConfig` that will run, with a
sentence for every value the user did not choose. Neither front-end decides
anything itself: ``python -m googlenet_core train --preset mini --dataset
digits --epochs 3`` and the Train page with mini, the digits and 3 epochs ask
the same question and get the same answer.

The plan settles the network before a run folder is written: the input side
(twice the data's own, e.g. 16 px for mini on the 8x8 digits, or the smallest
the network accepts) and the number of outputs (the data set's classes; for a
folder or zip, from its listing).

Every network gets a recipe that trains it, chosen by what it is rather than
by its name (:func:`recipe_for`): mini and anything like it (batch norm, about
its compute) the tuned quick recipe; a network without batch norm a gentler
rate; on a CPU, as many images as train in ``CPU_RUN_SECONDS`` at an assumed
rate (:func:`_cpu_subset`). Each proposed value carries its reason in one line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from ..data import DatasetError
from ..data.datasets import NATIVE_SIDES, class_count, class_names_of, split_sizes
from ..i18n import N_, _
from ..network.analysis import analyze
from ..network.config import GoogLeNetConfig, minimum_input_size
from ..network.costs import training_seconds
from ..network.presets import base_preset, get_preset
from .config import TrainConfig, check_compatible
from .distributed import resolve_device

# Tuned on this project's 2-core CPU (benchmarks/bench_new_writers.py: whole writers held
# out in five folds, and the file's tail; benchmarks/bench_digit_photos.py: phone photos of
# other writers' digits). For mini on the digits at 16 px (see proposed_side): 2 one-cycle
# epochs 98.0-99.0% on the tail in about 5 s of training; 3 epochs 98.6-98.8% in about
# 10-13 s on one thread; 4 epochs no better on new writers (97.60% vs 97.94%, seed 0).
# Three: an A/B pair (two runs, one after the other) still on screen within a minute.
# Augmentation in the digits' own style (data/transforms.py: slant, width and stroke
# angle, no shifts) at the same cost: new writers 97.94 -> 98.03% (seeds 0-2), photos
# 88.2 -> 90.0%. The photo style (shifts of 1/8) cost the same recipe new writers (97.65%),
# so other networks' short digits runs keep augmentation off (DATASET_OVERRIDES). A variant
# of mini (an edited cell, aux heads off, another side) trains with the same recipe: it has
# batch norm and about mini's compute (MINI_LIKE_FACTOR).
QUICK_RECIPES: dict[tuple[str, str], dict[str, Any]] = {
    ("mini", "digits"): {
        "epochs": 3,
        "batch_size": 64,
        "optimizer": "adamw",
        "lr": 0.003,
        "schedule": "onecycle",
        "weight_decay": 5e-4,
        "augment": True,  # in the digits' style (see above)
        # One CPU thread: oneDNN's kernels split their sums by thread, and the figure moved
        # with the host's cores (seed 2: 98.69 % on one thread, 97.91 % on two). Measured on
        # this 2-core machine: 13.6 s of training on one thread, 10.8 s on two (1.26x); with
        # oneDNN off, both agree but take 3.5x as long. GPUs are left as they are.
        "threads": 1,
    },
}
# A network with batch norm and more compute (torchvision's at 63 px: 94% on the digits
# from 512 images x 3 epochs). Batch 32: a subset of a few hundred images still makes
# enough steps.
GENERIC_RECIPE: dict[str, Any] = {"epochs": 3, "batch_size": 32, "optimizer": "adamw", "lr": 0.003}
# A network without batch norm (the paper's: conv bias and LRN). The BN recipe's rate of
# 0.003, or 0.002, leaves it at chance for a whole run; 0.001 with one-cycle leaves chance
# in the first epoch and reaches 80-90% on the digits from 768 images x 4 epochs at 79 px.
NO_BN_RECIPE: dict[str, Any] = {
    "epochs": 4,
    "batch_size": 32,
    "optimizer": "adamw",
    "lr": 0.001,
    "schedule": "onecycle",
}
# The defaults of a short run on a dataset, under any recipe not tuned on it (a quick
# recipe's own values win): augmentation off on the digits, where the photo style costs
# short runs accuracy (see the mini recipe above, which has the digits' style).
DATASET_OVERRIDES: dict[str, dict[str, Any]] = {"digits": {"augment": False}}

#: A network with batch norm and at most this many times mini's compute trains with
#: mini's recipe (an edited mini); more makes it "heavy" on a CPU.
MINI_LIKE_FACTOR = HEAVY_FACTOR = 4.0
#: The training rate a CPU is assumed to have when a subset is proposed, in forward MACs
#: per second. A fixed figure, not a probe, so that the command line and the page propose
#: the same run anywhere. This project's 2-core machine trains the paper's network at
#: 79 px at ~65 G and torchvision's at 63 px at ~50 G, end to end; 40 G leaves room for a
#: slower host (the Train page shows the measured estimate before a run starts).
ASSUMED_CPU_MACS_PER_S = 40e9
#: How long a proposed run trains on a CPU at that rate. The paper's network needs ~3,000
#: image-steps to leave chance and reach 80-90% on the digits; this gives it 768 images x
#: 4 epochs, ~30 s on this machine, so an A/B pair finishes in about a minute.
CPU_RUN_SECONDS = 45.0
#: A proposed subset is the nearest multiple of this, and never smaller.
SUBSET_STEP = 256

Subset = int | Literal["all"] | None


@dataclass(frozen=True)
class Choices:
    """What the user set explicitly; None leaves the value to the plan.

    ``subset`` is a number of training images, ``"all"`` for every image, or
    None for the plan's proposal.
    """

    subset: Subset = None
    input_size: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    schedule: str | None = None
    weight_decay: float | None = None
    momentum: float | None = None
    aux_weight1: float | None = None
    aux_weight2: float | None = None
    augment: bool | None = None
    seed: int | None = None
    device: str | None = None
    precision: str | None = None
    val_fraction: float | None = None
    log_every: int | None = None
    init: str | None = None  # trained weights to start from (training/transfer.py)
    threads: int | None = None  # torch's CPU threads for the run (None: the recipe's or host's)
    freeze: str | None = None  # None: a frozen trunk for a trained start on a CPU


@dataclass(frozen=True)
class TrainPlan:
    """Exactly what will run, and why each value the user did not choose has its value."""

    config: GoogLeNetConfig  # the network as it trains: input side and outputs settled
    train_config: TrainConfig
    reasons: dict[str, str] = field(default_factory=dict)  # field -> why (defaults only)
    notes: tuple[str, ...] = ()  # how the network was adapted to the data, for the user
    heavy: float | None = None  # on a CPU: this network's compute in multiples of mini's
    class_names: tuple[str, ...] | None = None  # a folder's or zip's classes, from its listing

    def __post_init__(self) -> None:
        check_compatible(self.config, self.train_config)  # a plan is one that can train


def recipe_for(config: GoogLeNetConfig, dataset: str) -> tuple[dict[str, Any], str]:
    """TrainConfig fields for a short run of ``config`` on ``dataset``, and where they come from.

    Decided by what the network is, not by its name: mini and its variants (batch norm,
    at most ``MINI_LIKE_FACTOR`` times mini's compute at its design side) get mini's tuned
    recipe; a network without batch norm (the paper's) a gentler rate; the rest the
    generic batch-norm recipe.
    """
    data = _recipe_dataset(dataset)
    preset = base_preset(config)
    overrides = DATASET_OVERRIDES.get(data, {})
    if not config.batch_norm:
        return {**NO_BN_RECIPE, **overrides}, _("the recipe for a network without batch norm")
    factor = heaviness(config)
    if (preset == "mini" or factor <= MINI_LIKE_FACTOR) and ("mini", data) in QUICK_RECIPES:
        words = _dataset_words(dataset)
        if preset == "mini":
            where = _("the quick recipe for mini on {data}").format(data=words)
        else:
            where = _(
                "the quick recipe for mini on {data} (a variant of mini: batch norm, "
                "{factor:.2g}x its compute)"
            ).format(data=words, factor=factor)
        # Tuned on this dataset: its own values win over the dataset's overrides.
        return {**overrides, **QUICK_RECIPES[("mini", data)]}, where
    return {**GENERIC_RECIPE, **overrides}, _("the recipe for a short run")


def quick_recipe(preset: str | None, dataset: str) -> dict[str, Any]:
    """TrainConfig fields for a short run of the preset ``preset`` on ``dataset``."""
    return recipe_for(get_preset(preset or "mini"), dataset)[0]


def proposed_side(config: GoogLeNetConfig, dataset: str) -> tuple[int, str | None]:
    """The input side a run of ``config`` on ``dataset`` trains at, and why if not its own.

    Twice the data's own side holds everything the images have (the digits' 8x8 scans at
    16 px), so a network designed for more trains there, or at the smallest side it
    accepts if that is more; for mini on the digits that is ~4x less compute per image for
    the same held-out accuracy. Parameters do not change with the side (the pools before
    the classifiers are adaptive, or their size is checked), and the checkpoint records
    the side a model was trained at.
    """
    design = config.input_size
    native = NATIVE_SIDES.get(_recipe_dataset(dataset))
    if native is None or design <= 2 * native:
        return design, None
    smallest = minimum_input_size(config) or design
    side = min(design, max(2 * native, smallest))
    if side == design:
        return design, None
    figures = {
        "side": side,
        "data": _dataset_words(dataset),
        "native": native,
        "ratio": (design / side) ** 2,
        "design": design,
    }
    if side == 2 * native:
        why = _(
            "{side} px: {data} are {native}x{native} images, twice their side keeps every "
            "detail; {ratio:.0f}x less compute per image than its design side of {design} px"
        )
    else:
        why = _(
            "{side} px: the smallest side this network accepts ({data} are {native}x{native}); "
            "{ratio:.0f}x less compute per image than its design side of {design} px"
        )
    return side, why.format(**figures)


def recipe_input_size(preset: str | None, dataset: str) -> int | None:
    """The side a run of the preset ``preset`` on ``dataset`` trains at; None: its own."""
    config = get_preset(preset or "mini")
    side, why = proposed_side(config, dataset)
    return side if why else None


def heaviness(config: GoogLeNetConfig) -> float:
    """This network's training compute (all heads) in multiples of the mini preset's."""
    return analyze(config).total_macs / analyze(get_preset("mini")).total_macs


def plan_training(
    config: GoogLeNetConfig,
    dataset: str,
    choices: Choices | None = None,
    *,
    data_path: str | None = None,
    archive: bytes | None = None,
    device_type: str | None = None,
) -> TrainPlan:
    """The network and recipe a run of ``config`` on ``dataset`` will use.

    ``data_path`` is the folder for ``dataset="folder"`` (or, for ``"upload"``,
    the zip's file name, recorded only); ``archive`` is the uploaded zip's
    bytes, listed (not decoded) to count its classes. ``device_type`` ("cpu",
    "cuda", "mps") defaults to where ``choices.device`` resolves. Raises
    ValueError with a sentence for a choice that cannot train (an input side
    the network cannot take, a value out of range).
    """
    choices = choices or Choices()
    recipe, where = recipe_for(config, dataset)
    defaults = TrainConfig()
    fields_: dict[str, Any] = {"dataset": dataset, "data_path": data_path}
    reasons: dict[str, str] = {}
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("dataset", "data_path", "subset"):
            continue
        chosen = getattr(choices, f.name)
        if chosen is not None:
            fields_[f.name] = chosen
        elif f.name in recipe:
            fields_[f.name] = recipe[f.name]
            reasons[f.name] = where
        else:
            reason = _DEFAULT_REASONS.get(f.name, N_("the default"))
            reasons[f.name] = _(reason)
            fields_[f.name] = getattr(defaults, f.name)
    if "lr" in reasons and not config.batch_norm:
        reasons["lr"] = _(
            "{recipe}: {lr:g}, as 0.003 (the rate for batch-norm networks) leaves it at chance"
        ).format(recipe=where, lr=recipe["lr"])

    # The network at its training side, with one output per class of the data.
    network, notes = config, []
    side, why = proposed_side(config, dataset)
    if choices.input_size is not None:
        side = choices.input_size
    elif why is not None:
        reasons["input_size"] = why
    if side != config.input_size:
        network = dataclasses.replace(network, input_size=side)  # ValueError: cannot take it
    class_names = class_names_of(dataset, data_path, archive)
    classes = class_count(dataset, data_path, archive)
    if classes is not None and classes != network.num_classes:
        notes.append(
            _(
                "the network's {outputs:,} outputs are set to the {classes} classes of {data}"
            ).format(outputs=network.num_classes, classes=classes, data=_dataset_words(dataset))
        )
        network = dataclasses.replace(network, num_classes=classes)

    # How much data: everything, unless a CPU would take far longer than a short run.
    device = device_type or resolve_device(fields_["device"]).type
    factor = heaviness(network)
    heavy = factor if device == "cpu" and factor > HEAVY_FACTOR else None
    if fields_["init"] is not None and choices.freeze is None:
        # Teachable Machine's way on a CPU: the trained trunk stays, only the heads learn.
        fields_["freeze"] = "trunk" if device == "cpu" else "none"
        reasons["freeze"] = (
            _("a trained start on a CPU: only the heads train, in a fraction of the time")
            if device == "cpu"
            else _("a trained start on a GPU: every stage is fine-tuned")
        )
    if fields_["init"] is not None and fields_["freeze"] != "none" and choices.augment is None:
        fields_["augment"] = False
        reasons["augment"] = _(
            "off for frozen stages: their features are computed once per image "
            "(augmentation would change every image on every step)"
        )
    if "threads" in reasons and fields_["threads"] is not None:
        if device != "cpu":
            fields_["threads"] = None  # a GPU run: CPU threads only feed it
            reasons.pop("threads")
        else:
            reasons["threads"] = _(
                "one CPU thread: this recipe then gives the same accuracy on any host "
                "(two threads were 1.26x as fast here, but moved it by up to 0.8 points)"
            )
    if choices.subset is not None:
        fields_["subset"] = None if choices.subset == "all" else choices.subset
    elif device == "cpu":
        fields_["subset"], reasons["subset"] = _cpu_subset(network, dataset, fields_["epochs"])
    else:
        fields_["subset"] = None
        reasons["subset"] = _("every image of the data set")
    train_config = TrainConfig(**fields_)
    return TrainPlan(network, train_config, reasons, tuple(notes), heavy, class_names)


def _cpu_subset(network: GoogLeNetConfig, dataset: str, epochs: int) -> tuple[int | None, str]:
    """The training images a CPU run proposes: all, unless they take far over CPU_RUN_SECONDS."""
    per_image = training_seconds(network, 1, 1, 0, ASSUMED_CPU_MACS_PER_S)  # one image, trained
    fits = CPU_RUN_SECONDS / (per_image * epochs)  # images per epoch within the budget
    try:
        total = split_sizes(dataset, None)[0]
    except DatasetError:  # a folder or a zip: its size is known once it is read
        total = None
    if total is not None and total <= fits * 1.5:
        return None, _("every image: a short run even on a CPU")
    subset = max(SUBSET_STEP, round(fits / SUBSET_STEP) * SUBSET_STEP)
    if total is not None and subset >= total:
        return None, _("every image: a short run even on a CPU")
    # No time is promised here: the proposal is the same on every host (the CLI and the
    # page agree), and how long it takes on this one is the estimate's, measured here.
    heavier = heaviness(network)
    if total is None:
        return subset, _("{subset:,} images: a short run on a CPU, with no GPU here").format(
            subset=subset
        )
    return subset, _(
        "{subset:,} of {total:,} images: all {total:,} would make a run {ratio:.0f}x as long, "
        "on a CPU, for a network with {heavier:.0f}x the compute of mini"
    ).format(subset=subset, total=total, ratio=total / subset, heavier=heavier)


#: Why a value the recipe does not set has its default (translated where it is used).
_DEFAULT_REASONS = {
    "aux_weight1": N_("0.3, as in the paper (section 5)"),
    "aux_weight2": N_("0.3, as in the paper (section 5)"),
    "seed": N_("seed 0: runs repeat exactly"),
    "device": N_("the fastest device here (CUDA, then Apple MPS, then the CPU)"),
    "precision": N_("bf16 on a CUDA GPU, fp32 elsewhere"),
    "init": N_("random weights: the run starts from scratch"),
    "freeze": N_("nothing frozen: every stage trains"),
}


def _recipe_dataset(dataset: str) -> str:
    # An uploaded zip is a folder of class subfolders that arrived over the network.
    return "folder" if dataset == "upload" else dataset


def _dataset_words(dataset: str) -> str:
    return {
        "digits": _("the digits"),
        "fashionmnist": "Fashion-MNIST",
        "mnist": "MNIST",
        "cifar10": "CIFAR-10",
        "folder": _("the folder"),
        "upload": _("the uploaded zip"),
    }.get(dataset, dataset)
