"""The one planner: what a run will train, decided once for the CLI and the Train page alike.

:func:`plan_training` turns (network, dataset, the user's explicit choices,
device) into the exact network and :class:`TrainConfig` that will run, with a
sentence for every value the user did not choose. Neither front-end decides
anything itself: ``python -m googlenet_core train --preset mini --dataset
digits --epochs 3`` and the Train page with mini, the digits and 3 epochs ask
the same question and get the same answer.

The plan settles the network before a run folder is written: the input side
(the quick recipe's, e.g. 16 px for mini on the 8x8 digits) and the number of
outputs (the data set's classes; for a folder or zip, from its listing).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from ..data.datasets import class_count, class_names_of
from ..data.downloads import DOWNLOADABLE
from ..network.analysis import analyze
from ..network.config import GoogLeNetConfig
from ..network.presets import base_preset, get_preset
from .config import TrainConfig, check_compatible
from .distributed import resolve_device

# Tuned on this project's 2-core CPU (benchmarks/bench_time_to_accuracy.py). For mini on
# the digits at the recipe's 16 px (below), two one-cycle epochs reach 98.2-98.8% held out
# over seeds 0-4 in ~11-13 s; one epoch stops below 98% whatever the batch or rate, a peak
# rate of 0.005 dips to 97.7% on some seeds, and batch 128 needs a third epoch. Augmentation
# costs a two-epoch run accuracy on these clean 8x8 digits, so it is off here (longer runs
# can turn it on).
QUICK_RECIPES: dict[tuple[str, str], dict[str, Any]] = {
    ("mini", "digits"): {
        "epochs": 2,
        "batch_size": 64,
        "optimizer": "adamw",
        "lr": 0.003,
        "schedule": "onecycle",
        "weight_decay": 5e-4,
        "augment": False,
    },
}
GENERIC_RECIPE: dict[str, Any] = {"epochs": 3, "optimizer": "adamw", "lr": 0.003}

# The input side a recipe trains at, where it is not the network's own. The digits are 8x8
# scans: 16 px holds everything they have, and mini trains ~2.7x faster there than at its
# design side of 32 px, to the same held-out accuracy. Its parameters do not change (mini's
# last pool and aux pools are adaptive), so the checkpoint records the side it was trained at.
RECIPE_INPUT_SIZES: dict[tuple[str, str], int] = {("mini", "digits"): 16}

#: A network this many times mini's compute is "heavy" on a CPU: a subset is proposed.
HEAVY_FACTOR = 4.0
#: Training images proposed for a heavy network on a CPU.
CPU_SUBSET = 256
#: Training images proposed for a downloaded set on a CPU (the full 50,000-60,000 take hours).
CPU_DOWNLOAD_SUBSET = 2000

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


def quick_recipe(preset: str | None, dataset: str) -> dict[str, Any]:
    """TrainConfig fields for a short run of ``preset`` on ``dataset`` (tuned where known)."""
    return dict(QUICK_RECIPES.get((preset or "", _recipe_dataset(dataset)), GENERIC_RECIPE))


def recipe_input_size(preset: str | None, dataset: str) -> int | None:
    """The input side the quick recipe trains ``preset`` at on ``dataset``; None: its own."""
    return RECIPE_INPUT_SIZES.get((preset or "", _recipe_dataset(dataset)))


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
    preset = base_preset(config)
    recipe = quick_recipe(preset, dataset)
    where = (
        f"the quick recipe for {preset} on {_dataset_words(dataset)}"
        if (preset or "", _recipe_dataset(dataset)) in QUICK_RECIPES
        else "the quick recipe for a short run"
    )
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
            reasons[f.name] = _DEFAULT_REASONS.get(f.name, "the default")
            fields_[f.name] = getattr(defaults, f.name)

    # The network at its training side, with one output per class of the data.
    network, notes = config, []
    side = choices.input_size or recipe_input_size(preset, dataset)
    if choices.input_size is None and side is not None and side != config.input_size:
        reasons["input_size"] = (
            f"{where} trains at {side} px: the network is designed for {config.input_size} px, "
            f"and {side} px is about {(config.input_size / side) ** 2:.0f}x less compute per "
            "image for the same accuracy; the checkpoint records the side it was trained at"
        )
    if side is not None and side != config.input_size:
        network = dataclasses.replace(network, input_size=side)  # ValueError: cannot take it
    class_names = class_names_of(dataset, data_path, archive)
    classes = class_count(dataset, data_path, archive)
    if classes is not None and classes != network.num_classes:
        notes.append(
            f"the network's {network.num_classes:,} outputs are set to the "
            f"{classes} classes of {_dataset_words(dataset)}"
        )
        network = dataclasses.replace(network, num_classes=classes)

    # How much data: everything, unless a CPU would take far too long.
    device = device_type or resolve_device(fields_["device"]).type
    factor = heaviness(network)
    heavy = factor if device == "cpu" and factor > HEAVY_FACTOR else None
    if choices.subset is not None:
        fields_["subset"] = None if choices.subset == "all" else choices.subset
    elif heavy is not None:
        fields_["subset"] = CPU_SUBSET
        reasons["subset"] = (
            f"this network needs {factor:.0f}x the compute of the mini preset and this machine "
            f"has no GPU: {CPU_SUBSET} images keep a run short"
        )
    elif device == "cpu" and dataset in DOWNLOADABLE:
        fields_["subset"] = CPU_DOWNLOAD_SUBSET
        reasons["subset"] = (
            f"all of {_dataset_words(dataset)} takes hours on a CPU: "
            f"{CPU_DOWNLOAD_SUBSET:,} images keep a run short"
        )
    else:
        fields_["subset"] = None
        reasons["subset"] = "every image of the data set"
    train_config = TrainConfig(**fields_)
    return TrainPlan(network, train_config, reasons, tuple(notes), heavy, class_names)


_DEFAULT_REASONS = {
    "aux_weight1": "0.3, as in the paper (section 5)",
    "aux_weight2": "0.3, as in the paper (section 5)",
    "seed": "seed 0: runs repeat exactly",
    "device": "the fastest device here (CUDA, then Apple MPS, then the CPU)",
    "precision": "bf16 on a CUDA GPU, fp32 elsewhere",
}


def _recipe_dataset(dataset: str) -> str:
    # An uploaded zip is a folder of class subfolders that arrived over the network.
    return "folder" if dataset == "upload" else dataset


def _dataset_words(dataset: str) -> str:
    return {
        "digits": "the digits",
        "fashionmnist": "Fashion-MNIST",
        "mnist": "MNIST",
        "cifar10": "CIFAR-10",
        "folder": "the folder",
        "upload": "the uploaded zip",
    }.get(dataset, dataset)
