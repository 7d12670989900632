"""Figures of the network itself, built from a config or its analysis.

Pure functions: a config (or an :class:`Analysis`) in, a ``go.Figure`` (or a
styled table) out, nothing read from or written to any UI; styled by
:mod:`.style`.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from pandas.io.formats.style import Styler

from ..i18n import N_, _
from ..network.analysis import Analysis, BlockCost
from ..network.config import InceptionSpec
from .style import (
    AUX_COLOR,
    COLORS,
    DEPTH_COLOR,
    FONT_SIZE,
    HIGHLIGHT,
    MAIN_COLOR,
    TEXT,
    figure,
    format_count,
    legend_below,
    title_height,
    wrap,
)


class _Diagram:
    """Boxes, lines and labels collected as plain dicts, handed to plotly in one go.

    ``fig.add_shape`` / ``add_annotation`` validate and copy the whole layout on
    every call (a 20-stage network took over a second); one ``go.Figure`` with
    all of them validates each once.
    """

    def __init__(self) -> None:
        self.shapes: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []

    def box(
        self,
        x: float,
        y: float,
        half_width: float,
        half_height: float,
        color: str,
        border: str = "#334155",
        border_width: float = 1.5,
    ) -> None:
        self.shapes.append(
            {
                "type": "rect",
                "x0": x - half_width,
                "x1": x + half_width,
                "y0": y - half_height,
                "y1": y + half_height,
                "fillcolor": color,
                "line": {"color": border, "width": border_width},
                "layer": "below",
            }
        )

    def line(self, x0: float, y0: float, x1: float, y1: float, color: str, width: float) -> None:
        self.shapes.append(
            {"type": "line", "x0": x0, "x1": x1, "y0": y0, "y1": y1}
            | {"line": {"color": color, "width": width}}
        )

    def text(self, x: float, y: float, text: str, **style: Any) -> None:
        self.annotations.append({"x": x, "y": y, "text": text, "showarrow": False, **style})

    def arrow(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.annotations.append(
            {"x": x1, "y": y1, "ax": x0, "ay": y0, "text": "", "showarrow": True}
            | {"xref": "x", "yref": "y", "axref": "x", "ayref": "y", "arrowhead": 2}
            | {"arrowsize": 1.2, "arrowwidth": 1.8, "arrowcolor": "#334155"}
        )

    def layout(self, x_range: tuple[float, float], y_range: tuple[float, float]) -> dict[str, Any]:
        axis = {"visible": False, "fixedrange": True}
        return {
            "shapes": self.shapes,
            "annotations": self.annotations,
            "xaxis": {**axis, "range": list(x_range)},
            "yaxis": {**axis, "range": list(y_range)},
        }


# ---- one Inception block --------------------------------------------------------------
def inception_block_figure(
    spec: InceptionSpec,
    in_channels: int,
    side: int,
    reduced: bool,
    cost: BlockCost,
) -> go.Figure:
    """The four branches of one block and their concatenation (the paper's Figure 2).

    ``reduced=False`` draws the naive module (a) of the paper: 1x1, 3x3 and
    5x5 convolutions straight on the input and a pass-through 3x3 max-pool;
    ``reduced=True`` the module as built (b), with 1x1 reductions before the
    3x3 and 5x5 and a 1x1 projection after the pool. ``cost`` is that
    variant's entry of :func:`naive_vs_reduced`.
    """
    k = spec.branch3_kernel

    def conv(size: int, channels: int) -> str:
        return _("{k}×{k} conv<br><b>{n}</b>").format(k=size, n=channels)

    def reduce(channels: int) -> str:
        return _("1×1 conv<br><b>{n}</b><br>(reduce)").format(n=channels)

    # Each branch: its layers from top to bottom, as (label, colour). Three short lines
    # a box: four boxes side by side hold ~75 px each on a phone, where one-line labels
    # ("1×1 conv 96 (reduce)") ran over their boxes and into each other.
    if reduced:
        branches = [
            [(conv(1, spec.ch1x1), COLORS["conv1x1"])],
            [
                (reduce(spec.ch3x3red), COLORS["conv1x1"]),
                (conv(3, spec.ch3x3), COLORS["conv3x3"]),
            ],
            [
                (reduce(spec.ch5x5red), COLORS["conv1x1"]),
                (conv(k, spec.ch5x5), COLORS["conv5x5"]),
            ],
            [
                (_("max pool<br>3×3<br>stride 1"), COLORS["pool"]),
                (
                    _("1×1 conv<br><b>{n}</b><br>(project)").format(n=spec.pool_proj),
                    COLORS["conv1x1"],
                ),
            ],
        ]
        outputs = [spec.ch1x1, spec.ch3x3, spec.ch5x5, spec.pool_proj]
    else:
        branches = [
            [(conv(1, spec.ch1x1), COLORS["conv1x1"])],
            [(conv(3, spec.ch3x3), COLORS["conv3x3"])],
            [(conv(k, spec.ch5x5), COLORS["conv5x5"])],
            [
                (
                    _("max pool<br>3×3<br>all <b>{n}</b>").format(n=in_channels),
                    COLORS["pool"],
                )
            ],
        ]
        outputs = [spec.ch1x1, spec.ch3x3, spec.ch5x5, in_channels]
    # y in pixels of the plot at the default height, from the concatenation (bottom) up.
    bottom, top = 26.0, 308.0  # centres of the concat box (52 px) and the input box (36 px)
    levels_of = {1: [169.0], 2: [218.0, 120.0]}  # centres of a branch's boxes (76 px)
    box = 38.0  # half a branch box's height
    diagram = _Diagram()
    diagram.box(2.0, top, 1.6, 18.0, COLORS["input"])
    diagram.text(
        2.0,
        top,
        _("<b>Input</b>  {depth} × {side} × {side}").format(depth=in_channels, side=side),
    )
    for column, layers in enumerate(branches):
        x = column * 4 / 3
        # Where the branch leaves the input and meets the concat: close enough above and
        # below it that the first branch's arrow clears the second branch's boxes.
        fan = 2.0 + (x - 2.0) * 0.6
        levels = levels_of[len(layers)]
        diagram.arrow(fan, top - 18.0, x, levels[0] + box)
        for level, (label, color) in zip(levels, layers, strict=True):
            diagram.box(x, level, 0.645, box, color)
            diagram.text(x, level, label)
        if len(levels) == 2:
            diagram.arrow(x, levels[0] - box, x, levels[1] + box)
        diagram.arrow(x, levels[-1] - box, fan, bottom + 26.0)
    concat = " + ".join(str(c) for c in outputs)
    diagram.box(2.0, bottom, 2.62, 26.0, COLORS["concat"])
    diagram.text(
        2.0,
        bottom,
        _("<b>Filter concatenation</b><br>{sum} = {total} × {side} × {side}").format(
            sum=concat, total=sum(outputs), side=side
        ),
    )
    # One short title line (a phone holds ~32 characters of it), the numbers under it.
    if reduced:
        title = _("{block}, with 1×1 reductions").format(block=spec.name)
    else:
        title = _("{block}, naive").format(block=spec.name)
    subtitle = _("{params} parameters, {macs} MACs").format(
        params=format_count(cost.params), macs=format_count(cost.macs)
    )
    if not reduced:
        subtitle = _("no 1×1 reductions: {costs}").format(costs=subtitle)
    subtitle = wrap(subtitle)
    layout = diagram.layout((-0.66, 4.66), (-4.0, 330.0))
    margin = title_height(title, subtitle) + 12
    return figure([], layout, title, margin + 334 + 20, subtitle=subtitle, top_margin=margin)


def naive_vs_reduced_frame(costs: dict[str, BlockCost]) -> pd.DataFrame:
    """The two variants side by side, with how many times the naive one costs more."""
    naive, reduced = costs["naive"], costs["reduced"]
    # Shown read-only, so its headers are in the visitor's language (English: as they were).
    return pd.DataFrame(
        {
            _("naive (no 1×1 reductions)"): [naive.params, naive.macs, naive.out_channels],
            _("with 1×1 reductions"): [reduced.params, reduced.macs, reduced.out_channels],
            _("naive ÷ reduced"): [
                round(naive.params / max(reduced.params, 1), 2),
                round(naive.macs / max(reduced.macs, 1), 2),
                round(naive.out_channels / max(reduced.out_channels, 1), 2),
            ],
        },
        index=[_("parameters"), _("MACs"), _("output depth")],
    )


# ---- the output-size formula -----------------------------------------------------------
def output_size_latex(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> str:
    """The output-size formula with the numbers filled in, as LaTeX for ``st.latex``."""
    bracket = (
        (r"\left\lceil ", r" \right\rceil") if ceil_mode else (r"\left\lfloor ", r" \right\rfloor")
    )
    return (
        r"\text{out} = " + bracket[0] + r"\frac{\text{in} - k + 2p}{s}" + bracket[1] + r" + 1"
        r" = "
        + bracket[0]
        + rf"\frac{{{size} - {kernel} + 2 \cdot {padding}}}{{{stride}}}"
        + bracket[1]
        + r" + 1"
    )


# ---- the whole network ---------------------------------------------------------------
def _trunk(analysis: Analysis) -> list[Any]:
    return [row for row in analysis.rows if not row.is_aux]


def _side(shape: tuple[int, ...]) -> int:
    return shape[1] if len(shape) == 3 else 1


def shapes_figure(analysis: Analysis) -> go.Figure:
    """Spatial side (line, left axis) and depth (bars, right axis) after every trunk stage."""
    trunk = _trunk(analysis)
    config = analysis.config
    names = [_("input"), *(row.name for row in trunk)]
    sides = [config.input_size, *(_side(row.out_shape) for row in trunk)]
    depths = [config.in_channels, *(row.out_shape[0] for row in trunk)]
    depth = go.Bar(
        x=names, y=depths, name=_("depth"), marker_color=DEPTH_COLOR, opacity=0.6, yaxis="y2"
    )
    side = go.Scatter(
        x=names,
        y=sides,
        name=_("side (pixels)"),
        mode="lines+markers+text",
        textfont={"color": MAIN_COLOR, "size": FONT_SIZE + 1},
        # Label the side only where it changes, so the numbers do not crowd the line.
        text=[str(s) if i == 0 or s != sides[i - 1] else "" for i, s in enumerate(sides)],
        textposition="top right",
        line={"color": MAIN_COLOR, "width": 4},
        marker={"size": 10},
    )
    layout = {
        "xaxis": {"tickangle": -50, "title": {"text": _("stage (input → output)")}},
        "yaxis": {"title": {"text": _("spatial side (pixels)")}, "rangemode": "tozero"},
        "yaxis2": {
            "title": {"text": _("depth (channels)")},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "rangemode": "tozero",
            "tickmode": "auto",  # not aligned to the left axis's grid (odd steps like 449)
            "nticks": 6,
        },
    }
    return figure([depth, side], layout, _("Side shrinks, depth grows"), height=600)


def cost_figure(analysis: Analysis) -> go.Figure:
    """Parameters (top) and MACs (bottom) of every stage that has any; aux heads in orange."""
    rows = [row for row in analysis.rows if row.params or row.macs]
    names = [row.name for row in rows]
    colors = [AUX_COLOR if row.is_aux else MAIN_COLOR for row in rows]
    params = go.Bar(
        x=names,
        y=[row.params for row in rows],
        marker_color=colors,
        hovertemplate=_("%{x}: %{y:,} parameters<extra></extra>"),
        xaxis="x",
        yaxis="y",
    )
    macs = go.Bar(
        x=names,
        y=[row.macs for row in rows],
        marker_color=colors,
        hovertemplate=_("%{x}: %{y:,} MACs<extra></extra>"),
        xaxis="x2",
        yaxis="y2",
    )
    # Two stacked panels sharing the stage axis (what make_subplots builds, without its cost).
    layout = {
        "showlegend": False,
        "xaxis": {"anchor": "y", "matches": "x2", "showticklabels": False},
        "yaxis": {"domain": [0.54, 1.0], "title": {"text": _("parameters")}},
        "xaxis2": {"anchor": "y2", "tickangle": -50},
        "yaxis2": {"domain": [0.0, 0.46], "title": {"text": _("MACs")}},
        "annotations": [
            {"text": text, "x": 0.5, "y": y, "xref": "paper", "yref": "paper"}
            | {"showarrow": False, "yanchor": "bottom", "font": {"size": FONT_SIZE + 1}}
            for text, y in ((_("parameters"), 1.0), (_("MACs per image"), 0.46))
        ],
    }
    subtitle = _("auxiliary heads in orange") if analysis.aux_params else ""
    title = _("Parameters and MACs per stage")
    return figure([params, macs], layout, title, height=660, subtitle=subtitle)


#: Row pitch of the network diagram in pixels: a box holds two lines (name, shape).
STAGE_ROW = 56


def network_figure(analysis: Analysis) -> go.Figure:
    """The whole network top to bottom, drawn from the config.

    One box per trunk stage (width grows with its depth, colour by kind) with its
    name and output shape, and each auxiliary head on the right, joined to the
    block it reads. The x range is sized for a phone (~310 px of plot): the
    narrowest box still holds "64 × 112 × 112", the aux box "→ 1000 classes";
    with the shapes in a column of their own on the left, their leading digits
    were cut off under ~900 px and the names ran over the aux connectors.

    Boxes are horizontal bars and labels their text, not layout shapes: a
    handful of traces validate in a fraction of the time of a hundred shapes
    and annotations, which keeps a rerun after an edit fast.
    """
    trunk = _trunk(analysis)
    config = analysis.config
    rows: list[tuple[str, str, tuple[int, ...]]] = [
        ("input", "input", (config.in_channels, config.input_size, config.input_size))
    ]
    rows += [(row.name, row.kind, row.out_shape) for row in trunk]
    max_depth = max(shape[0] for *_unused, shape in rows)
    ys = [-float(index) for index in range(len(rows))]
    y_of = {name: y for (name, *_unused), y in zip(rows, ys, strict=True)}
    halves = [0.8 + 0.2 * (shape[0] / max_depth) ** 0.5 for *_unused, shape in rows]  # fits
    box_text: dict[str, Any] = {"textposition": "inside", "insidetextanchor": "middle"}
    box_text |= {"constraintext": "none"}
    box_text |= {"textfont": {"color": TEXT, "size": FONT_SIZE}, "width": 0.84}
    stages = go.Bar(
        orientation="h",
        y=ys,
        x=[2 * half for half in halves],
        base=[-half for half in halves],
        marker={
            "color": [COLORS.get(kind, COLORS["input"]) for _unused, kind, _shape in rows],
            "line": {"color": "#334155", "width": 1},
        },
        text=[f"<b>{_stage(name)}</b><br>{_shape_text(shape)}" for name, _kind, shape in rows],
        hovertext=[f"{_stage(name)}: {_shape_text(shape)}" for name, _kind, shape in rows],
        hoverinfo="text",
        showlegend=False,
        **box_text,
    )
    links = go.Scatter(
        mode="lines",
        x=[x for _unused in ys[1:] for x in (0, 0, None)],
        y=[v for y in ys[1:] for v in (y + 0.58, y + 0.42, None)],
        line={"color": "#334155", "width": 1},
        hoverinfo="skip",
        showlegend=False,
    )
    traces: list[Any] = [stages, links]
    aux_rows = [row for row in analysis.rows if row.is_aux]
    if aux_rows:
        after = {head.name: head.after for head in config.aux_heads}
        aux_ys = [y_of[after[row.name]] for row in aux_rows]
        traces.append(
            go.Scatter(
                mode="lines",
                x=[x for y in aux_ys for x in (halves[ys.index(y)], 1.2, None)],
                y=[v for y in aux_ys for v in (y, y, None)],
                line={"color": AUX_COLOR, "width": 3},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        traces.append(
            go.Bar(
                orientation="h",
                y=aux_ys,
                x=[1.7] * len(aux_rows),
                base=[1.2] * len(aux_rows),
                marker={"color": COLORS["aux"], "line": {"color": AUX_COLOR, "width": 2}},
                text=[
                    _("<b>{head}</b><br>→ {n} classes").format(head=row.name, n=row.out_shape[0])
                    for row in aux_rows
                ],
                hovertext=[f"{row.name}: {row.detail}" for row in aux_rows],
                hoverinfo="text",
                showlegend=False,
                **box_text,
            )
        )
    legend_kinds = ["conv", "maxpool", "inception", "avgpool", "classifier"]
    if aux_rows:
        legend_kinds.append("aux")
    legend = [_(label) for label in (KIND_LABELS[kind] for kind in legend_kinds)]
    traces += [
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker={"size": 16, "color": COLORS[kind], "symbol": "square"},
            name=name,
        )
        for kind, name in zip(legend_kinds, legend, strict=True)
    ]
    axis = {"visible": False, "fixedrange": True}
    layout = {
        "barmode": "overlay",
        "xaxis": {**axis, "range": [-1.05, 2.95]},
        "yaxis": {**axis, "range": [ys[-1] - 0.55, 0.55]},
        # Under the diagram, in a strip of its own: above it, it ran into the title.
        "legend": legend_below(legend),
    }
    title = _("The network, input at the top")
    top = title_height(title) + 16
    # Room for the legend as a phone wraps it (one entry a row), so rows keep their pitch.
    height = top + STAGE_ROW * len(rows) + 26 * len(legend)
    return figure(traces, layout, title, height, top_margin=top)


#: The network diagram's legend: each kind of stage as a visitor reads it.
KIND_LABELS = {
    "conv": N_("conv"),
    "maxpool": N_("maxpool"),
    "inception": N_("inception"),
    "avgpool": N_("avgpool"),
    "classifier": N_("dropout + linear"),
    "aux": N_("auxiliary head"),
}


def _stage(name: str) -> str:
    """A stage's name as shown: the modules' own names, but the input in words."""
    return _("input") if name == "input" else name


def _shape_text(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return f"{shape[0]} × {shape[1]} × {shape[2]}"
    return f"{shape[0]}"


# ---- the paper's Table 1 -------------------------------------------------------------
#: Table 1 as shown: a column per quantity, with human headers (translated where shown).
PAPER_COLUMNS = {
    "row": N_("layer (paper)"),
    "stages": N_("our stages"),
    "output": N_("output size"),
    "params": N_("params K"),
    "ops": N_("ops M"),
}


def paper_table_style(frame: pd.DataFrame) -> Styler:
    """:func:`paper.compare`'s table as it fits a projector: a column per quantity, one
    number where the paper and arithmetic agree, "paper → computed" in red where not.

    Five columns instead of eight, so a 1280 px screen shows the ops column (and its
    conv1 mismatch) without scrolling.
    """
    quantities = {  # shown column -> (published, computed, differs, format)
        "output": ("published_output", "computed_output", "output_differs", "{}"),
        "params": ("published_params_k", "computed_params_k", "params_differ", "{:,.1f}"),
        "ops": ("published_ops_m", "computed_ops_m", "ops_differ", "{:,.1f}"),
    }

    def cell(value: object, pattern: str) -> str:
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        return "—" if missing else pattern.format(value)

    shown = pd.DataFrame({"row": frame["row"], "stages": frame["stages"]})
    for name, (published, computed, differs, pattern) in quantities.items():
        shown[name] = [
            f"{cell(p, pattern)} → {cell(c, pattern)}" if d else cell(c, pattern)
            for p, c, d in zip(frame[published], frame[computed], frame[differs], strict=True)
        ]

    headers = {column: _(header) for column, header in PAPER_COLUMNS.items()}
    headed = shown.rename(columns=headers)

    def highlight(table: pd.DataFrame) -> pd.DataFrame:
        styles = pd.DataFrame("", index=table.index, columns=table.columns)
        for name, (_published, _computed, differs, _pattern) in quantities.items():
            styles.loc[frame[differs].astype(bool), headers[name]] = HIGHLIGHT
        return styles

    return headed.style.apply(highlight, axis=None)
