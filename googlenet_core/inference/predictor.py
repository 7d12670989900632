"""Prediction: what every head of the network says about an image.

A :class:`Predictor` is a verified model (from :func:`.checkpoints.load_checkpoint`
or :mod:`.pretrained`), its class names and its preprocessing.
:func:`predict_images` takes untrusted files through
:func:`googlenet_core.data.images.sanitise_image`, the model's own preprocessing
and one batched forward pass, and returns one :class:`ImageResult` per file: the
top-k of every head named by position (main, aux1 nearest the input, aux2) or
the sentence saying why that file could not be read. Why the network decided
as it did is :mod:`.explain`'s part.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .._io import first_line
from ..data.digit_photos import WORK_SIDE, DigitReading, is_colourful, read_digit
from ..data.images import SanitisedImage, sanitise_image
from ..data.transforms import Preprocessing, pil_to_tensor, to_model_input
from ..i18n import N_, _
from ..network.config import GoogLeNetConfig
from ..network.costs import prediction_batch
from ..network.model import GoogLeNet, HeadName, Heads
from .checkpoints import LoadedCheckpoint

ImageSource = bytes | str | os.PathLike[str]
#: Said beside the answer when a grayscale network is given a colour photo (translated
#: when said: ``_(GRAY_NOTE)``).
GRAY_NOTE = N_(
    "a colour photo to a grayscale network: it saw only the photo's gray levels, so "
    "anything told apart by colour alone is lost"
)


# ---- preprocessing -----------------------------------------------------------------------


class ImagePreprocessor(Protocol):
    """Turns a sanitised 8-bit L/RGB image into the C x S x S tensor the network takes."""

    in_channels: int
    input_size: int
    decode_side: int  # the side a decoder may shrink an image to (about half its keep)
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, image: Image.Image) -> Tensor: ...

    def describe(self) -> str: ...


class ResizeNormalize:
    """A checkpoint's :class:`Preprocessing`: resize to S x S, scale to 0..1, normalise.

    Grayscale or RGB by Pillow's ``convert`` (ITU-R 601-2 luma for colour to gray,
    as training converts), then :func:`googlenet_core.data.transforms.to_model_input`,
    the function training preprocesses its batches with: bilinear, antialiased
    resize and per-channel mean/std.
    """

    def __init__(self, preprocessing: Preprocessing) -> None:
        if preprocessing.in_channels not in (1, 3):
            raise ValueError(
                _("images can feed 1- or 3-channel networks; this one takes {n} channels").format(
                    n=preprocessing.in_channels
                )
            )
        self.preprocessing = preprocessing
        self.in_channels = preprocessing.in_channels
        self.input_size = preprocessing.input_size
        self.decode_side = preprocessing.input_size
        self.mean = preprocessing.mean
        self.std = preprocessing.std

    def __call__(self, image: Image.Image) -> Tensor:
        # Training's own preprocessing call, so a saved image predicts like its sample.
        return to_model_input(pil_to_tensor(image, self.in_channels), self.preprocessing)[0]

    def describe(self) -> str:
        return self.preprocessing.describe()


class DigitBlocks(ResizeNormalize):
    """A digits checkpoint's preprocessing (kind ``digit-blocks``): the photo's digit read as
    the training digits were made (:func:`googlenet_core.data.digit_photos.read_digit`: ink
    found, cropped, set upright, counted into 8 x 8 blocks), then the usual resize and
    normalisation of that 8 x 8 picture."""

    def __init__(self, preprocessing: Preprocessing) -> None:
        super().__init__(preprocessing)
        self.decode_side = WORK_SIDE  # the digit may fill a tenth of the page

    def read(self, image: Image.Image) -> tuple[Tensor, DigitReading]:
        """The model input and what the reading found."""
        reading = read_digit(image)
        return super().__call__(reading.image), reading

    def __call__(self, image: Image.Image) -> Tensor:
        return self.read(image)[0]


def preprocessor_for(preprocessing: Preprocessing) -> ResizeNormalize:
    """The preprocessor a checkpoint's recorded preprocessing names."""
    if preprocessing.kind == "digit-blocks":
        return DigitBlocks(preprocessing)
    return ResizeNormalize(preprocessing)


class WeightsTransforms:
    """torchvision weights' own ``transforms()`` (resize, centre crop, normalise), used as is."""

    def __init__(self, transforms: Any) -> None:
        self.transforms = transforms
        self.in_channels = 3
        self.input_size = int(transforms.crop_size[0])
        self.resize_size = int(transforms.resize_size[0])
        self.decode_side = self.resize_size  # the shorter side is resized to this first
        self.mean = tuple(float(m) for m in transforms.mean)
        self.std = tuple(float(s) for s in transforms.std)

    def __call__(self, image: Image.Image) -> Tensor:
        image = _precrop_long_side(image.convert("RGB"), self.resize_size, self.input_size)
        out: Tensor = self.transforms(image)
        return out

    def describe(self) -> str:
        return _(
            "RGB, shorter side resized to {resize}, centre crop {crop} x {crop}, normalised "
            "with ImageNet's mean {mean} and std {std} (torchvision's transforms for the weights)"
        ).format(
            resize=self.resize_size, crop=self.input_size, mean=_fmt(self.mean), std=_fmt(self.std)
        )


