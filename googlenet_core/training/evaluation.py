"""How good a model is on images it did not train on: one :func:`evaluate` for every caller.

The trainer runs it on the validation split after each epoch (each rank on
its share under ``torchrun``, summed across ranks), and ``python -m
googlenet_core evaluate`` runs it on a folder of class subfolders. Every head
the network has is scored: an aux head left out of the loss is still measured,
as an untrained baseline.

Before the trainer evaluates, :func:`recalibrate_batchnorm` recomputes every
BatchNorm layer's running statistics from training images ("precise BN", as
in pycls and Detectron2). Evaluation normalises with those statistics, which
training only updates as a moving average (momentum 0.1): after a short run
of a dozen steps they still half remember their initial values, and a deep
network evaluated with them can answer the same class for every image (7.8 %
on the digits, below chance) while its batch statistics already give 40 %.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.batches import ImageSet, batch_indices, iterate_batches
from ..data.transforms import Preprocessing
from ..network.model import HEAD_NAMES, GoogLeNet, Heads
from .distributed import Distributed
from .events import HeadScore
from .features import FeatureTable


@dataclass(frozen=True)
class Evaluation:
    """Loss and accuracy of every head, and the main head's accuracy per class."""

    images: int
    scores: tuple[HeadScore, ...]  # the heads the network has, main first
    class_correct: tuple[int, ...]  # main head, per class index
    class_total: tuple[int, ...]
    # The main head's answer and its probability for every image, in the split's order
    # (None under torchrun, where each rank scores a share).
    predicted: Tensor | None = None
    confidence: Tensor | None = None

    def score(self, head: str = "main") -> HeadScore | None:
        return next((s for s in self.scores if s.head == head), None)

    @property
    def accuracy(self) -> float:
        """The main head's accuracy."""
        return self.scores[0].acc

    def per_class(self) -> dict[int, float]:
        """Class index -> the main head's accuracy, for classes with at least one image."""
        return {
            i: right / total
            for i, (right, total) in enumerate(
                zip(self.class_correct, self.class_total, strict=True)
            )
            if total
        }


#: Training batches that set the BatchNorm statistics before an evaluation.
PRECISE_BN_BATCHES = 32


@torch.no_grad()
def recalibrate_batchnorm(
    model: GoogLeNet,
    split: ImageSet,
    preprocessing: Preprocessing,
    *,
    batches: int = PRECISE_BN_BATCHES,
    batch_size: int = 64,
    channels_last: bool = False,
    autocast: torch.dtype | None = None,
    dist: Distributed | None = None,
    frozen: Sequence[nn.Module] = (),
    features: FeatureTable | None = None,
    stop: int = 0,
) -> int:
    """Set every BatchNorm's running mean and variance to their average over training batches.

    Those inside ``frozen`` (stages a transfer run keeps as trained) keep theirs: the
    heads learned on the features those statistics give.

    Up to ``batches`` unaugmented batches of ``split``, every head run (the aux
    heads have BatchNorm too); under ``dist`` the statistics are averaged over
    the ranks. Returns how many images were used (0 for a network without BN).
    ``features`` (the split's, at the cut after ``stop`` trunk modules) stand in for
    its images: only the network after the cut runs.
    """
    kept = {id(m) for stage in frozen for m in stage.modules()}
    layers = [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in kept
    ]
    if not layers:
        return 0
    dist = dist or Distributed()
    device = next(model.parameters()).device
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the batches below
    was_training = model.training
    model.train()
    for stage in frozen:  # in train mode its BatchNorms would take these batches' statistics
        stage.eval()
    seen = 0
    try:
        for i, (x, y) in enumerate(
            _batches(split, preprocessing, batch_size, channels_last, features)
        ):
            if i >= batches:
                break
            if len(y) < 2:
                continue  # BatchNorm cannot take the statistics of one image
            context = (
                torch.autocast(device_type=device.type, dtype=autocast)
                if autocast is not None
                else contextlib.nullcontext()
            )
            with context:
                _heads(model, x, device, stop)
            seen += len(y)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        model.train(was_training)
    if dist.active:
        for layer in layers:
            for buffer in (layer.running_mean, layer.running_var):
                if buffer is not None:
                    dist.all_reduce(buffer)
                    buffer /= dist.world_size
    return seen


