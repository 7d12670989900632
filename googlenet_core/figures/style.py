"""The one style every figure of the dashboard shares, sized for a projector.

Large fonts, a title that says what is shown, labelled axes with light grids,
and the same colour for the same thing everywhere: the paper's Figure 2
colours for the layer kinds (1x1 yellow, 3x3 orange, 5x5 blue, pooling red),
the main head in blue and the auxiliary heads in amber.

:func:`figure` builds a figure with everything in its constructor;
:func:`apply_style` styles one made by ``make_subplots``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

import plotly.graph_objects as go

#: Base font size of every figure, in pixels: readable from the back of a lecture room.
FONT_SIZE = 17
TITLE_SIZE = 22
#: Characters of title / body text that fit one line of a phone-wide figure (~350 px):
#: plotly never wraps text, and a line wider than the figure is cut at its edge.
TITLE_CHARS = 30
TEXT_CHARS = 38
#: Width of a legend character, generous (a capital is wider than the mean), in pixels; a
#: Chinese character counts as two (:func:`text_width`).
LEGEND_CHAR = 0.58 * FONT_SIZE
#: Extra gap between an x axis and its tick labels, in pixels. In the corner where the axes
#: meet, the first x label sits under the axis and the lowest y label beside it, centred on
#: its tick: when that tick falls within a few pixels of the bottom (a loss curve whose
#: autorange ends just under 0.8), half of "0.8" hangs below the axis into "1" at step 1.
#: Measured in Chromium at 17 px: they overlap with no gap, not with 4 px or more.
TICK_STANDOFF = round(0.35 * FONT_SIZE)
#: Space between the top of the figure and the first line of the title, in pixels.
TITLE_PAD = 10
FONT_FAMILY = "Source Sans 3, Source Sans Pro, Arial, sans-serif"
TEXT = "#111827"
GRID = "#e5e7eb"
ZERO_LINE = "#cbd5e1"

COLORS = {
    "input": "#e5e7eb",
    "conv1x1": "#fde68a",
    "conv3x3": "#fdba74",
    "conv5x5": "#93c5fd",
    "pool": "#fca5a5",
    "concat": "#c7d2fe",
    # stage kinds of the whole-network diagram
    "conv": "#a7f3d0",
    "maxpool": "#fca5a5",
    "inception": "#c7d2fe",
    "aux": "#fde68a",
    "avgpool": "#fecaca",
    "classifier": "#d8b4fe",
}
MAIN_COLOR = "#2563eb"
AUX_COLOR = "#d97706"
AUX2_COLOR = "#b45309"
DEPTH_COLOR = "#94a3b8"
UNTRAINED_COLOR = "#9ca3af"
#: One colour per run when runs are overlaid: Okabe and Ito's palette (without its yellow),
#: told apart by everyone, colour-blind viewers and washed-out projectors included.
RUN_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: A table cell that disagrees (the paper's Table 1 against arithmetic).
HIGHLIGHT = "background-color: #fde2e2; color: #991b1b; font-weight: 600"


def format_count(value: float) -> str:
    """6_998_552 -> '7.00 M', 1_586_000_000 -> '1.59 G', 9472 -> '9.5 K'."""
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= threshold:
            digits = 1 if suffix == "K" else 2
            return f"{value / threshold:.{digits}f} {suffix}"
    return f"{value:g}"


def format_change(before: int, after: int) -> str:
    """'9.48 M → 9.60 M', or exact with the difference where the rounded figures agree.

    9_475_648 -> 9_480_256 reads '9,475,648 → 9,480,256 (+4,608)': '9.48 M → 9.48 M'
    would say the count did not change when it did.
    """
    if format_count(before) != format_count(after) or before == after:
        return f"{format_count(before)} → {format_count(after)}"
    return f"{before:,} → {after:,} ({after - before:+,})"


#: One unit of a line: a run of spaces, a Chinese character or a word of any other script
#: (never broken), each with the punctuation that may not start a line glued to it.
_WIDE = "\u2e80-\u9fff\u3000-\u303f\uf900-\ufaff\uff00-\uffef"
_CLOSING = "，。：；！？、）》」』】”’%"
_UNITS = re.compile(rf"\s+|[{_WIDE}][{_CLOSING}]*|[^\s{_WIDE}]+[{_CLOSING}]*")


def text_width(text: str) -> int:
    """``text``'s width in Latin characters: a Chinese character (East Asian wide or
    full-width) takes two, as it does on screen in any of the figures' fonts."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wrap(text: str, width: int = TEXT_CHARS) -> str:
    """Plain ``text`` broken into lines of at most ``width`` (:func:`text_width`), joined
    with ``<br>``: English at its spaces, Chinese between any two characters (it has no
    spaces), but never before a comma or a closing bracket; a word longer than a line is
    kept whole."""
    lines: list[str] = []
    line, space = "", False
    for unit in _UNITS.findall(text):
        if unit.isspace():
            space = bool(line)
            continue
        candidate = f"{line} {unit}" if space else line + unit
        if line and text_width(candidate) > width:
            lines.append(line)
            candidate = unit
        line, space = candidate, False
    if line:
        lines.append(line)
    return "<br>".join(lines) or text


