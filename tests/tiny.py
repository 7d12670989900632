"""A tiny network, recipe and data set that train in a fraction of a second, shared by tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from googlenet_core.data.datasets import TrainingData, load_dataset
from googlenet_core.network.config import (
    AuxSpec,
    ConvSpec,
    GoogLeNetConfig,
    InceptionSpec,
    PoolSpec,
)
from googlenet_core.training.config import TrainConfig
from googlenet_core.training.runs import Run


def tiny_config(**changes: Any) -> GoogLeNetConfig:
    """A three-block GoogLeNet with both aux heads, 16 px grayscale: ~5k parameters."""
    config = GoogLeNetConfig(
        stem=(ConvSpec("conv1", 8, 3, padding=1),),
        blocks=(
            InceptionSpec("inception3a", 4, 4, 8, 2, 4, 4),
            InceptionSpec("inception4a", 8, 4, 8, 2, 4, 4),
            InceptionSpec("inception5a", 8, 4, 8, 2, 4, 4),
        ),
        pools=(PoolSpec("maxpool1", after="conv1"), PoolSpec("maxpool3", after="inception3a")),
        aux_heads=(
            AuxSpec("aux1", "inception3a", "adaptive", 2, conv_channels=8, fc_channels=16),
            AuxSpec("aux2", "inception4a", "adaptive", 2, conv_channels=8, fc_channels=16),
        ),
        in_channels=1,
        input_size=16,
        num_classes=10,
    )
    return dataclasses.replace(config, **changes) if changes else config


def tiny_train_config(**changes: Any) -> TrainConfig:
    base: dict[str, Any] = dict(
        subset=64, batch_size=16, epochs=1, device="cpu", log_every=1, lr=0.01
    )
    base.update(changes)
    return TrainConfig(**base)


_DATA_CACHE: dict[tuple[int, int, int], TrainingData] = {}


def tiny_data(subset: int = 64, input_size: int = 16, in_channels: int = 1) -> TrainingData:
    """The first ``subset`` digits (and 64 held out), loaded once per test session."""
    key = (subset, input_size, in_channels)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load_dataset(
            "digits", input_size=input_size, in_channels=in_channels, subset=subset
        )
    return _DATA_CACHE[key]


def trained_tiny_run(root: Path) -> Run:
    """The tiny network trained for one epoch on the digits, in a run folder under ``root``:
    the weights transfer tests start from."""
    from googlenet_core.training.train import train  # heavy: only for the tests that train

    run = Run.create(tiny_config(), tiny_train_config(), root)
    result = train(tiny_config(), tiny_train_config(), data=tiny_data(), run=run)
    assert result.status == "completed", result.message
    return run
