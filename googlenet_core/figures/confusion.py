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
from .style import MAIN_COLOR, figure, title_height, wrap

#: Thumbnails drawn per cell, side by side under its count (the page lists the rest).
SHOWN_PER_CELL = 2


def confusion_figure(confusion: Confusion, images: Mapping[str, bytes] | None = None) -> go.Figure:
    """The matrix; ``images`` (a mistake's file name -> PNG bytes) draws the thumbnails."""
    classes = [_short(c) for c in confusion.classes]
    n = len(classes)
    matrix = confusion.matrix
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
    text = [[str(v) if v else "" for v in row] for row in matrix]
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
                        "text": f"<b>{matrix[t][p]}</b>",
                        "showarrow": False,
                        "font": {"size": 14},
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
        textfont={"size": 15},
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
                "tickangle": -45 if max(map(len, classes)) > 4 and n > 4 else 0,
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


def _short(label: str, limit: int = 14) -> str:
    """A class name as plotly shows it: cut, and escaped (plotly reads <b>, <a href>)."""
    return html.escape(label if len(label) <= limit else label[: limit - 1] + "…", quote=False)
