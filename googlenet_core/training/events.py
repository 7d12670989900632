"""What a training run reports, as typed, versioned records.

The trainer emits one :class:`StartEvent`, a :class:`StepEvent` every few
steps, an :class:`EpochEvent` per epoch and one :class:`EndEvent`, with
:class:`NoteEvent` and :class:`DownloadEvent` along the way. Callbacks, the job
queue, the run store, the CLI's progress line, the figures and the Train page
all read these attributes; none of them builds a key by hand.

``metrics.jsonl`` stores one event per line as ``{"v": SCHEMA_VERSION, "type":
..., ...}``. Lines without ``"v"`` were written before the schema had a version
(the same events as flat dicts with ``val_acc_aux1``-style keys); they are
read through :func:`_upgrade_v0`. A line from a newer schema is refused with a
sentence instead of being half understood.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeAlias

from .._checks import shown
from ..network.config import GoogLeNetConfig
from ..network.model import HEAD_NAMES
from .config import TrainConfig
from .status import OUTCOMES, Outcome

SCHEMA_VERSION = 1
VERSION_KEY = "v"


def _now() -> float:
    return round(time.time(), 3)


@dataclass(frozen=True)
class AuxHead:
    """An auxiliary head as a run trains it."""

    name: str  # "aux1" (nearer the input) or "aux2"
    after: str  # the block whose output it reads
    weight: float  # its term's weight in the loss
    in_loss: bool  # weight > 0: trained; 0: left out of the loss, its accuracy still measured


@dataclass(frozen=True)
class HeadScore:
    """One head's loss and accuracy on the validation set."""

    head: str  # "main", "aux1" or "aux2"
    loss: float  # mean cross-entropy
    acc: float  # fraction correct, 0..1


@dataclass(frozen=True)
class StartEvent:
    """The run as it will train: where, on what, how long."""

    kind: ClassVar[str] = "start"
    device: str  # "cpu", "cuda:0", ...
    precision: str  # "fp32" or "bf16"
    channels_last: bool
    world_size: int  # processes under torchrun (1 alone)
    dataset: str
    dataset_description: str  # where the images came from, with attribution
    val_description: str  # how the validation split was made
    skipped: dict[str, int]  # reason -> files not used (folders and zips)
    classes: tuple[str, ...]
    train_images: int
    val_images: int
    steps_per_epoch: int
    total_steps: int
    epochs: int
    batch_size: int
    aux_heads: tuple[AuxHead, ...]  # the heads this network has, nearest the input first
    stages: tuple[str, ...]  # stages whose gradient norms the epoch events carry
    params: int
    macs: int
    model_config: GoogLeNetConfig
    train_config: TrainConfig
    init_fingerprint: str = ""  # digest of the initial weights: equal means the same start
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class StepEvent:
    """Losses and speed since the previous step event (means over those steps)."""

    kind: ClassVar[str] = "step"
    step: int  # optimiser steps so far, from 1
    epoch: int
    loss: float  # the total: main + w1 * aux1 + w2 * aux2
    loss_main: float
    loss_aux1: float | None  # None: that term was not computed (weight 0 or no head)
    loss_aux2: float | None
    lr: float
    images_per_s: float
    time: float = field(default_factory=_now)

    def losses(self) -> dict[str, float | None]:
        """The loss and its terms by name: total, main, aux1, aux2."""
        return {
            "total": self.loss,
            "main": self.loss_main,
            "aux1": self.loss_aux1,
            "aux2": self.loss_aux2,
        }

    def row(self) -> dict[str, Any]:
        return {"type": self.kind, **_plain(self)}


