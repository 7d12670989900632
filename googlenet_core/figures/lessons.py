"""Figures and tables for the Concepts page's arguments (:mod:`..network.lessons`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from ..i18n import N_, _, pgettext
from ..network.analysis import Analysis
from ..network.config import GoogLeNetConfig
from ..network.lessons import BranchCost, NetworkStep
from ..training.flow import StageFlow
from .style import (
    AUX2_COLOR,
    AUX_COLOR,
    FONT_SIZE,
    MAIN_COLOR,
    figure,
    format_count,
    legend_below,
    title_height,
    wrap,
)

#: :func:`branch_frame`'s columns as a visitor reads them (the frame keeps the English).
BRANCH_COLUMNS = {
    "branch": N_("branch"),
    "MACs, naive": N_("MACs, naive"),
    "MACs, with 1×1": N_("MACs, with 1×1"),
    "saved": N_("saved"),
    "params, naive": N_("params, naive"),
    "params, with 1×1": N_("params, with 1×1"),
    "depth out, naive": N_("depth out, naive"),
    "depth out, with 1×1": N_("depth out, with 1×1"),
}


def branch_label(branch: str) -> str:
    """A branch's name as shown: its windows ("1×1") as they are, the pooling one in words."""
    return _("pool") if branch == "pool" else branch


def branch_frame(branches: Sequence[BranchCost]) -> pd.DataFrame:
    """One row per branch: MACs and parameters with and without the 1x1 reductions.

    The columns keep their English names (code reads them; :data:`BRANCH_COLUMNS`
    heads them on screen); the branch's name is the visitor's (:func:`branch_label`).
    """
    return pd.DataFrame(
        [
            {
                "branch": branch_label(b.branch),
                "MACs, naive": b.naive_macs,
                "MACs, with 1×1": b.macs,
                "saved": f"{b.naive_macs / b.macs:.1f}×" if b.macs and b.naive_macs else "—",
                "params, naive": b.naive_params,
                "params, with 1×1": b.params,
                "depth out, naive": b.naive_out_channels,
                "depth out, with 1×1": b.out_channels,
            }
            for b in branches
        ]
    )


def naive_network_figure(steps: Sequence[NetworkStep]) -> go.Figure:
    """Depth (top) and MACs (bottom) per block, as built and with every block naive."""
    names = [s.block for s in steps]
    built_total = sum(s.macs for s in steps)
    naive_total = sum(s.naive_macs for s in steps)

    def trace(
        values: list[int], name: str, color: str, axis: str, kind: str, below: bool = False
    ) -> go.Scatter:
        common = {"x": names, "y": values, "name": name, "xaxis": f"x{axis}", "yaxis": f"y{axis}"}
        common["legendgroup"] = name
        common["showlegend"] = axis == ""
        if kind == "bar":
            hover = _("%{{x}}: %{{y:,}} MACs ({name})").format(name=name)
            return go.Bar(**common, marker_color=color, hovertemplate=hover)
        return go.Scatter(
            **common,
            mode="lines+markers+text",
            line={"color": color, "width": 3},
            marker={"size": 9},
            # The first and last values only: one label per block ran together on a phone.
            text=[f"{v:,}" if i in (0, len(values) - 1) else "" for i, v in enumerate(values)],
            textposition="bottom center" if below else "top center",
            textfont={"size": FONT_SIZE - 1, "color": color},
            cliponaxis=False,
            hovertemplate=_("%{{x}}: %{{y}} channels out ({name})<extra></extra>").format(
                name=name
            ),
        )

    reduced, naive = _("with 1×1 reductions"), _("naive")
    data = [
        trace([s.out_channels for s in steps], reduced, MAIN_COLOR, "", "line", True),
        trace([s.naive_out_channels for s in steps], naive, AUX_COLOR, "", "line"),
        trace([s.macs for s in steps], reduced, MAIN_COLOR, "2", "bar"),
        trace([s.naive_macs for s in steps], naive, AUX_COLOR, "2", "bar"),
    ]
    layout = {
        "barmode": "group",
        "xaxis": {"anchor": "y", "matches": "x2", "showticklabels": False},
        "yaxis": {"domain": [0.56, 1.0], "title": {"text": _("depth out")}, "rangemode": "tozero"},
        "xaxis2": {"anchor": "y2", "tickangle": -40},
        "yaxis2": {"domain": [0.0, 0.46], "title": {"text": _("MACs")}, "exponentformat": "SI"},
    }
    subtitle = wrap(
        _("all blocks: {built} MACs with 1×1 reductions, {naive} naive ({ratio:.1f}×)").format(
            built=format_count(built_total),
            naive=format_count(naive_total),
            ratio=naive_total / max(built_total, 1),
        )
    )
    layout["legend"] = legend_below([reduced, naive])
    title = _("Naive blocks: depth and cost")
    top = title_height(title, subtitle) + 16
    return figure(data, layout, title, 600, subtitle, top_margin=top)


