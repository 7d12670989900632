"""Sample images to try a model with, as ``(name, bytes)`` like any upload.

Three small CC0 / public-domain photos for the ImageNet-pretrained network
(``files/README.md`` credits them), and for a model trained on the bundled
UCI digits, digits from that data set rendered as 8x8 PNGs on the fly.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from importlib import resources

import numpy as np
from PIL import Image

from .digits import DIGIT_CLASSES, load_digits

PHOTOS = ("cat.jpg", "coffee.jpg", "rocket.jpg")


def sample_photos() -> list[tuple[str, bytes]]:
    folder = resources.files("googlenet_core.data").joinpath("files")
    return [(name, folder.joinpath(name).read_bytes()) for name in PHOTOS]


def digit_samples(per_class: int = 1) -> list[tuple[str, bytes]]:
    """``per_class`` digits of each class as 8x8 grayscale PNGs, taken from the end of the set."""
    images, labels = load_digits()
    samples: list[tuple[str, bytes]] = []
    for digit in range(len(DIGIT_CLASSES)):
        indices = np.flatnonzero(labels == digit)[::-1][:per_class]
        for index in indices:
            buffer = io.BytesIO()
            Image.fromarray(np.asarray(images[index]), mode="L").save(buffer, "PNG")
            samples.append((f"digit-{digit}-#{index}.png", buffer.getvalue()))
    return samples


def samples_for(class_names: Sequence[str]) -> list[tuple[str, bytes]]:
    """Digits for a digits model, the photos otherwise."""
    if tuple(class_names) == DIGIT_CLASSES:
        return digit_samples()
    return sample_photos()
