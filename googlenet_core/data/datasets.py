"""A data set ready to train on, from any source: :func:`load_dataset`.

Sources:

- ``digits``: the bundled UCI handwritten digits (offline; :mod:`.digits`). The
  validation split is the last fifth of the file, the same images on every run. It
  is not a split of new writers: each writer's runs of rows are scattered through
  the file (:mod:`.writers`), so the tail's writers also wrote training rows, as a
  random split's would. What new writers get is measured by
  ``benchmarks/bench_new_writers.py`` on whole writer groups held out in turn. The
  page's split stays the tail: one fifth of the groups is not a fair sample of the
  writers (a nearest-neighbour classifier errs on 1.2 % to 3.9 % of the five folds,
  2.1 % of the tail).
- ``fashionmnist``, ``mnist``, ``cifar10``: downloaded on demand into a cache
  folder with a progress callback (:mod:`.downloads`); their official test split
  is the validation set.
- ``folder``: a folder of class subfolders; ``upload``: a zip of one
  (:mod:`.folders`).

Every source ends the same way: images converted once to the network's
channels, held in memory (resized once when they fit, see
:func:`.transforms.make_resident`), with the training split's per-channel mean
and std as the :class:`.transforms.Preprocessing` the checkpoint records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor

from ..i18n import _
from . import DatasetError
from .batches import ImageSet
from .digits import ATTRIBUTION as DIGITS_ATTRIBUTION
from .digits import DIGIT_CLASSES, load_digits
from .downloads import (
    BUILTIN_DATASET,
    DOWNLOADABLE,
    SOURCES,
    FileProgress,
    default_data_dir,
    read_downloadable,
)
from .folders import Limits, list_classes, read_labelled_images
from .transforms import (
    Preprocessing,
    channel_stats,
    convert_channels,
    fits_resident,
    make_resident,
)

DATASETS: tuple[str, ...] = (BUILTIN_DATASET, *DOWNLOADABLE, "folder", "upload")
#: How many classes each built-in or downloadable set has (known before any download).
CLASS_COUNTS = {"digits": 10, "fashionmnist": 10, "mnist": 10, "cifar10": 10}
#: The side of each built-in or downloadable set's images, in pixels.
NATIVE_SIDES = {"digits": 8, "fashionmnist": 28, "mnist": 28, "cifar10": 32}
SPLIT_SEED = 20140917  # the held-out split never depends on the training seed


@dataclass
class TrainingData:
    """A data set ready to train on: both splits at the network's channels."""

    name: str  # one of DATASETS
    class_names: tuple[str, ...]
    train: ImageSet
    val: ImageSet
    input_size: int
    in_channels: int
    mean: tuple[float, ...]  # per channel, of the training images in [0, 1] at input size
    std: tuple[float, ...]
    hflip: bool  # mirror images are the same class (CIFAR-10 yes; digits, letters no)
    description: str  # where the images came from, with attribution
    val_description: str  # how the validation split was made
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> files not used

    @property
    def augment_style(self) -> str:
        """How training augments these images (:data:`.transforms.AUGMENT_RANGES`)."""
        return "digits" if self.name == "digits" else "photo"

    @property
    def preprocessing(self) -> Preprocessing:
        """What prediction must do to an image to match these training batches (for the
        bundled digits, a photo's digit is counted into 8 x 8 blocks first, as they were)."""
        kind = "digit-blocks" if self.name == "digits" else "resize"
        return Preprocessing(self.input_size, self.in_channels, self.mean, self.std, kind)

    def to(self, device: torch.device | str) -> TrainingData:
        return replace(self, train=self.train.to(device), val=self.val.to(device))


def class_names_of(
    name: str, path: str | os.PathLike[str] | None = None, archive: bytes | None = None
) -> tuple[str, ...] | None:
    """The classes a folder or zip offers (from its listing), None for the other sets."""
    if name == "folder" and path is not None:
        return list_classes(path)
    if name == "upload" and archive is not None:
        return list_classes(archive=archive)
    return None


def class_count(
    name: str, path: str | os.PathLike[str] | None = None, archive: bytes | None = None
) -> int | None:
    """How many outputs a network needs for this data set; None when it cannot be told yet."""
    if name in CLASS_COUNTS:
        return CLASS_COUNTS[name]
    names = class_names_of(name, path, archive)
    return len(names) if names is not None else None


