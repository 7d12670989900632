"""The optimiser and the learning-rate schedule a recipe asks for."""

from __future__ import annotations

import torch
from torch import nn

from .config import TrainConfig


def build_optimizer(
    params: list[nn.Parameter], train_config: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """AdamW or SGD with Nesterov momentum; no weight decay on BN scales/shifts and biases."""
    decay = [p for p in params if p.ndim > 1]
    rest = [p for p in params if p.ndim <= 1]  # 1-D tensors: BatchNorm and biases
    groups = [
        {"params": decay, "weight_decay": train_config.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    # Fused kernels update every tensor in one call: the per-parameter loop of the
    # default implementation cost ~20 ms a step for mini on a 2-core CPU, fused ~3 ms.
    fused = device.type in ("cpu", "cuda")
    if train_config.optimizer == "sgd":
        momentum = train_config.momentum
        return torch.optim.SGD(
            groups, lr=train_config.lr, momentum=momentum, nesterov=momentum > 0, fused=fused
        )
    return torch.optim.AdamW(groups, lr=train_config.lr, fused=fused)


def build_scheduler(
    optimizer: torch.optim.Optimizer, train_config: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """One-cycle (warm-up, then anneal), cosine, or a constant rate over ``total_steps``."""
    if train_config.schedule == "onecycle" and total_steps >= 3:
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=train_config.lr,
            total_steps=total_steps + 1,  # one spare: the scheduler steps after the last batch too
            # A quarter of the run warming up, at least two steps (PyTorch needs them).
            pct_start=max(0.25, 2 / total_steps),
            div_factor=10.0,  # start at lr/10: BN nets tolerate a short warm-up
            final_div_factor=100.0,
            cycle_momentum=train_config.optimizer == "sgd",
        )
    if train_config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
