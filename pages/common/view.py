"""The exact view in the URL, short links with a QR code, and presentation mode.

A link reopens what its sender saw, not only the network: each page declares
its view settings as :class:`Setting` values (a URL parameter bound to widget
keys), calls :func:`restore` before drawing the widgets and :func:`record`
after. The first run of a session takes the values from the URL it was opened
with (:func:`initial_query`; a short link ``?s=code`` is expanded there), and
every run writes the current values back, leaving defaults out so an ordinary
link stays short. Only view parameters ever enter the URL
(:data:`googlenet_core.service.links.VIEW_PARAMS`): nothing in a link says who
someone is or lets anyone act on their runs.

Presentation mode (``?present=1``) is for a lecture room: the sidebar starts
collapsed, text and tables are set large (:data:`PRESENT_CSS`), figures go
through :func:`googlenet_core.figures.projector.for_projector`, and the Concepts
page shows one concept per screen. It stays on while the session moves between
pages, until the user leaves it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import plotly.graph_objects as go
import segno
import streamlit as st
from streamlit import config as st_config

from googlenet_core.figures.projector import for_projector
from googlenet_core.i18n import N_, _
from googlenet_core.service.links import SHORT_PARAM, RoomAddress, room_address
from pages.common.ownership import viewer
from pages.common.server import server
from pages.common.text import literal

PRESENT_PARAM = "present"
_QUERY = "initial_query"
_NOTICE = "initial_query_notice"
_PRESENT = "presenting"
_RESTORED = "restored_settings"
_ARRIVED = "arrived_query"  # the URL this run started with (Back/Forward change it)
_PENDING = "url_pending"  # param -> value (None: remove) for this run's one URL write
_WRITTEN = "url_written"  # the URL the last run wrote

#: Presentation mode's type: ~22 px body text, large metrics, tables and formulas, for a
#: 1280x720 projector read from the back of a room (the theme's base is 17 px).
PRESENT_CSS = """
<style>
@media (min-width: 640px) {  /* a projector or a laptop; a phone keeps its own sizes */
[data-testid="stMainBlockContainer"] { padding-top: 4.2rem; padding-bottom: 2rem; }
[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] li { font-size: 1.3rem; }
[data-testid="stMainBlockContainer"] [data-testid="stCaptionContainer"] { font-size: 1.15rem; }
[data-testid="stMainBlockContainer"] [data-testid="stWidgetLabel"] p { font-size: 1.2rem; }
[data-testid="stMainBlockContainer"] input { font-size: 1.25rem; }
[data-testid="stMainBlockContainer"] [data-testid="stMetricLabel"] p { font-size: 1.25rem; }
[data-testid="stMainBlockContainer"] [data-testid="stMetricValue"],
[data-testid="stMainBlockContainer"] [data-testid="stMetricValue"] p { font-size: 2.6rem; }
[data-testid="stMainBlockContainer"] [data-testid="stTable"] th,
[data-testid="stMainBlockContainer"] [data-testid="stTable"] td { font-size: 1.2rem; }
[data-testid="stMainBlockContainer"] .katex { font-size: 1.7em; }
/* Labels of buttons keep their size: larger, they were cut to fit the button. */
[data-testid="stMainBlockContainer"] button [data-testid="stMarkdownContainer"] p {
  font-size: 1rem;
}
}
</style>
"""


# ---- the URL a session was opened with ------------------------------------------------------


def initial_query() -> dict[str, str]:
    """The URL parameters this session started with; a short link is expanded first."""
    if _QUERY not in st.session_state:
        params = st.query_params.to_dict()
        notice = None
        code = params.pop(SHORT_PARAM, None)
        if code is not None:
            set_param(SHORT_PARAM, None)
            try:
                params = {**params, **server().links.expand(code)}
            except ValueError as exc:
                notice = _("The short link could not be opened: {reason}.").format(reason=exc)
            for key, value in params.items():  # the full link, so a refresh needs no store
                set_param(key, value)
        st.session_state[_QUERY] = params
        st.session_state[_NOTICE] = notice
    query: dict[str, str] = st.session_state[_QUERY]
    return query


def link_notice() -> str | None:
    """Why the session's short link could not be opened (once)."""
    initial_query()
    notice: str | None = st.session_state.pop(_NOTICE, None)
    return notice


def arrived(params: dict[str, str]) -> None:
    """Note the URL this run started with (the frame calls it first thing every run)."""
    st.session_state[_ARRIVED] = params


