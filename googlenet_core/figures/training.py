"""Figures of training runs: loss curves, accuracy per head, gradient norms per stage.

Pure functions from a run's typed events (:mod:`googlenet_core.training.events`)
to ``go.Figure``; several runs are overlaid by passing several labelled event
lists. The main head is solid blue and the auxiliary heads amber throughout,
and a head's line style (solid main, dotted aux1, dashed aux2) tells the loss
formula's terms apart without colour.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from ..i18n import _, pgettext
from ..training.compare import GradientRatio
from ..training.events import Event, epochs_of, steps_of
from .style import (
    AUX2_COLOR,
    AUX_COLOR,
    FONT_SIZE,
    MAIN_COLOR,
    RUN_COLORS,
    TEXT,
    TEXT_CHARS,
    figure,
    legend_below,
    title_height,
    wrap,
)

Runs = Mapping[str, Sequence[Event]]

#: Line style per head: the formula's three terms, told apart without colour.
HEAD_DASH = {"main": "solid", "aux1": "dot", "aux2": "dash", "total": "solid"}
EPOCH_DASHES = ("dot", "dashdot", "dash", "solid")  # earliest to latest (the last is solid)
HEAD_COLORS = {"total": TEXT, "main": MAIN_COLOR, "aux1": AUX_COLOR, "aux2": AUX2_COLOR}
#: Characters of a legend entry per line: a run's label ("mini-16px digits w0.3/0.3
#: (…1a2b) · main") is wider than a phone, and plotly cuts a legend at the figure's edge.
LEGEND_CHARS = 26
#: Height of one line of legend text, in pixels.
LEGEND_LINE = 24
#: Most epoch labels an axis shows (a phone's plot is about 310 px wide).
EPOCH_TICKS = 10


def _axes(x_title: str, y_title: str, **extra: dict[str, Any]) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "xaxis": ({"title": {"text": x_title}} if x_title else {}) | extra.pop("xaxis", {}),
        "yaxis": {"title": {"text": y_title}} | extra.pop("yaxis", {}),
        "hovermode": "x unified",
    }
    return layout | extra


def _figure(
    traces: Sequence[Any], layout: dict[str, Any], title: str, height: int, subtitle: str = ""
) -> go.Figure:
    """The shared style with the legend under the plot and the plot kept ``height`` tall.

    Above the plot a legend of several runs wrapped into rows that ran into the
    title and the plot. Under it, in a strip plotly reserves, each entry wrapped
    to :data:`LEGEND_CHARS`; the figure grows by what that strip takes on a phone
    (one entry a row), so the plot keeps its height there too.
    """
    subtitle = "<br>".join(wrap(part, TEXT_CHARS) for part in subtitle.split("\n") if part)
    listed = [t for t in traces if t.name and t.showlegend is not False]
    names = [wrap(t.name, LEGEND_CHARS) for t in listed]
    for trace, name in zip(listed, names, strict=True):
        trace.name = name
    shown = len(names) > 1 or layout.get("showlegend", False)
    legend_lines = sum(name.count("<br>") + 1 for name in names) if shown else 0
    layout = layout | {"legend": legend_below(names), "showlegend": shown}
    top = title_height(title, subtitle) + 16
    total = height + top + LEGEND_LINE * legend_lines
    return figure(traces, layout, title, total, subtitle=subtitle, top_margin=top)


def _head_name(head: str) -> str:
    """A head (or the total loss) as a legend names it: ``aux1`` and ``aux2`` are names."""
    if head == "total":
        return pgettext("loss curve", "total")
    if head == "main":
        return pgettext("classifier head", "main")
    return head


def _color(i: int) -> str:
    return RUN_COLORS[i % len(RUN_COLORS)]


def _head_lines(
    runs: Runs,
    heads: Callable[[bool], tuple[str, ...]],
    points: Callable[[Sequence[Event], str], list[tuple[float, float]]],
    main: str,
    markers: bool = False,
) -> list[go.Scatter]:
    """One line per run and head: a head's colour and dash for one run, the run's colour
    and the head's dash for several; ``main`` drawn thicker.

    The legend of several runs lists the runs, not every run's heads (a click shows or
    hides all of a run's lines): three runs' nine accuracy entries took more room than
    the plot. Each line keeps its run and head as its name, for the hover, and the
    caller's subtitle says which dash is which head (:func:`_head_key`).
    """
    traces: list[go.Scatter] = []
    single = len(runs) == 1
    for i, (label, events) in enumerate(runs.items()):
        if not single:  # the run's legend entry: its colour, no data
            traces.append(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="lines",
                    name=label,
                    line={"color": _color(i), "width": 3},
                    legendgroup=label,
                    hoverinfo="skip",
                )
            )
        for head in heads(single):
            found = points(events, head)
            if not found:
                continue
            line = {
                "color": HEAD_COLORS[head] if single else _color(i),
                "dash": HEAD_DASH[head],
                "width": 3 if head == main else 2,
            }
            traces.append(
                go.Scatter(
                    x=[p[0] for p in found],
                    y=[p[1] for p in found],
                    mode="lines+markers" if markers else "lines",
                    name=_head_name(head) if single else f"{label} · {_head_name(head)}",
                    line=line,
                    marker={"size": 9 if head == main else 6} if markers else None,
                    opacity=1.0 if head == main or single or markers else 0.6,
                    legendgroup=None if single else label,
                    showlegend=single,
                )
            )
    return traces


def _head_key(heads: Sequence[str], main: str) -> str:
    """Which line is which head, for a legend that lists runs: "main solid, aux1 dotted"."""
    looks = {
        "solid": pgettext("line style", "solid"),
        "dot": pgettext("line style", "dotted"),
        "dash": pgettext("line style", "dashed"),
    }
    parts = []
    for head in heads:
        look = looks[HEAD_DASH[head]]
        if head != main and HEAD_DASH[head] == HEAD_DASH[main]:
            look = pgettext("line style", "thin")  # the loss's main term, under its total
        elif head == main and any(HEAD_DASH[h] == HEAD_DASH[main] for h in heads if h != main):
            look = pgettext("line style", "thick")
        parts.append(_("{head} {look}").format(head=_head_name(head), look=look))
    return _("each run: {key}").format(key=pgettext("list separator", ", ").join(parts))


def _epoch_ticks(traces: Sequence[go.Scatter]) -> dict[str, Any]:
    """Whole epochs only, at most :data:`EPOCH_TICKS` of them: every epoch of 30 took 30
    labels, turned on their side at 700 px and crowded on a phone."""
    last = max((x for trace in traces for x in trace.x if x is not None), default=1)
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 10**9) if last / s <= EPOCH_TICKS)
    return {"dtick": step, "tick0": 0}


def loss_figure(runs: Runs, height: int = 330) -> go.Figure:
    """Training loss per step: total, main, aux1, aux2 (one run), or total and main per run."""

    def points(events: Sequence[Event], head: str) -> list[tuple[float, float]]:
        losses = ((e.step, e.losses()[head]) for e in steps_of(events))
        return [(step, loss) for step, loss in losses if loss is not None]

    def heads(single: bool) -> tuple[str, ...]:  # several runs: their totals and main losses
        return ("total", "main", "aux1", "aux2") if single else ("total", "main")

    traces = _head_lines(runs, heads, points, main="total")
    subtitle = _("loss = main + w1·aux1 + w2·aux2")
    if len(runs) > 1:
        subtitle += "\n" + _head_key(heads(False), "total")
    layout = _axes(_("step"), _("cross-entropy"))
    return _figure(traces, layout, _("Training loss"), height, subtitle)


def accuracy_figure(runs: Runs, height: int = 330) -> go.Figure:
    """Held-out accuracy per epoch of every head (solid main, dotted aux1, dashed aux2)."""

    def points(events: Sequence[Event], head: str) -> list[tuple[float, float]]:
        return [(e.epoch, s.acc) for e in epochs_of(events) if (s := e.score(head)) is not None]

    traces = _head_lines(
        runs, lambda _single: ("main", "aux1", "aux2"), points, "main", markers=True
    )
    layout = _axes(
        _("epoch"),
        _("accuracy"),
        yaxis={"tickformat": ".0%", "rangemode": "tozero"},
        xaxis=_epoch_ticks(traces),
    )
    key = _head_key(("main", "aux1", "aux2"), "main") if len(runs) > 1 else ""
    return _figure(traces, layout, _("Validation accuracy per head"), height, key)


def grad_norm_figure(runs: Runs, height: int = 380) -> go.Figure:
    """Each stage's gradient norm in the latest epoch, input on the left; log scale.

    The vanishing-gradient argument of the paper's section 5 made visible: with
    the auxiliary weights at 0 the early blocks receive only what survives the
    whole trunk; with 0.3 the heads inject gradient into the middle of the network.
    """
    traces: list[go.Bar] = []
    order: list[str] = []
    for i, (label, events) in enumerate(runs.items()):
        epochs = epochs_of(events)
        if not epochs:
            continue
        norms = epochs[-1].grad_norms
        for stage in norms:
            if stage not in order:
                order.append(stage)
        traces.append(
            go.Bar(
                x=list(norms),
                y=[max(v, 1e-12) for v in norms.values()],
                name=_("{label} (epoch {epoch})").format(label=label, epoch=epochs[-1].epoch),
                marker={"color": _color(i)},
                hovertemplate="%{x}: %{y:.4g}<extra>" + label + "</extra>",
            )
        )
    # No axis title under the stage names: when plotly turns them upright on a narrow
    # screen it places the title for the slanted names, on top of the upright ones.
    layout = _axes(
        "",
        _("‖∇‖ (log scale)"),
        yaxis={"type": "log"} | _log_ticks([v for trace in traces for v in trace.y]),
        xaxis={"categoryorder": "array", "categoryarray": order, "autotickangles": [40, 90]},
    )
    layout |= {"barmode": "group", "hovermode": "closest"}
    subtitle = _("mean over the latest epoch's steps; input on the left, then the heads")
    return _figure(traces, layout, _("Gradient norm per stage"), height, subtitle)


def _log_ticks(values: Sequence[float]) -> dict[str, Any]:
    """Tick values for a log axis over ``values``: 1-2-5 per decade, or every few decades.

    Plotly's own choice on a span of a decade or two labels every digit in small
    type (unreadable, and overlapping at 300 px); these are full-size and spaced.
    """
    if not values:
        return {}
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    if high - low <= 3:
        ticks = [m * 10.0**e for e in range(low, high + 1) for m in (1, 2, 5)]
    else:
        step = math.ceil((high - low) / 5)
        ticks = [10.0**e for e in range(high, low - 1, -step)]
    shown = [t for t in ticks if min(values) / 1.5 <= t <= max(values) * 1.5]
    return {"tickvals": shown, "ticktext": [f"{t:g}" for t in shown]}


def early_gradient_figure(runs: Runs, stage: str, height: int = 290) -> go.Figure:
    """One stage's gradient norm per epoch for each run (e.g. the stem, ``conv1``)."""
    traces = []
    for i, (label, events) in enumerate(runs.items()):
        points = [
            (e.epoch, e.grad_norms[stage]) for e in epochs_of(events) if stage in e.grad_norms
        ]
        if points:
            traces.append(
                go.Scatter(
                    x=[p[0] for p in points],
                    y=[p[1] for p in points],
                    mode="lines+markers",
                    name=label,
                    line={"color": _color(i), "width": 3},
                )
            )
    layout = _axes(_("epoch"), "‖∇‖", xaxis=_epoch_ticks(traces))
    title = _("Gradient norm at {stage}").format(stage=stage)
    return _figure(traces, layout, title, height, _("per epoch"))


