"""A digit drawn as a phone photo of a page: what a student's camera gives the Predict page.

:func:`photograph` puts a grayscale digit (ink high, 0..1, any size) on a page of a
random size, at a random place and height, in ink of a random darkness on paper of a
random tone, under uneven light (a gradient and a vignette), with a slight colour cast,
lens blur, sensor noise and JPEG compression at a random quality, and returns the
decoded JPEG. ``light_ink=True`` draws chalk on a dark board instead. Every random
choice comes from the generator passed in, so a seed gives the same photos.

Used by ``bench_digit_photos.py`` and by the tests of the digit preprocessing
(``tests/test_digit_photos.py``).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter


def photograph(digit: np.ndarray, rng: np.random.Generator, light_ink: bool = False) -> Image.Image:
    """``digit`` (H x W, ink high, 0..1) as a JPEG photo of a page (an RGB image)."""
    page_h = int(rng.integers(240, 900))
    page_w = int(page_h * rng.uniform(0.75, 1.35))
    ink_h = page_h * rng.uniform(0.2, 0.6)  # the digit's cell, margins included
    scale = ink_h / digit.shape[0]
    size = (max(1, round(digit.shape[1] * scale)), max(1, round(ink_h)))
    glyph = (
        np.asarray(
            Image.fromarray((np.clip(digit, 0, 1) * 255).astype(np.uint8)).resize(
                size, Image.Resampling.BILINEAR
            ),
            dtype=np.float32,
        )
        / 255.0
    )
    ink = np.zeros((page_h, page_w), np.float32)
    top = int(rng.integers(0, max(1, page_h - size[1])))
    left = int(rng.integers(0, max(1, page_w - size[0])))
    ink[top : top + size[1], left : left + size[0]] = glyph[: page_h - top, : page_w - left]

    paper, pen = rng.uniform(0.65, 0.95), rng.uniform(0.05, 0.35)
    if light_ink:
        paper, pen = rng.uniform(0.08, 0.3), rng.uniform(0.75, 0.95)
    ys, xs = np.mgrid[0:page_h, 0:page_w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / page_w + np.sin(angle) * ys / page_h) - 0.5
    light = 1.0 + rng.uniform(0.0, 0.35) * ramp  # a lamp to one side
    centre = ((ys / page_h - 0.5) ** 2 + (xs / page_w - 0.5) ** 2) * 2
    light *= 1.0 - rng.uniform(0.0, 0.25) * centre  # a phone's vignette
    tone = (paper * (1 - ink) + pen * ink) * light
    cast = 1.0 + rng.uniform(-0.06, 0.06, size=3)  # warm or cool light
    rgb = np.clip(tone[:, :, None] * cast[None, None, :], 0, 1)
    picture = Image.fromarray((rgb * 255).astype(np.uint8), mode="RGB")
    picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.2) * page_h / 400))
    noisy = np.asarray(picture, dtype=np.float32) / 255.0
    noisy += rng.normal(0.0, rng.uniform(0.005, 0.035), size=noisy.shape).astype(np.float32)
    picture = Image.fromarray((np.clip(noisy, 0, 1) * 255).astype(np.uint8), mode="RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=int(rng.integers(40, 95)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def digits_as_strokes(images: np.ndarray) -> np.ndarray:
    """The bundled digits' 8 x 8 grids (0..255) as 32 x 32 ink pictures (0..1) to draw: each
    block's count becomes a gray level, smoothed, so a photo of it holds the same ink."""
    out = []
    for grid in images:
        big = Image.fromarray(grid.astype(np.uint8)).resize((32, 32), Image.Resampling.BICUBIC)
        out.append(np.clip(np.asarray(big, dtype=np.float32) / 255.0 * 1.4, 0, 1))
    return np.stack(out)
