"""The dashboard's frame and the state every page shares: one module, imported by every page.

The other modules of this folder are the pieces pages share, UI only::

    server.py     this process's one Server (job queue, run store, short links, probes)
    view.py       the exact view in the URL, short links + QR, presentation mode, charts
    ownership.py  this browser's owner cookie and class code
    text.py       untrusted text shown as typed (:func:`literal`)
    concepts.py   the Concepts page's table of concepts; presentation mode's way through;
                  a concept's heading (Back, Next, Share, Exit, language) and visual
    calculator.py the Concepts page's output-size calculator, filled in from any layer
    recipe.py     the Train page's recipe widgets, a generation of keys per proposal
    live.py       this browser's training jobs, live: progress, cancel, curves
    curves.py     the curves of one or several runs; a fair pair's gradient ratio
    run_store.py  every run a browser may see: overlaid, downloaded, shared, deleted
    per_class.py  a run's accuracy per class and confusion matrix, with its mistakes
    collect.py    the Train page's classes from camera photos and image files
    models.py     the Predict page's model choices and the loaded models sessions share
    language.py   this visitor's language (English or 中文): chosen, carried in links, switched

The app is Streamlit's pages-directory multipage app, public API only:
``app.py`` is the first page (Concepts) and every ``pages/*.py`` another; this
folder holds no page, so Streamlit lists none for it. Each page script ends
with ``run_page(title, main)``, which

* sets the page up (title, wide layout) and draws the shared sidebar: the
  navigation (``st.page_link``, so each page has a proper label and icon) and,
  after the page has run, the current network at a glance;
* makes the page work on its own (a deep link, a refresh, or
  ``AppTest.from_file("pages/<page>.py")`` from an empty session): the first
  run of a session reads the design from the URL (``?preset=paper`` or
  ``?net=<token>``, see :mod:`googlenet_core.network.editing`); a bad or
  tampered link falls back to :data:`DEFAULT_PRESET` with a visible warning;
* writes the current design back to the URL on every run, so a refresh, a
  bookmark or a link sent to students shows the same network; who this browser is
  (its runs, its class) is a cookie instead (:mod:`pages.common.ownership`), never
  part of a link.

Text that came from a file, a link or a form (a file name, a class name, a
key in a JSON file, an error that quotes one) is shown through :func:`literal`,
as code, never as markdown: a link's ``?preset=[Log in again](https://…)`` must
not become a live link inside the app's own warning.

Pages read the network with :func:`current_config`, replace it with
:func:`set_config` and report a refused edit with :func:`reject_edit`; the
sidebar shows :func:`config_error` as a warning badge. Widgets that display the
config put :func:`config_version` in their keys, so they start again from the
new values whenever the config is replaced. :func:`server` is the process's one
:class:`googlenet_core.service.server.Server` (the job queue, the run store, the
probes), made on the first page any browser opens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import streamlit as st

from googlenet_core import GoogLeNetConfig, analyze, get_preset, network_name
from googlenet_core.figures.style import format_count
from googlenet_core.i18n import N_, _
from googlenet_core.network.editing import (
    PRESET_PARAM,
    TOKEN_PARAM,
    config_from_query,
    query_for,
)
from pages.common.language import choose_language, language_ui
from pages.common.ownership import viewer, write_cookies
from pages.common.server import server
from pages.common.text import literal
from pages.common.view import (
    arrived,
    initial_query,
    last_url,
    link_notice,
    present_styles,
    presenting,
    set_param,
    set_presenting,
    share_ui,
    sync_presenting,
    write_url,
)

#: The network a new session starts with: the one the paper's Table 1 describes.
DEFAULT_PRESET = "paper"
APP_TITLE = N_("GoogLeNet lab")

#: The navigation, in order: (script, label, icon). Streamlit's own list is hidden
#: (client.showSidebarNavigation = false) because it names pages after their files.
PAGES: tuple[tuple[str, str, str], ...] = (
    ("app.py", N_("Concepts"), ":material/school:"),
    ("pages/architect.py", N_("Architect"), ":material/architecture:"),
    ("pages/shapes.py", N_("Shapes & parameters"), ":material/table_chart:"),
    ("pages/train.py", N_("Train"), ":material/model_training:"),
    ("pages/predict.py", N_("Predict"), ":material/image_search:"),
)

_CONFIG = "config"
_VERSION = "config_version"
_ERROR = "config_error"
_URL_NOTICE = "url_notice"
_FLASH = "flash_message"


# ---- the frame -----------------------------------------------------------------------------


def run_page(title: str, body: Callable[[], None]) -> None:
    """Set up the page and the sidebar, run ``body``, then fill in the network summary.

    ``title`` is the page's English name (one of :data:`PAGES`), shown translated. The
    summary is drawn after the page, so it shows the network the page may just have changed.
    """
    choose_language()  # first: every word below is said in it
    st.set_page_config(
        page_title=f"{_(title)} · {_(APP_TITLE)}",
        page_icon=":material/hub:",
        layout="wide",
        initial_sidebar_state="collapsed" if presenting() else "auto",
        menu_items={"About": _("Design, measure and teach GoogLeNet (Szegedy et al., 2014).")},
    )
    with st.sidebar:
        language_ui("sidebar")
        for script, label, icon in PAGES:
            st.page_link(script, label=_(label), icon=icon)
        st.toggle(
            _("Presentation mode"),
            value=presenting(),
            key=f"present_toggle_{presenting()}",
            on_change=lambda: set_presenting(not presenting()),
            help=_(
                "Large type for a projector, the sidebar folded away, and one concept per "
                "screen on the Concepts page. The link keeps it (?present=1)."
            ),
        )
        summary = st.container()
    server()
    viewer()  # this browser's owner secret, from its cookie or new (then set below)
    arrived(st.query_params.to_dict())
    _initialise()
    _follow_history()
    _sync_url(current_config())
    sync_presenting()
    if presenting():
        present_styles()
    for problem in server().problems:  # an operator's typo, said on every page
        st.warning(
            _("This server's settings: {problem}.").format(problem=problem),
            icon=":material/settings:",
        )
    notice = link_notice()
    if notice:
        st.warning(notice, icon=":material/link_off:")
    if st.session_state[_URL_NOTICE]:
        st.warning(st.session_state[_URL_NOTICE], icon=":material/link_off:")
    message = st.session_state.pop(_FLASH, None)
    if message:
        st.success(message)
    try:
        body()
        with summary:
            sidebar_summary_ui()
            write_cookies()
    finally:  # also when the page reruns itself after an edit: the URL follows the edit
        write_url()


def sidebar_summary_ui() -> None:
    """The current network at a glance, on every page."""
    config = current_config()
    analysis = analyze(config)
    st.markdown(_("### Current network: `{name}`").format(name=network_name(config)))
    if analysis.aux_params:
        params_help = _(
            "{deployed:,} once deployed; {training:,} while training, with the auxiliary heads"
        ).format(deployed=analysis.params_without_aux, training=analysis.total_params)
    else:
        params_help = _("{n:,}; this network has no auxiliary heads").format(
            n=analysis.total_params
        )
    st.metric(_("Parameters"), format_count(analysis.params_without_aux), help=params_help)
    if analysis.aux_params:
        st.caption(
            _("{n} more in the auxiliary heads (training only)").format(
                n=format_count(analysis.aux_params)
            )
        )
    st.metric(
        _("MACs per image"),
        format_count(analysis.macs_without_aux),
        help=_("{n:,} multiply-accumulates for one image, main head").format(
            n=analysis.macs_without_aux
        ),
    )
    side = config.input_size
    st.metric(_("Input"), f"{config.in_channels} × {side} × {side}")
    error = config_error()
    if error:
        st.badge(_("Last edit refused"), icon=":material/warning:", color="orange")
        st.caption(literal(error))
    st.caption(
        _(
            "The page URL holds this design and the view's settings, nothing about you: "
            "bookmark it or send it to students."
        )
    )
    share_ui("sidebar_share")


# ---- the shared network --------------------------------------------------------------------


def _initialise() -> None:
    """Load the design from the URL once per session (no output)."""
    if _CONFIG in st.session_state:
        return
    notice = None
    try:
        config = config_from_query(initial_query())
    except ValueError as exc:
        config = None
        notice = _(
            "The link's network could not be read: {error}. "
            "Showing the default network ({preset}) instead."
        ).format(error=literal(exc), preset=DEFAULT_PRESET)
    st.session_state[_CONFIG] = config or get_preset(DEFAULT_PRESET)
    st.session_state[_VERSION] = 0
    st.session_state[_ERROR] = None
    st.session_state[_URL_NOTICE] = notice


def _follow_history() -> None:
    """Back or Forward in the browser to another design: show it.

    Streamlit pushes a history entry whenever the script changes the URL, so each accepted
    edit is a step Back can return to; on Back it reruns the page with that entry's URL.
    A URL without a design (another page was opened from the sidebar) keeps the network.
    """
    written = last_url()
    keys = (PRESET_PARAM, TOKEN_PARAM)
    url = {k: st.query_params[k] for k in keys if k in st.query_params}
    if written is None or not url or url == {k: written[k] for k in keys if k in written}:
        return
    try:
        config = config_from_query(url)
    except ValueError:
        return  # a damaged address: the current network stays and is written back
    if config is not None and config != current_config():
        set_config(config)


def _sync_url(config: GoogLeNetConfig) -> None:
    """Make the URL's preset/net parameters describe ``config``; leave other parameters alone."""
    wanted = query_for(config)
    for key in (PRESET_PARAM, TOKEN_PARAM):
        set_param(key, wanted.get(key))


