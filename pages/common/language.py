"""Each visitor's language: chosen per session, carried in the URL, switched in a click.

The first run of a session takes it from the link (``?lang=zh``, also inside a short
link), else from the browser's locale (``st.context.locale``: any ``zh-*`` gives
Chinese), else English. It is kept in the session's state, written back to the URL on
every run (so an exact-view link, a short link and its QR code open in the sender's
language) and changed by :func:`language_ui`, in the sidebar and on presentation screens.

``googlenet_core`` reads the language through a resolver registered here
(:func:`googlenet_core.i18n.set_language_resolver`) that looks in the session's state:
a page run, a widget's callback, a fragment and a dialog all run with their session's
script context, so each answers for its own visitor, never for the process.
"""

from __future__ import annotations

import streamlit as st

from googlenet_core.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    _,
    active_language,
    language_from_locale,
    normalise_language,
    set_language_resolver,
)
from googlenet_core.i18n.glossary import glossary_rows
from pages.common.view import initial_query, set_param

#: The URL parameter (one of :data:`googlenet_core.service.links.VIEW_PARAMS`).
LANG_PARAM = "lang"
_LANGUAGE = "language"


def _session_language() -> str | None:
    """The resolver: this session's language. (A thread of the server's own that speaks
    to a visitor sets its language itself, from the job it serves.)"""
    value = st.session_state.get(_LANGUAGE)
    return value if isinstance(value, str) else None


def choose_language() -> str:
    """This session's language, chosen on its first run; the frame calls it first thing."""
    set_language_resolver(_session_language)
    if _LANGUAGE not in st.session_state:
        # The browser's language first, so that what is said while a short link is
        # opened (it may have expired) is said in it; then the link's, when it has one.
        st.session_state[_LANGUAGE] = language_from_locale(st.context.locale)
        chosen = normalise_language(initial_query().get(LANG_PARAM))
        if chosen:
            st.session_state[_LANGUAGE] = chosen
    set_param(LANG_PARAM, st.session_state[_LANGUAGE])
    return active_language()


def set_session_language(language: str) -> None:
    """Switch this session to ``language`` (the design, the view and the runs stay)."""
    if language in LANGUAGES:
        st.session_state[_LANGUAGE] = language
        set_param(LANG_PARAM, language)


def _keep_choices() -> None:
    """Keep every choice a visitor made across the switch.

    A radio, a select box or a segmented control holds, in the browser, the *shown* text of
    its option (Streamlit matches it against the options on the next run). Shown through a
    translating ``format_func``, that text is in the old language, matches nothing in the
    new one, and the choice would be lost. So, before the run in the new language, each
    value is put back through Session State, which that run shows in the new language.
    Only plain values are: a button's (a bool) or an upload's may not be set this way.
    """
    for name in list(st.session_state.keys()):
        value = st.session_state[name]
        plain = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        listed = isinstance(value, list) and all(isinstance(v, (str, int)) for v in value)
        if plain or listed:
            st.session_state[name] = value


def language_ui(where: str, container: object = st) -> None:
    """The switch between English and 中文 (both named in their own language, so a
    visitor who reads only one of them finds it)."""
    current = active_language()
    key = f"language_{where}_{current}"  # a new widget per language: it starts on the current one

    def switched() -> None:
        chosen = st.session_state.get(key)
        if chosen:  # clicking the selected one again unselects it: stay
            _keep_choices()
            set_session_language(chosen)

    container.segmented_control(  # type: ignore[attr-defined]
        "Language · 语言",
        list(LANGUAGES),
        default=current,
        format_func=LANGUAGE_NAMES.__getitem__,
        key=key,
        label_visibility="collapsed",
        on_change=switched,
    )


def glossary_ui() -> None:
    """The one glossary of the field's terms, English beside Chinese (the Concepts page)."""
    with st.expander(_("Glossary: each term in English and Chinese"), icon=":material/translate:"):
        st.markdown(
            _(
                "Every page says each term this one way. The Chinese follows the Chinese "
                "edition of Dive into Deep Learning (zh.d2l.ai) where it has the term."
            )
        )
        st.dataframe(glossary_rows(), hide_index=True, width="stretch")