def split_sizes(name: str, subset: int | None, val_fraction: float = 0.2) -> tuple[int, int]:
    """(training, validation) image counts for a built-in or downloadable set, before loading.

    With a subset of N training images the validation set is capped at
    ``max(64, N // 4)``, so a small run does not spend most of its time evaluating.
    """
    full = {"digits": None, "fashionmnist": (60_000, 10_000), "mnist": (60_000, 10_000)}
    full["cifar10"] = (50_000, 10_000)
    if name not in full:
        raise DatasetError(
            _("the size of {name!r} is known only once its images are read").format(name=name)
        )
    sizes = full[name]
    if sizes is None:
        total = len(load_digits()[1])
        n_val = round(total * val_fraction)
        sizes = (total - n_val, n_val)
    n_train, n_val = sizes
    if subset is not None:
        n_train = min(n_train, subset)
        n_val = min(n_val, max(64, subset // 4))
    return n_train, n_val


def resident_bytes(
    name: str,
    subset: int | None,
    val_fraction: float,
    in_channels: int,
    side: int,
    images: int | None = None,
) -> int:
    """Bytes a run's images take in memory once :func:`load_dataset` has them; 0 if unknown.

    A split is kept as [0, 1] floats at the input side when they fit ``RESIDENT_BYTES``,
    else as its native uint8 images. A folder or zip (``images`` from its listing) is
    decoded whole into floats, up to its reader's cap; a downloaded set is read whole
    before its subset is cut.
    """
    floats = in_channels * side**2 * 4
    if name not in NATIVE_SIDES:
        return 0 if images is None else min(images * floats, Limits().max_resident_bytes)
    counts = split_sizes(name, subset, val_fraction)
    native = in_channels * NATIVE_SIDES[name] ** 2
    # As make_resident keeps them: floats where they fit, else the native uint8 images.
    held = sum(n * floats if fits_resident(n, in_channels, side) else n * native for n in counts)
    if name != "digits":
        held += sum(split_sizes(name, None)) * native
    return held


def load_dataset(
    name: str,
    *,
    input_size: int,
    in_channels: int,
    subset: int | None = None,
    val_fraction: float = 0.2,
    path: str | os.PathLike[str] | None = None,
    archive: bytes | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: FileProgress | None = None,
    limits: Limits | None = None,
    class_names: tuple[str, ...] | None = None,
) -> TrainingData:
    """Read a data set into memory at the network's channels (see the module docstring).

    ``path`` is the folder for ``folder``; ``archive`` the zip's bytes for
    ``upload``; ``class_names`` fixes their label space (see
    :func:`class_names_of`). ``subset`` caps the training images (and the
    validation images, see :func:`split_sizes`). Raises :class:`DatasetError`
    with a sentence.
    """
    limits = limits or Limits()
    skipped: dict[str, int] = {}
    if name == BUILTIN_DATASET:
        images_np, labels_np = load_digits()
        images = torch.from_numpy(images_np.copy()).unsqueeze(1)
        labels = torch.from_numpy(labels_np.copy())
        train, val = _holdout_tail(images, labels, val_fraction)
        classes: tuple[str, ...] = DIGIT_CLASSES
        description = _("{n:,} bundled 8x8 digits: {attribution}").format(
            n=len(labels), attribution=_(DIGITS_ATTRIBUTION)
        )
        val_text = _(
            "{n} digits held out: the last {share:.0%} of the file, the same on every run"
        ).format(n=len(val), share=val_fraction)
        hflip = False
    elif name in DOWNLOADABLE:
        root = Path(cache_dir) if cache_dir is not None else default_data_dir()
        train, val, classes = read_downloadable(name, root, progress)
        source_text = SOURCES[name].description
        description = _(source_text)
        val_text = _("the official test split ({n:,} images)").format(n=len(val))
        hflip = name == "cifar10"  # a mirrored car is a car; a mirrored digit or shoe is odd
    elif name in ("folder", "upload"):
        if name == "folder" and path is None:
            raise DatasetError(_("dataset 'folder' needs a folder of class subfolders"))
        if name == "upload" and archive is None:
            raise DatasetError(_("dataset 'upload' needs the zip file's bytes"))
        found = read_labelled_images(
            path if name == "folder" else None,
            archive if name == "upload" else None,
            input_size=input_size,
            in_channels=in_channels,
            limits=limits,
            class_names=class_names,
        )
        images, labels, classes, skipped = found.images, found.labels, found.classes, found.skipped
        train, val = _holdout(images, labels, val_fraction)
        if name == "folder" and path:
            description = _("{n:,} images in {classes} classes from the folder {folder}").format(
                n=len(labels), classes=len(classes), folder=Path(path).name
            )
        else:
            description = _("{n:,} images in {classes} classes from the uploaded zip").format(
                n=len(labels), classes=len(classes)
            )
        val_text = _("{n} images held out ({share:.0%}, fixed seed)").format(
            n=len(val), share=val_fraction
        )
        hflip = False  # unknown subject: a mirrored letter or arrow is another class
    else:
        raise DatasetError(
            _("unknown dataset {name!r}; choose one of {choices}").format(
                name=name, choices=", ".join(DATASETS)
            )
        )
    if subset is not None:
        # Shuffle before cutting: downloaded sets are not in random order everywhere.
        train = _shuffled(train).take(subset)
        val = _shuffled(val).take(max(64, subset // 4))
        val_text = _("{text}, {n} of them used").format(text=val_text, n=len(val))
    if len(train) == 0:
        raise DatasetError(_("no training images"))
    train = ImageSet(convert_channels(train.images, in_channels), train.labels)
    val = ImageSet(convert_channels(val.images, in_channels), val.labels)
    mean, std = channel_stats(train.images, input_size)
    return TrainingData(
        name=name,
        class_names=classes,
        train=ImageSet(make_resident(train.images, input_size), train.labels),
        val=ImageSet(make_resident(val.images, input_size), val.labels),
        input_size=input_size,
        in_channels=in_channels,
        mean=mean,
        std=std,
        hflip=hflip,
        description=description,
        val_description=val_text,
        skipped=skipped,
    )


def _shuffled(split: ImageSet) -> ImageSet:
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(SPLIT_SEED + 1))
    return ImageSet(split.images[order], split.labels[order])


def _holdout_tail(images: Tensor, labels: Tensor, fraction: float) -> tuple[ImageSet, ImageSet]:
    """The last ``fraction`` of the rows held out, in file order (see the module docstring)."""
    n = len(labels)
    n_val = min(max(round(n * fraction), 1), n - 1)
    cut = n - n_val
    return ImageSet(images[:cut], labels[:cut]), ImageSet(images[cut:], labels[cut:])


def _holdout(images: Tensor, labels: Tensor, fraction: float) -> tuple[ImageSet, ImageSet]:
    """A fixed-seed split; at least one image on each side when there are two or more."""
    n = len(labels)
    n_val = min(max(round(n * fraction), 1 if n >= 2 else 0), n - 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    val_idx, train_idx = order[:n_val], order[n_val:]
    return ImageSet(images[train_idx], labels[train_idx]), ImageSet(
        images[val_idx], labels[val_idx]
    )
