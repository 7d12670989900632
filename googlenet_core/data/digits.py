"""The bundled UCI optical handwritten digits (CC BY 4.0, see ``files/README.md``).

Each sample is presented as an 8x8 grayscale image with pixel value
``round(v * 255 / 16)`` for the data set's counts ``v`` in 0..16, so the same
digits saved as PNGs in class folders give the same predictions.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

import numpy as np

from ..i18n import N_, _

DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
ATTRIBUTION = N_(
    "UCI Optical Recognition of Handwritten Digits (training set), E. Alpaydin and "
    "C. Kaynak, Bogazici University, 1998; UCI Machine Learning Repository; CC BY 4.0"
)


@lru_cache(maxsize=1)
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: uint8 array N x 8 x 8 (0..255) and int64 array N (0..9)."""
    raw = resources.files("googlenet_core.data").joinpath("files/optdigits.tra.gz").read_bytes()
    table = np.loadtxt(
        gzip.decompress(raw).decode("ascii").splitlines(), delimiter=",", dtype=np.int64
    )
    counts, labels = table[:, :64], table[:, 64]
    if counts.min() < 0 or counts.max() > 16 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(_("the bundled digits file is corrupt"))
    images = np.rint(counts * 255.0 / 16.0).astype(np.uint8).reshape(-1, 8, 8)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels
