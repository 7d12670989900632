"""Training data: decoded once, held in memory as tensors, batched and augmented on the device.

The seeds feed the network through a ``DataLoader`` whose worker decodes a PIL
image, resizes it and converts it to a tensor for every sample of every epoch
(seed 004: ``transforms.Resize(224)``, ``transforms.ToTensor()``). Here a data set
is decoded once into one uint8 tensor (channels converted once), moved to the
training device, and every batch is cut, resized and augmented there as a
whole: the input pipeline costs a few tensor ops per batch.

Sources:

- ``digits``: the bundled UCI handwritten digits (offline; :mod:`.digits`), with a
  held-out validation split drawn by a fixed seed, so runs with different
  training seeds are compared on the same images.
- ``fashionmnist``, ``mnist``, ``cifar10``: downloaded on demand into a cache
  folder with a progress callback, then read with torchvision's own readers;
  their official test split is the validation set.
- ``folder``: a folder of class subfolders; ``upload``: a zip of one. Both are
  decoded through :func:`googlenet_core.images.sanitise_image` under size and
  count caps; zip entries are read in memory (nothing is extracted, so no entry
  name ever becomes a path) and any entry that points outside the archive
  refuses the whole file.

Preprocessing is :func:`to_model_input`: uint8 -> [0, 1] -> bilinear resize with
antialiasing -> per-channel mean/std, the same arithmetic as prediction, so a
digit saved as a PNG predicts like its training sample.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import math
import os
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .digits import ATTRIBUTION as DIGITS_ATTRIBUTION
from .digits import DIGIT_CLASSES, load_digits

DATA_DIR_ENV = "GOOGLENET_DATA_DIR"
BUILTIN_DATASET = "digits"
DOWNLOADABLE = ("fashionmnist", "mnist", "cifar10")
DATASETS: tuple[str, ...] = (BUILTIN_DATASET, *DOWNLOADABLE, "folder", "upload")
SPLIT_SEED = 20140917  # the held-out split never depends on the training seed
RESIDENT_BYTES = 256 * 2**20  # resize once when the resized floats fit in this; else per batch

#: ``progress(done_bytes, total_bytes_or_None, what)`` while a file downloads.
ProgressFn = Callable[[int, int | None, str], None]


class DatasetError(ValueError):
    """A data set that cannot be used; the message says why and what to do instead."""


@dataclass(frozen=True)
class Limits:
    """Caps for user-supplied images (a folder or an uploaded zip)."""

    max_images: int = 20_000  # decoded images, all classes together
    max_classes: int = 1_000
    max_file_bytes: int = 20 * 2**20  # one image file
    max_total_bytes: int = 500 * 2**20  # all files together, uncompressed
    max_zip_bytes: int = 200 * 2**20  # the uploaded archive itself
    max_entries: int = 50_000  # zip entries, directories included
    max_pixels: int = 40_000_000  # one image, from its header, before decoding
    max_resident_bytes: int = 1024 * 2**20  # the decoded images at the network's input size


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

    def to(self, device: torch.device | str) -> TrainingData:
        return replace(self, train=self.train.to(device), val=self.val.to(device))


# ---- preprocessing -----------------------------------------------------------------------


def to_unit(images: Tensor, input_size: int) -> Tensor:
    """uint8 (0..255) or float (0..1) N x C x H x W -> float N x C x S x S in [0, 1].

    Bilinear with antialiasing: downscaling averages pixels, upscaling an 8x8
    digit interpolates them (the same call as prediction's preprocessing).
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


def to_model_input(
    images: Tensor, input_size: int, mean: Sequence[float], std: Sequence[float]
) -> Tensor:
    """What the network sees: resized to S x S, scaled to [0, 1], normalised per channel."""
    return normalize(to_unit(images, input_size), mean, std)


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
            f"images have {have} channel(s) and the network takes {in_channels}; "
            "only grayscale (1) and RGB (3) networks can train on images"
        )
    if in_channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    rgb = images.to(torch.int32)
    luma = (rgb[:, 0] * 19595 + rgb[:, 1] * 38470 + rgb[:, 2] * 7471 + 0x8000) >> 16
    return luma.to(torch.uint8).unsqueeze(1)