def aux_heads_figure(config: GoogLeNetConfig) -> go.Figure:
    """The trunk from the stem to the classifier, with each aux head branching off its block.

    One box per Inception block (named by its short name, "4a"), the stem before them
    and the main head after; a head hangs below the block it reads, labelled with its
    loss weight's name. aux1 is the head nearest the input.
    """
    # A box is narrow on a phone: its label is one short word in every language.
    names = [
        pgettext("box label", "stem"),
        *(_short(b.name) for b in config.blocks),
        pgettext("box label", "main"),
    ]
    full = ["stem", *(b.name for b in config.blocks), "avgpool + fc"]
    heads = {h.after: h.name for h in config.active_aux_heads}
    shapes: list[dict[str, object]] = []
    notes: list[dict[str, object]] = []
    trunk_y, head_y, half = 1.0, 0.0, 0.36
    for x, (name, long) in enumerate(zip(names, full, strict=True)):
        color = "#475569" if x in (0, len(names) - 1) else MAIN_COLOR
        shapes.append(_box(x, trunk_y, half, color))
        notes.append(_label(x, trunk_y, name, "white"))
        if x:
            shapes.append(_line(x - 1 + half, trunk_y, x - half, trunk_y))
        if long in heads:
            shapes.append(_line(x, trunk_y - 0.22, x, head_y + 0.22))
            shapes.append(_box(x, head_y, half, AUX_COLOR))
            notes.append(_label(x, head_y, heads[long], "white"))
            weight = "w₁" if heads[long] == "aux1" else "w₂"
            loss = _("loss × {weight}").format(weight=weight)
            notes.append(_label(x, head_y - 0.42, loss, AUX_COLOR, size=FONT_SIZE))
    last = len(names) - 1
    # Right-aligned with the last box: centred, it ran off a phone-wide figure.
    main_loss = _label(last + half, head_y - 0.42, _("loss × 1"), MAIN_COLOR, size=FONT_SIZE)
    notes.append(main_loss | {"xanchor": "right"})
    shapes.append(_line(last, trunk_y - 0.22, last, head_y - 0.25))
    layout = {
        "shapes": shapes,
        "annotations": notes,
        "showlegend": False,
        "xaxis": {"visible": False, "range": [-0.6, last + 0.6]},
        "yaxis": {"visible": False, "range": [-0.75, 1.35]},
    }
    subtitle = wrap(
        _("training adds each head's loss with its weight; deployed, the heads are dropped")
        if heads
        else _("this design has no auxiliary heads switched on")
    )
    title = _("Where the aux heads attach")
    layout["margin"] = {"l": 10, "r": 10, "t": title_height(title, subtitle) + 12, "b": 10}
    return figure([], layout, title, 330 + 20 * subtitle.count("<br>"), subtitle)


def gradient_flow_figure(rows: Sequence[StageFlow], w1: float, w2: float) -> go.Figure:
    """Per trunk stage (input on the left), the gradient norm each weighted loss sends there."""
    stages = [_short(r.stage) for r in rows]
    series = (
        (_("main loss"), [r.main for r in rows], MAIN_COLOR),
        (_("{weight:g} × aux1 loss").format(weight=w1), [r.aux1 for r in rows], AUX_COLOR),
        (_("{weight:g} × aux2 loss").format(weight=w2), [r.aux2 for r in rows], AUX2_COLOR),
    )
    data = [
        go.Bar(
            x=stages,
            y=values,
            name=name,
            marker_color=color,
            hovertemplate=f"%{{x}}: %{{y:.3g}} ({name})<extra></extra>",
        )
        for name, values, color in series
        if any(values)
    ]
    layout: dict[str, object] = {
        "barmode": "group",
        "yaxis": {"title": {"text": _("gradient norm")}, "rangemode": "tozero"},
        "legend": legend_below([trace.name for trace in data]),
    }
    gain = max(r.gain for r in rows)
    subtitle = wrap(
        _(
            "one batch of digits, fresh weights; the input on the left; "
            "up to {gain:.2f}× with the aux losses"
        ).format(gain=gain)
        if gain > 1.005
        else _("one batch of digits, fresh weights; the input on the left")
    )
    title = _("Gradient sent to each stage")
    top = title_height(title, subtitle) + 16
    return figure(data, layout, title, 470, subtitle, top_margin=top)


