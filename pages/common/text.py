"""Text a visitor typed or a file named, shown as typed: never parsed as markdown."""

from __future__ import annotations

import re


def literal(text: object, limit: int = 300) -> str:
    """Untrusted text as an inline code span: shown as typed, never parsed as markdown.

    Whitespace (newlines included) is folded to single spaces, the text cut at
    ``limit`` characters, and backticks, which would end the span, replaced.
    """
    folded = " ".join(str(text).split())
    if len(folded) > limit:
        folded = folded[: limit - 1] + "…"
    return "`" + (folded.replace("`", "'") or " ") + "`"


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: object, limit: int = 300) -> str:
    """Untrusted text shown as ordinary words in markdown: every character markdown (or
    Streamlit's LaTeX, links, emoji shortcodes) would read as syntax is escaped."""
    folded = " ".join(str(text).split())
    if len(folded) > limit:
        folded = folded[: limit - 1] + "…"
    return _MARKDOWN.sub(r"\\\1", folded)
