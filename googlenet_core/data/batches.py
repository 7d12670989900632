"""Images held in memory as tensors, cut into batches and augmented on the training device.

A data set is decoded once into one tensor (:class:`ImageSet`), moved to the
device, and every batch is cut, resized, augmented and normalised there as a
whole: the input pipeline costs a few tensor ops per batch instead of a
``DataLoader`` worker decoding every sample of every epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from .transforms import Preprocessing, augment, normalize, to_unit


@dataclass
class ImageSet:
    """Images and labels. ``images`` is uint8 N x C x H x W at any size, or float
    N x C x S x S in [0, 1] already at the network's input size."""

    images: Tensor
    labels: Tensor  # int64, N

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> ImageSet:
        return ImageSet(self.images.to(device), self.labels.to(device))

    def take(self, count: int) -> ImageSet:
        return ImageSet(self.images[:count], self.labels[:count])

    def select(self, index: Tensor) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index])


def batch_indices(
    count: int,
    batch_size: int,
    generator: torch.Generator | None,
    *,
    rank: int = 0,
    world_size: int = 1,
    avoid_singleton: bool = True,
) -> list[Tensor]:
    """This rank's index batches for one epoch (shuffled when ``generator`` is given).

    Every rank gets the same number of batches (DistributedDataParallel needs
    them in step), cut from one permutation shared by all ranks. A last batch of
    one image is dropped when ``avoid_singleton``: BatchNorm cannot normalise it.
    """
    order = torch.randperm(count, generator=generator) if generator is not None else None
    per_rank = count // world_size
    if order is None:
        order = torch.arange(count)
    mine = order[rank : per_rank * world_size : world_size]
    batches = list(torch.split(mine, batch_size))
    if avoid_singleton and batches and len(batches[-1]) == 1 and len(batches) > 1:
        batches.pop()
    return batches


def model_batch(
    split: ImageSet,
    index: Tensor,
    preprocessing: Preprocessing,
    *,
    generator: torch.Generator | None = None,
    hflip: bool = False,
    style: str = "photo",
    channels_last: bool = False,
) -> tuple[Tensor, Tensor]:
    """One batch ready for the network: cut, resized, augmented (with a generator, in
    ``style``: :data:`.transforms.AUGMENT_RANGES`), normalised."""
    index = index.to(split.images.device)
    x = to_unit(split.images[index], preprocessing.input_size)
    if generator is not None:
        x = augment(x, generator, hflip=hflip, style=style)
    x = normalize(x, preprocessing.mean, preprocessing.std)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, split.labels[index]


def iterate_batches(
    split: ImageSet,
    preprocessing: Preprocessing,
    batch_size: int,
    *,
    channels_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Unshuffled, unaugmented batches (evaluation)."""
    for index in batch_indices(len(split), batch_size, None, avoid_singleton=False):
        yield model_batch(split, index, preprocessing, channels_last=channels_last)