def display_image(model_input: Tensor, preprocess: ImagePreprocessor) -> np.ndarray:
    """The image as the network sees it: H x W (grayscale) or H x W x 3 uint8."""
    mean = torch.tensor(preprocess.mean).view(-1, 1, 1)
    std = torch.tensor(preprocess.std).view(-1, 1, 1)
    pixels = (model_input.detach().cpu() * std + mean).clamp(0, 1).mul(255).round().byte()
    array = pixels.permute(1, 2, 0).numpy()
    return array[:, :, 0] if array.shape[2] == 1 else array


def _precrop_long_side(image: Image.Image, resize_size: int, crop_size: int) -> Image.Image:
    # "Resize the shorter side to 256" turns a 10000 x 1 strip into 2,560,000 x 256 pixels
    # before the centre crop keeps 224 of them. Cropping the long side to twice the short
    # side first keeps what the crop keeps, for a bounded cost. Photos (aspect < 2:1) are
    # untouched, so they get exactly torchvision's pipeline.
    width, height = image.size
    short, long = min(width, height), max(width, height)
    if long <= 2 * short:
        return image
    keep = 2 * short
    offset = (long - keep) // 2
    box = (
        (offset, 0, offset + keep, height) if width > height else (0, offset, width, offset + keep)
    )
    return image.crop(box)


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in values) + ")"


# ---- the predictor -----------------------------------------------------------------------


@dataclass(eq=False)
class Predictor:
    """A verified model ready to predict, and what the UI needs to say about it."""

    model: GoogLeNet
    class_names: list[str]
    preprocess: ImagePreprocessor
    # One line: where the weights came from, in the language they were loaded in (a model
    # is shared by every session: the page says it from its own choice, in the visitor's).
    source: str
    aux_trained: bool = True  # False for torchvision's ImageNet weights (aux heads untrained)
    plain_state_dict: bool = False  # loaded from a plain state_dict into a chosen network
    dropped_keys: tuple[str, ...] = ()  # aux-head keys removed by drop_aux
    metrics: dict[str, Any] = field(default_factory=dict)
    # Grad-CAM registers a hook on the shared model; one user at a time touches it.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_checkpoint(cls, loaded: LoadedCheckpoint, source: str) -> Predictor:
        return cls(
            model=loaded.model.eval(),
            class_names=list(loaded.class_names),
            preprocess=preprocessor_for(loaded.preprocessing),
            source=source,
            plain_state_dict=loaded.plain_state_dict,
            dropped_keys=tuple(loaded.dropped_keys),
            metrics=dict(loaded.metrics),
        )

    @property
    def config(self) -> GoogLeNetConfig:
        return self.model.config

    @property
    def heads(self) -> tuple[str, ...]:
        """The heads this network has, by position: ("main",) or ("main", "aux1", "aux2")."""
        return ("main", *(h.name for h in self.config.active_aux_heads))

    def head_logits(self, outputs: Heads, head: str) -> Tensor:
        """One head's logits out of ``forward_heads``'s outputs, by name."""
        for name, logits in outputs.named():
            if name == head:
                return logits
        raise ValueError(
            _("this network has no {head} head (it has {heads})").format(
                head=head, heads=", ".join(self.heads)
            )
        )


@dataclass(frozen=True)
class HeadPrediction:
    """The top-k of one head, most probable first."""

    head: HeadName
    indices: tuple[int, ...]
    labels: tuple[str, ...]
    probs: tuple[float, ...]
    trained: bool = True  # False: the head's weights were never trained (say so next to it)

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"label": lab, "prob": round(p, 6)}
            for lab, p in zip(self.labels, self.probs, strict=True)
        ]


@dataclass(frozen=True, eq=False)
class ImageResult:
    """One file's outcome: every head's top-k, or the reason there is none."""

    name: str
    error: str | None = None
    heads: tuple[HeadPrediction, ...] = ()
    model_input: Tensor | None = None  # C x S x S, what the network saw (normalised)
    preprocess_ms: float = 0.0  # decode, sanitise and preprocess this file
    forward_ms: float = 0.0  # this image's share of its batch's forward pass
    notes: tuple[str, ...] = ()  # what sanitising did (EXIF rotation, transparency, ...)
    reading: DigitReading | None = None  # a digits model's: the ink found, the 8 x 8 counts

    @property
    def ok(self) -> bool:
        return self.error is None

    def head(self, name: str) -> HeadPrediction | None:
        return next((h for h in self.heads if h.head == name), None)

    def to_json(self) -> dict[str, Any]:
        """``{"file", "predictions", "aux1"?, "aux2"?, ...}`` or ``{"file", "error"}``."""
        if self.error is not None:
            return {"file": self.name, "error": self.error}
        out: dict[str, Any] = {"file": self.name}
        for head in self.heads:
            out["predictions" if head.head == "main" else head.head] = head.to_json()
        untrained = [h.head for h in self.heads if not h.trained]
        if untrained:
            out["untrained_heads"] = untrained
        out["inference_ms"] = round(self.preprocess_ms + self.forward_ms, 3)
        if self.notes:
            out["notes"] = list(self.notes)
        if self.reading is not None:
            out["digit"] = {
                "found": self.reading.describe(),
                "grid": self.reading.counts.tolist(),
                "problems": list(self.reading.problems),
            }
        return out


