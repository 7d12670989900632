"""Your own images: a folder of class subfolders, or a zip of one, read under limits.

``pets/cat/1.jpg, pets/dog/2.png, ...`` (or a zip of ``pets/`` or of its
contents): each subfolder is a class. Every file goes through
:func:`googlenet_core.data.images.sanitise_image`; non-images and oversized
files are skipped and counted by reason. Zip entries are read in memory, one at
a time while decoding (nothing is extracted, so no entry name ever becomes a
path), and any entry that points outside the archive refuses the whole file.
Folders are walked without following symbolic links.

:func:`list_classes` names the classes from the listing alone (no decoding),
so a training run can settle its network's outputs before the run is written.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from .._checks import shown
from ..i18n import N_, _, pgettext
from . import DatasetError
from .images import NOT_AN_IMAGE, sanitise_image
from .transforms import pil_to_tensor, to_unit


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
class LabelledImages:
    """A folder's (or zip's) images at the network's input size, [0, 1] floats."""

    images: Tensor  # float N x C x S x S
    labels: Tensor  # int64 N, indices into classes
    classes: tuple[str, ...]  # the class subfolders' names, sorted
    skipped: dict[str, int]  # reason -> files not used


#: Why files were skipped: the reasons ``skipped`` counts (stable English keys, also in a
#: run's events) and how :func:`describe_skipped` says each with its count.
SKIP_REASONS: dict[str, str] = {
    "not an image": N_("{n} not an image"),
    "unreadable image": N_("{n} unreadable image"),
    "unreadable zip entry": N_("{n} unreadable zip entry"),
    "unreadable file": N_("{n} unreadable file"),
    "file too large": N_("{n} file too large"),
    "outside a class folder": N_("{n} outside a class folder"),
    "not a plain folder": N_("{n} not a plain folder"),
    "a link or special file": N_("{n} a link or special file"),
}

# One file to read: (class name, the file's name for messages, how to reach it).
_Entry = tuple[str, str, Any]
# Reads an entry's bytes; raises _Skip with the reason when the file cannot be used.
_Reader = Callable[[Any], bytes]


