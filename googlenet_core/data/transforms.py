"""What an image becomes before the network sees it, for training and prediction alike.

The pipelines of typical GoogLeNet tutorials decode a PIL image, resize it and
convert it to a tensor for every sample of every epoch, and write the same
steps again, slightly differently, for prediction. Here there is one
arithmetic, used by both: uint8 -> [0, 1] -> bilinear resize with antialiasing
-> per-channel mean/std (:func:`to_model_input`), so a digit saved as a PNG
predicts exactly like its training sample. :class:`Preprocessing` is that
recipe's four numbers, recorded in every checkpoint, and its kind: ``resize`` (the
whole image is the input) or ``digit-blocks`` (a network trained on the bundled
digits: the digit on the paper is found and counted into 8 x 8 blocks first, as
the digits were made, :mod:`.digit_photos`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from .._checks import check_float, check_int, refuse_unknown, shown
from ..i18n import _
from ..network.config import MAX_IN_CHANNELS, MAX_INPUT_SIZE
from . import DatasetError

RESIDENT_BYTES = 256 * 2**20  # resize once when the resized floats fit in this; else per batch


#: What happens to an image before the resize: nothing, or the digits' own making.
KINDS = ("resize", "digit-blocks")


@dataclass(frozen=True)
class Preprocessing:
    """What an image must become before the network sees it: side, channels, mean, std,
    and its kind (:data:`KINDS`; a checkpoint without one is ``resize``)."""

    input_size: int  # square side in pixels
    in_channels: int  # 1 grayscale, 3 RGB
    mean: tuple[float, ...]  # per channel, of images scaled to [0, 1]
    std: tuple[float, ...]
    kind: str = "resize"

    def __post_init__(self) -> None:
        check_int("preprocessing", "input_size", self.input_size, 1, MAX_INPUT_SIZE)
        check_int("preprocessing", "in_channels", self.in_channels, 1, MAX_IN_CHANNELS)
        for name in ("mean", "std"):
            values = getattr(self, name)
            if not isinstance(values, tuple) or len(values) != self.in_channels:
                raise ValueError(
                    _(
                        "preprocessing: {name} needs one value per input channel ({n}), got {value}"
                    ).format(name=name, n=self.in_channels, value=shown(values))
                )
            for value in values:
                # Images are scaled to [0, 1] first: a mean outside [-1, 2] or a std
                # outside [1e-4, 10] is no normalisation anyone trained with.
                lo, hi = (-1.0, 2.0) if name == "mean" else (1e-4, 10.0)
                check_float("preprocessing", name, value, lo, hi)
        if self.kind not in KINDS:
            raise ValueError(
                _("preprocessing: kind must be one of {kinds}, got {value}").format(
                    kinds=", ".join(KINDS), value=shown(self.kind)
                )
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        """From a checkpoint's dict; every field type-checked before it is used."""
        if not isinstance(data, Mapping):
            raise ValueError(
                _("preprocessing must be a mapping, got {value}").format(value=shown(data))
            )
        refuse_unknown("preprocessing", data, ("input_size", "in_channels", "mean", "std", "kind"))
        values: dict[str, Any] = {}
        for name in ("input_size", "in_channels", "mean", "std"):
            if name not in data:
                raise ValueError(_("preprocessing lacks {name}").format(name=name))
            value = data[name]
            if name in ("mean", "std"):
                if not isinstance(value, (list, tuple)) or len(value) > MAX_IN_CHANNELS:
                    raise ValueError(
                        _(
                            "preprocessing: {name} must be a list of at most {limit} "
                            "numbers, got {value}"
                        ).format(name=name, limit=MAX_IN_CHANNELS, value=shown(value))
                    )
                value = tuple(value)
            values[name] = value
        if "kind" in data:  # checkpoints before it were all "resize"
            values["kind"] = data["kind"]
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if self.kind == "resize":  # as checkpoints before the kind existed: they read alike
            del out["kind"]
        return out

    def describe(self) -> str:
        kind = _("grayscale") if self.in_channels == 1 else "RGB"
        text = _(
            "{kind}, resized to {side} x {side}, normalised with mean {mean} and std {std}"
        ).format(kind=kind, side=self.input_size, mean=_fmt(self.mean), std=_fmt(self.std))
        if self.kind == "digit-blocks":
            text = _(
                "the digit found on the paper, cropped, set upright and counted into 8 x 8 "
                "blocks of 0..16 as the training digits were made; then {steps}"
            ).format(steps=text)
        return text


