"""The training recipe: everything that defines a run except the network itself.

:class:`TrainConfig` is frozen and validated like the network's specs (the same
checks and wording, :mod:`googlenet_core._checks`). Which values a run
actually gets, and why, is decided in one place, :func:`.plan.plan_training`;
this module only says what is allowed. :func:`check_compatible` refuses, up
front, a network and a recipe that cannot train together.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._checks import JsonRecord, check_bool, check_choice, check_float, check_int
from ..data.datasets import DATASETS
from ..i18n import N_, _
from ..network.config import ConvSpec, GoogLeNetConfig, InceptionSpec
from ..network.costs import Step

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("onecycle", "cosine", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
MAX_LR = 1e6  # high enough to demonstrate divergence on purpose
MAX_BATCH = 4096
MAX_EPOCHS = 1000


@dataclass(frozen=True)
class TrainConfig(JsonRecord):
    """Everything that defines a training run except the network itself.

    Make variations with ``dataclasses.replace``; every instance is validated.
    """

    OWNER = N_("training")

    dataset: str = "digits"  # one of data.datasets.DATASETS
    data_path: str | None = None  # the folder ('folder') or the zip's file name ('upload')
    subset: int | None = None  # at most this many training images (None: all)
    batch_size: int = 64  # per process under torchrun
    epochs: int = 3
    optimizer: str = "adamw"  # 'sgd' (Nesterov momentum) or 'adamw'
    lr: float = 0.003  # peak learning rate
    schedule: str = "onecycle"  # 'onecycle' (warm-up then anneal), 'cosine' or 'constant'
    weight_decay: float = 5e-4
    momentum: float = 0.9  # SGD only
    aux_weight1: float = 0.3  # w1, the head nearer the input (0.3 in the paper, section 5)
    aux_weight2: float = 0.3  # w2, the later head
    augment: bool = True  # random shifts/rotations/scales (and flips where they keep the class)
    seed: int = 0
    device: str = "auto"  # 'auto': CUDA, then Apple MPS, then CPU
    precision: str = "auto"  # 'auto': bf16 autocast on CUDA, fp32 elsewhere
    val_fraction: float = 0.2  # held out where a data set has no official test split
    log_every: int | None = None  # steps between step events (None: about 20 per epoch)
    # Where the weights start (training/transfer.py): None (random), "imagenet" (torchvision's
    # weights from torch's hub cache), a run folder (its best.pt) or a checkpoint file.
    init: str | None = None
    freeze: str = "none"  # "none", "trunk" (only the heads train) or a stage: it and before
    # torch's intra-op CPU threads for the run; None: as many as the host gives a job. A
    # number makes the result the same on any host: CPU kernels split their sums by thread.
    threads: int | None = None

    def __post_init__(self) -> None:
        owner = self.owner_label()
        if self.init is not None and (not isinstance(self.init, str) or not self.init.strip()):
            raise ValueError(_("training: init must name weights to start from, or be left out"))
        if not isinstance(self.freeze, str) or not self.freeze:
            raise ValueError(_("training: freeze must be none, trunk or a stage's name"))
        if self.freeze != "none" and self.init is None:
            raise ValueError(
                _(
                    "training: freezing random weights teaches nothing; give init (weights to "
                    "start from) or freeze none"
                )
            )
        check_choice(owner, "dataset", self.dataset, DATASETS)
        if self.dataset == "folder" and not self.data_path:
            raise ValueError(_("training: dataset 'folder' needs data_path, the folder of classes"))
        if self.data_path is not None and not isinstance(self.data_path, str):
            raise ValueError(
                _("training: data_path must be text, got {value!r}").format(value=self.data_path)
            )
        if self.subset is not None:
            check_int(owner, "subset", self.subset, 8, 10_000_000)
        check_int(owner, "batch_size", self.batch_size, 1, MAX_BATCH)
        check_int(owner, "epochs", self.epochs, 1, MAX_EPOCHS)
        check_choice(owner, "optimizer", self.optimizer, OPTIMIZERS)
        check_float(owner, "lr", self.lr, 1e-8, MAX_LR)
        check_choice(owner, "schedule", self.schedule, SCHEDULES)
        check_float(owner, "weight_decay", self.weight_decay, 0.0, 1.0)
        check_float(owner, "momentum", self.momentum, 0.0, 0.999)
        check_float(owner, "aux_weight1", self.aux_weight1, 0.0, 1.0)
        check_float(owner, "aux_weight2", self.aux_weight2, 0.0, 1.0)
        check_bool(owner, "augment", self.augment)
        check_int(owner, "seed", self.seed, 0, 2**31 - 1)
        check_choice(owner, "device", self.device, DEVICES)
        check_choice(owner, "precision", self.precision, PRECISIONS)
        check_float(owner, "val_fraction", self.val_fraction, 0.05, 0.5)
        if self.log_every is not None:
            check_int(owner, "log_every", self.log_every, 1, 100_000)
        if self.threads is not None:
            check_int(owner, "threads", self.threads, 1, 1024)

    @property
    def aux_weights(self) -> tuple[float, float]:
        return (self.aux_weight1, self.aux_weight2)

    def aux_weight(self, head: str) -> float:
        """The weight of aux head ``head`` ("aux1" or "aux2") in the loss."""
        return {"aux1": self.aux_weight1, "aux2": self.aux_weight2}[head]

    def aux_in_loss(self, config: GoogLeNetConfig) -> tuple[str, ...]:
        """What the aux weights mean, said once: the heads whose loss this run adds.

        A head counts when ``config`` builds and runs it (``active_aux_heads``) and its
        weight is above 0; only those train. A head weighted 0 is not in the loss and
        is frozen: no gradient, no optimiser state (its validation accuracy is still
        measured, as a chance-level baseline). When no head counts, a training step
        does not compute the heads at all; when one does, both run.
        """
        return tuple(h.name for h in config.active_aux_heads if self.aux_weight(h.name) > 0)

    def step(self, config: GoogLeNetConfig) -> Step:
        """One training step of this recipe on ``config``, as the cost formulas take it."""
        # AdamW keeps exp_avg and exp_avg_sq per weight; SGD one momentum buffer (none at 0).
        states = 2 if self.optimizer == "adamw" else int(self.momentum > 0)
        frozen = self.frozen_stages(config)
        features_once = bool(frozen) and not self.augment  # training/features.py
        return Step(
            self.batch_size, self.aux_in_loss(config), states, self.optimizer, frozen, features_once
        )

    def frozen_stages(self, config: GoogLeNetConfig) -> tuple[str, ...]:
        """The trunk stages ``freeze`` keeps as trained (none for an unknown stage: the run
        refuses it with its sentence)."""
        if self.init is None or self.freeze == "none":
            return ()
        # The trunk's stages with weights, in order (training/transfer.py's trunk_stages).
        stages = [s.name for s in config.stages() if isinstance(s.spec, (ConvSpec, InceptionSpec))]
        if self.freeze == "trunk":
            return tuple(stages)
        return tuple(stages[: stages.index(self.freeze) + 1]) if self.freeze in stages else ()


def check_compatible(config: GoogLeNetConfig, train_config: TrainConfig) -> None:
    """Refuse, up front, a pairing that cannot train (a ValueError with the reason)."""
    if config.batch_norm and train_config.batch_size < 2:
        raise ValueError(
            _(
                "batch size 1 cannot train a network with BatchNorm: the statistics of a single "
                "image normalise every activation to zero. Use a batch of 2 or more"
            )
        )
    if config.in_channels not in (1, 3):
        raise ValueError(
            _("the network takes {channels} input channels; images give 1 or 3").format(
                channels=config.in_channels
            )
        )
    # The input size was already validated against the network by GoogLeNetConfig.