def throughput_figure(runs: Runs, height: int = 260) -> go.Figure:
    """Training images per second at each logged step."""
    traces = []
    for i, (label, events) in enumerate(runs.items()):
        steps = steps_of(events)
        if steps:
            traces.append(
                go.Scatter(
                    x=[e.step for e in steps],
                    y=[e.images_per_s for e in steps],
                    mode="lines",
                    name=label,
                    line={"color": _color(i), "width": 2},
                )
            )
    layout = _axes(_("step"), _("images / s"), yaxis={"rangemode": "tozero"})
    return _figure(traces, layout, _("Throughput"), height)


def gradient_ratio_figure(
    rows: Sequence[GradientRatio], aux_after: Mapping[str, str], height: int = 400
) -> go.Figure:
    """Per stage, input on the left: gradient norm with the aux losses / without; linear axis.

    One line per epoch (darker later). 1.0 (dashed) means the aux heads change
    nothing; the dotted lines mark where each aux head joins the trunk, and the
    shaded stages before the first one are those the heads reach only through
    the trunk, as the paper's section 5 argues.
    """
    stages = list(dict.fromkeys(r.stage for r in rows))
    epochs = sorted({r.epoch for r in rows})
    traces: list[go.Scatter] = []
    for n, epoch in enumerate(epochs):
        mine = {r.stage: r.ratio for r in rows if r.epoch == epoch}
        name = _("epoch {epoch}").format(epoch=epoch)
        shade = 0.35 + 0.65 * (n + 1) / len(epochs)
        traces.append(
            go.Scatter(
                x=stages,
                y=[mine.get(s) for s in stages],
                mode="lines+markers",
                name=name,
                # Dashes as well as shades: the last epoch solid, earlier ones dotted/dashed.
                line={"color": MAIN_COLOR, "width": 3, "dash": EPOCH_DASHES[-len(epochs) + n]}
                if len(epochs) <= len(EPOCH_DASHES)
                else {"color": MAIN_COLOR, "width": 3},
                marker={"size": 9},
                opacity=shade,
                hovertemplate="%{x}: %{y:.2f}x<extra>" + name + "</extra>",
            )
        )
    shapes: list[dict[str, Any]] = [
        {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1}
        | {"line": {"color": TEXT, "dash": "dash", "width": 1.5}}
    ]
    annotations: list[dict[str, Any]] = []
    joins = [(name, block) for name, block in aux_after.items() if block in stages]
    if joins:
        first = min(stages.index(block) for _name, block in joins)
        shapes.append(
            {"type": "rect", "xref": "x", "yref": "paper", "x0": -0.5, "x1": first + 0.5}
            | {"y0": 0, "y1": 1, "fillcolor": AUX_COLOR, "opacity": 0.08, "line": {"width": 0}}
        )
    for name, block in joins:
        at = stages.index(block)
        shapes.append(
            {"type": "line", "xref": "x", "yref": "paper", "x0": at, "x1": at, "y0": 0, "y1": 1}
            | {"line": {"color": AUX_COLOR, "dash": "dot", "width": 2}}
        )
        annotations.append(
            {"x": at, "y": 1.0, "xref": "x", "yref": "paper", "yanchor": "bottom"}
            # The name alone: "aux1 joins" / "aux2 joins" ran into each other on a phone.
            | {"text": name, "showarrow": False, "font": {"color": AUX_COLOR, "size": FONT_SIZE}}
        )
    layout = _axes(
        "",
        _("with ÷ without aux heads"),
        xaxis={"categoryorder": "array", "categoryarray": stages, "autotickangles": [40, 90]},
        yaxis={"rangemode": "tozero"},
    )
    layout |= {"shapes": shapes, "annotations": annotations, "hovermode": "closest"}
    subtitle = _(
        "gradient norm with ÷ without the aux heads per stage, input on the left; "
        "dotted: where each head joins"
    )
    return _figure(traces, layout, _("Aux heads: gradient ratio"), height, subtitle)