class _Skip(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def list_classes(
    path: str | os.PathLike[str] | None = None,
    archive: bytes | None = None,
    *,
    limits: Limits | None = None,
) -> tuple[str, ...]:
    """The class subfolders that hold at least one file, sorted; nothing is decoded."""
    with _opened(path, archive, limits or Limits()) as (entries, _skipped, _read):
        classes = tuple(sorted({entry[0] for entry in entries}))
    if len(classes) > (limits or Limits()).max_classes:
        raise DatasetError(
            _("{n} classes; the limit is {limit}").format(
                n=len(classes), limit=(limits or Limits()).max_classes
            )
        )
    return classes


def count_images(
    path: str | os.PathLike[str] | None = None,
    archive: bytes | None = None,
    *,
    limits: Limits | None = None,
) -> int:
    """How many files a folder or zip offers as images (from its listing; none decoded)."""
    with _opened(path, archive, limits or Limits()) as (entries, _skipped, _read):
        return len(entries)


def read_labelled_images(
    path: str | os.PathLike[str] | None = None,
    archive: bytes | None = None,
    *,
    input_size: int,
    in_channels: int,
    limits: Limits | None = None,
    class_names: Sequence[str] | None = None,
    prepare: Callable[[Image.Image], Image.Image] | None = None,
    decode_side: int | None = None,
) -> LabelledImages:
    """Decode a folder of class subfolders, or a zip of one, under ``limits``.

    ``prepare`` turns each decoded image into what is resized (a digits checkpoint's
    :func:`.digit_photos.read_digit` grid), with images decoded at ``decode_side``
    (default ``input_size``) first.

    ``class_names`` fixes the label space (a planned run's outputs, from
    :func:`list_classes`); without it the classes are those with a readable
    image. Non-images and oversized files are skipped and counted by reason; a
    zip entry that would leave the archive refuses the whole zip.
    """
    limits = limits or Limits()
    with _opened(path, archive, limits) as (entries, skipped, read):
        per_image = in_channels * input_size * input_size * 4
        if len(entries) * per_image > limits.max_resident_bytes:
            fits = limits.max_resident_bytes // per_image
            raise DatasetError(
                _(
                    "{n:,} images at {side} px need {mb:.0f} MB in memory; the limit is "
                    "{limit} MB (about {fits:,} images at this size)"
                ).format(
                    n=len(entries),
                    side=input_size,
                    mb=len(entries) * per_image / 2**20,
                    limit=limits.max_resident_bytes // 2**20,
                    fits=fits,
                )
            )
        decoded: list[Tensor] = []
        names: list[str] = []
        for label, display, ref in entries:
            try:
                data = read(ref)
            except _Skip as skip:
                _count(skipped, skip.reason)
                continue
            clean = sanitise_image(
                data,
                display,
                max_pixels=limits.max_pixels,
                max_bytes=limits.max_file_bytes,
                target_side=decode_side or input_size,
            )
            del data  # the file's bytes go before the next is read
            if clean.image is None:
                # Both in this run's language: the error was translated just now.
                not_image = clean.error == _(NOT_AN_IMAGE)
                _count(skipped, "not an image" if not_image else "unreadable image")
                continue
            image = prepare(clean.image) if prepare is not None else clean.image
            decoded.append(to_unit(pil_to_tensor(image, in_channels), input_size)[0])
            names.append(label)
    found = sorted(set(names))
    if len(found) < 2:
        if found:
            message = _(
                "need at least two class subfolders with images in them; found only {name!r}"
            ).format(name=found[0])
        else:
            message = _("need at least two class subfolders with images in them; found none")
        if skipped:
            message = _("{message} (skipped: {skipped})").format(
                message=message, skipped=describe_skipped(skipped)
            )
        raise DatasetError(message)
    classes = tuple(class_names) if class_names is not None else tuple(found)
    if len(classes) > limits.max_classes:
        raise DatasetError(
            _("{n} classes; the limit is {limit}").format(n=len(classes), limit=limits.max_classes)
        )
    unknown = [c for c in found if c not in classes]
    if unknown:
        raise DatasetError(
            _(
                "class folder(s) {names} appeared after the run was planned; start the run again"
            ).format(names=", ".join(unknown))
        )
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[c] for c in names], dtype=torch.int64)
    return LabelledImages(torch.stack(decoded), labels, classes, skipped)


def describe_skipped(skipped: dict[str, int]) -> str:
    """For example ``1 file too large, 3 not an image``; empty when every file was used.

    ``skipped`` counts by the reasons of :data:`SKIP_REASONS` (English keys, as a run's
    events keep them); each is said in the active language.
    """
    return pgettext("list separator", ", ").join(
        _skipped_text(reason, n) for reason, n in sorted(skipped.items())
    )


def _skipped_text(reason: str, n: int) -> str:
    template = SKIP_REASONS.get(reason)
    return _(template).format(n=n) if template is not None else f"{n} {reason}"


# ---- listing -------------------------------------------------------------------------------


