"""A run's confusion matrix, with the validation images that went wrong inside their cells.

Rows are the true classes, columns the main head's answers; each cell says how many
validation images it holds, coloured by the share of its row (so a small class's errors
show as clearly as a large one's). An off-diagonal cell shows thumbnails of the images
behind its count (two, the most confident mistakes first), which is what
Teachable Machine's users asked for (googlecreativelab/teachablemachine-community #164):
a count says *that* the model confuses two classes, the pictures say *why*.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping

import plotly.graph_objects as go

from ..i18n import _
from ..training.confusion import Confusion
from .style import FONT_SIZE, LEGEND_CHAR, MAIN_COLOR, figure, text_width, title_height, wrap

#: Thumbnails drawn per cell, side by side under its count (the page lists the rest).
SHOWN_PER_CELL = 2
#: The figure's width, in pixels, in a 1280 px window (the Train page's expander) and on a
#: 390 px phone: the narrowest it is drawn at on each, which a cell's count must fit.
WIDE, PHONE = 700, 320
#: A count's type: the body size where it fits its cell; never under the smallest size
#: (below it, the cells keep their colour and the counts are in the table and the hover).
COUNT_SIZE, SMALLEST_COUNT = 15, 9


def confusion_figure(
    confusion: Confusion, images: Mapping[str, bytes] | None = None, width: int = WIDE
) -> go.Figure:
    """The matrix; ``images`` (a mistake's file name -> PNG bytes) draws the thumbnails;
    ``width``: the narrowest the figure will be drawn at (:data:`PHONE` on a phone)."""
    classes = [_short(c) for c in confusion.classes]
    n = len(classes)
    matrix = confusion.matrix
    size = _count_size(classes, matrix, width)
    shares = [[v / max(sum(row), 1) for v in row] for row in matrix]
    hover = [
        [
            _("true {true}, answered {answer}: {count} of {total} images").format(
                true=html.escape(confusion.classes[t], quote=False),
                answer=html.escape(confusion.classes[p], quote=False),
                count=matrix[t][p],
                total=sum(matrix[t]),
            )  # fmt: skip
            for p in range(n)
        ]
        for t in range(n)
    ]
    layout_images, counts = [], []
    text = [[str(v) if v and size else "" for v in row] for row in matrix]
    if images:
        for t in range(n):
            for p in range(n):
                shown = [
                    m
                    for m in confusion.cell(t, p)
                    if t != p and m.file is not None and m.file.name in images
                ][:SHOWN_PER_CELL]
                if not shown:
                    continue
                # The count moves to the top of the cell; its thumbnails go side by side below.
                text[t][p] = ""
                counts.append(
                    {
                        "x": p,
                        "y": t - 0.48,
                        "xanchor": "center",
                        "yanchor": "top",
                        "text": f"<b>{matrix[t][p]}</b>" if size else "",
                        "showarrow": False,
                        "font": {"size": size or SMALLEST_COUNT},
                    }
                )
                for k, mistake in enumerate(shown):
                    assert mistake.file is not None
                    data = images[mistake.file.name]
                    layout_images.append(
                        {
                            "source": "data:image/png;base64," + base64.b64encode(data).decode(),
                            "xref": "x",
                            "yref": "y",
                            "x": p - 0.47 + 0.48 * k,
                            "y": t - 0.08,
                            "sizex": 0.46,
                            "sizey": 0.56,
                            "xanchor": "left",
                            "yanchor": "top",
                            "layer": "above",
                            "sizing": "contain",
                        }
                    )
    heatmap = go.Heatmap(
        z=shares,
        x=list(range(n)),
        y=list(range(n)),
        zmin=0,
        zmax=1,
        colorscale=[[0, "#ffffff"], [1, MAIN_COLOR]],
        showscale=False,
        text=text,
        texttemplate="%{text}",
        textfont={"size": size or SMALLEST_COUNT},
        hovertext=hover,
        hoverinfo="text",
        xgap=1,
        ygap=1,
    )
    ticks = {"tickmode": "array", "tickvals": list(range(n)), "ticktext": classes}
    side = min(720, max(360, 64 * n + 160))
    right = sum(matrix[i][i] for i in range(n))
    total = sum(map(sum, matrix))
    epoch = confusion.epoch
    subtitle = (
        _(
            "rows: true class; {right} of {total} validation images right (best epoch {epoch})"
        ).format(right=right, total=total, epoch=epoch)
        if epoch is not None
        else _("rows: true class; {right} of {total} validation images right").format(
            right=right, total=total
        )
    )
    title, subtitle = _("Confusion matrix"), wrap(subtitle)
    return figure(
        [heatmap],
        {
            "xaxis": {
                **ticks,
                "title": {"text": _("answered")},
                "side": "bottom",
                "showgrid": False,
                "range": [-0.5, n - 0.5],
                "tickangle": _column_angle(classes, width),
            },
            "yaxis": {
                **ticks,
                "title": {"text": _("true class")},
                "autorange": "reversed",
                "showgrid": False,
            },
            "images": layout_images,
            "annotations": counts,
        },
        title,
        side,
        subtitle=subtitle,
        top_margin=title_height(title, subtitle) + 16,
    )


def _name_width(classes: list[str]) -> float:
    """The widest class name as drawn, in pixels (generously: see :data:`LEGEND_CHAR`)."""
    return max((text_width(html.unescape(c)) for c in classes), default=1) * LEGEND_CHAR


def _cell(classes: list[str], width: int) -> float:
    """A cell's side in pixels at ``width``: the plot is what the row names, the two axis
    titles and the margins leave."""
    return (width - _name_width(classes) - 2 * FONT_SIZE - 60) / max(len(classes), 1)


def _column_angle(classes: list[str], width: int) -> int:
    """Upright where every name fits its column at ``width``; turned 45° where the turned
    names clear each other; else on their side.

    Decided here, not by plotly.js's ``autotickangles``: it measured five names of 14
    characters in 118 px columns as fitting and drew them 6 px into each other; and a
    fixed rule by name length let "10" and "11" of 20 classes run together on a phone.
    """
    cell = _cell(classes, width)
    if _name_width(classes) + 8 <= cell:
        return 0
    return -45 if cell >= 1.5 * 1.2 * FONT_SIZE else -90  # a turned line's height, and room


def _count_size(classes: list[str], matrix: tuple[tuple[int, ...], ...], width: int) -> int:
    """The type size at which every count fits its cell at ``width``; 0 when none does.

    A digit is 0.6 of the type size wide in the figures' sans-serif, and a cell keeps
    4 px clear.
    """
    cell = _cell(classes, width)
    digits = len(str(max((v for row in matrix for v in row), default=0)))
    size = min(COUNT_SIZE, int((cell - 4) / (0.6 * digits)))
    return size if size >= SMALLEST_COUNT else 0


def _short(label: str, limit: int = 14) -> str:
    """A class name as plotly shows it: cut, and escaped (plotly reads <b>, <a href>)."""
    return html.escape(label if len(label) <= limit else label[: limit - 1] + "…", quote=False)