def current_config() -> GoogLeNetConfig:
    """The network every page shows (always a valid, validated config)."""
    _initialise()
    config: GoogLeNetConfig = st.session_state[_CONFIG]
    return config


def set_config(config: GoogLeNetConfig) -> None:
    """Make ``config`` the current network: clears the error badge and updates the URL."""
    _initialise()
    st.session_state[_CONFIG] = config
    st.session_state[_VERSION] += 1
    st.session_state[_ERROR] = None
    st.session_state[_URL_NOTICE] = None
    _sync_url(config)


def config_version() -> int:
    """A counter bumped by every :func:`set_config`; put it in the keys of config widgets."""
    _initialise()
    version: int = st.session_state[_VERSION]
    return version


def refresh_widgets() -> None:
    """Redraw the config widgets from the current network (a refused value is dropped)."""
    _initialise()
    st.session_state[_VERSION] += 1


def config_error() -> str | None:
    """Why the last edit was refused, or None when the last edit was accepted."""
    _initialise()
    error: str | None = st.session_state[_ERROR]
    return error


def reject_edit(message: str) -> None:
    """Show why an edit was refused; the current (last valid) network stays active."""
    _initialise()
    st.session_state[_ERROR] = message
    st.error(
        _("**Not applied:** {reason}\n\nThe last valid network is still active.").format(
            reason=literal(message)
        ),
        icon=":material/error:",
    )


def rerun() -> NoReturn:
    """``st.rerun()`` with this run's URL written first.

    Streamlit starts the new run from the URL as it stands when ``st.rerun`` is called;
    written only after, the new run would see the old design there and take it for Back.
    """
    write_url()
    st.rerun()


def flash(message: str) -> None:
    """A success message shown once, on the next run (survives ``st.rerun``)."""
    st.session_state[_FLASH] = message
