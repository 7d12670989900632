"""Short links: a view's whole query string kept on the server under a 12-letter code.

A custom design travels in its URL as a token of several hundred characters,
and an exact view adds the page's own settings to it. Students cannot type
that from a slide, so :meth:`LinkStore.shorten` stores the query string in a small
file named after its hash and returns the code (``?s=k3v7q2mapx4d``);
:meth:`LinkStore.expand` turns the code back into the parameters. The same view
always gives the same code, so sharing a view twice writes nothing new.

Only the parameters of :data:`VIEW_PARAMS` are kept: a short link carries a
design and how it is shown, never anything that identifies a person or grants
rights to their training runs (those live in a cookie, see ``pages/common``).
The store is bounded, and a flood cannot take a lecture's link away:

- at most :data:`MAX_LINKS` links of at most :data:`MAX_QUERY_CHARS` characters;
  beyond it the oldest links nobody opened lately are pruned, never a link opened
  in the last :data:`KEEP_OPENED_DAYS` days (a lecture's: the class opens it); when
  only such links are left, new ones are refused with a sentence;
- at most :data:`PER_VISITOR` links per visitor (the owner cookie's id), and at most
  :data:`NEW_PER_WINDOW` new links per :data:`WINDOW_S` seconds on the server.

A code is checked against its alphabet before it touches the file system.

:func:`room_address` says where a link points: the app's public address when an
operator set one (``GOOGLENET_PUBLIC_URL``, or Streamlit's ``browser.serverAddress``),
else the address the browser used, and whether only this computer can open it
(``localhost``: students' phones cannot).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._io import atomic_write_text
from ..i18n import N_, _
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
    "lang",  # the sender's language: a link opens in it (pages/common/language.py)
)
#: The query parameter holding a short link's code.
SHORT_PARAM = "s"
#: Letters in a code: 12 of base32's 32 symbols, 60 bits of the query string's sha256. With
#: 8 (40 bits) a student could search for a view with the same code as the lecturer's in
#: minutes on a GPU; 60 bits takes a million times longer. A clash is refused, never written.
CODE_LENGTH = 12
CODE_PATTERN = re.compile(rf"[a-z2-7]{{{CODE_LENGTH}}}")
MAX_QUERY_CHARS = MAX_TOKEN_CHARS + 1_000
#: Links kept; beyond it the oldest not opened lately are removed (a class makes dozens).
MAX_LINKS = 5_000
#: A link opened within this many days is never pruned to make room (a course's fortnight).
KEEP_OPENED_DAYS = 14
#: Links one visitor (one browser's owner id) may make.
PER_VISITOR = 30
#: New links the whole server makes in one window: a class of 30 makes a few each.
NEW_PER_WINDOW, WINDOW_S = 300, 600.0
_OPENED = ".opened"  # beside CODE.txt: its modification time is when it was last opened
_VISITORS = "visitors"  # one file per visitor: the codes it made, one a line


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


class LinkStore:
    """The server's short links in one folder, with its bounds (see the module's text)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else links_dir()
        self._lock = threading.Lock()  # one server process writes the store

    def shorten(self, params: Mapping[str, str], visitor: str) -> str:
        """Store the view's query string (if new) for ``visitor`` and return its code.

        ``ValueError`` with a sentence when the view is too long, its code is taken by
        another view, the visitor or the server has made its share, or the store is full
        of links opened lately.
        """
        query = view_query(params)
        if len(query) > MAX_QUERY_CHARS:
            raise ValueError(
                _("this view's link is {n:,} characters, over {limit:,}").format(
                    n=len(query), limit=MAX_QUERY_CHARS
                )
            )
        code = code_for(query)
        path = self.folder / f"{code}.txt"
        with self._lock:
            if path.is_file():
                if path.read_text("utf-8") != query:  # another view with the same code: keep it
                    raise ValueError(
                        _("this view's code is taken by another view; share the full link")
                    )
                self._note_visitor(visitor, code)
                return code
            self._check_visitor(visitor, code)
            self.folder.mkdir(parents=True, exist_ok=True)
            links = self._links()
            recent = sum(1 for made, _opened in links.values() if made > time.time() - WINDOW_S)
            if recent >= NEW_PER_WINDOW:
                raise ValueError(
                    _(
                        "this server has made {n} short links in the last {minutes:.0f} "
                        "minutes; share the full link, or try again later"
                    ).format(n=recent, minutes=WINDOW_S / 60)
                )
            self._make_room(links)
            atomic_write_text(path, query)
            self._note_visitor(visitor, code)
        return code

    def expand(self, code: str) -> dict[str, str]:
        """The parameters stored under ``code``; ``ValueError`` with a sentence if none.

        Opening a link marks it as in use: a link opened lately is never pruned.
        """
        if not CODE_PATTERN.fullmatch(code):
            raise ValueError(
                _("a short link's code is {n} letters a-z and digits 2-7").format(n=CODE_LENGTH)
            )
        path = self.folder / f"{code}.txt"
        try:
            with path.open("r", encoding="utf-8") as file:
                query = file.read(MAX_QUERY_CHARS + 1)
        except (FileNotFoundError, UnicodeDecodeError):
            raise ValueError(
                _(
                    "this server does not know that short link (it may have been restarted "
                    "since the link was made; the full link always works)"
                )
            ) from None
        if len(query) > MAX_QUERY_CHARS or code_for(query) != code:
            raise ValueError(_("the stored short link is damaged"))
        with contextlib.suppress(OSError):  # a read-only store still opens its links
            path.with_suffix(_OPENED).touch()
        return {key: value for key, value in parse_qsl(query) if key in VIEW_PARAMS}

    # -- bounds (the lock is held) ---------------------------------------------------------
    def _links(self) -> dict[str, tuple[float, float]]:
        """code -> (made, last opened; 0 for never), from the files' modification times."""
        found: dict[str, tuple[float, float]] = {}
        for path in self.folder.glob("*.txt"):
            try:  # a file may vanish under a concurrent prune (another server)
                made = path.stat().st_mtime
            except FileNotFoundError:
                continue
            opened = path.with_suffix(_OPENED)
            found[path.stem] = (made, opened.stat().st_mtime if opened.exists() else 0.0)
        return found

    def _make_room(self, links: dict[str, tuple[float, float]]) -> None:
        """Prune to leave room for one more; never a link opened in the last KEEP_OPENED_DAYS."""
        over = len(links) + 1 - MAX_LINKS
        if over <= 0:
            return
        kept_since = time.time() - KEEP_OPENED_DAYS * 86_400
        prunable = sorted(
            (max(made, opened), code) for code, (made, opened) in links.items()
            if opened < kept_since
        )  # fmt: skip
        if len(prunable) < over:
            raise ValueError(
                _(
                    "this server keeps {n:,} short links and all of them were opened "
                    "lately; share the full link"
                ).format(n=MAX_LINKS)
            )
        for _made, code in prunable[:over]:
            for suffix in (".txt", _OPENED):
                (self.folder / f"{code}{suffix}").unlink(missing_ok=True)

    def _visitor_file(self, visitor: str) -> Path:
        name = hashlib.sha256(visitor.encode()).hexdigest()[:32]  # never the id itself
        return self.folder / _VISITORS / f"{name}.txt"

    def _check_visitor(self, visitor: str, code: str) -> None:
        path = self._visitor_file(visitor)
        made = path.read_text().split() if path.is_file() else []
        if code not in made and len(made) >= PER_VISITOR:
            raise ValueError(
                _(
                    "this browser has made {n} short links; the full link in the "
                    "address bar works as well"
                ).format(n=PER_VISITOR)
            )

    def _note_visitor(self, visitor: str, code: str) -> None:
        path = self._visitor_file(visitor)
        made = path.read_text().split() if path.is_file() else []
        if code in made:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "\n".join([*made, code]) + "\n")
        visitors = sorted(path.parent.glob("*.txt"), key=_mtime)
        for stale in visitors[: max(0, len(visitors) - MAX_LINKS)]:  # bounded like the links
            stale.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


