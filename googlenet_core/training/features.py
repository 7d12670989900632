"""Features of frozen stages, computed once per image and kept.

With stages frozen in front (:mod:`.transfer`), an image's output at the cut after them
never changes during a run: running those stages on every step of every epoch redoes the
same work. Teachable Machine's method is exactly this split: a frozen network's features
are computed once, when an example is added, and a small head trains on them in seconds.
Here a run with frozen stages and no augmentation computes, once per image, the output at
the cut (:meth:`.GoogLeNet.forward_prefix`: pooled to one vector per image when the whole
trunk is frozen) and the pooled inputs of the aux heads attached in front, then trains and
evaluates the rest from them (:meth:`.GoogLeNet.forward_rest`; exact: tested against the
whole network).

They are kept in two places, both bounded:

- in memory for the run (:class:`FeatureTable`), when they fit :data:`MEMORY_BYTES`
  (else the frozen stages run on every step, as without a cache); the memory check counts
  them (:func:`feature_bytes`);
- on disk (:class:`FeatureStore`, under the data cache), keyed by each image's content
  and by the network, the frozen weights, the preprocessing and the device they were
  computed with, so a second run on the same images (or the same images and a few more)
  starts without recomputing them. The least recently used files go first past
  :data:`DISK_BYTES`.

Augmentation changes every image on every step, so nothing computed once would fit it: a
run that asks for both runs the frozen stages every step (without gradients) and says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..data.batches import ImageSet, model_batch
from ..data.transforms import Preprocessing
from ..i18n import _
from ..network.config import AuxSpec, GoogLeNetConfig
from ..network.costs import EXTRACT_BATCH, size_words
from ..network.model import GoogLeNet, build_model
from .config import TrainConfig

log = logging.getLogger(__name__)

#: A run's features held in memory at most; above, the frozen stages run on every step.
MEMORY_BYTES = 512 * 2**20
#: The feature files kept on disk, all runs together; the least recently used go first.
DISK_BYTES = 1024 * 2**20
#: The store's folder under the data cache.
FOLDER = "features"
#: What a feature file holds; a file with another version is ignored.
VERSION = 1
#: A file being written ends so; one left by a killed writer goes after an hour.
TEMPORARY = ".tmp"
STALE_TEMPORARY_S = 3600.0


@dataclass
class FeatureTable:
    """Every image's features at the cut, rows in the order of its split's images."""

    tensors: dict[str, Tensor]  # "x", and per aux head attached in front its pooled input

    def __len__(self) -> int:
        return int(self.tensors["x"].shape[0])

    def batch(self, index: Tensor) -> dict[str, Tensor]:
        index = index.to(self.tensors["x"].device)
        return {name: tensor[index] for name, tensor in self.tensors.items()}

    def to(self, device: torch.device | str) -> FeatureTable:
        return FeatureTable({name: t.to(device) for name, t in self.tensors.items()})

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())


@dataclass(frozen=True)
class Extraction:
    """How a split's features were obtained: for the run's notes and the benchmarks."""

    images: int
    from_store: int  # read from disk, not recomputed
    seconds: float  # computing and reading together


@lru_cache(maxsize=64)
def _prefix_shapes(config: GoogLeNetConfig, stop: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
    with torch.device("meta"):
        model = build_model(config)
        side = config.input_size
        out = model.forward_prefix(torch.empty(1, config.in_channels, side, side), stop)
    return tuple((name, tuple(t.shape[1:])) for name, t in out.items())


@lru_cache(maxsize=64)
def cut_stop(config: GoogLeNetConfig, frozen: tuple[str, ...]) -> int:
    """:meth:`.GoogLeNet.prefix_stop` of ``config``'s network, without building its weights."""
    with torch.device("meta"):
        return build_model(config).prefix_stop(frozen)


def image_bytes(config: GoogLeNetConfig, stop: int) -> int:
    """Bytes one image's features at the cut take (float32)."""
    if stop == 0:
        return 0
    return sum(4 * _numel(shape) for _, shape in _prefix_shapes(config, stop))


def feature_bytes(config: GoogLeNetConfig, frozen: tuple[str, ...], images: int) -> int:
    """Bytes a run's features take in memory (0 where they would not be kept)."""
    total = image_bytes(config, cut_stop(config, frozen)) * images
    return total if total <= MEMORY_BYTES else 0


def planned_feature_bytes(
    config: GoogLeNetConfig, train_config: TrainConfig, images: int | None
) -> int:
    """Bytes a planned run's features will take in memory (what the memory check adds)."""
    frozen = train_config.frozen_stages(config)
    if not frozen or train_config.augment or not images:
        return 0
    return feature_bytes(config, frozen, images)


