"""Who may see, cancel and delete a run: owners and sharing.

A dashboard serves a whole class from one process and one run store, so each run
started from a page records its owner in ``access.json`` beside its status:

``owner``
    a hash of the starting browser's secret (:func:`owner_id`). The secret lives in
    that browser only (a cookie, never in a link), so opening someone's design link
    gives their network and nothing of their runs.
``shared``
    ``"private"`` (the default: the owner alone sees the run), ``"class"`` (everyone
    who entered the same class code, stored as a hash in ``class_id``) or
    ``"public"`` (everyone on the server: a lecturer publishing a run).

A run without ``access.json`` was made outside the dashboard (``python -m googlenet_core
train`` on the host): whoever runs the server put it there, so every visitor sees it
and no visitor can delete it. :func:`who_sees` says all of this about one run in a few
words, for the runs list. How long runs are kept is :mod:`.retention`'s.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

from .._checks import parse_json
from .._io import atomic_write_text
from ..i18n import _
from ..training.runs import Run, RunSummary

ACCESS_FILE = "access.json"
OWNER_COOKIE = "googlenet_owner"  # the per-browser secret's cookie name
MAX_CLASS_CODE = 64

Shared = Literal["private", "class", "public"]
SHARED: tuple[Shared, ...] = get_args(Shared)
_SECRET = re.compile(r"[0-9a-f]{32,128}")


def new_secret() -> str:
    """A fresh per-browser secret: 128 random bits, as hex."""
    return secrets.token_hex(16)


def valid_secret(text: object) -> bool:
    """Whether a cookie's value looks like one of ours (a tampered one is ignored)."""
    return isinstance(text, str) and bool(_SECRET.fullmatch(text))


def owner_id(secret: str) -> str:
    """What a run records of its owner: a hash, so reading a run folder gives no secret."""
    return hashlib.sha256(f"owner:{secret}".encode()).hexdigest()[:32]


def class_id(code: str) -> str | None:
    """A class code as recorded (a hash of its normalised text); None for a blank code.

    Case and surrounding spaces do not matter: "CNN-101 " and "cnn-101" are one class.
    """
    normal = " ".join(code.split()).casefold()
    if not normal:
        return None
    if len(normal) > MAX_CLASS_CODE:
        raise ValueError(_("a class code has at most {n} characters").format(n=MAX_CLASS_CODE))
    return hashlib.sha256(f"class:{normal}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Access:
    owner: str | None = None  # None: made outside the dashboard
    shared: Shared = "private"
    class_id: str | None = None

    def __post_init__(self) -> None:
        if self.shared not in SHARED:
            raise ValueError(f"shared must be one of {', '.join(SHARED)}")
        if self.shared == "class" and not self.class_id:
            raise ValueError("a run shared with a class needs the class's code")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


#: What a run made outside the dashboard reads as: the host's, seen by all.
HOST_RUN = Access(owner=None, shared="public")


@dataclass(frozen=True)
class Viewer:
    """One browser: its owner id and the class it joined, if any."""

    owner: str
    class_id: str | None = None

    def owns(self, access: Access) -> bool:
        return access.owner is not None and secrets.compare_digest(access.owner, self.owner)

    def can_see(self, access: Access) -> bool:
        if access.shared == "public" or self.owns(access):
            return True
        return (
            access.shared == "class"
            and access.class_id is not None
            and (access.class_id == self.class_id)
        )

    def new_run(self) -> Access:
        """A new run's access: shared with the viewer's class if they joined one, else private."""
        if self.class_id:
            return Access(self.owner, "class", self.class_id)
        return Access(self.owner, "private")


def read_access(run_path: Path) -> Access:
    """A run's access; :data:`HOST_RUN` without the file, private to nobody if it is damaged."""
    path = Path(run_path) / ACCESS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return HOST_RUN
    except OSError:
        return Access(owner="", shared="private")
    try:
        data = parse_json(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return Access(
            owner=data.get("owner") if isinstance(data.get("owner"), str) else "",
            shared=data.get("shared", "private"),
            class_id=data.get("class_id") if isinstance(data.get("class_id"), str) else None,
        )
    except (ValueError, TypeError):
        # A damaged file must not make a private run public: nobody sees it but the host.
        return Access(owner="", shared="private")


def write_access(run_path: Path, access: Access) -> None:
    atomic_write_text(Path(run_path) / ACCESS_FILE, access.to_json())


def visible(summaries: Sequence[RunSummary], viewer: Viewer) -> list[RunSummary]:
    """The runs ``viewer`` may see, in the order given."""
    return [s for s in summaries if viewer.can_see(read_access(s.path))]


def set_sharing(run_path: Path, viewer: Viewer, shared: Shared) -> Access:
    """Change who sees a run; only its owner may. Sharing with a class needs a class code."""
    access = read_access(run_path)
    if not viewer.owns(access):
        raise PermissionError(_("only the browser that started this run can change who sees it"))
    if shared == "class" and not viewer.class_id:
        raise ValueError(_("enter a class code first: the run is shared with that class"))
    updated = Access(access.owner, shared, viewer.class_id if shared == "class" else None)
    write_access(run_path, updated)
    return updated


def delete_run(run_path: Path, viewer: Viewer) -> None:
    """Remove a finished run the viewer owns, with its checkpoints."""
    if not viewer.owns(read_access(run_path)):
        raise PermissionError(_("only the browser that started this run can delete it"))
    if not Run(run_path).status().finished:
        raise ValueError(_("this run is still queued or running: cancel it first"))
    shutil.rmtree(run_path)


def who_sees(access: Access, viewer: Viewer) -> str:
    """Who sees a run, from ``viewer``'s side, in a few words (the runs list's "seen by")."""
    if access.owner is None:
        return _("everyone (host's run)")
    if not viewer.owns(access):
        others = {
            "private": _("only another browser"),
            "class": _("your class"),
            "public": _("everyone"),
        }
        return others[access.shared]
    mine = {
        "private": _("only you (you)"),
        "class": _("your class (you)"),
        "public": _("everyone (you)"),
    }
    return mine[access.shared]
