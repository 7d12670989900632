"""The paper's training loss: the main cross-entropy plus the weighted auxiliary ones.

Section 5 of "Going Deeper with Convolutions" adds the auxiliary classifiers'
losses "with a discount weight (the losses of the auxiliary classifiers were
weighted by 0.3)": ``loss = main + w1 * aux1 + w2 * aux2``. :func:`aux_loss` is
that formula as a pure function that also returns its parts. A head whose
weight is 0 is not computed into the graph at all: it receives no gradient.
"""

from __future__ import annotations

from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor

from ..network.model import Heads


class LossBreakdown(NamedTuple):
    """``total = main + w1 * aux1 + w2 * aux2``; an aux term is None when not computed."""

    total: Tensor
    main: Tensor
    aux1: Tensor | None  # the head's own cross-entropy, before its weight
    aux2: Tensor | None
    weights: tuple[float, float] = (0.0, 0.0)  # (w1, w2)

    def weighted_terms(self) -> dict[str, Tensor]:
        """Each term as it enters the total, by name: main, w1·aux1, w2·aux2 (those computed)."""
        terms = {"main": self.main}
        for name, term, weight in (
            ("aux1", self.aux1, self.weights[0]),
            ("aux2", self.aux2, self.weights[1]),
        ):
            if term is not None:
                terms[name] = weight * term
        return terms


def aux_loss(heads: Heads, target: Tensor, w1: float, w2: float) -> LossBreakdown:
    """The paper's weighted sum of the three cross-entropies, with its parts.

    A head that is absent (None) or weighted 0 is skipped: its cross-entropy is
    not computed, so it adds nothing to the autograd graph.
    """
    main = F.cross_entropy(heads.logits, target)
    total = main
    parts: list[Tensor | None] = []
    for logits, weight in ((heads.aux1, w1), (heads.aux2, w2)):
        if logits is None or weight == 0:
            parts.append(None)
            continue
        term = F.cross_entropy(logits, target)
        total = total + weight * term
        parts.append(term)
    return LossBreakdown(total, main, parts[0], parts[1], (w1, w2))
