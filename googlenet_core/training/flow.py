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
from torch import Tensor

from ..data.digits import load_digits
from ..data.transforms import convert_channels, to_unit
from ..network.config import GoogLeNetConfig
from ..network.costs import FLOW_BATCHES
from ..network.model import build_model
from .loss import aux_loss
from .measure import stage_names

#: Images in the batch when the caller has no memory budget to fit (see
#: :func:`googlenet_core.network.costs.flow_batch`, which picks the largest that fits).
FLOW_BATCH = FLOW_BATCHES[0]


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
        """How much stronger the total gradient is than the main loss's alone (1 for none)."""
        if not self.main:
            return 1.0 if not self.total else float("inf")
        return self.total / self.main


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
    # The training loss, term by term (main, w1·aux1, w2·aux2): an absent or weight-0 head
    # has no term, as in training.
    losses = aux_loss(heads, target, w1, w2).weighted_terms()
    spans, start = {}, 0
    for stage in stages:
        spans[stage] = slice(start, start + len(params[stage]))
        start = spans[stage].stop
    # One loss at a time, its gradient added into the main loss's: at most two sets of
    # trunk gradients are alive at once.
    present = list(losses.items())
    norms: dict[str, dict[str, float]] = {}
    total: list[Tensor | None] = []
    for index, (name, loss) in enumerate(present):
        grads = torch.autograd.grad(
            loss, flat, retain_graph=index < len(present) - 1, allow_unused=True
        )
        norms[name] = {stage: _norm(list(grads[spans[stage]])) for stage in stages}
        if not total:
            total = list(grads)
            continue
        for i, grad in enumerate(grads):
            if grad is not None:
                total[i] = grad if total[i] is None else total[i].add_(grad)  # type: ignore[union-attr]
        del grads
    return [
        StageFlow(
            stage=stage,
            main=norms["main"][stage],
            aux1=norms.get("aux1", {}).get(stage, 0.0),
            aux2=norms.get("aux2", {}).get(stage, 0.0),
            total=_norm(total[spans[stage]]),
        )
        for stage in stages
    ]


def _norm(tensors: list[Tensor | None] | list[Tensor]) -> float:
    """The L2 norm of all the tensors as one vector (a missing gradient counts as zero)."""
    present = [t.detach().float() for t in tensors if t is not None]
    return float(torch.sqrt(sum((t.square().sum() for t in present), torch.tensor(0.0))))
