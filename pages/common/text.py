"""Text a visitor typed or a file named, shown as typed: never parsed as markdown."""

from __future__ import annotations


def literal(text: object, limit: int = 300) -> str:
    """Untrusted text as an inline code span: shown as typed, never parsed as markdown.

    Whitespace (newlines included) is folded to single spaces, the text cut at
    ``limit`` characters, and backticks, which would end the span, replaced.
    """
    folded = " ".join(str(text).split())
    if len(folded) > limit:
        folded = folded[: limit - 1] + "…"
    return "`" + (folded.replace("`", "'") or " ") + "`"