# ---- the URL, written once a run ------------------------------------------------------------
#
# Streamlit sends every change of ``st.query_params`` to the browser as its own message, and
# the browser pushes a history entry for each: a run that changed the design, the mode and
# two view settings left four entries, and Back stopped at half-updated views. So a run
# collects what it wants in the URL (set_param) and the frame writes it once at the end
# (write_url), with one message and one history entry.


def set_param(key: str, value: str | None) -> None:
    """Put ``key=value`` in the URL at the end of this run (``None``: take it out)."""
    st.session_state.setdefault(_PENDING, {})[key] = value


def url_now() -> dict[str, str]:
    """The URL as this run will leave it."""
    wanted = st.query_params.to_dict()
    for key, value in st.session_state.get(_PENDING, {}).items():
        if value is None:
            wanted.pop(key, None)
        else:
            wanted[key] = value
    return wanted


def last_url() -> dict[str, str] | None:
    """What the previous run wrote (None on a session's first run)."""
    written: dict[str, str] | None = st.session_state.get(_WRITTEN)
    return written


def write_url() -> None:
    """Write this run's URL in one message, if it changed (the frame calls it last)."""
    wanted = url_now()
    st.session_state.pop(_PENDING, None)
    st.session_state[_WRITTEN] = wanted
    if wanted != st.query_params.to_dict():
        st.query_params.from_dict(wanted)


# ---- a page's view settings -----------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """A URL parameter carrying the values of one or more widgets (by session-state key).

    ``parse`` turns the parameter into one value per key (raising ``ValueError`` or
    ``KeyError`` for anything it does not accept: the widget then keeps its default);
    ``show`` turns the values back into the parameter.
    """

    param: str
    keys: tuple[str, ...]
    default: tuple[Any, ...]
    parse: Callable[[str], tuple[Any, ...]]
    show: Callable[[tuple[Any, ...]], str]


def flag(param: str, key: str, default: bool) -> Setting:
    """A toggle or checkbox as ``param=1`` / ``param=0``."""
    return Setting(param, (key,), (default,), _parse_flag, lambda v: "1" if v[0] else "0")


def choice(param: str, key: str, default: Any, options: Sequence[str]) -> Setting:
    """A selectbox or segmented control over ``options`` (anything else is ignored)."""

    def parse(text: str) -> tuple[Any, ...]:
        if text not in options:
            raise ValueError(text)
        return (text,)

    return Setting(param, (key,), (default,), parse, lambda v: str(v[0]))


def _parse_flag(text: str) -> tuple[Any, ...]:
    if text not in ("0", "1"):
        raise ValueError(text)
    return (text == "1",)


def restore(settings: Sequence[Setting]) -> None:
    """Before the widgets are drawn: defaults, and the URL's values where the URL says so.

    A setting is taken from the URL on the session's first visit, and again when the
    URL no longer says what :func:`record` last wrote (Back or Forward in the browser
    moved through the history of views); otherwise the widget keeps its own value.
    """
    done: set[str] = st.session_state.setdefault(_RESTORED, set())
    query = initial_query()
    url = st.session_state.get(_ARRIVED, {})
    written = last_url()
    moved = {
        s.param
        for s in settings
        if written is not None and url and url.get(s.param) != written.get(s.param)
    }
    for setting in settings:
        values = setting.default
        if setting.param not in done or setting.param in moved:
            source = url if setting.param in done else query
            done.add(setting.param)
            text = source.get(setting.param)
            if text is not None:
                try:
                    values = setting.parse(text)
                except (ValueError, KeyError, IndexError):
                    values = setting.default
            for key, value in zip(setting.keys, values, strict=True):
                st.session_state[key] = value
        else:
            for key, value in zip(setting.keys, values, strict=True):
                # Re-assigned, the value survives runs where its widget is not drawn (another
                # concept on screen): Streamlit forgets the state of widgets it did not draw.
                st.session_state[key] = st.session_state.get(key, value)


def record(settings: Sequence[Setting]) -> None:
    """After the widgets are drawn: their values into the URL, defaults left out."""
    for setting in settings:
        values = tuple(st.session_state.get(key) for key in setting.keys)
        set_param(setting.param, None if values == setting.default else setting.show(values))


# ---- presentation mode ----------------------------------------------------------------------


def presenting() -> bool:
    """Whether this session is in presentation mode (from ``?present=1`` or the button)."""
    if _PRESENT not in st.session_state:
        st.session_state[_PRESENT] = initial_query().get(PRESENT_PARAM) == "1"
    on: bool = st.session_state[_PRESENT]
    return on


def set_presenting(on: bool) -> None:
    st.session_state[_PRESENT] = on
    sync_presenting()


def sync_presenting() -> None:
    """The mode into the URL, so a refresh or a copied link opens in it."""
    set_param(PRESENT_PARAM, "1" if presenting() else None)


def present_styles() -> None:
    """Large type for the projector (call once a run in presentation mode)."""
    st.html(PRESENT_CSS)


def chart(fig: go.Figure, key: str, height: int | None = None, container: Any = st) -> None:
    """A figure in ``container``, with projector-sized type in presentation mode (not on a
    phone: a presentation link opened on one keeps a phone's type, as the text does).

    On a phone Plotly's toolbar is left out: a tap shows it over the figure's title, and
    its zoom and pan tools fight the page's scrolling under a finger.
    """
    phone = on_phone()
    if presenting() and not phone:
        fig = for_projector(fig, height=height)
    config = {"displayModeBar": False} if phone else {}
    container.plotly_chart(fig, key=key, theme=None, config=config)


def on_phone() -> bool:
    """Whether this session's browser says it is a phone ("Mobi" in its user agent, as
    Android's and iOS's browsers put it): the server never sees the screen's width."""
    agent = st.context.headers.get("User-Agent") or ""
    return "Mobi" in agent