@torch.no_grad()
def evaluate(
    model: GoogLeNet,
    split: ImageSet,
    preprocessing: Preprocessing,
    *,
    batch_size: int = 256,
    channels_last: bool = False,
    autocast: torch.dtype | None = None,
    dist: Distributed | None = None,
    features: FeatureTable | None = None,
    stop: int = 0,
) -> Evaluation:
    """Every head's mean loss and accuracy on ``split`` (model in eval mode while it runs).

    ``split`` may live on the model's device already; under ``dist`` each rank
    scores every ``world_size``-th image and the sums are added across ranks.
    ``features`` (the split's, at the cut after ``stop`` trunk modules) stand in for
    its images: only the network after the cut runs.
    """
    dist = dist or Distributed()
    device = next(model.parameters()).device
    if dist.active:
        keep = torch.arange(dist.rank, len(split), dist.world_size, device=split.labels.device)
        split = split.select(keep)
        if features is not None:
            features = FeatureTable(features.batch(keep))
    classes = model.config.num_classes
    # Per head: summed loss, correct predictions; then the image count; then per class.
    # float32 throughout: Apple's MPS has no float64.
    sums = torch.zeros(2 * len(HEAD_NAMES) + 1 + 2 * classes, device=device)
    present = {"main", *(h.name for h in model.config.active_aux_heads)}
    answers: list[Tensor] = []
    probabilities: list[Tensor] = []
    was_training = model.training
    model.eval()
    try:
        for x, y in _batches(split, preprocessing, batch_size, channels_last, features):
            y = y.to(device)
            context = (
                torch.autocast(device_type=device.type, dtype=autocast)
                if autocast is not None
                else contextlib.nullcontext()
            )
            with context:
                heads = _heads(model, x, device, stop)
            for h, logits in enumerate(heads):
                if logits is None:
                    continue
                logits = logits.float()
                right = logits.argmax(1) == y
                sums[2 * h] += F.cross_entropy(logits, y, reduction="sum")
                sums[2 * h + 1] += right.sum()
                if h == 0:
                    best = logits.softmax(1).max(1)
                    answers.append(best.indices)  # on the device: one copy at the end
                    probabilities.append(best.values)
                    base = 2 * len(HEAD_NAMES) + 1
                    sums[base : base + classes] += torch.bincount(y[right], minlength=classes)
                    sums[base + classes :] += torch.bincount(y, minlength=classes)
            sums[2 * len(HEAD_NAMES)] += len(y)
    finally:
        model.train(was_training)
    dist.all_reduce(sums)
    values = sums.tolist()
    count = int(values[2 * len(HEAD_NAMES)])
    base = 2 * len(HEAD_NAMES) + 1
    scores = tuple(
        HeadScore(
            head=name,
            loss=round(values[2 * h] / max(count, 1), 6),
            acc=round(values[2 * h + 1] / max(count, 1), 6),
        )
        for h, name in enumerate(HEAD_NAMES)
        if name in present
    )
    return Evaluation(
        images=count,
        scores=scores,
        class_correct=tuple(int(v) for v in values[base : base + classes]),
        class_total=tuple(int(v) for v in values[base + classes :]),
        predicted=None if dist.active or not answers else torch.cat(answers).cpu(),
        confidence=None if dist.active or not answers else torch.cat(probabilities).cpu(),
    )


Inputs = Tensor | dict[str, Tensor]


def _batches(
    split: ImageSet,
    preprocessing: Preprocessing,
    batch_size: int,
    channels_last: bool,
    features: FeatureTable | None,
) -> Iterator[tuple[Inputs, Tensor]]:
    """Unshuffled batches of images, or of their features where they were computed once."""
    if features is None:
        yield from iterate_batches(split, preprocessing, batch_size, channels_last=channels_last)
        return
    for index in batch_indices(len(split), batch_size, None, avoid_singleton=False):
        yield features.batch(index), split.labels[index.to(split.labels.device)]


def _heads(model: GoogLeNet, x: Inputs, device: torch.device, stop: int) -> Heads:
    if isinstance(x, dict):
        return model.forward_rest({k: v.to(device) for k, v in x.items()}, stop, with_aux=True)
    return model.forward_heads(x.to(device))
