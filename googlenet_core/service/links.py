"""Short links: a view's whole query string kept on the server under a 12-letter code.

A custom design travels in its URL as a token of several hundred characters,
and an exact view adds the page's own settings to it. Students cannot type
that from a slide, so :func:`shorten` stores the query string in a small file
named after its hash and returns the code (``?s=k3v7q2mapx4d``); :func:`expand`
turns the code back into the parameters. The same view always gives the same
code, so sharing a view twice writes nothing new.

Only the parameters of :data:`VIEW_PARAMS` are kept: a short link carries a
design and how it is shown, never anything that identifies a person or grants
rights to their training runs (those live in a cookie, see ``pages/common``).
The store is bounded (:data:`MAX_LINKS` files of at most :data:`MAX_QUERY_CHARS`
characters each, the least recently written or opened pruned first), and a code is
checked against its alphabet before it touches the file system.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from .._io import atomic_write_text
from ..network.editing import MAX_TOKEN_CHARS, PRESET_PARAM, TOKEN_PARAM
from .settings import current

#: The query parameters a short link may carry: the design and the view's settings.
VIEW_PARAMS: tuple[str, ...] = (
    PRESET_PARAM,
    TOKEN_PARAM,
    "present",
    "concept",
    "block",
    "reduced",
    "layer",
    "calc",
    "compare",
)
#: The query parameter holding a short link's code.
SHORT_PARAM = "s"
#: Letters in a code: 12 of base32's 32 symbols, 60 bits of the query string's sha256. With
#: 8 (40 bits) a student could search for a view with the same code as the lecturer's in
#: minutes on a GPU; 60 bits takes a million times longer. A clash is refused, never written.
CODE_LENGTH = 12
CODE_PATTERN = re.compile(rf"[a-z2-7]{{{CODE_LENGTH}}}")
MAX_QUERY_CHARS = MAX_TOKEN_CHARS + 1_000
#: Files kept; beyond it the least recently written are removed (a class makes dozens).
MAX_LINKS = 5_000


def links_dir() -> Path:
    """The store: ``$GOOGLENET_LINKS_DIR`` or ``links/`` in the current folder."""
    return current().links_dir


def view_query(params: Mapping[str, str]) -> str:
    """The view's parameters as a query string, in :data:`VIEW_PARAMS` order, others dropped."""
    return urlencode([(key, params[key]) for key in VIEW_PARAMS if params.get(key)])


def code_for(query: str) -> str:
    """The query string's code: the first :data:`CODE_LENGTH` letters of its sha256 in
    lowercase base32."""
    digest = hashlib.sha256(query.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:CODE_LENGTH]


def shorten(params: Mapping[str, str], folder: Path | None = None) -> str:
    """Store the view's query string (if new) and return its code."""
    query = view_query(params)
    if len(query) > MAX_QUERY_CHARS:
        raise ValueError(f"this view's link is {len(query):,} characters, over {MAX_QUERY_CHARS:,}")
    folder = folder or links_dir()
    code = code_for(query)
    path = folder / f"{code}.txt"
    if path.is_file():
        if path.read_text("utf-8") != query:  # another view with the same code: keep it
            raise ValueError("this view's code is taken by another view; share the full link")
        path.touch()  # recently shared: pruned last
        return code
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, query)
    _prune(folder)
    return code


def expand(code: str, folder: Path | None = None) -> dict[str, str]:
    """The parameters stored under ``code``; ``ValueError`` with a sentence if there are none."""
    if not CODE_PATTERN.fullmatch(code):
        raise ValueError(f"a short link's code is {CODE_LENGTH} letters a-z and digits 2-7")
    path = (folder or links_dir()) / f"{code}.txt"
    try:
        with path.open("r", encoding="utf-8") as file:
            query = file.read(MAX_QUERY_CHARS + 1)
    except (FileNotFoundError, UnicodeDecodeError):
        raise ValueError(
            "this server does not know that short link (it may have been restarted since "
            "the link was made; the full link always works)"
        ) from None
    if len(query) > MAX_QUERY_CHARS or code_for(query) != code:
        raise ValueError("the stored short link is damaged")
    path.touch()  # in use: pruned last
    return {key: value for key, value in parse_qsl(query) if key in VIEW_PARAMS}


def _prune(folder: Path) -> None:
    """Keep the :data:`MAX_LINKS` most recently written or opened links."""
    files = []
    for path in folder.glob("*.txt"):
        try:  # another session may be pruning at the same moment
            files.append((path.stat().st_mtime, path))
        except FileNotFoundError:
            continue
    if len(files) <= MAX_LINKS:
        return
    files.sort()
    for _, path in files[: len(files) - MAX_LINKS]:
        path.unlink(missing_ok=True)
