"""How long a run will take here: the network's MACs over a measured training rate.

The analysis knows every layer's multiply-accumulates (:func:`analyze`); a
training step costs about three forward passes (forward, and a backward pass
that computes gradients for activations and weights), validation one. The
machine's rate is measured by :func:`probe_macs_per_s`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time

import torch

from ..network.analysis import analyze
from ..network.config import GoogLeNetConfig
from ..network.model import build_model
from ..network.presets import get_preset
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


#: How long a measured rate is trusted: a shared host's load changes, and one unlucky
#: probe should not set every estimate for the life of a server.
RATE_TTL_S = 600.0
_rates: dict[tuple[str, str, str, int], tuple[float, float]] = {}  # key -> (rate, measured at)
_rates_lock = threading.Lock()
_probe_lock = threading.Lock()


def machine_rate(config: GoogLeNetConfig, train_config: TrainConfig) -> float:
    """:func:`probe_macs_per_s`, remembered per network and device for ``RATE_TTL_S``.

    Process-wide: every session of a dashboard server, and every caller in one
    process, shares one probe per network instead of paying about a second each.
    """
    key = (config.to_json(), train_config.device, train_config.precision, train_config.batch_size)
    # One probe at a time, and callers that arrive during it take its result: 30 tabs
    # opening a cold server at once ran 30 probes side by side, which took the pages
    # 13 s and, under a 1.1 GB cap, the server's memory (it was OOM-killed).
    with _probe_lock:
        now = time.monotonic()
        with _rates_lock:
            cached = _rates.get(key)
            if cached is not None and now - cached[1] < RATE_TTL_S:
                return cached[0]
        rate = probe_macs_per_s(config, train_config)
        with _rates_lock:
            _rates[key] = (rate, time.monotonic())
            for stale in [k for k, (_, at) in _rates.items() if now - at >= RATE_TTL_S]:
                del _rates[stale]
    return rate


def host_rate(train_config: TrainConfig) -> float:
    """This host's training rate measured once on the mini preset (batch 32, its 32 px).

    What a server shows before any run: the probe trains a tiny network for about a
    second, whatever network the page holds (a paper network at 1024 px would take
    gigabytes and minutes to probe). Larger networks keep a CPU busier per MAC than
    mini's small convolutions, so estimates from this rate err on the long side.
    """
    probe = dataclasses.replace(train_config, batch_size=32)
    return machine_rate(get_preset("mini"), probe)


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