def pil_to_tensor(image: Image.Image, in_channels: int) -> Tensor:
    """An 8-bit image as a uint8 1 x C x H x W tensor with 1 (luma) or 3 (RGB) channels.

    Colour to gray is Pillow's ITU-R 601-2 luma, as :func:`convert_channels` does for
    whole data sets.
    """
    if in_channels not in (1, 3):
        raise ValueError(
            _("images can feed 1- or 3-channel networks, not {n}").format(n=in_channels)
        )
    converted = image.convert("L" if in_channels == 1 else "RGB")
    pixels = torch.from_numpy(np.asarray(converted, dtype=np.uint8).copy())
    pixels = pixels.unsqueeze(-1) if pixels.ndim == 2 else pixels  # H x W x C
    return pixels.permute(2, 0, 1).unsqueeze(0)


def to_unit(images: Tensor, input_size: int) -> Tensor:
    """uint8 (0..255) or float (0..1) N x C x H x W -> float N x C x S x S in [0, 1].

    Bilinear with antialiasing: downscaling averages pixels, upscaling an 8x8
    digit interpolates them.
    """
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if x.shape[-2:] != (input_size, input_size):
        x = F.interpolate(
            x, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=True
        )
    return x


def normalize(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def to_model_input(images: Tensor, preprocessing: Preprocessing) -> Tensor:
    """What the network sees: resized to S x S, scaled to [0, 1], normalised per channel."""
    return normalize(
        to_unit(images, preprocessing.input_size), preprocessing.mean, preprocessing.std
    )


def convert_channels(images: Tensor, in_channels: int) -> Tensor:
    """uint8 N x C x H x W to 1 (luma) or 3 (replicated gray) channels.

    RGB -> gray uses Pillow's integer ITU-R 601-2 luma, so a colour photo
    converted here equals the same photo converted by ``Image.convert("L")``.
    """
    have = images.shape[1]
    if have == in_channels:
        return images
    if in_channels not in (1, 3) or have not in (1, 3):
        raise DatasetError(
            _(
                "images have {have} channel(s) and the network takes {n}; "
                "only grayscale (1) and RGB (3) networks can train on images"
            ).format(have=have, n=in_channels)
        )
    if in_channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    rgb = images.to(torch.int32)
    luma = (rgb[:, 0] * 19595 + rgb[:, 1] * 38470 + rgb[:, 2] * 7471 + 0x8000) >> 16
    return luma.to(torch.uint8).unsqueeze(1)


def fits_resident(images: int, channels: int, side: int, budget: int = RESIDENT_BYTES) -> bool:
    """Whether ``images`` images kept as [0, 1] floats at ``side`` fit ``budget`` bytes."""
    return images * channels * side * side * 4 <= budget


def make_resident(images: Tensor, input_size: int, budget: int = RESIDENT_BYTES) -> Tensor:
    """Resize once to [0, 1] floats at the input size when they fit ``budget`` bytes.

    Otherwise keep the native uint8 images (far smaller) and let each batch be
    resized on the device: CIFAR-10 at 224 px would be 30 GB of floats.
    """
    n, c = images.shape[:2]
    if images.dtype != torch.uint8 or not fits_resident(n, c, input_size, budget):
        return images
    chunks = [to_unit(images[i : i + 4096], input_size) for i in range(0, n, 4096)]
    return torch.cat(chunks) if chunks else to_unit(images, input_size)


def channel_stats(
    images: Tensor, input_size: int, sample: int = 2048
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of (up to ``sample``) training images at the input size.

    Accumulated 64 images at a time, so 224 px statistics never hold the whole
    sample in memory at once.
    """
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    count = 0
    for start in range(0, min(len(images), sample), 64):
        x = to_unit(images[start : min(start + 64, sample)], input_size).double()
        total += x.sum(dim=(0, 2, 3))
        squares += x.square().sum(dim=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / max(count, 1)
    var = (squares / max(count, 1) - mean.square()).clamp_min(0)
    std = var.sqrt().clamp_min(1e-3)  # a blank data set must not divide by zero
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


#: Random affine ranges per augmentation style: rotation (degrees), shear (x per y),
#: scale (fractions; "photo" scales both axes alike), shift (fraction of the side).
#: "photo": any picture, where the subject may sit anywhere in the frame.
#: "digits": the bundled digits and every digit photo are read the same way (cropped to the
#: ink, stretched to 20 x 32, set upright: :mod:`.digit_photos`), so position and size never
#: vary; what differs between writers is slant, width and the angle of a stroke. Measured
#: for mini's quick digits recipe (3 epochs, seed 0) against no augmentation: phone photos
#: of MNIST digits 88.2 -> 90.0 %, whole writers held out 97.94 -> 98.03 % (seeds 0-2),
#: same training time. The photo style cost the same recipe on new writers (97.65 %).
AUGMENT_RANGES: dict[str, dict[str, float]] = {
    "photo": {"rotate": 10.0, "scale": 0.1, "shift": 0.125},
    "digits": {"rotate": 6.0, "shear": 0.2, "scale_x": 0.1, "scale_y": 0.05, "shift": 0.03},
}


def augment(
    x: Tensor,
    generator: torch.Generator,
    *,
    hflip: bool,
    strength: float = 1.0,
    style: str = "photo",
) -> Tensor:
    """Random shifts, small rotations, shears and scalings (:data:`AUGMENT_RANGES`), and an
    optional mirror (the "photo" style only: a mirrored digit is another digit or none).

    One ``affine_grid`` + ``grid_sample`` for the whole batch, drawn from
    ``generator`` (on the CPU, so a seed gives the same run on any device).
    ``x`` is in [0, 1]; pixels shifted in are 0 (black), like padded random crops.
    """
    ranges = AUGMENT_RANGES[style]
    n = x.shape[0]
    flip = torch.ones(n)
    if style == "digits":
        r = torch.rand(n, 6, generator=generator) * 2 - 1  # uniform in [-1, 1)
        angle = r[:, 0] * math.radians(ranges["rotate"]) * strength
        shear = r[:, 1] * ranges["shear"] * strength
        scale_x = 1 + r[:, 2] * ranges["scale_x"] * strength
        scale_y = 1 + r[:, 3] * ranges["scale_y"] * strength
        shift = r[:, 4:] * 2 * ranges["shift"] * strength  # grid units: 2 = the whole side
    else:  # the same draws, in the same order, as before the styles: old runs reproduce
        r = torch.rand(n, 4, generator=generator) * 2 - 1
        angle = r[:, 0] * math.radians(ranges["rotate"]) * strength
        shear = torch.zeros(n)
        scale_x = scale_y = 1 + r[:, 1] * ranges["scale"] * strength
        shift = r[:, 2:] * 2 * ranges["shift"] * strength
        if hflip:
            flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # output -> input: rotate, shear along x, scale each axis, mirror (a factor of +-1)
    theta = torch.stack(
        [
            torch.stack(
                [cos * flip / scale_x, (shear * cos - sin) * flip / scale_x, shift[:, 0]], dim=1
            ),
            torch.stack([sin * flip / scale_y, (cos + shear * sin) / scale_y, shift[:, 1]], dim=1),
        ],
        dim=1,
    ).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in values) + ")"