def deploy_figure(analysis: Analysis) -> go.Figure:
    """Parameters and MACs while training (trunk + aux heads) and once deployed (trunk only).

    Every number is drawn at the body size. Plotly shrinks text inside a bar to fit it,
    and the aux heads' share of the MACs (under 1 %) took their labels to 1 px; labels
    above the bars ran into the other panel's axis on a phone. So the trunk's number
    stays inside its (tall) bar at a fixed size, and each aux head's numbers are in its
    legend entry; each panel says what it counts under its bars, not beside them.
    """
    aux = [(r.name, r.params, r.macs) for r in analysis.rows if r.is_aux]
    kept = (analysis.params_without_aux, analysis.macs_without_aux)
    totals = (analysis.total_params, analysis.total_macs)
    # The two bars' names: "while training" and "once deployed", not a run's status.
    columns = [pgettext("deployment", "training"), pgettext("deployment", "deployed")]
    trunk = _("trunk + main head")
    data = []
    for axis, index in (("", 0), ("2", 1)):
        data.append(
            go.Bar(
                x=columns,
                y=[kept[index]] * 2,
                name=trunk,
                legendgroup="trunk",
                showlegend=axis == "",
                marker_color=MAIN_COLOR,
                text=[format_count(kept[index])] * 2,
                textposition="inside",
                insidetextanchor="middle",
                textfont={"size": FONT_SIZE},
                constraintext="none",  # turned sideways in a narrow bar, never scaled down
                xaxis=f"x{axis}",
                yaxis=f"y{axis}",
                hovertemplate=f"%{{x}}: %{{y:,}}<extra>{trunk}</extra>",
            )
        )
        for (head, params, macs), color in zip(aux, (AUX_COLOR, AUX2_COLOR), strict=False):
            data.append(
                go.Bar(
                    x=columns[:1],
                    y=[(params, macs)[index]],
                    name=_(  # three short lines: one long line ran off a phone's screen
                        "{head}, training only<br>+{params} parameters<br>+{macs} MACs"
                    ).format(head=head, params=format_count(params), macs=format_count(macs)),
                    legendgroup=head,
                    showlegend=axis == "",
                    marker_color=color,
                    xaxis=f"x{axis}",
                    yaxis=f"y{axis}",
                    hovertemplate=f"%{{x}}: %{{y:,}}<extra>{head}</extra>",
                )
            )
    layout = {
        "barmode": "stack",
        "xaxis": {"domain": [0.0, 0.44], "anchor": "y", "title": {"text": _("parameters")}},
        "yaxis": {"range": [0, totals[0] * 1.04]},
        "xaxis2": {
            "domain": [0.56, 1.0],
            "anchor": "y2",
            "title": {"text": pgettext("axis", "MACs per image")},
        },
        "yaxis2": {"range": [0, totals[1] * 1.04], "anchor": "x2", "exponentformat": "SI"},
    }
    layout["legend"] = legend_below([trace.name for trace in data if trace.showlegend])
    params, macs = totals
    subtitle = wrap(
        _(
            "parameters {params} → {params_kept} ({fewer:.0%} fewer); MACs {macs} → {macs_kept}"
        ).format(
            params=format_count(params),
            params_kept=format_count(kept[0]),
            fewer=1 - kept[0] / params,
            macs=format_count(macs),
            macs_kept=format_count(kept[1]),
        )
        if aux
        else _("this design has no auxiliary heads: training and deployment are the same network")
    )
    title = _("Training vs deployed")
    top = title_height(title, subtitle) + 16
    return figure(data, layout, title, 500, subtitle, top_margin=top)


def _short(name: str) -> str:
    return name.removeprefix("inception") or name


def _box(x: float, y: float, half: float, color: str) -> dict[str, object]:
    return {
        "type": "rect",
        "x0": x - half,
        "x1": x + half,
        "y0": y - 0.22,
        "y1": y + 0.22,
        "fillcolor": color,
        "line": {"width": 0},
        "layer": "below",
    }


def _line(x0: float, y0: float, x1: float, y1: float) -> dict[str, object]:
    return {
        "type": "line",
        "x0": x0,
        "y0": y0,
        "x1": x1,
        "y1": y1,
        "line": {"color": "#64748b", "width": 2},
    }


def _label(
    x: float, y: float, text: str, color: str, size: int = FONT_SIZE + 1
) -> dict[str, object]:
    return {
        "x": x,
        "y": y,
        "text": text,
        "showarrow": False,
        "font": {"size": size, "color": color},
        "xref": "x",
        "yref": "y",
    }