@contextlib.contextmanager
def _opened(
    path: str | os.PathLike[str] | None, archive: bytes | None, limits: Limits
) -> Iterator[tuple[list[_Entry], dict[str, int], _Reader]]:
    """The entries of a folder or a zip, the files already skipped, and a reader."""
    if (path is None) == (archive is None):
        raise DatasetError(_("give either a folder or a zip archive"))
    if path is not None:
        entries, skipped = _folder_entries(Path(path), limits)
        yield entries, skipped, _read_file
        return
    assert archive is not None
    if len(archive) > limits.max_zip_bytes:
        raise DatasetError(
            _("the zip is {mb:.1f} MB; the limit is {limit} MB").format(
                mb=len(archive) / 2**20, limit=limits.max_zip_bytes // 2**20
            )
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(archive))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DatasetError(_("not a readable zip file: {reason}").format(reason=exc)) from None

    def read(info: zipfile.ZipInfo) -> bytes:
        try:
            with zf.open(info) as fh:
                # Read at most the cap: a forged size in the header cannot inflate past it.
                data = fh.read(limits.max_file_bytes + 1)
        except (
            zipfile.BadZipFile,
            NotImplementedError,
            RuntimeError,
            EOFError,
            zlib.error,
            OSError,
        ):
            # A bad CRC, an encrypted entry, an unknown compression method, broken deflate.
            raise _Skip("unreadable zip entry") from None
        if len(data) > limits.max_file_bytes:
            raise _Skip("file too large")
        return data

    with zf:
        entries, skipped = _zip_entries(zf, limits)
        yield entries, skipped, read


def _read_file(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError:
        raise _Skip("unreadable file") from None


def _folder_entries(root: Path, limits: Limits) -> tuple[list[_Entry], dict[str, int]]:
    if not root.is_dir():
        raise DatasetError(_("{path} is not a folder").format(path=root))
    skipped: dict[str, int] = {}
    entries: list[_Entry] = []
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
                        _("the images add up to more than {limit} MB").format(
                            limit=limits.max_total_bytes // 2**20
                        )
                    )
                _check_count(len(entries) + 1, limits)
                entries.append((entry.name, str(file.relative_to(root)), file))
    return entries, skipped


def _zip_entries(zf: zipfile.ZipFile, limits: Limits) -> tuple[list[_Entry], dict[str, int]]:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise DatasetError(
            _("the zip has {n:,} entries; the limit is {limit:,}").format(
                n=len(infos), limit=limits.max_entries
            )
        )
    files = []
    for info in infos:
        parts = _safe_parts(info.filename)
        if info.is_dir() or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DatasetError(
                _("zip entry {name} is a symbolic link; refused").format(name=shown(info.filename))
            )
        files.append((parts, info))
    # A zip of the folder itself ("pets/cat/1.png") or of its contents ("cat/1.png").
    tops = {parts[0] for parts, _info in files}
    strip = 1 if len(tops) == 1 and all(len(parts) >= 3 for parts, _info in files) else 0
    declared = sum(info.file_size for _parts, info in files)
    if declared > limits.max_total_bytes:
        raise DatasetError(
            _("the zip unpacks to {mb:.0f} MB; the limit is {limit} MB").format(
                mb=declared / 2**20, limit=limits.max_total_bytes // 2**20
            )
        )
    skipped: dict[str, int] = {}
    entries: list[_Entry] = []
    for parts, info in sorted(files, key=lambda f: f[0]):
        parts = parts[strip:]
        if len(parts) < 2:
            _count(skipped, "outside a class folder")
            continue
        if info.file_size > limits.max_file_bytes:
            _count(skipped, "file too large")
            continue
        _check_count(len(entries) + 1, limits)
        entries.append((parts[0], "/".join(parts), info))
    return entries, skipped


def _safe_parts(name: str) -> tuple[str, ...]:
    """The entry's path components, refusing any that could leave the archive."""
    path = name.replace("\\", "/")
    parts = tuple(p for p in PurePosixPath(path).parts if p not in ("", "."))
    if path.startswith("/") or (len(path) > 1 and path[1] == ":") or ".." in parts or not parts:
        raise DatasetError(
            _(
                "zip entry {name} points outside the archive (absolute path or '..'); "
                "the zip was refused"
            ).format(name=shown(name))
        )
    return parts


def _check_count(count: int, limits: Limits) -> None:
    if count > limits.max_images:
        raise DatasetError(
            _("more than {limit:,} files; the limit is {limit:,}").format(limit=limits.max_images)
        )


def _count(skipped: dict[str, int], reason: str) -> None:
    skipped[reason] = skipped.get(reason, 0) + 1