def make_resident(images: Tensor, input_size: int, budget: int = RESIDENT_BYTES) -> Tensor:
    """Resize once to [0, 1] floats at the input size when they fit ``budget`` bytes.

    Otherwise keep the native uint8 images (far smaller) and let each batch be
    resized on the device: CIFAR-10 at 224 px would be 30 GB of floats.
    """
    n, c = images.shape[:2]
    if images.dtype != torch.uint8 or n * c * input_size * input_size * 4 > budget:
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


# ---- batching and augmentation -------------------------------------------------------------


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


def augment(x: Tensor, generator: torch.Generator, *, hflip: bool, strength: float = 1.0) -> Tensor:
    """Random shifts (up to 1/8 of the side), small rotations and scalings, optional mirror.

    One ``affine_grid`` + ``grid_sample`` for the whole batch, drawn from
    ``generator`` (on the CPU, so a seed gives the same run on any device).
    ``x`` is in [0, 1]; pixels shifted in are 0 (black), like padded random crops.
    """
    n = x.shape[0]
    r = torch.rand(n, 4, generator=generator) * 2 - 1  # uniform in [-1, 1)
    angle = r[:, 0] * math.radians(10) * strength
    scale = 1 + r[:, 1] * 0.1 * strength
    shift = r[:, 2:] * 0.25 * strength  # grid units: 2 = the whole side, so 0.25 = 1/8
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    flip = torch.ones(n)
    if hflip:
        flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin * flip, shift[:, 0]], dim=1),
            torch.stack([sin * flip, cos, shift[:, 1]], dim=1),
        ],
        dim=1,
    ).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def model_batch(
    data: TrainingData,
    split: ImageSet,
    index: Tensor,
    *,
    generator: torch.Generator | None = None,
    channels_last: bool = False,
) -> tuple[Tensor, Tensor]:
    """One batch ready for the network: cut, resized, augmented (with a generator), normalised."""
    index = index.to(split.images.device)
    x = to_unit(split.images[index], data.input_size)
    if generator is not None:
        x = augment(x, generator, hflip=data.hflip)
    x = normalize(x, data.mean, data.std)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, split.labels[index]


def iterate_batches(
    data: TrainingData, split: ImageSet, batch_size: int, *, channels_last: bool = False
) -> Iterator[tuple[Tensor, Tensor]]:
    """Unshuffled, unaugmented batches (evaluation)."""
    for index in batch_indices(len(split), batch_size, None, avoid_singleton=False):
        yield model_batch(data, split, index, channels_last=channels_last)


# ---- loading -------------------------------------------------------------------------------


def default_data_dir() -> Path:
    """The download cache: ``$GOOGLENET_DATA_DIR`` or ``.data-cache/`` in the current folder."""
    return Path(os.environ.get(DATA_DIR_ENV) or ".data-cache")


