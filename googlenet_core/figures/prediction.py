"""Figures of predictions: pure functions, prediction results in, ``go.Figure`` out.

Styled by :mod:`.style` (projector-sized fonts, the paper's Figure 2 colours
for the four branches), and nothing read from or written to any UI.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import _
from ..inference.explain import BranchMaps, GradCam
from ..inference.predictor import HeadPrediction, ImageResult
from ..network.config import GoogLeNetConfig
from .style import (
    AUX_COLOR,
    COLORS,
    FONT_SIZE,
    MAIN_COLOR,
    TITLE_CHARS,
    UNTRAINED_COLOR,
    apply_style,
    title_height,
    wrap,
)

BRANCH_COLORS = {
    "1x1": COLORS["conv1x1"],
    "3x3": COLORS["conv3x3"],
    "5x5": COLORS["conv5x5"],
    "pool": COLORS["pool"],
}


def head_title(head: HeadPrediction, config: GoogLeNetConfig) -> str:
    """ "main head (after inception5b)", "aux1 (after inception4a)", "... · not trained"."""
    if head.head == "main":
        text = _("main head (after {block})").format(block=config.blocks[-1].name)
    else:
        after = {h.name: h.after for h in config.active_aux_heads}.get(head.head, "?")
        text = _("{head} (after {block})").format(head=head.head, block=after)
    return text if head.trained else _("{title} · not trained").format(title=text)


#: Heights in the heads figure, in pixels: one class (its label over its bar), and the
#: gap between two heads that holds the lower one's title.
CLASS_ROW = 46
HEAD_GAP = 44


def heads_figure(result: ImageResult, config: GoogLeNetConfig) -> go.Figure:
    """Top-k of every head, one under the other, labelled by position: main, aux1, aux2.

    Each class is written over its bar with its probability, across the figure's
    width: side by side, with the class names as tick labels, three heads did not
    fit half a 1280 px screen (names ran into the next head, the first head's title
    was cut at the left edge), let alone a phone.
    """
    heads = result.heads
    if not heads:
        raise ValueError(f"{result.name} has no predictions: {result.error}")
    k = max(len(h.probs) for h in heads)
    plot = len(heads) * k * CLASS_ROW + (len(heads) - 1) * HEAD_GAP
    fig = make_subplots(
        rows=len(heads),
        cols=1,
        shared_xaxes=True,
        subplot_titles=[head_title(h, config) for h in heads],
        vertical_spacing=HEAD_GAP / plot,
    )
    # The head titles start at the left edge, like the names under them.
    fig.update_annotations(x=0.0, xanchor="left", font_size=FONT_SIZE)
    for row, head in enumerate(heads, start=1):
        color = MAIN_COLOR if head.head == "main" else AUX_COLOR
        if not head.trained:
            color = UNTRAINED_COLOR
        names = [_short(label) for label in head.labels]
        # One row per rank, not per name: two classes whose names agree up to the cut
        # ("… photos - seven", "… photos - zero") shared one row, bars and text on top.
        ranks = [str(i) for i in range(len(names))]
        # The bar in the lower half of its class's row, the name over it in the upper.
        fig.add_trace(
            go.Bar(
                x=list(head.probs),
                y=ranks,
                orientation="h",
                width=0.4,
                offset=0.05,
                marker_color=color,
                hovertext=[_short(label, 200) for label in head.labels],
                hovertemplate="%{hovertext}: %{x:.2%}<extra>" + head.head + "</extra>",
                name=head.head,
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=[0.0] * len(names),
                y=ranks,
                mode="text",
                text=[f"{name}  <b>{p:.1%}</b>" for name, p in zip(names, head.probs, strict=True)],
                textposition="top right",
                cliponaxis=False,
                hoverinfo="skip",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        # The ranks as categories: one evenly spaced row each, the most probable on top.
        fig.update_yaxes(
            type="category",
            autorange="reversed",
            showticklabels=False,
            showgrid=False,
            row=row,
            col=1,
        )
        fig.update_xaxes(range=[0, 1], tickformat=".0%", row=row, col=1)
    # The name cut to fit one title line on a phone (file names are wide: digits, "_").
    title = _("Top {k} · {name}").format(k=k, name=_short(result.name, TITLE_CHARS - 12))
    top = title_height(title) + HEAD_GAP
    apply_style(fig, title, height=top + plot + 45, top_margin=top)
    return fig


def grad_cam_figure(image: np.ndarray, cam: GradCam, opacity: float = 0.45) -> go.Figure:
    """The image the network saw with the Grad-CAM heatmap laid over it."""
    rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    fig = go.Figure(go.Image(z=rgb, hoverinfo="skip"))
    fig.add_trace(
        go.Heatmap(
            z=cam.heatmap,
            zmin=0.0,
            zmax=1.0,
            colorscale="Jet",
            opacity=opacity,
            colorbar={
                "title": {"text": _("evidence")},
                "tickvals": [0, 1],
                "ticktext": ["0", _("max")],
            },
            hovertemplate="x %{x}, y %{y}: %{z:.2f}<extra></extra>",
        )
    )
    side = cam.heatmap.shape[0]
    where = {"stage": cam.stage, "stage_side": cam.stage_side, "side": side}
    subtitle = (
        _("at {stage} ({stage_side} × {stage_side}), upsampled to {side} px").format(**where)
        if cam.heatmap.any()
        else _(
            "at {stage} ({stage_side} × {stage_side}), upsampled to {side} px; "
            "no positive evidence here"
        ).format(**where)
    )
    fig.update_xaxes(visible=False, range=[-0.5, side - 0.5])
    fig.update_yaxes(visible=False, range=[side - 0.5, -0.5], scaleanchor="x")
    apply_style(
        fig,
        f"Grad-CAM · {cam.head} · “{_short(cam.label)}”",
        height=520,
        subtitle=subtitle,
        top_margin=120,
    )
    return fig


def branch_maps_figure(branches: Sequence[BranchMaps]) -> go.Figure:
    """One row per branch (1x1, 3x3, 5x5, pool): its most active channels for this image."""
    if not branches:
        raise ValueError("no branches to show")
    cols = max(len(b.maps) for b in branches)
    titles: list[str] = []
    for branch in branches:
        titles += [_("ch {channel}").format(channel=c) for c in branch.channel_indices]
        titles += [""] * (cols - len(branch.channel_indices))
    fig = make_subplots(
        rows=len(branches),
        cols=cols,
        subplot_titles=titles,
        horizontal_spacing=0.015,
        vertical_spacing=0.09,
    )
    fig.update_annotations(font_size=FONT_SIZE - 5)  # the "ch N" titles; branch labels follow
    for row, branch in enumerate(branches, start=1):
        # Plotly's own %{...} fields, kept through .format as {{...}}.
        hover = _("{name} ch %{{customdata}}: %{{z:.3f}}<extra></extra>").format(name=branch.branch)
        peak = float(branch.maps.max()) or 1.0  # one scale per branch: compare its channels
        for col, fmap in enumerate(branch.maps, start=1):
            fig.add_trace(
                go.Heatmap(
                    z=fmap,
                    zmin=0.0,
                    zmax=peak,
                    colorscale="Viridis",
                    showscale=False,
                    hovertemplate=hover,
                    customdata=np.full(fmap.shape, branch.channel_indices[col - 1]),
                ),
                row=row,
                col=col,
            )
            index = (row - 1) * cols + col
            # Square pixels: a feature map is a picture, not a chart to be stretched.
            fig.update_yaxes(
                autorange="reversed",
                scaleanchor="x" if index == 1 else f"x{index}",
                row=row,
                col=col,
            )
        fig.add_annotation(
            text=_("<b>{name}</b><br>{channels} ch<br>mean {mean:.3g}").format(
                name=branch.branch, channels=branch.channels, mean=branch.mean_activation
            ),
            xref="paper",
            yref=f"y{'' if row == 1 else (row - 1) * cols + 1} domain",
            x=-0.01,
            y=0.5,
            xanchor="right",
            showarrow=False,
            align="right",
            bgcolor=BRANCH_COLORS.get(branch.branch, COLORS["concat"]),
            font={"size": FONT_SIZE - 2},
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    block = branches[0].block
    side = branches[0].maps.shape[-1]
    subtitle = wrap(
        _(
            "before concatenation: the {cols} most active channels of each branch, "
            "{side} × {side} each"
        ).format(cols=cols, side=side)
    )
    title = _("{block}: its four branches").format(block=block)
    apply_style(
        fig,
        title,
        height=150 + 125 * len(branches),
        subtitle=subtitle,
        top_margin=title_height(title, subtitle) + 50,  # the first row's "ch N" above it
    )
    fig.update_layout(margin={"l": 130})
    return fig


def upscale(image: np.ndarray, min_side: int = 160) -> np.ndarray:
    """Nearest-neighbour enlargement of a small image (a 32 px digit) so its pixels show."""
    side = max(image.shape[0], image.shape[1])
    factor = max(1, int(np.ceil(min_side / side)))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1) if factor > 1 else image


def _short(label: str, limit: int = 28) -> str:
    """A class or file name as figure text: cut, and escaped.

    Plotly renders some HTML in text (``<a href>`` among it), and names come
    from checkpoints and uploads: ``<`` and ``&`` are shown, never interpreted.
    """
    cut = label if len(label) <= limit else label[: limit - 1] + "…"
    return html.escape(cut, quote=False)
