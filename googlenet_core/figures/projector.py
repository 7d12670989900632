"""Any figure of the dashboard made readable from the back of a lecture room.

The Concepts page's presentation mode shows one figure per screen at 1280x720;
:func:`for_projector` scales every font of a figure (its base font, titles,
annotations, tick labels, legends, text on bars) to at least
:data:`PROJECTOR_FONT` pixels and gives the plot the room the larger text needs.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from .style import FONT_SIZE

#: Smallest text in presentation mode, in pixels (the style's base is 17).
PROJECTOR_FONT = 20


def for_projector(
    fig: go.Figure, minimum: int = PROJECTOR_FONT, height: int | None = None
) -> go.Figure:
    """A copy of ``fig`` with every font at least ``minimum`` px and scaled alike.

    ``height`` replaces the figure's height (one screen at 1280x720 holds ~520 px
    under the concept's title); without it the height grows with the type, by at
    most 15 %.
    """
    scale = minimum / FONT_SIZE
    spec = fig.to_dict()
    _scale_fonts(spec, scale, minimum, in_font=False)
    layout = spec.setdefault("layout", {})
    for key, axis in layout.items():  # the gap under the tick labels grows with their type
        if key.startswith("xaxis") and isinstance(axis.get("ticklabelstandoff"), int | float):
            axis["ticklabelstandoff"] = round(axis["ticklabelstandoff"] * scale)
    font = layout.setdefault("font", {})  # scaled in the walk when the figure set it
    font.setdefault("size", max(minimum, round(FONT_SIZE * scale)))
    margin = layout.get("margin", {})
    for side in ("t", "b"):  # the title, subtitle and a legend below grow with their type
        if side in margin:
            margin[side] = round(margin[side] * scale)
    if height is not None:
        layout["height"] = height
    elif "height" in layout:
        layout["height"] = round(layout["height"] * min(scale, 1.15))
    return go.Figure(spec)


def _scale_fonts(node: Any, scale: float, minimum: int, in_font: bool) -> None:
    """Every ``size`` inside a ``*font`` mapping, scaled and raised to ``minimum``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if in_font and key == "size" and isinstance(value, int | float):
                node[key] = max(minimum, round(value * scale))
            else:
                _scale_fonts(value, scale, minimum, in_font=key.endswith("font"))
    elif isinstance(node, list):
        for item in node:
            _scale_fonts(item, scale, minimum, in_font)
