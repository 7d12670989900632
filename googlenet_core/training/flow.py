"""Where each loss sends its gradient: one batch through a freshly initialised network.

The paper's section 5 adds the auxiliary classifiers because "the ability to
propagate gradients back through all the layers in an effective manner was a
concern" in a network this deep. :func:`gradient_flow` measures it for any
design in a second or two, without a training run: it takes one batch of the
bundled handwritten digits, computes the main loss and each auxiliary loss
(weighted as in training), and reports, stage by stage of the trunk, the norm
of the gradient each of them sends there. An aux head only reaches the stages
before it; the main loss reaches everything, weakened on the way.

The Train page measures the same thing over real training runs (the gradient
norms per epoch and the ratio of two runs with and without the heads); this is
the instant version for a lecture.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.digits import load_digits
from ..data.transforms import convert_channels, to_unit
from ..network.config import GoogLeNetConfig
from ..network.model import build_model
from .measure import stage_names

#: Images in the batch: enough for BatchNorm's statistics, small enough for the
#: paper's 224 px network on a shared CPU (~2 s on two cores).
FLOW_BATCH = 8


@dataclass(frozen=True)
class StageFlow:
    """One trunk stage's gradient norm from each weighted loss, and from their sum."""

    stage: str
    main: float
    aux1: float  # 0.0 where the head is absent, weighted 0, or attached before this stage
    aux2: float
    total: float  # the norm of the summed gradient, what training applies

    @property
    def gain(self) -> float:
        """How much stronger the total gradient is than the main loss's alone."""
        return self.total / self.main if self.main else float("inf")


def gradient_flow(
    config: GoogLeNetConfig,
    w1: float = 0.3,
    w2: float = 0.3,
    batch: int = FLOW_BATCH,
    seed: int = 0,
) -> list[StageFlow]:
    """Per trunk stage, the gradient norm of the main loss and of ``w1``·aux1, ``w2``·aux2.

    The network is built with ``seed`` and run in training mode (BatchNorm's batch
    statistics, dropout drawn from the same seed), on the first ``batch`` digits of
    each class in turn, resized to the design's input side; labels beyond
    ``config.num_classes`` wrap around. The same seed gives the same numbers.
    """
    images, labels = load_digits()
    picks = [int((labels == digit % 10).nonzero()[0][digit // 10]) for digit in range(batch)]
    pixels = torch.from_numpy(images[picks].copy()).unsqueeze(1)  # N x 1 x 8 x 8
    x = to_unit(convert_channels(pixels, config.in_channels), config.input_size)
    target = torch.as_tensor(labels[picks], dtype=torch.long) % config.num_classes
    model = build_model(config, seed=seed).train()
    stages = [s for s in stage_names(model) if s in model.trunk_names]
    params = {s: [p for p in getattr(model, s).parameters() if p.requires_grad] for s in stages}
    flat = [p for s in stages for p in params[s]]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        heads = model.forward_heads(x)
    losses: dict[str, Tensor | None] = {"main": F.cross_entropy(heads.logits, target)}
    for name, logits, weight in (("aux1", heads.aux1, w1), ("aux2", heads.aux2, w2)):
        losses[name] = (
            None if logits is None or weight == 0 else weight * F.cross_entropy(logits, target)
        )
    grads: dict[str, list[Tensor | None]] = {}
    for name, loss in losses.items():
        if loss is not None:
            grads[name] = list(
                torch.autograd.grad(loss, flat, retain_graph=True, allow_unused=True)
            )
    rows = []
    start = 0
    for stage in stages:
        end = start + len(params[stage])
        parts = {name: g[start:end] for name, g in grads.items()}
        total = [
            sum((t for t in ts if t is not None), torch.zeros_like(p))
            for p, ts in zip(params[stage], zip(*parts.values(), strict=True), strict=True)
        ]
        rows.append(
            StageFlow(
                stage=stage,
                main=_norm(parts["main"]),
                aux1=_norm(parts.get("aux1", [])),
                aux2=_norm(parts.get("aux2", [])),
                total=_norm(total),
            )
        )
        start = end
    return rows


def _norm(tensors: list[Tensor | None] | list[Tensor]) -> float:
    """The L2 norm of all the tensors as one vector (a missing gradient counts as zero)."""
    present = [t.detach().float() for t in tensors if t is not None]
    return float(torch.sqrt(sum((t.square().sum() for t in present), torch.tensor(0.0))))
