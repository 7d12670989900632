"""State shared by every page: the current network, kept in the session and in the URL.

Every page calls :func:`ensure_state` first. It makes the page work on its
own (``AppTest.from_file("pages/<page>.py")`` from an empty session) and inside
the app frame alike:

* the first call of a session reads the design from the URL
  (``?preset=paper`` or ``?net=<token>``, see :mod:`googlenet_core.editing`);
  a bad or tampered link falls back to :data:`DEFAULT_PRESET` with a visible
  warning instead of a traceback;
* every call writes the current design back to the URL, so a refresh, a
  bookmark or a link sent to students shows the same network.

Pages read the network with :func:`current_config`, replace it with
:func:`set_config` and report a refused edit with :func:`reject_edit`; the
sidebar shows :func:`config_error` as a warning badge. Widgets that display the
config put :func:`config_version` in their keys, so they start again from the
new values whenever the config is replaced.
"""

from __future__ import annotations

import streamlit as st

from googlenet_core import GoogLeNetConfig, get_preset, network_name
from googlenet_core.editing import PRESET_PARAM, TOKEN_PARAM, config_from_query, query_for

#: The network a new session starts with: the one the paper's Table 1 describes.
DEFAULT_PRESET = "paper"

_CONFIG = "config"
_VERSION = "config_version"
_ERROR = "config_error"
_URL_NOTICE = "url_notice"
_FLASH = "flash_message"


def _initialise() -> None:
    """Load the design from the URL once per session (no output)."""
    if _CONFIG in st.session_state:
        return
    notice = None
    try:
        config = config_from_query(st.query_params.to_dict())
    except ValueError as exc:
        config = None
        notice = (
            f"The link's network could not be read ({exc}). "
            f"Showing the default network ({DEFAULT_PRESET}) instead."
        )
    st.session_state[_CONFIG] = config or get_preset(DEFAULT_PRESET)
    st.session_state[_VERSION] = 0
    st.session_state[_ERROR] = None
    st.session_state[_URL_NOTICE] = notice


def _sync_url(config: GoogLeNetConfig) -> None:
    """Make the URL's preset/net parameters describe ``config``; leave other parameters alone."""
    wanted = query_for(config)
    for key in (PRESET_PARAM, TOKEN_PARAM):
        if key not in wanted and key in st.query_params:
            del st.query_params[key]
    for key, value in wanted.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value


def _leave_pages_directory_mode() -> None:
    """Rerun through ``app.py`` when Streamlit ran this page file on its own.

    Streamlit decides between its old "pages/ directory" mode and
    ``st.navigation`` once per server process: until some session has run
    ``app.py``, a folder named ``pages/`` beside it switches the old mode on. So
    the first visitor of a freshly started server who opens a shared link to a
    page (``/shapes?net=...``) gets that page without the frame, and every page
    file, ``_common.py`` included, listed in the sidebar. Streamlit knows the
    quirk (https://github.com/streamlit/streamlit/pull/10276); clearing its
    flag and rerunning sends the same URL through ``app.py``'s navigation.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def ensure_state() -> None:
    """Set up the shared state and sync the URL. Call it first on every page.

    Shows the bad-link warning (until the network is changed) and a one-off
    message left by :func:`flash` on the previous run.
    """
    _leave_pages_directory_mode()
    _initialise()
    _sync_url(current_config())
    if st.session_state[_URL_NOTICE]:
        st.warning(st.session_state[_URL_NOTICE], icon=":material/link_off:")
    message = st.session_state.pop(_FLASH, None)
    if message:
        st.success(message)


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
        f"**Not applied:** {message}\n\nThe last valid network is still active.",
        icon=":material/error:",
    )


def flash(message: str) -> None:
    """A success message shown once, on the next run (survives ``st.rerun``)."""
    st.session_state[_FLASH] = message


def network_label(config: GoogLeNetConfig) -> str:
    """The preset's name (``mini-16px`` at another input side), or "custom" for an edited design."""
    return network_name(config)
