"""The Concepts page's table of concepts, and presentation mode's way through them.

Each concept has a slug (its URL name, ``?present=1&concept=<slug>``) and a title (its
label on the landing page's picker and on presentation mode's bar); ``app.py`` draws
each one. The table lives here, apart from the drawing, so that tests and benchmarks
walk the same concepts without running the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from googlenet_core.i18n import N_, _
from pages.common.language import language_ui
from pages.common.view import presenting, set_presenting, share_ui


@dataclass(frozen=True)
class Concept:
    slug: str  # its URL name: ?present=1&concept=<slug>
    title: str  # its label on the picker and the presentation bar (English; N_-marked)


CONCEPTS = (
    Concept("inception", N_("Inception")),
    Concept("reductions", N_("1×1 reductions")),
    Concept("output-size", N_("Output size")),
    Concept("aux-heads", N_("Aux heads")),
    Concept("gradients", N_("Gradients")),
    Concept("deploy", N_("Deployment")),
    Concept("gap", N_("Avg pooling")),
    Concept("paper", N_("Table 1")),
)
CONCEPT_BY_SLUG = {c.slug: c for c in CONCEPTS}
SLUGS = tuple(CONCEPT_BY_SLUG)


def title(slug: str) -> str:
    """The concept's title in the visitor's language."""
    text = CONCEPT_BY_SLUG[slug].title
    return _(text)


def number(slug: str) -> int:
    """The concept's number on screen: its place in :data:`CONCEPTS`, from 1."""
    return SLUGS.index(slug) + 1


def present_picked() -> None:
    """The landing page's picker: open the chosen concept in presentation mode."""
    slug = st.session_state.get("present_pick")
    if slug:
        st.session_state["concept"] = slug
        st.session_state["present_pick"] = None
        set_presenting(True)


def step(offset: int) -> None:
    """Back (-1) or Next (+1) in presentation mode, round the table."""
    here = SLUGS.index(st.session_state.get("concept") or SLUGS[0])
    st.session_state["concept"] = st.session_state["concept_shown"] = SLUGS[
        (here + offset) % len(SLUGS)
    ]


def navigation_ui() -> Concept:
    """Presentation mode's bar: every concept by name (Back, Next, Exit go by the title)."""
    slug = st.segmented_control(
        _("Concept"),
        list(SLUGS),
        format_func=title,
        key="concept",
        label_visibility="collapsed",
        on_change=_keep_a_concept,
    )
    slug = slug or SLUGS[0]
    st.session_state["concept_shown"] = slug
    return CONCEPT_BY_SLUG[slug]


def _keep_a_concept() -> None:
    """Clicking the selected concept again unselects it: stay on it instead."""
    if st.session_state.get("concept") is None:
        st.session_state["concept"] = st.session_state.get("concept_shown", SLUGS[0])
    st.session_state["concept_shown"] = st.session_state["concept"]


# ---- how a concept is drawn -----------------------------------------------------------------


def heading(slug: str, text: str) -> None:
    """The concept's title, numbered by its place in the concepts' table; in presentation mode
    with Back, Next, Share, Exit and the language switch beside it, each as wide as its label
    (never squeezed: the row wraps under the title on a narrow screen instead)."""
    if not presenting():
        st.header(f"{number(slug)} · {text}", divider="gray")
        return
    with st.container(horizontal=True, vertical_alignment="center", key="present_heading"):
        st.header(f"{number(slug)} · {text}", width="stretch")
        with st.container(horizontal=True, width="content", key="present_controls"):
            st.button(_("Back"), key="concept_back", on_click=step, args=(-1,), shortcut="Left")
            st.button(_("Next"), key="concept_next", on_click=step, args=(1,), shortcut="Right")
            share_ui("present_share", N_("Share"))
            st.button(_("Exit"), key="present_exit", on_click=set_presenting, args=(False,))
            language_ui("present")  # the sidebar is folded away on a projector


def visual(slug: str) -> Any:
    """The container of a concept's main visual (``.st-key-visual_<slug>`` in the page)."""
    return st.container(key=f"visual_{slug}")
