"""Starting a run from trained weights, and freezing what should not train.

What people do with GoogLeNet is start from weights someone already trained: the notes'
tutorial keeps the lines for it (load torchvision's ImageNet weights, drop ``aux*.fc2``
and ``fc``, which have 1000 outputs), and Teachable Machine's whole method is a frozen
network whose heads alone learn the new classes. Here a run's recipe says where it
starts (:attr:`.config.TrainConfig.init`): ``"imagenet"`` (torchvision's weights, from
torch's hub cache: nothing is downloaded during a run), a run folder (its ``best.pt``)
or a checkpoint file (this project's, or a plain state_dict in torchvision's format such
as the ``googlenet-1378be20.pth`` torchvision downloads), read through the checked path
of :mod:`googlenet_core.inference.checkpoints` (``weights_only``, every key and shape).

The trunk (every stage before the heads) must match the new network exactly: a tensor
missing, left over or of another shape is refused with its name, never skipped as
``strict=False`` would. A head (``fc``, ``aux1``, ``aux2``) is kept where its shapes
match and rebuilt where they do not (another number of classes), and the report says
which. :attr:`.config.TrainConfig.freeze` then stops the trunk (``"trunk"``: only the
heads train) or the stages up to one of them (``"inception4e"``: the stages after it
train too) from training; their batch-norm statistics stay as they were trained.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from ..i18n import _, ngettext
from ..inference.checkpoints import AUX_HEAD_NAMES, LoadedCheckpoint, load_checkpoint
from ..inference.pretrained import imagenet_network, weights_path
from ..network.config import GoogLeNetConfig
from ..network.model import build_model
from .runs import Run, RunSummary
from .status import FINISHED

#: ``init`` for torchvision's ImageNet weights.
IMAGENET = "imagenet"
#: ``freeze`` values besides a stage's name.
FREEZE_NONE = "none"
FREEZE_TRUNK = "trunk"
#: The heads: what a new task rebuilds; everything before them is the trunk.
HEADS = ("fc", *AUX_HEAD_NAMES)
#: A run folder's checkpoint to start from.
RUN_CHECKPOINT = "best.pt"


@dataclass(frozen=True)
class StartReport:
    """What a run took from where it started, in words for its notes and model card."""

    source: str  # where the weights came from, as given
    kept: int  # tensors taken from there
    rebuilt: tuple[str, ...]  # heads left at fresh weights (another number of classes)
    frozen: tuple[str, ...]  # stages that do not train

    def sentence(self) -> str:
        said = [
            _("Started from {source}: {kept} tensors kept.").format(
                source=self.source, kept=self.kept
            )
        ]
        if self.rebuilt:
            said.append(
                _("Rebuilt for this task's classes: {heads}.").format(heads=", ".join(self.rebuilt))
            )
        if self.frozen:
            said.append(
                ngettext(
                    "Frozen (not trained): {n} stage, {first} to {last}.",
                    "Frozen (not trained): {n} stages, {first} to {last}.",
                    len(self.frozen),
                ).format(n=len(self.frozen), first=self.frozen[0], last=self.frozen[-1])
            )
        return " ".join(said)


def trunk_stages(model: nn.Module) -> list[str]:
    """The trunk's stages with weights, in forward order (``conv1`` ... ``inception5b``)."""
    return [
        name
        for name, module in model.named_children()
        if name not in HEADS and next(module.parameters(), None) is not None
    ]


def check_freeze(freeze: str, stages: list[str]) -> None:
    """``freeze`` is "none", "trunk" or one of ``stages``; a ValueError says which exist."""
    if freeze in (FREEZE_NONE, FREEZE_TRUNK) or freeze in stages:
        return
    raise ValueError(
        _("freeze must be none, trunk or a stage of this network ({stages}), not {value!r}").format(
            stages=", ".join(stages), value=freeze
        )
    )


def frozen_stages(model: nn.Module, freeze: str) -> tuple[str, ...]:
    """The stages ``freeze`` stops from training: none, the whole trunk, or up to a stage."""
    stages = trunk_stages(model)
    check_freeze(freeze, stages)
    if freeze == FREEZE_NONE:
        return ()
    if freeze == FREEZE_TRUNK:
        return tuple(stages)
    return tuple(stages[: stages.index(freeze) + 1])


def check_init(init: str, *, hub_dir: str | os.PathLike[str] | None = None) -> None:
    """Refuse at once an ``init`` that names nothing here (the weights are read later)."""
    if init == IMAGENET:
        if not weights_path(hub_dir).is_file():
            read_start(init, hub_dir=hub_dir)  # raises, saying how to get them
        return
    path = Path(init)
    if not (path / RUN_CHECKPOINT if path.is_dir() else path).is_file():
        read_start(init)  # raises, naming what is missing