@dataclass(frozen=True)
class EpochEvent:
    """One finished epoch: training and validation figures, gradient norms per stage."""

    kind: ClassVar[str] = "epoch"
    epoch: int
    step: int
    train_loss: float
    train_acc: float
    val: tuple[HeadScore, ...]  # every head the network has, main first
    grad_norms: dict[str, float]  # stage -> mean gradient norm over the epoch, forward order
    epoch_seconds: float
    train_seconds: float  # optimisation so far, all epochs (no evaluation, no checkpoints)
    best_val_acc: float  # the main head's best so far
    time: float = field(default_factory=_now)

    def score(self, head: str) -> HeadScore | None:
        return next((s for s in self.val if s.head == head), None)

    @property
    def val_acc(self) -> float:
        """The main head's validation accuracy."""
        return self.val[0].acc

    @property
    def val_loss(self) -> float:
        return self.val[0].loss

    def row(self) -> dict[str, Any]:
        """Flat columns for a table or CSV: ``val_acc``, ``val_acc_aux1``, ``grad_norm.conv1``."""
        out: dict[str, Any] = {"type": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "val":
                for score in value:
                    suffix = "" if score.head == "main" else f"_{score.head}"
                    out[f"val_loss{suffix}"] = score.loss
                    out[f"val_acc{suffix}"] = score.acc
            elif f.name == "grad_norms":
                out.update({f"grad_norm.{stage}": v for stage, v in value.items()})
            else:
                out[f.name] = value
        return out


@dataclass(frozen=True)
class EndEvent:
    """How the run ended."""

    kind: ClassVar[str] = "end"
    status: Outcome
    message: str
    best_val_acc: float | None
    best_epoch: int | None
    epochs_completed: int
    steps: int
    train_seconds: float
    elapsed: float  # everything: loading, training, evaluation, checkpoints
    at_chance: bool = False  # the best accuracy is no better than guessing
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class NoteEvent:
    """Something the user should read (a data set being read, files skipped)."""

    kind: ClassVar[str] = "note"
    message: str
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class DownloadEvent:
    """Progress of a data set download; shown live, not recorded in metrics.jsonl."""

    kind: ClassVar[str] = "download"
    file: str
    done: int  # bytes so far
    total: int | None  # bytes, when the server said
    time: float = field(default_factory=_now)


Event: TypeAlias = StartEvent | StepEvent | EpochEvent | EndEvent | NoteEvent | DownloadEvent
_KINDS: dict[str, type[Any]] = {
    cls.kind: cls for cls in (StartEvent, StepEvent, EpochEvent, EndEvent, NoteEvent, DownloadEvent)
}


# ---- to and from JSON ----------------------------------------------------------------------


def event_to_dict(event: Event) -> dict[str, Any]:
    """The event as one JSON object: ``{"v": 1, "type": ..., fields ...}``."""
    out: dict[str, Any] = {VERSION_KEY: SCHEMA_VERSION, "type": event.kind}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, (GoogLeNetConfig, TrainConfig)):
            value = value.to_dict()
        elif f.name == "aux_heads":
            value = [_plain(h) for h in value]
        elif f.name == "val":
            value = [_plain(s) for s in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def readable_version(data: Mapping[str, Any]) -> bool:
    """Whether this version reads an event's JSON object: its ``"v"`` is ours or older."""
    return data.get(VERSION_KEY, 0) in range(SCHEMA_VERSION + 1)


def event_from_dict(data: Mapping[str, Any]) -> Event:
    """An event from its JSON object; ValueError for anything that is not one."""
    if not isinstance(data, Mapping):
        raise ValueError(f"an event must be a JSON object, got {type(data).__name__}")
    version = data.get(VERSION_KEY, 0)
    if version == 0:
        data = _upgrade_v0(data)
    elif version != SCHEMA_VERSION:
        raise ValueError(
            f"this event has schema version {shown(version)}; this googlenet_core reads "
            f"versions up to {SCHEMA_VERSION} (update it)"
        )
    cls = _KINDS.get(str(data.get("type")))
    if cls is None:
        raise ValueError(f"unknown event type {shown(data.get('type'))}")
    values: dict[str, Any] = {}
    try:
        for f in fields(cls):
            if f.name not in data:
                continue  # a missing field with a default (time) keeps it; others fail below
            values[f.name] = _field_from_json(f.name, data[f.name])
        event: Event = cls(**values)
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"a malformed {cls.kind} event: {exc}") from None
    if isinstance(event, EndEvent) and event.status not in OUTCOMES:
        raise ValueError(f"an end event with the unknown status {shown(event.status)}")
    return event


def _field_from_json(name: str, value: Any) -> Any:
    if name == "model_config":
        return GoogLeNetConfig.from_dict(value)
    if name == "train_config":
        return TrainConfig.from_dict(value)
    if name == "aux_heads":
        return tuple(AuxHead(**h) for h in value)
    if name == "val":
        return tuple(HeadScore(**s) for s in value)
    if name in ("classes", "stages"):
        return tuple(value)
    if name in ("skipped", "grad_norms"):
        return dict(value)
    return value


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _upgrade_v0(old: Mapping[str, Any]) -> dict[str, Any]:
    """An unversioned event (flat, suffix-named keys) in the version 1 shape."""
    data = dict(old)
    kind = data.get("type")
    if kind == "start":
        present = data.pop("aux_present", {}) or {}
        in_loss = data.pop("aux_in_loss", {}) or {}
        weights = data.pop("aux_weights", {}) or {}
        heads = {h["name"]: h["after"] for h in data.get("model_config", {}).get("aux_heads", [])}
        data["aux_heads"] = [
            {"name": h, "after": heads.get(h, "?"), "weight": weights.get(h, 0.0)}
            | {"in_loss": bool(in_loss.get(h))}
            for h in ("aux1", "aux2")
            if present.get(h)
        ]
    elif kind == "epoch":
        data["val"] = [
            {
                "head": head,
                "loss": data.pop(f"val_loss{suffix}"),
                "acc": data.pop(f"val_acc{suffix}"),
            }
            for head, suffix in zip(HEAD_NAMES, ("", "_aux1", "_aux2"), strict=True)
            if data.get(f"val_acc{suffix}") is not None
        ]
        for suffix in ("_aux1", "_aux2"):
            data.pop(f"val_loss{suffix}", None)
            data.pop(f"val_acc{suffix}", None)
        if data.get("best_val_acc") is None:
            data["best_val_acc"] = data["val"][0]["acc"] if data["val"] else 0.0
    return data


# ---- reading a run's events ---------------------------------------------------------------


def start_of(events: Sequence[Event]) -> StartEvent | None:
    return next((e for e in events if isinstance(e, StartEvent)), None)


def steps_of(events: Sequence[Event]) -> list[StepEvent]:
    return [e for e in events if isinstance(e, StepEvent)]


def epochs_of(events: Sequence[Event]) -> list[EpochEvent]:
    return [e for e in events if isinstance(e, EpochEvent)]


def progress_of(events: Sequence[Event]) -> tuple[float, float | None]:
    """(fraction of steps done, estimated seconds left) from a run's events so far."""
    start = start_of(events)
    steps = steps_of(events)
    if start is None or not steps or not start.total_steps:
        return 0.0, None
    done = min(steps[-1].step / start.total_steps, 1.0)
    elapsed = steps[-1].time - start.time
    if done <= 0 or elapsed <= 0:
        return done, None
    return done, elapsed * (1 - done) / done
