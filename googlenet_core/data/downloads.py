"""Fashion-MNIST, MNIST and CIFAR-10: downloaded once into a cache, read with torchvision.

The files are fetched by :func:`googlenet_core._io.download` (progress, checksum,
nothing left behind on failure) from the addresses and with the MD5 sums that
torchvision's own dataset classes list, then read by those classes with
``download=False``. Their official test split becomes the validation set.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import DownloadError, download
from ..i18n import N_, _
from . import DatasetError
from .batches import ImageSet

BUILTIN_DATASET = "digits"  # what works without a network connection

#: ``progress(done_bytes, total_bytes_or_None, file_name)`` while a file downloads.
FileProgress = Callable[[int, int | None, str], None]


@dataclass(frozen=True)
class Source:
    """One downloadable data set as this project describes it."""

    size: str  # what the Train page says about the download
    description: str  # where the images come from, with attribution (marked: show _(it))


SOURCES: dict[str, Source] = {
    "fashionmnist": Source(
        "30 MB",
        N_("Fashion-MNIST (Zalando Research, MIT licence): 60,000 + 10,000 28x28 grayscale images"),
    ),
    "mnist": Source("11 MB", N_("MNIST (LeCun, Cortes, Burges): 60,000 + 10,000 28x28 digits")),
    "cifar10": Source(
        "170 MB", N_("CIFAR-10 (Krizhevsky, 2009): 50,000 + 10,000 32x32 colour images")
    ),
}
DOWNLOADABLE: tuple[str, ...] = tuple(SOURCES)


def extract_tar(tar: tarfile.TarFile, root: Path) -> None:
    """Extract ``tar`` into ``root``, refusing anything that would land outside it.

    Python's "data" filter does that where it exists (3.11.4+, 3.12+); Debian 12's own
    Python 3.11.2 predates it and raised a TypeError after the whole 170 MB download.
    There only regular files and folders with relative paths inside ``root`` are
    accepted, checked here, before anything is written.
    """
    if hasattr(tarfile, "data_filter"):
        tar.extractall(root, filter="data")  # refuses absolute paths, links out, devices
        return
    base = root.resolve()
    members = tar.getmembers()
    for member in members:
        target = (base / member.name).resolve()
        if not (member.isfile() or member.isdir()):
            raise DatasetError(
                _("the archive holds {name!r}, which is not a plain file").format(name=member.name)
            )
        if os.path.isabs(member.name) or not target.is_relative_to(base):
            raise DatasetError(
                _("the archive's {name!r} would be written outside the cache").format(
                    name=member.name
                )
            )
    for member in members:
        member.mode = 0o755 if member.isdir() else 0o644  # no set-uid or odd permissions
        tar.extract(member, base, set_attrs=False)


def default_data_dir() -> Path:
    """The download cache when none is given: ``.data-cache/`` in the current folder.

    The CLI and the server give theirs (``--data-dir``, ``$GOOGLENET_DATA_DIR``: see
    :mod:`googlenet_core.service.settings`).
    """
    return Path(".data-cache")


def read_downloadable(
    name: str, root: Path, progress: FileProgress | None
) -> tuple[ImageSet, ImageSet, tuple[str, ...]]:
    """(training split, official test split, class names) of a downloadable set."""
    from torchvision import datasets  # deferred: torchvision's import is slow

    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(
            _("cannot create the data cache {folder}: {reason}").format(
                folder=root, reason=exc.strerror
            )
        ) from None
    if name == "cifar10":
        cls: Any = datasets.CIFAR10
        if not _cifar_ready(cls, root):
            archive = root / cls.filename
            fetch(cls.url, archive, cls.tgz_md5, progress, name)
            with tarfile.open(archive, "r:gz") as tar:
                extract_tar(tar, root)
            archive.unlink()
            if not _cifar_ready(cls, root):
                raise DatasetError(
                    _("the CIFAR-10 download is incomplete; delete the cache, retry")
                )
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
                fetch(f"{mirror}{filename}", packed, md5, progress, name)
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
            _("the cached {dataset} files in {folder} are unreadable: {reason}").format(
                dataset=cls.__name__, folder=raw, reason=exc
            )
        ) from None
    classes = tuple(c.split(" - ")[-1] if name == "mnist" else c for c in sets[0].classes)
    return (
        ImageSet(sets[0].data.unsqueeze(1).contiguous(), sets[0].targets.to(torch.int64)),
        ImageSet(sets[1].data.unsqueeze(1).contiguous(), sets[1].targets.to(torch.int64)),
        classes,
    )


def fetch(url: str, dest: Path, md5: str, progress: FileProgress | None, name: str) -> None:
    """Download one file of data set ``name``; a DatasetError says what to do when it fails."""

    def report(done: int, total: int | None) -> None:
        if progress:
            progress(done, total, dest.name)

    try:
        download(url, dest, digest=("md5", md5), progress=report)
    except DownloadError as exc:
        if exc.corrupt:
            raise DatasetError(
                _("the download of {file} is corrupt ({reason}); retry").format(
                    file=dest.name, reason=exc.reason
                )
            ) from None
        raise DatasetError(
            _(
                "could not download {dataset} from {host} ({reason}). Without a network "
                "connection, train on the built-in dataset '{builtin}' (bundled, no download)"
            ).format(dataset=name, host=exc.host, reason=exc.reason, builtin=BUILTIN_DATASET)
        ) from None


def _cifar_ready(cls: Any, root: Path) -> bool:
    folder = root / cls.base_folder
    return all((folder / f).is_file() for f, _md5 in cls.train_list + cls.test_list)