# ---- the address students open --------------------------------------------------------------


@dataclass(frozen=True)
class RoomAddress:
    """Where a shared link points: the page's address as students open it."""

    url: str  # "http://192.168.1.20:8501/train", no query
    source: str  # "GOOGLENET_PUBLIC_URL", "browser.serverAddress" or "this browser's address"
    local: bool  # only this computer can open it (localhost, 127.x, ::1)


def is_local(host: str | None) -> bool:
    """Whether ``host`` names this computer only: ``localhost`` (and ``*.localhost``), a
    loopback address (``127.0.0.1``, ``::1``), ``0.0.0.0``, or nothing at all."""
    if not host:
        return True
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_loopback or address.is_unspecified  # 0.0.0.0: "any", no one's address


def room_address(
    page_url: str,
    public_url: str | None = None,
    server_address: str | None = None,
    base_path: str = "",
    server_port: int | None = None,
) -> RoomAddress:
    """The address a short link gives for the page the browser shows at ``page_url``.

    ``public_url`` (``GOOGLENET_PUBLIC_URL``, the app's root as students open it) comes
    first, then ``server_address`` (Streamlit's ``browser.serverAddress`` when an operator
    set it: a host name or address, with ``server_port``, Streamlit's ``browser.serverPort``
    when set, else the browser's port, and the browser's scheme), else the browser's own
    address. The page (``/train``) is kept from ``page_url``, after Streamlit's
    ``base_path`` (``server.baseUrlPath``).
    """
    seen = urlsplit(page_url)
    prefix = "/" + base_path.strip("/") if base_path.strip("/") else ""
    page = seen.path[len(prefix) :] if seen.path.startswith(prefix) else seen.path
    page = page.strip("/")
    if public_url:
        root, source = public_url.rstrip("/"), "GOOGLENET_PUBLIC_URL"
    elif server_address:
        number = server_port or seen.port
        port = f":{number}" if number else ""
        host = f"[{server_address}]" if ":" in server_address else server_address  # IPv6
        root = f"{seen.scheme or 'http'}://{host}{port}{prefix}"
        source = "browser.serverAddress"
    else:
        root = urlunsplit((seen.scheme, seen.netloc, prefix, "", ""))
        source = N_("this browser's address")  # shown translated: _(room.source)
    url = f"{root}/{page}"  # the Concepts page: the root, with its slash
    return RoomAddress(url, source, is_local(urlsplit(url).hostname))
