"""The project's checkpoint format, and the only way a file becomes a model.

A checkpoint is one ``torch.save`` file holding plain data only::

    {"format": "googlenet_core.checkpoint", "format_version": 1,
     "config": GoogLeNetConfig.to_dict(), "class_names": [...],
     "preprocessing": {"input_size", "in_channels", "mean", "std"},
     "metrics": {...}, "state_dict": {name: tensor}}

It is read with ``torch.load(weights_only=True)`` and nothing else: no pickle
fallback, ever, so a file cannot run code.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from .atomic import atomic_torch_save
from .config import GoogLeNetConfig
from .model import GoogLeNet

FORMAT = "googlenet_core.checkpoint"
FORMAT_VERSION = 1
MAX_CHECKPOINT_BYTES = 200 * 1024 * 1024  # the torchvision preset with aux heads is ~52 MB


class CheckpointError(ValueError):
    """A file that is not a loadable checkpoint; the message says exactly why."""


@dataclass(frozen=True)
class Preprocessing:
    """What an image must become before the network sees it."""

    input_size: int
    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise CheckpointError("preprocessing: mean and std need one value per input channel")
        if any(s <= 0 for s in self.std):
            raise CheckpointError("preprocessing: std must be positive")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        try:
            return cls(
                input_size=int(data["input_size"]),
                in_channels=int(data["in_channels"]),
                mean=tuple(float(v) for v in data["mean"]),
                std=tuple(float(v) for v in data["std"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"preprocessing is malformed: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class LoadedCheckpoint:
    model: GoogLeNet
    config: GoogLeNetConfig
    class_names: list[str]
    preprocessing: Preprocessing
    metrics: dict[str, Any] = field(default_factory=dict)
    dropped_keys: list[str] = field(default_factory=list)  # aux-head keys removed by drop_aux


def checkpoint_payload(
    model: nn.Module,
    config: GoogLeNetConfig,
    class_names: Sequence[str],
    preprocessing: Preprocessing,
    metrics: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    if len(class_names) != config.num_classes:
        raise ValueError(
            f"{len(class_names)} class names for a network with {config.num_classes} outputs"
        )
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "class_names": [str(c) for c in class_names],
        "preprocessing": preprocessing.to_dict(),
        "metrics": dict(metrics or {}),
        "state_dict": state,
    }


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    config: GoogLeNetConfig,
    class_names: Sequence[str],
    preprocessing: Preprocessing,
    metrics: Mapping[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically (the previous file survives a crash mid-write)."""
    # DistributedDataParallel wraps the model; save the inner module's keys.
    inner = getattr(model, "module", model)
    atomic_torch_save(checkpoint_payload(inner, config, class_names, preprocessing, metrics), path)


def read_checkpoint_bytes(
    source: str | os.PathLike[str] | bytes, max_bytes: int = MAX_CHECKPOINT_BYTES
) -> bytes:
    """The file's bytes, refusing anything over ``max_bytes`` before reading it."""
    if isinstance(source, bytes):
        data = source
    else:
        try:
            size = os.path.getsize(source)
        except OSError as exc:
            raise CheckpointError(f"cannot read {os.fspath(source)}: {exc.strerror}") from None
        if size > max_bytes:
            raise CheckpointError(
                f"file is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB"
            )
        with open(source, "rb") as fh:
            data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise CheckpointError(
            f"file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB"
        )
    if not data:
        raise CheckpointError("the file is empty")
    return data


def safe_torch_load(data: bytes) -> Any:
    """``torch.load`` restricted to tensors and plain containers. No fallback."""
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear message
        text = str(exc).split("\n")[0][:300]
        if "Weights only load failed" in str(exc) or "Unsupported global" in str(exc):
            raise CheckpointError(
                "the file contains Python objects other than tensors and plain data; it was "
                "refused without running anything (only weights_only files are accepted)"
            ) from None
        raise CheckpointError(f"not a readable PyTorch file: {text}") from None
