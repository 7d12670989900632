"""Classes a visitor builds from camera photos and image files, kept on disk until trained.

Teachable Machine's way in: name a class, add photos, train. A :class:`Collection` is one
browser's classes in one folder (the Train page keeps it under the data cache, per owner),
so a refresh, a closed tab or a server restart loses nothing:

::

    classes.json         [{"name": "猫", "folder": "c01"}, ...] in the order they were made
    c01/3f2a….jpg        a photo, decoded safely, upright, at most STORED_SIDE px long

Every photo goes through :func:`.images.sanitise_image` (size caps, decompression bombs,
EXIF orientation) before anything is kept, and is stored re-encoded, so what trains is
never the uploaded bytes. A photo added twice (a rerun that hands the page the same
camera shot again) is kept once: a photo's file name is its content's digest. Training
reads the collection as a zip of class folders (:meth:`Collection.archive`), through the
same checked path as an uploaded zip.

Bounded: :data:`MAX_CLASSES` classes of :data:`MAX_PER_CLASS` photos, each a JPEG of at
most :data:`STORED_SIDE` px (about 20-40 KB): a few tens of megabytes per browser at most.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .._io import atomic_write_bytes, atomic_write_text
from ..i18n import _
from .images import sanitise_image

MAX_CLASSES = 20
MAX_PER_CLASS = 100
MIN_PER_CLASS = 5  # to train: one in five is held out for validation
MAX_NAME = 40
MAX_COLLECTIONS = 500  # browsers' collections on one server, the least recently used go first
RESERVED = ("__macosx",)  # folder names an upload's reader skips (macOS's zip metadata)
STORED_SIDE = 320  # px, the longer side: above 224 (torchvision's input) with room to crop
INDEX = "classes.json"
LOCK = ".lock"


@dataclass(frozen=True)
class CollectedClass:
    name: str
    folder: str
    photos: tuple[Path, ...]  # oldest first


class Collection:
    """One browser's classes and photos in ``root`` (made when the first class is)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # -- reading ------------------------------------------------------------------------
    def _index(self) -> list[dict[str, str]]:
        try:
            entries = json.loads((self.root / INDEX).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(entries, list):
            return []
        return [
            {"name": str(e["name"]), "folder": str(e["folder"])}
            for e in entries
            if isinstance(e, dict) and "name" in e and _safe_folder(e.get("folder"))
        ]

    def classes(self) -> list[CollectedClass]:
        found = []
        for entry in self._index():
            folder = self.root / entry["folder"]
            photos = sorted(folder.glob("*.jpg"), key=_age) if folder.is_dir() else []
            found.append(CollectedClass(entry["name"], entry["folder"], tuple(photos)))
        return found

    def counts(self) -> dict[str, int]:
        return {c.name: len(c.photos) for c in self.classes()}

    def problem(self) -> str | None:
        """Why these classes cannot train yet (None: they can)."""
        counts = self.counts()
        if len(counts) < 2:
            return _("Make at least two classes to train a classifier.")
        short = [name for name, n in counts.items() if n < MIN_PER_CLASS]
        if short:
            return _(
                "Each class needs at least {minimum} photos (one in five is held out to "
                "measure accuracy); still short: {classes}."
            ).format(
                minimum=MIN_PER_CLASS,
                classes=", ".join(f"{name} ({counts[name]})" for name in short),
            )
        return None

    def signature(self) -> str:
        """Changes whenever a class or photo does: what a cached archive is keyed by."""
        digest = hashlib.sha256()
        for c in self.classes():
            digest.update(c.name.encode() + b"\0")
            for photo in c.photos:
                digest.update(photo.name.encode())
        return digest.hexdigest()[:16]

    def archive(self) -> bytes:
        """A zip of class folders (``name/photo.jpg``), as an uploaded zip is laid out."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:  # JPEGs: nothing to gain
            for c in self.classes():
                for photo in c.photos:
                    zf.write(photo, f"{c.name}/{photo.name}")
        return out.getvalue()

    # -- changing -----------------------------------------------------------------------
    def add_class(self, name: str) -> str:
        """Make a class; returns its name as kept. A ValueError says why a name is refused."""
        name = " ".join(str(name).split())
        if not name:
            raise ValueError(_("Give the class a name."))
        if len(name) > MAX_NAME:
            raise ValueError(
                _("A class name has at most {limit} characters.").format(limit=MAX_NAME)
            )
        if any(ch in name for ch in '/\\:*?"<>|') or name.startswith(".") or not name.isprintable():
            raise ValueError(
                _(
                    'A class name cannot contain / \\ : * ? " < > | or start with a dot: {name}'
                ).format(name=name)
            )
        if name.casefold() in RESERVED:
            raise ValueError(
                _("{name} is a name zip tools use for themselves; choose another").format(name=name)
            )
        with self._locked():
            return self._add_class(name)

    def _add_class(self, name: str) -> str:
        index = self._index()
        if any(e["name"].casefold() == name.casefold() for e in index):
            raise ValueError(_("There is already a class called {name}.").format(name=name))
        if len(index) >= MAX_CLASSES:
            raise ValueError(
                _("At most {limit} classes; remove one first.").format(limit=MAX_CLASSES)
            )
        used = {e["folder"] for e in index}
        folder = next(f"c{i:02d}" for i in range(1, 10 * MAX_CLASSES) if f"c{i:02d}" not in used)
        (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._write([*index, {"name": name, "folder": folder}])
        return name

    def remove_class(self, name: str) -> None:
        with self._locked():
            self._remove_class(name)

    def _remove_class(self, name: str) -> None:
        index = self._index()
        for entry in index:
            if entry["name"] == name:
                self._write([e for e in index if e is not entry])
                shutil.rmtree(self.root / entry["folder"], ignore_errors=True)
                return

    def add_photo(self, name: str, data: bytes, file_name: str = "photo") -> str | None:
        """Keep one photo in class ``name``; None, or a sentence saying why it was not kept."""
        entry = next((e for e in self._index() if e["name"] == name), None)
        if entry is None:
            return _("There is no class called {name}.").format(name=name)
        folder = self.root / entry["folder"]
        if len(list(folder.glob("*.jpg"))) >= MAX_PER_CLASS:
            return _("{name} already has {limit} photos, the most a class keeps.").format(
                name=name, limit=MAX_PER_CLASS
            )
        image = sanitise_image(data, file_name, target_side=STORED_SIDE)
        if image.image is None:
            return _("{file}: {reason}").format(file=file_name, reason=image.error)
        picture = image.image
        picture.thumbnail((STORED_SIDE, STORED_SIDE), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        picture.convert("RGB" if picture.mode != "L" else "L").save(out, "JPEG", quality=90)
        stored = out.getvalue()
        target = folder / f"{hashlib.sha256(stored).hexdigest()[:20]}.jpg"
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, stored)
        return None

    def remove_photo(self, name: str, photo: str) -> None:
        for c in self.classes():
            if c.name == name:
                for path in c.photos:
                    if path.name == photo:
                        with contextlib.suppress(OSError):
                            path.unlink()

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One change of the class list at a time (two tabs of one browser, two servers)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, index: list[dict[str, str]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.root / INDEX, json.dumps(index, ensure_ascii=False))


def prune_collections(
    base: str | os.PathLike[str], keep_days: int, keep: int = MAX_COLLECTIONS
) -> list[str]:
    """Remove the collections untouched for ``keep_days``, and the least recently touched
    past ``keep`` (a browser without cookies starts a new one each visit); their names."""
    removed: list[str] = []
    cutoff = time.time() - keep_days * 86400
    base = Path(base)
    if not base.is_dir():
        return removed
    touched = []
    for root in base.iterdir():
        with contextlib.suppress(OSError):  # another process removing it meanwhile
            if root.is_dir():
                touched.append((max(_mtimes(root), default=root.stat().st_mtime), root))
    touched.sort(reverse=True)
    for rank, (newest, root) in enumerate(touched):
        if newest < cutoff or rank >= keep:
            shutil.rmtree(root, ignore_errors=True)
            removed.append(root.name)
    return removed


def _mtimes(root: Path) -> Iterator[float]:
    for path in root.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file():
                yield path.stat().st_mtime


def _safe_folder(folder: object) -> bool:
    return (
        isinstance(folder, str) and len(folder) == 3 and folder[0] == "c" and folder[1:].isdigit()
    )


def _age(path: Path) -> tuple[float, str]:
    try:
        return (path.stat().st_mtime, path.name)
    except OSError:
        return (0.0, path.name)
