"""How long a run will take here: what it costs over a training rate measured on this machine.

:func:`probe_macs_per_s` measures the rate, a few real training steps of a network
on this machine; :func:`time_estimate` turns a plan into seconds at a rate, with
the cost formulas of :mod:`googlenet_core.network.costs` (a training step three
forward passes, validation one). A server measures the rate once and shares it
between its visitors (:mod:`googlenet_core.service.probes`); the CLI needs none.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass

import torch

from ..data import DatasetError
from ..data.datasets import split_sizes
from ..network.analysis import analyze
from ..network.config import GoogLeNetConfig
from ..network.costs import training_macs, training_seconds
from ..network.model import build_model
from .config import TrainConfig
from .distributed import resolve_device, resolve_precision, uses_channels_last
from .features import feature_bytes
from .loss import aux_loss
from .plan import TrainPlan


def probe_macs_per_s(
    config: GoogLeNetConfig,
    train_config: TrainConfig,
    probe_batch: int | None = None,
    min_seconds: float = 1.0,
) -> float:
    """This machine's training rate for this network, in forward MACs per second.

    Training steps on random images, at the run's batch size up to 32 (tiny
    batches run below a machine's rate): at least four, and more until
    ``min_seconds`` have passed. The first is warm-up (allocations, kernel
    selection); the fastest of the others is the steady rate: other work on a
    shared machine only ever slows a step down, and a probe that lasts a
    second outlives most of its bursts.
    """
    device = resolve_device(train_config.device)
    macs = analyze(config).total_macs
    model = build_model(config).to(device)
    channels_last = uses_channels_last(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    side, c = config.input_size, config.in_channels
    # Up to 32 images, but no more than ~2 G forward MACs a step: a 224 px network on
    # a CPU gets 2 images, so the probe stays around a second or two anywhere.
    batch = max(2, probe_batch or min(train_config.batch_size, 32, int(2e9 // max(macs, 1))))
    x = torch.randn(batch, c, side, side, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, config.num_classes, (batch,), device=device)
    dtype = resolve_precision(train_config.precision, device)
    seconds = math.inf
    started = time.perf_counter()
    step = 0
    while step < 4 or (time.perf_counter() - started < min_seconds and step < 200):
        tick = time.perf_counter()
        context = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with context:
            loss = aux_loss(model.forward_heads(x), y, *train_config.aux_weights).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:
            seconds = min(seconds, time.perf_counter() - tick)
        step += 1
    return training_macs(config, batch) / max(seconds, 1e-9)


#: What an upload's estimate is given per: its images are counted only once it is read.
PER_IMAGES = (1000, 250)


@dataclass(frozen=True)
class TimeEstimate:
    """How long a planned run takes at a rate, and on how many images."""

    seconds: float
    train_images: int
    val_images: int
    epochs: int
    macs_per_s: float
    per_images: bool  # True: an upload, estimated per 1,000 training and 250 validation images


def time_estimate(plan: TrainPlan, macs_per_s: float) -> TimeEstimate | None:
    """The plan's training and validation time at ``macs_per_s``; None where its images are
    unknown until read (a folder)."""
    train_config = plan.train_config
    per_images = train_config.dataset == "upload"
    if per_images:
        n_train, n_val = PER_IMAGES
    else:
        try:
            n_train, n_val = split_sizes(
                train_config.dataset, train_config.subset, train_config.val_fraction
            )
        except DatasetError:
            return None
    step = train_config.step(plan.config)  # frozen stages run forward only (features.py)
    if step.features_once and not feature_bytes(plan.config, step.frozen, n_train + n_val):
        step = dataclasses.replace(step, features_once=False)  # too many to keep: every step
    seconds = training_seconds(
        plan.config, train_config.epochs, n_train, n_val, macs_per_s,
        frozen=step.frozen, features_once=step.features_once,
    )  # fmt: skip
    return TimeEstimate(seconds, n_train, n_val, train_config.epochs, macs_per_s, per_images)