def predict_images(
    predictor: Predictor,
    sources: Sequence[ImageSource | SanitisedImage | tuple[str, ImageSource]],
    *,
    top_k: int = 5,
    batch_size: int = 32,
) -> list[ImageResult]:
    """Every head's top-k for each image, in order; a bad file gives an error, not an exception.

    ``sources`` are raw bytes, paths, ``(name, bytes_or_path)`` pairs or
    already sanitised images. Images are decoded one at a time, shrunk to what
    the network needs and released before the next (only the small model input
    is kept), and forwarded in batches no larger than ``batch_size`` nor than
    :func:`googlenet_core.network.costs.prediction_batch` allows at this network's
    input side.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    batch_size = prediction_batch(predictor.config, batch_size)
    prepared: list[_Prepared] = []
    for index, item in enumerate(sources):
        started = time.perf_counter()
        clean = _sanitised(item, index, predictor.preprocess.decode_side)
        tensor, problem, reading = None, clean.error, None
        if clean.image is not None:
            try:
                if isinstance(predictor.preprocess, DigitBlocks):
                    tensor, reading = predictor.preprocess.read(clean.image)
                else:
                    tensor = predictor.preprocess(clean.image)
                    if predictor.preprocess.in_channels == 1 and is_colourful(clean.image):
                        note = _(GRAY_NOTE)
                        clean = dataclasses.replace(clean, notes=(*clean.notes, note))
            except (ValueError, RuntimeError, OSError, MemoryError) as exc:
                problem = _("preprocessing failed: {error}").format(error=first_line(exc))
        elapsed = (time.perf_counter() - started) * 1e3
        prepared.append(_Prepared(clean.name, clean.notes, tensor, problem, elapsed, reading))
        del clean  # the decoded picture goes now; only the model input stays

    results: dict[int, ImageResult] = {}
    good = [i for i, p in enumerate(prepared) if p.tensor is not None]
    for start in range(0, len(good), batch_size):
        chunk = good[start : start + batch_size]
        batch = torch.stack([prepared[i].tensor for i in chunk])  # type: ignore[misc]
        heads, forward_ms = _forward(predictor, batch)
        for row, i in enumerate(chunk):
            ready = prepared[i]
            results[i] = ImageResult(
                name=ready.name,
                heads=tuple(_top_k(predictor, name, probs[row], top_k) for name, probs in heads),
                model_input=ready.tensor,
                preprocess_ms=ready.preprocess_ms,
                forward_ms=forward_ms / len(chunk),
                notes=ready.notes,
                reading=ready.reading,
            )
    return [
        results.get(i) or ImageResult(name=p.name, error=p.problem, notes=p.notes)
        for i, p in enumerate(prepared)
    ]


@dataclass(frozen=True, eq=False)
class _Prepared:
    name: str
    notes: tuple[str, ...]
    tensor: Tensor | None
    problem: str | None
    preprocess_ms: float
    reading: DigitReading | None = None


def _sanitised(
    item: ImageSource | SanitisedImage | tuple[str, ImageSource], index: int, side: int
) -> SanitisedImage:
    if isinstance(item, SanitisedImage):
        return item
    if isinstance(item, tuple):
        name, source = item
        return sanitise_image(source, name, target_side=side)
    if isinstance(item, bytes):
        return sanitise_image(item, _("image {n}").format(n=index + 1), target_side=side)
    return sanitise_image(item, target_side=side)


def _forward(predictor: Predictor, batch: Tensor) -> tuple[list[tuple[HeadName, Tensor]], float]:
    with predictor.lock, torch.inference_mode():
        started = time.perf_counter()
        outputs = predictor.model.forward_heads(batch)
        elapsed = (time.perf_counter() - started) * 1e3
    return [(n, torch.softmax(t.float(), dim=1)) for n, t in outputs.named()], elapsed


def _top_k(predictor: Predictor, head: HeadName, probs: Tensor, k: int) -> HeadPrediction:
    values, indices = probs.topk(min(k, probs.numel()))
    idx = tuple(int(i) for i in indices)
    return HeadPrediction(
        head=head,
        indices=idx,
        labels=tuple(predictor.class_names[i] for i in idx),
        probs=tuple(float(v) for v in values),
        trained=head == "main" or predictor.aux_trained,
    )
