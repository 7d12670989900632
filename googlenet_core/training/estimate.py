"""How long a run will take here: the network's MACs over a measured training rate.

The analysis knows every layer's multiply-accumulates (:func:`analyze`); a
training step costs about three forward passes (forward, and a backward pass
that computes gradients for activations and weights), validation one. The
machine's rate is measured by :func:`probe_macs_per_s`.
"""

from __future__ import annotations

import contextlib
import math
import time

import torch

from ..network.analysis import analyze
from ..network.config import GoogLeNetConfig
from ..network.model import build_model
from .config import TrainConfig
from .distributed import resolve_device, resolve_precision, uses_channels_last
from .loss import aux_loss


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
    return 3 * macs * batch / max(seconds, 1e-9)


def estimate_seconds(
    config: GoogLeNetConfig,
    train_config: TrainConfig,
    macs_per_s: float,
    train_images: int,
    val_images: int,
) -> float:
    """Training (3x forward MACs per image) plus validation (1x), every epoch, at this rate."""
    macs = analyze(config).total_macs
    return train_config.epochs * (3 * macs * train_images + macs * val_images) / macs_per_s