def read_start(init: str, *, hub_dir: str | os.PathLike[str] | None = None) -> LoadedCheckpoint:
    """The weights ``init`` names, read and checked (a ValueError says what is missing)."""
    if init == IMAGENET:
        path = weights_path(hub_dir)
        if not path.is_file():
            raise ValueError(
                _(
                    "torchvision's ImageNet weights are not on this computer ({path}). Where "
                    "the internet is reachable, the Predict page or `python -m googlenet_core "
                    "predict --pretrained` downloads them once; on a blocked network, copy the "
                    "file torchvision downloads ({name}) there, or give its path to --init"
                ).format(path=path, name=path.name)
            )
        return load_checkpoint(path, config=imagenet_network())
    path = Path(init)
    if path.is_dir():
        path = path / RUN_CHECKPOINT
    if not path.is_file():
        raise ValueError(
            _(
                "cannot start from {init}: no checkpoint file or run folder with {name} there"
            ).format(init=init, name=RUN_CHECKPOINT)
        )
    return load_checkpoint(path, fallback_config=imagenet_network())


def start_from(
    model: nn.Module,
    init: str,
    freeze: str = FREEZE_NONE,
    *,
    hub_dir: str | os.PathLike[str] | None = None,
) -> StartReport:
    """Load ``init``'s weights into ``model`` (trunk exactly, heads where they fit) and
    freeze what ``freeze`` names. A trunk that differs is a ValueError naming the tensors."""
    shown = _("ImageNet (torchvision)") if init == IMAGENET else Path(init).name
    return take_weights(model, read_start(init, hub_dir=hub_dir), shown, freeze)


def check_weights_file(config: GoogLeNetConfig, data: bytes) -> None:
    """Refuse (a ValueError with the reason) a weights file's bytes that cannot start
    ``config``: read as tensors only, in memory, before anything is kept on disk."""
    loaded = load_checkpoint(data, fallback_config=imagenet_network())
    source = loaded.model.state_dict()
    _refuse_another_trunk(_("this file"), source, dict(trunk_shapes(config)))  # no model built


def take_weights(
    model: nn.Module, loaded: LoadedCheckpoint, shown: str, freeze: str = FREEZE_NONE
) -> StartReport:
    """:func:`start_from` with the weights already read (``shown``: where from, in words)."""
    source = loaded.model.state_dict()
    target = model.state_dict()
    trunk = {k: tuple(t.shape) for k, t in target.items() if k.split(".", 1)[0] not in HEADS}
    _refuse_another_trunk(shown, source, trunk)
    merged = dict(target)
    kept = 0
    rebuilt = []
    for key, tensor in target.items():
        if key in source and source[key].shape == tensor.shape:
            merged[key] = source[key]
            kept += 1
        else:
            head = key.split(".", 1)[0]
            if head not in rebuilt:
                rebuilt.append(head)
    model.load_state_dict(merged, strict=True)
    frozen = frozen_stages(model, freeze)
    for name in frozen:
        getattr(model, name).requires_grad_(False)
    return StartReport(shown, kept, tuple(rebuilt), frozen)


@lru_cache(maxsize=64)
def trunk_shapes(config: GoogLeNetConfig) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Every trunk tensor's name and shape: two designs with the same can share weights.
    Built on the meta device: no memory, no time spent on weights."""
    with torch.device("meta"):
        model = build_model(config)
    return tuple(
        (key, tuple(tensor.shape))
        for key, tensor in model.state_dict().items()
        if key.split(".", 1)[0] not in HEADS
    )


@lru_cache(maxsize=64)
def trunk_stage_names(config: GoogLeNetConfig) -> tuple[str, ...]:
    """:func:`trunk_stages` of ``config``'s network, without building its weights."""
    with torch.device("meta"):
        return tuple(trunk_stages(build_model(config)))


def starts_for(config: GoogLeNetConfig, summaries: Sequence[RunSummary]) -> list[RunSummary]:
    """The finished runs with a checkpoint whose trunk ``config`` can start from."""
    wanted = trunk_shapes(config)
    found = []
    for summary in summaries:
        if summary.status not in FINISHED or not summary.has_checkpoint:
            continue
        try:
            theirs = Run(summary.path).model_config()
        except (OSError, ValueError):
            continue  # a damaged run folder: not a start
        if trunk_shapes(theirs) == wanted:
            found.append(summary)
    return found


def keep_frozen_as_trained(model: nn.Module, frozen: tuple[str, ...]) -> None:
    """After ``model.train()``: frozen stages back in eval mode, so their batch-norm
    statistics and dropout stay as they were trained."""
    for name in frozen:
        getattr(model, name).eval()


def _refuse_another_trunk(
    shown: str, source: dict[str, torch.Tensor], trunk: dict[str, tuple[int, ...]]
) -> None:
    """A ValueError naming what differs when ``source`` lacks, adds or reshapes a tensor of
    the ``trunk`` (name -> shape) the network needs; never skipped as strict=False would."""
    problems = []
    for key, shape in trunk.items():
        if key not in source:
            problems.append(_("{key} is missing").format(key=key))
        elif tuple(source[key].shape) != shape:
            problems.append(
                _("{key} is {given} there, {wanted} here").format(
                    key=key, given=_shape(tuple(source[key].shape)), wanted=_shape(shape)
                )
            )
    extra = [k for k in source if k.split(".", 1)[0] not in HEADS and k not in trunk]
    problems += [_("{key} is not in this network").format(key=key) for key in extra]
    if problems:
        raise ValueError(
            _(
                "{init} has another trunk than this network, so its weights cannot start it "
                "({n} differences; first: {first}). Start from a run of the same design"
            ).format(init=shown, n=len(problems), first="; ".join(problems[:3]))
        )


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape) or "scalar"