def title_height(title: str, subtitle: str = "") -> int:
    """Pixels from the top of the figure to below the title and its subtitle."""
    lines = title.count("<br>") + 1
    height = TITLE_PAD + round(TITLE_SIZE * 1.3) * lines
    if subtitle:
        height += 6 + round((FONT_SIZE - 1) * 1.3) * (subtitle.count("<br>") + 1)
    return height


def legend_below(names: Iterable[str] = ()) -> dict[str, Any]:
    """A horizontal legend in a strip of its own under the plot.

    With ``yref="container"`` plotly.js reserves the legend's height at the bottom
    however many rows it wraps into on a narrow screen, so it covers neither the
    axis title nor the plot; above the plot, in the top margin, it ran into the
    title as soon as it needed a second row. ``names``, the entries' text, gives
    every entry one width (its symbol and the longest line): plotly.js measures an
    entry a few pixels short and cut the end off the last one of a row.
    """
    legend: dict[str, Any] = {"orientation": "h", "x": 0, "xanchor": "left", "y": 0}
    # The body size, stated: a legend must never read smaller than the text around it.
    legend["font"] = {"size": FONT_SIZE}
    legend |= {"yanchor": "bottom", "xref": "container", "yref": "container"}
    # Its whole height: plotly.js caps a horizontal legend at half the figure's and scrolls
    # the rest out of sight (three runs' nine accuracy entries, the last one cut).
    legend["maxheight"] = 1.0
    lines = [line for name in names for line in name.split("<br>")]
    if lines:
        widest = max(text_width(line) for line in lines)
        legend["entrywidth"] = 45 + round(LEGEND_CHAR * widest)
    return legend


def base_layout(
    title: str, height: int, subtitle: str = "", top_margin: int | None = None
) -> dict[str, Any]:
    """Title, fonts, white background, margins and a legend under the title."""
    title_spec: dict[str, Any] = {"text": title, "font": {"size": TITLE_SIZE}, "x": 0.0}
    # Anchored to the figure's top edge with a pad: at y=0.995 the tops of the
    # letters were cut by a pixel or two.
    title_spec |= {"xanchor": "left", "y": 1.0, "yanchor": "top", "yref": "container"}
    title_spec["pad"] = {"t": TITLE_PAD}
    if subtitle:
        title_spec["subtitle"] = {"text": subtitle, "font": {"size": FONT_SIZE - 1}}
    return {
        "title": title_spec,
        "font": {"size": FONT_SIZE, "family": FONT_FAMILY, "color": TEXT},
        # No named template: validating "plotly_white" costs ~50 ms per figure, and
        # plotly.js's own defaults (white, light grid) are as clean on a projector.
        "template": "none",
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hoverlabel": {"font": {"size": FONT_SIZE}},
        "height": height,
        "margin": {"l": 20, "r": 20, "t": top_margin or (125 if subtitle else 105), "b": 20},
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "yref": "paper"},
    }


def axis_style(x: bool = False) -> dict[str, Any]:
    """What "plotly_white" would give an axis: room for tick labels and titles, light grid;
    an x axis's tick labels a little further from it (:data:`TICK_STANDOFF`)."""
    style = {"automargin": True, "gridcolor": GRID, "zerolinecolor": ZERO_LINE}
    return style | {"ticklabelstandoff": TICK_STANDOFF} if x else style


def figure(
    data: Iterable[Any],
    layout: dict[str, Any],
    title: str,
    height: int,
    subtitle: str = "",
    top_margin: int | None = None,
) -> go.Figure:
    """One ``go.Figure`` with the shared style; ``layout`` adds axes, shapes, annotations.

    Everything goes into the constructor: each later ``update_layout`` re-walks
    every shape and annotation, which made figure building the slowest part of
    a rerun after an edit.
    """
    for key, axis in layout.items():
        if key.startswith(("xaxis", "yaxis")) and axis.get("visible", True):
            for name, value in axis_style(x=key.startswith("xaxis")).items():
                axis.setdefault(name, value)
    return go.Figure(  # a figure's own layout (its legend, say) wins over the shared style
        data=list(data), layout={**base_layout(title, height, subtitle, top_margin), **layout}
    )


def apply_style(
    fig: go.Figure, title: str, height: int, subtitle: str = "", top_margin: int | None = None
) -> go.Figure:
    """The shared style on a figure built another way (``make_subplots``)."""
    fig.update_layout(base_layout(title, height, subtitle, top_margin))
    fig.update_xaxes(axis_style(x=True))
    fig.update_yaxes(axis_style())
    return fig
