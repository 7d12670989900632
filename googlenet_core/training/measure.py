"""What the training loop measures as it goes: loss windows and per-stage gradient norms.

Both keep their sums on the training device and are read once per logged step
or epoch, so measuring adds no host-device synchronisation per batch.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn

from .events import StepEvent
from .loss import LossBreakdown


def stage_names(model: nn.Module) -> list[str]:
    """Top-level modules that hold parameters, in forward order (stem, blocks, heads, fc)."""
    return [
        name
        for name, module in model.named_children()
        if next(module.parameters(), None) is not None
    ]


class StageGradients:
    """Each stage's gradient norm (all its tensors as one vector), summed over an epoch.

    The vanishing-gradient argument of the paper's section 5 in numbers: with the
    auxiliary weights at 0, the early stages only get what survives the whole trunk.
    """

    def __init__(self, model: nn.Module, stages: list[str], device: torch.device) -> None:
        self.stages = stages
        self.params: list[tuple[int, Tensor]] = [
            (s, p)
            for s, name in enumerate(stages)
            for p in getattr(model, name).parameters()
            if p.requires_grad
        ]
        self.index = torch.tensor([s for s, _ in self.params], device=device)
        self.sums = torch.zeros(len(stages), device=device)

    def add(self) -> None:
        """Add this step's norms (call after ``backward``)."""
        grads = [p.grad for _, p in self.params]
        index = self.index
        if any(g is None for g in grads):  # a parameter the forward did not use
            pairs = [(s, p.grad) for s, p in self.params if p.grad is not None]
            if not pairs:
                return
            grads = [g for _, g in pairs]
            index = torch.tensor([s for s, _ in pairs], device=self.sums.device)
        norms = torch._foreach_norm([g for g in grads if g is not None])  # one fused call
        squares = torch.zeros_like(self.sums).index_add_(
            0, index, torch.stack(norms).float().square()
        )
        self.sums += squares.sqrt()

    def means(self, steps: int) -> dict[str, float]:
        """Stage -> mean norm over ``steps`` steps, in forward order."""
        values = (self.sums / max(steps, 1)).tolist()
        return dict(zip(self.stages, (round(v, 6) for v in values), strict=True))


class StepWindow:
    """Losses and throughput since the last step event, kept on the device until read."""

    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(4, device=device)
        self.has = [False, False]  # aux1, aux2 computed in this window
        self.images = 0
        self.batches = 0
        self.since = time.perf_counter()

    def add(self, loss: LossBreakdown, images: int) -> None:
        zero = loss.main.new_zeros(())
        parts = [loss.total, loss.main, loss.aux1 if loss.aux1 is not None else zero]
        parts.append(loss.aux2 if loss.aux2 is not None else zero)
        self.sums += torch.stack([p.detach().float() for p in parts])
        self.has = [loss.aux1 is not None, loss.aux2 is not None]
        self.images += images
        self.batches += 1

    def event(self, step: int, epoch: int, lr: float, world_size: int) -> StepEvent:
        """The window as a step event; the window starts again."""
        now = time.perf_counter()
        means = (self.sums / max(self.batches, 1)).tolist()
        rate = self.images * world_size / max(now - self.since, 1e-9)
        event = StepEvent(
            step=step,
            epoch=epoch,
            loss=round(means[0], 6),
            loss_main=round(means[1], 6),
            loss_aux1=round(means[2], 6) if self.has[0] else None,
            loss_aux2=round(means[3], 6) if self.has[1] else None,
            lr=lr,
            images_per_s=round(rate, 1),
        )
        self.sums.zero_()
        self.images = 0
        self.batches = 0
        self.since = now
        return event