def split_sizes(name: str, subset: int | None, val_fraction: float = 0.2) -> tuple[int, int]:
    """(training, validation) image counts for a built-in or downloadable set, before loading.

    With a subset of N training images the validation set is capped at
    ``max(64, N // 4)``, so a small run does not spend most of its time evaluating.
    """
    full = {"digits": None, "fashionmnist": (60_000, 10_000), "mnist": (60_000, 10_000)}
    full["cifar10"] = (50_000, 10_000)
    if name not in full:
        raise DatasetError(f"the size of {name!r} is known only once its images are read")
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
    progress: ProgressFn | None = None,
    limits: Limits | None = None,
) -> TrainingData:
    """Read a data set into memory at the network's channels (see the module docstring).

    ``path`` is the folder for ``folder``; ``archive`` the zip's bytes for
    ``upload``. ``subset`` caps the training images (and the validation images,
    see :func:`split_sizes`). Raises :class:`DatasetError` with a sentence.
    """
    limits = limits or Limits()
    skipped: dict[str, int] = {}
    if name == BUILTIN_DATASET:
        images_np, labels_np = load_digits()
        images = torch.from_numpy(images_np.copy()).unsqueeze(1)
        labels = torch.from_numpy(labels_np.copy())
        train, val = _holdout(images, labels, val_fraction)
        classes: tuple[str, ...] = DIGIT_CLASSES
        description = f"{len(labels):,} bundled 8x8 digits: {DIGITS_ATTRIBUTION}"
        val_text = f"{len(val)} digits held out ({val_fraction:.0%}, fixed seed)"
        hflip = False
    elif name in DOWNLOADABLE:
        root = Path(cache_dir) if cache_dir is not None else default_data_dir()
        train, val, classes = _read_downloadable(name, root, progress)
        description = _SOURCES[name].description
        val_text = f"the official test split ({len(val):,} images)"
        hflip = name == "cifar10"  # a mirrored car is a car; a mirrored digit or shoe is odd
    elif name in ("folder", "upload"):
        if name == "folder" and path is None:
            raise DatasetError("dataset 'folder' needs a folder of class subfolders")
        if name == "upload" and archive is None:
            raise DatasetError("dataset 'upload' needs the zip file's bytes")
        found = read_labelled_images(
            path if name == "folder" else None,
            archive if name == "upload" else None,
            input_size=input_size,
            in_channels=in_channels,
            limits=limits,
        )
        images, labels, classes, skipped = found.images, found.labels, found.classes, found.skipped
        where = f"folder {Path(path).name}" if name == "folder" and path else "uploaded zip"
        train, val = _holdout(images, labels, val_fraction)
        description = f"{len(labels):,} images in {len(classes)} classes from the {where}"
        val_text = f"{len(val)} images held out ({val_fraction:.0%}, fixed seed)"
        hflip = False  # unknown subject: a mirrored letter or arrow is another class
    else:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if subset is not None:
        # Shuffle before cutting: downloaded sets are not in random order everywhere.
        train = _shuffled(train).take(subset)
        val = _shuffled(val).take(max(64, subset // 4))
        val_text += f", {len(val)} of them used"
    if len(train) == 0:
        raise DatasetError("no training images")
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


def _holdout(images: Tensor, labels: Tensor, fraction: float) -> tuple[ImageSet, ImageSet]:
    """A fixed-seed split; at least one image on each side when there are two or more."""
    n = len(labels)
    n_val = min(max(round(n * fraction), 1 if n >= 2 else 0), n - 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    val_idx, train_idx = order[:n_val], order[n_val:]
    return ImageSet(images[train_idx], labels[train_idx]), ImageSet(
        images[val_idx], labels[val_idx]
    )


# ---- downloads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    folder: str  # torchvision's folder name under the cache root
    description: str


_SOURCES = {
    "fashionmnist": _Source(
        "FashionMNIST",
        "Fashion-MNIST (Zalando Research, MIT licence): 60,000 + 10,000 28x28 grayscale images",
    ),
    "mnist": _Source("MNIST", "MNIST (LeCun, Cortes, Burges): 60,000 + 10,000 28x28 digits"),
    "cifar10": _Source(
        "cifar-10-batches-py", "CIFAR-10 (Krizhevsky, 2009): 50,000 + 10,000 32x32 colour images"
    ),
}


def _read_downloadable(
    name: str, root: Path, progress: ProgressFn | None
) -> tuple[ImageSet, ImageSet, tuple[str, ...]]:
    from torchvision import datasets  # deferred: torchvision's import is slow

    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create the data cache {root}: {exc.strerror}") from None
    if name == "cifar10":
        cls: Any = datasets.CIFAR10
        if not _cifar_ready(cls, root):
            archive = root / cls.filename
            download_file(cls.url, archive, cls.tgz_md5, progress, name)
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(root, filter="data")  # refuses absolute paths and links out
            archive.unlink()
            if not _cifar_ready(cls, root):
                raise DatasetError("the CIFAR-10 download is incomplete; delete the cache, retry")
        sets = [cls(str(root), train=flag, download=False) for flag in (True, False)]
        converted = [
            ImageSet(
                torch.from_numpy(np.ascontiguousarray(s.data)).permute(0, 3, 1, 2).contiguous(),
                torch.tensor(s.targets, dtype=torch.int64),
            )
            for s in sets
        ]
        return converted[0], converted[1], tuple(sets[0].classes)
    cls = datasets.FashionMNIST if name == "fashionmnist" else datasets.MNIST
    raw = root / cls.__name__ / "raw"
    for filename, md5 in cls.resources:
        unpacked = raw / filename.removesuffix(".gz")
        if unpacked.is_file():
            continue
        packed = raw / filename
        errors = []
        for mirror in cls.mirrors:
            try:
                download_file(f"{mirror}{filename}", packed, md5, progress, name)
                break
            except DatasetError as exc:
                errors.append(exc)
        else:
            raise errors[-1]
        with gzip.open(packed, "rb") as src, open(unpacked.with_suffix(".part"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(unpacked.with_suffix(".part"), unpacked)
        packed.unlink()
    try:
        sets = [cls(str(root), train=flag, download=False) for flag in (True, False)]
    except (RuntimeError, ValueError, OSError) as exc:
        raise DatasetError(
            f"the cached {cls.__name__} files in {raw} are unreadable: {exc}"
        ) from None
    classes = tuple(c.split(" - ")[-1] if name == "mnist" else c for c in sets[0].classes)
    return (
        ImageSet(sets[0].data.unsqueeze(1).contiguous(), sets[0].targets.to(torch.int64)),
        ImageSet(sets[1].data.unsqueeze(1).contiguous(), sets[1].targets.to(torch.int64)),
        classes,
    )


def _cifar_ready(cls: Any, root: Path) -> bool:
    folder = root / cls.base_folder
    return all((folder / f).is_file() for f, _ in cls.train_list + cls.test_list)


def download_file(url: str, dest: Path, md5: str, progress: ProgressFn | None, name: str) -> None:
    """Stream ``url`` to ``dest`` (via a .part file), reporting progress, checking the MD5."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(part, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            if progress:
                progress(0, total, dest.name)
            while chunk := response.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total, dest.name)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        reason = getattr(exc, "reason", None) or exc
        raise DatasetError(
            f"could not download {name} from {url.split('/')[2]} ({reason}). Without a network "
            f"connection, train on the built-in dataset '{BUILTIN_DATASET}' (bundled, no download)"
        ) from None
    if digest.hexdigest() != md5:
        part.unlink()
        raise DatasetError(f"the download of {dest.name} is corrupt (checksum mismatch); retry")
    os.replace(part, dest)


# ---- your own images -----------------------------------------------------------------------

# (class name, the file's name for messages, its bytes)
_Item = tuple[str, str, bytes]


def _folder_items(root: Path, limits: Limits) -> tuple[list[_Item], dict[str, int]]:
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    skipped: dict[str, int] = {}
    items: list[_Item] = []
    class_dirs = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    total = 0
    for entry in class_dirs:
        if entry.is_symlink() or not entry.is_dir():
            _count(skipped, "outside a class folder" if entry.is_file() else "not a plain folder")
            continue
        # Walk without following symlinks: a link could point anywhere on the disk.
        for dirpath, dirnames, filenames in os.walk(entry, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                if filename.startswith("."):
                    continue
                file = Path(dirpath) / filename
                info = file.lstat()
                if not stat.S_ISREG(info.st_mode):
                    _count(skipped, "a link or special file")
                    continue
                if info.st_size > limits.max_file_bytes:
                    _count(skipped, "file too large")
                    continue
                total += info.st_size
                if total > limits.max_total_bytes:
                    raise DatasetError(
                        f"the images add up to more than {limits.max_total_bytes // 2**20} MB"
                    )
                _check_count(len(items) + 1, limits)
                items.append((entry.name, str(file.relative_to(root)), file.read_bytes()))
    return items, skipped


def _zip_items(archive: bytes, limits: Limits) -> tuple[list[_Item], dict[str, int]]:
    if len(archive) > limits.max_zip_bytes:
        raise DatasetError(
            f"the zip is {len(archive) / 2**20:.1f} MB; the limit is "
            f"{limits.max_zip_bytes // 2**20} MB"
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(archive))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DatasetError(f"not a readable zip file: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise DatasetError(
                f"the zip has {len(infos):,} entries; the limit is {limits.max_entries:,}"
            )
        files = []
        for info in infos:
            parts = _safe_parts(info.filename)
            if info.is_dir() or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DatasetError(f"zip entry {info.filename!r} is a symbolic link; refused")
            files.append((parts, info))
        # A zip of the folder itself ("pets/cat/1.png") or of its contents ("cat/1.png").
        tops = {parts[0] for parts, _ in files}
        strip = 1 if len(tops) == 1 and all(len(parts) >= 3 for parts, _ in files) else 0
        declared = sum(info.file_size for _, info in files)
        if declared > limits.max_total_bytes:
            raise DatasetError(
                f"the zip unpacks to {declared / 2**20:.0f} MB; the limit is "
                f"{limits.max_total_bytes // 2**20} MB"
            )
        skipped: dict[str, int] = {}
        items: list[_Item] = []
        for parts, info in sorted(files, key=lambda f: f[0]):
            parts = parts[strip:]
            if len(parts) < 2:
                _count(skipped, "outside a class folder")
                continue
            if info.file_size > limits.max_file_bytes:
                _count(skipped, "file too large")
                continue
            _check_count(len(items) + 1, limits)
            with zf.open(info) as fh:
                # Read at most the cap: a forged size in the header cannot inflate past it.
                data = fh.read(limits.max_file_bytes + 1)
            if len(data) > limits.max_file_bytes:
                _count(skipped, "file too large")
                continue
            items.append((parts[0], "/".join(parts), data))
    return items, skipped


def _safe_parts(name: str) -> tuple[str, ...]:
    """The entry's path components, refusing any that could leave the archive."""
    path = name.replace("\\", "/")
    parts = tuple(p for p in PurePosixPath(path).parts if p not in ("", "."))
    if path.startswith("/") or (len(path) > 1 and path[1] == ":") or ".." in parts or not parts:
        raise DatasetError(
            f"zip entry {name!r} points outside the archive (absolute path or '..'); "
            "the zip was refused"
        )
    return parts


def _check_count(count: int, limits: Limits) -> None:
    if count > limits.max_images:
        raise DatasetError(
            f"more than {limits.max_images:,} files; the limit is {limits.max_images:,}"
        )


def _count(skipped: dict[str, int], reason: str) -> None:
    skipped[reason] = skipped.get(reason, 0) + 1


@dataclass
class LabelledImages:
    """A folder's (or zip's) images at the network's input size, [0, 1] floats."""

    images: Tensor  # float N x C x S x S
    labels: Tensor  # int64 N, indices into classes
    classes: tuple[str, ...]  # the class subfolders' names, sorted
    skipped: dict[str, int]  # reason -> files not used


def read_labelled_images(
    path: str | os.PathLike[str] | None = None,
    archive: bytes | None = None,
    *,
    input_size: int,
    in_channels: int,
    limits: Limits | None = None,
) -> LabelledImages:
    """Decode a folder of class subfolders, or a zip of one, under ``limits``.

    Non-images and oversized files are skipped and counted by reason; a zip
    entry that would leave the archive refuses the whole zip.
    """
    limits = limits or Limits()
    if (path is None) == (archive is None):
        raise DatasetError("give either a folder or a zip archive")
    if path is not None:
        items, skipped = _folder_items(Path(path), limits)
    else:
        assert archive is not None
        items, skipped = _zip_items(archive, limits)
    images, labels, classes = _decode_items(items, skipped, input_size, in_channels, limits)
    return LabelledImages(images, labels, classes, skipped)


def _decode_items(
    items: list[_Item],
    skipped: dict[str, int],
    input_size: int,
    in_channels: int,
    limits: Limits,
) -> tuple[Tensor, Tensor, tuple[str, ...]]:
    from PIL import Image

    from .images import sanitise_image

    per_image = in_channels * input_size * input_size * 4
    if len(items) * per_image > limits.max_resident_bytes:
        fits = limits.max_resident_bytes // per_image
        raise DatasetError(
            f"{len(items):,} images at {input_size} px need "
            f"{len(items) * per_image / 2**20:.0f} MB in memory; the limit is "
            f"{limits.max_resident_bytes // 2**20} MB (about {fits:,} images at this size)"
        )
    mode = "L" if in_channels == 1 else "RGB"
    decoded: list[Tensor] = []
    names: list[str] = []
    for class_name, display, data in items:
        clean = sanitise_image(
            data, display, max_pixels=limits.max_pixels, max_bytes=limits.max_file_bytes
        )
        if clean.image is None:
            _count(
                skipped,
                "not an image" if "not an image" in (clean.error or "") else "unreadable image",
            )
            continue
        image: Image.Image = clean.image.convert(mode)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
        pixels = pixels.unsqueeze(-1) if pixels.ndim == 2 else pixels
        decoded.append(to_unit(pixels.permute(2, 0, 1).unsqueeze(0), input_size)[0])
        names.append(class_name)
    classes = tuple(sorted(set(names)))
    if len(classes) < 2:
        found = f"only {classes[0]!r}" if classes else "none"
        raise DatasetError(
            f"need at least two class subfolders with images in them; found {found}"
            + (f" (skipped: {describe_skipped(skipped)})" if skipped else "")
        )
    if len(classes) > limits.max_classes:
        raise DatasetError(f"{len(classes)} classes; the limit is {limits.max_classes}")
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[c] for c in names], dtype=torch.int64)
    return torch.stack(decoded), labels, classes


def describe_skipped(skipped: dict[str, int]) -> str:
    """For example ``1 file too large, 3 not an image``; empty when every file was used."""
    return ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