def prefix_key(
    model: GoogLeNet, stop: int, preprocessing: Preprocessing, device: torch.device, precision: str
) -> str:
    """What features depend on besides the image: the network in front of the cut (its
    stages, the pools of the aux heads attached there, and its weights), the
    preprocessing, and where and at what precision they were computed. Nothing behind the
    cut: a run with one more class reads the features of the images it shares."""
    config = model.config
    front = set(model.trunk_names[:stop])
    specs = []
    for stage in config.stages():
        spec = stage.spec
        if stage.name in front:
            specs.append(repr(spec))
        elif isinstance(spec, AuxSpec) and spec.after in front and config.aux_logits:
            specs.append(repr((spec.name, spec.after, spec.pool, spec.pool_size, spec.pool_stride)))
    head = {
        "version": VERSION,
        "front": specs,
        "input": [config.in_channels, config.input_size, config.batch_norm, config.bn_eps],
        "transform_input": config.transform_input,
        "stop": stop,
        "whole_trunk": stop == len(model.trunk_names),  # then pooled to one vector
        "preprocessing": preprocessing.to_dict(),
        "device": device.type,
        "precision": precision,
    }
    digest = hashlib.sha256(json.dumps(head, sort_keys=True).encode())
    for name in model.trunk_names[:stop]:
        for key, tensor in getattr(model, name).state_dict().items():
            digest.update(f"{name}.{key}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def image_keys(images: Tensor, chunk: int = 256) -> list[str]:
    """One digest per image of its pixels (and their dtype and shape); a chunk at a time
    on the host, so a split on a GPU is never copied whole."""
    head = f"{images.dtype}{tuple(images.shape[1:])}".encode()
    keys = []
    for part in torch.split(images.detach(), chunk):
        for row in part.cpu().contiguous():
            keys.append(hashlib.sha256(head + row.numpy().tobytes()).hexdigest()[:32])
    return keys


class FeatureStore:
    """Feature files on disk: one folder per :func:`prefix_key`, files of image rows."""

    def __init__(self, root: str | os.PathLike[str], limit: int = DISK_BYTES) -> None:
        self.root = Path(root)
        self.limit = limit

    def read(self, key: str, wanted: set[str]) -> dict[str, dict[str, Tensor]]:
        """The stored rows of the images in ``wanted``: image key -> {name: row}."""
        found: dict[str, dict[str, Tensor]] = {}
        folder = self.root / key
        if not folder.is_dir():
            return found
        for path in sorted(folder.glob("*.pt")):
            try:
                shard = torch.load(path, map_location="cpu", weights_only=True)
            except OSError:
                continue  # removed by another process meanwhile: a miss
            except (RuntimeError, ValueError, EOFError, pickle.UnpicklingError):
                # A damaged file (a torn write, another version of torch's format): a miss,
                # never a failed run; removed so the next run stores it again.
                log.warning("ignoring an unreadable feature file %s", path)
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            if not _valid(shard):
                continue
            keys, tensors = shard["keys"], shard["tensors"]
            used = False
            for row, image in enumerate(keys):
                if image in wanted and image not in found:
                    # A copy: a view would keep the whole file's tensors alive.
                    found[image] = {name: t[row].clone() for name, t in tensors.items()}
                    used = True
            if used:
                with contextlib.suppress(OSError):
                    os.utime(path)  # recently used: kept longest
        return found

    def write(self, key: str, keys: list[str], tensors: dict[str, Tensor]) -> None:
        """Store rows (atomically: a reader never sees half a file), then keep the limit."""
        folder = self.root / key
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:24]
        path = folder / f"{name}.pt"
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=TEMPORARY, dir=folder)
        os.close(handle)
        try:
            torch.save({"version": VERSION, "keys": keys, "tensors": tensors}, temporary)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        self.prune()

    def prune(self) -> int:
        """Remove the least recently used files past the limit, a killed writer's leftovers
        and emptied folders; the bytes removed."""
        now = time.time()
        for leftover in self.root.glob(f"*/.*{TEMPORARY}"):
            with contextlib.suppress(OSError):
                if now - leftover.stat().st_mtime > STALE_TEMPORARY_S:
                    leftover.unlink()
        files = []
        for path in self.root.glob("*/*.pt"):
            with contextlib.suppress(OSError):
                stat = path.stat()
                files.append((stat.st_mtime, stat.st_size, path))
        total = sum(entry[1] for entry in files)
        removed = 0
        for _mtime, size, path in sorted(files):
            if total - removed <= self.limit:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                removed += size
        for folder in self.root.glob("*"):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        return removed

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.root.glob("*/*.pt"))