# ---- sharing --------------------------------------------------------------------------------


SHARE_LABEL = N_("Share this view")


def share_ui(key: str, label: str = SHARE_LABEL, container: Any = st) -> None:
    """A button that opens the short link to the view on screen, with its QR code
    (``label``: English, marked with ``N_``; shown translated)."""
    if container.button(_(label), key=key, icon=":material/qr_code_2:"):
        # The dialog is made here, not at import: its title is said in this visitor's language.
        st.dialog(_(SHARE_LABEL), width="large")(_share_dialog)()


#: The QR code's side on screen: read from the back of a room off a 1280x720 projector.
QR_PX = 400


def _share_dialog() -> None:
    """The short link and a QR code for a slide, and a warning when students cannot open it."""
    try:  # bounded per browser and per server (googlenet_core.service.links)
        code = server().links.shorten(url_now(), viewer().owner)
    except (ValueError, OSError) as exc:
        st.error(_("No short link: {reason}").format(reason=exc))
        return
    room = _room_address()
    url = f"{room.url}?{SHORT_PARAM}={code}"
    picture = io.BytesIO()
    segno.make(url, error="m").save(picture, kind="png", scale=12, border=2)
    left, right = st.columns([QR_PX, 1280 - 2 * QR_PX], gap="large")
    left.image(picture.getvalue(), width=QR_PX)
    with right:
        st.code(url, language=None, wrap_lines=True)
        st.caption(
            _(
                "The exact view on screen: the network, the page and its settings. The link "
                "holds nothing about you or your runs."
            )
        )
        if room.local:
            st.warning(_local_warning(room), icon=":material/wifi_off:")
        else:
            st.caption(_("Address from {source}.").format(source=_(room.source)))


def _room_address() -> RoomAddress:
    """Where this page is for students: the configured public address, Streamlit's
    ``browser.serverAddress`` (and ``browser.serverPort``) when an operator set it, else
    the browser's address."""
    configured = st_config.is_manually_set("browser.serverAddress")
    port = st_config.is_manually_set("browser.serverPort")
    return server().room_address(
        _page_url(),
        str(st.get_option("browser.serverAddress")) if configured else None,
        _base_path(),
        int(st.get_option("browser.serverPort")) if port else None,
    )


def _base_path() -> str:
    return str(st.get_option("server.baseUrlPath") or "")


def _local_warning(room: RoomAddress) -> str:
    """What to do when only this computer can open the link."""
    lan = server().lan_address
    if lan is None:
        elsewhere = _("this computer's address on the room's network")
    else:  # this host on its network, whatever a (local) public address says
        there = room_address(_page_url(), None, lan, _base_path())
        elsewhere = _("this computer's address on the room's network, {url}").format(
            url=literal(there.url)
        )
    return _(
        "Only this computer can open this link: it starts with {host}, and students' phones "
        "and laptops cannot reach that. Open the app at {elsewhere} and share again, or set "
        "`GOOGLENET_PUBLIC_URL` (or Streamlit's `browser.serverAddress`) to the address "
        "students use."
    ).format(host=literal(urlsplit(room.url).hostname or room.url), elsewhere=elsewhere)


def _page_url() -> str:
    """This page's address as the browser sees it, without its query."""
    url = st.context.url
    return url if isinstance(url, str) and url else ""