@torch.no_grad()
def extract(
    model: GoogLeNet,
    split: ImageSet,
    preprocessing: Preprocessing,
    stop: int,
    *,
    device: torch.device,
    channels_last: bool = False,
    autocast: torch.dtype | None = None,
    store: FeatureStore | None = None,
    key: str | None = None,
    batch_size: int = EXTRACT_BATCH,
    between: Callable[[int, int], None] | None = None,
) -> tuple[FeatureTable, Extraction]:
    """Every image's features at the cut after ``stop`` trunk modules, read from ``store``
    where it has them (under ``key``) and computed (then stored) where it does not.

    ``between(done, total)`` is called before each batch: a stop request raises there.
    The table is allocated once and filled in place (memory: the table, one batch, and
    the stored rows read)."""
    started = time.perf_counter()
    keys = image_keys(split.images) if store is not None and key else []
    stored = store.read(key, set(keys)) if store is not None and key else {}
    missing = [i for i in range(len(split)) if not keys or keys[i] not in stored]
    shapes = _prefix_shapes(model.config, stop)
    table = {name: torch.empty((len(split), *shape)) for name, shape in shapes}
    for i in range(len(split)):
        if keys and keys[i] in stored:
            for name, _shape in shapes:
                table[name][i] = stored[keys[i]][name]
    stored.clear()
    was_training = model.training
    model.eval()  # the stages in front are frozen: their statistics and dropout as trained
    try:
        chunks = _chunks(torch.tensor(missing, dtype=torch.int64), batch_size)
        for done, chunk in zip(range(0, len(missing), batch_size), chunks, strict=False):
            if between is not None:
                between(done, len(missing))
            x, _ = model_batch(split, chunk, preprocessing, channels_last=channels_last)
            context = (
                torch.autocast(device_type=device.type, dtype=autocast)
                if autocast is not None
                else contextlib.nullcontext()
            )
            with context:
                out = model.forward_prefix(x.to(device), stop)
            for name, tensor in out.items():
                table[name][chunk] = tensor.float().cpu()
    finally:
        model.train(was_training)
    if store is not None and key and missing:
        index = torch.tensor(missing, dtype=torch.int64)
        try:
            store.write(key, [keys[i] for i in missing], {n: t[index] for n, t in table.items()})
        except OSError:  # a full or read-only disk: the run goes on, the next recomputes
            log.warning("could not store features under %s", store.root, exc_info=True)
    features = FeatureTable(table).to(device)
    seconds = time.perf_counter() - started
    return features, Extraction(len(split), len(split) - len(missing), seconds)


def extract_splits(
    model: GoogLeNet,
    splits: Sequence[ImageSet],
    preprocessing: Preprocessing,
    stop: int,
    *,
    between: Callable[[int, int], None] | None = None,
    **options: Any,
) -> tuple[list[FeatureTable], list[Extraction]]:
    """:func:`extract` for each split (training, validation); ``between(done, total)``
    counts the images of all of them."""
    total = sum(len(split) for split in splits)
    tables, done, offset = [], [], 0
    for split in splits:

        def each(here: int, _missing: int, offset: int = offset) -> None:
            if between is not None:
                between(offset + here, total)

        table, extraction = extract(model, split, preprocessing, stop, between=each, **options)
        tables.append(table)
        done.append(extraction)
        offset += len(split)
    return tables, done


def not_kept(config: GoogLeNetConfig, stop: int, augment: bool, images: int) -> str | None:
    """Why a run's frozen stages must run on every step instead (None: their features
    are computed once)."""
    if augment:
        return _(
            "Augmentation changes every image on every step, so the frozen stages run on "
            "every step (without gradients) instead of once per image; turn augmentation "
            "off to compute their features once"
        )
    needed = image_bytes(config, stop) * images
    if needed > MEMORY_BYTES:
        return _(
            "The frozen stages' features of {images:,} images would take {size}, over "
            "the {limit} kept in memory, so the frozen stages run on every step"
        ).format(images=images, size=size_words(needed), limit=size_words(MEMORY_BYTES))
    return None


def extracted(done: Sequence[Extraction], stage: str) -> str:
    """What computing the features took, for the run's notes."""
    return _(
        "Features of the frozen stages computed once for {images:,} images ({stored:,} "
        "read from the cache) in {seconds:.1f} s; every epoch trains and evaluates only "
        "what comes after {stage}"
    ).format(
        images=sum(e.images for e in done),
        stored=sum(e.from_store for e in done),
        seconds=sum(e.seconds for e in done),
        stage=stage,
    )


def _chunks(index: Tensor, size: int) -> Iterator[Tensor]:
    if len(index):  # torch.split of nothing gives one empty piece
        yield from torch.split(index, size)


def _valid(shard: object) -> bool:
    """A feature file of this version: keys, and tensors with one row per key."""
    if not isinstance(shard, dict) or shard.get("version") != VERSION:
        return False
    keys, tensors = shard.get("keys"), shard.get("tensors")
    return (
        isinstance(keys, list)
        and isinstance(tensors, dict)
        and all(isinstance(t, Tensor) and t.shape[0] == len(keys) for t in tensors.values())
    )


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
