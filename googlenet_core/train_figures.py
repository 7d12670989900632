"""Plotly figures for training: loss curves, accuracy per head, gradient norms per stage.

Pure functions from events (the dicts :func:`googlenet_core.train.train`
emits and ``metrics.jsonl`` stores) to ``go.Figure``; the Train page overlays
several runs by passing several labelled event lists. Styled like
:mod:`.figures`: projector-sized fonts, titles that say what is shown, the main
head in blue and the auxiliary heads in amber throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from .figures import AUX_COLOR, FONT_FAMILY, FONT_SIZE, MAIN_COLOR, TEXT, TITLE_SIZE

Events = Sequence[Mapping[str, Any]]

#: One colour per run when runs are overlaid (the first is the main-head blue).
RUN_COLORS = ("#2563eb", "#dc2626", "#059669", "#7c3aed", "#d97706", "#0891b2", "#db2777")
#: Line style per head: the formula's three terms, told apart without colour.
HEAD_DASH = {"main": "solid", "aux1": "dot", "aux2": "dash", "total": "solid"}
HEAD_COLORS = {"total": "#111827", "main": MAIN_COLOR, "aux1": AUX_COLOR, "aux2": "#b45309"}


def _layout(title: str, x_title: str, y_title: str, height: int, **extra: Any) -> dict[str, Any]:
    axis = {"automargin": True, "gridcolor": "#e5e7eb", "zerolinecolor": "#cbd5e1"}
    layout: dict[str, Any] = {
        "title": {"text": title, "font": {"size": TITLE_SIZE}, "x": 0.0, "xanchor": "left"},
        "font": {"size": FONT_SIZE, "family": FONT_FAMILY, "color": TEXT},
        "template": "none",
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "height": height,
        "margin": {"l": 20, "r": 20, "t": 100, "b": 20},
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "yref": "paper"},
        "hovermode": "x unified",
        "xaxis": {**axis, "title": {"text": x_title}},
        "yaxis": {**axis, "title": {"text": y_title}},
    }
    for key, value in extra.items():
        if key in ("xaxis", "yaxis"):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _of(events: Events, kind: str) -> list[Mapping[str, Any]]:
    return [e for e in events if e.get("type") == kind]


def _series(rows: Sequence[Mapping[str, Any]], x: str, y: str) -> tuple[list[Any], list[Any]]:
    pairs = [(r[x], r[y]) for r in rows if r.get(y) is not None and r.get(x) is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def loss_figure(runs: Mapping[str, Events], height: int = 420) -> go.Figure:
    """Training loss per step: total, main, aux1, aux2 (one run), or total and main per run."""
    traces: list[go.Scatter] = []
    single = len(runs) == 1
    for i, (label, events) in enumerate(runs.items()):
        steps = _of(events, "step")
        heads = ("total", "main", "aux1", "aux2") if single else ("total", "main")
        for head in heads:
            key = "loss" if head == "total" else f"loss_{head}"
            xs, ys = _series(steps, "step", key)
            if not xs:
                continue
            color = HEAD_COLORS[head] if single else RUN_COLORS[i % len(RUN_COLORS)]
            width = 3 if head == "total" else 2
            traces.append(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    name=head if single else f"{label} · {head}",
                    line={"color": color, "dash": HEAD_DASH[head], "width": width},
                    opacity=1.0 if head == "total" or single else 0.6,
                )
            )
    title = "Training loss = main + w1·aux1 + w2·aux2"
    return go.Figure(traces, _layout(title, "step", "cross-entropy", height))


def accuracy_figure(runs: Mapping[str, Events], height: int = 420) -> go.Figure:
    """Held-out accuracy per epoch of every head (solid main, dotted aux1, dashed aux2)."""
    traces: list[go.Scatter] = []
    single = len(runs) == 1
    for i, (label, events) in enumerate(runs.items()):
        epochs = _of(events, "epoch")
        for head, key in (("main", "val_acc"), ("aux1", "val_acc_aux1"), ("aux2", "val_acc_aux2")):
            xs, ys = _series(epochs, "epoch", key)
            if not xs:
                continue
            color = HEAD_COLORS[head] if single else RUN_COLORS[i % len(RUN_COLORS)]
            traces.append(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines+markers",
                    name=head if single else f"{label} · {head}",
                    line={
                        "color": color,
                        "dash": HEAD_DASH[head],
                        "width": 3 if head == "main" else 2,
                    },
                    marker={"size": 9 if head == "main" else 6},
                )
            )
    return go.Figure(
        traces,
        _layout(
            "Validation accuracy per head",
            "epoch",
            "accuracy",
            height,
            yaxis={"tickformat": ".0%", "rangemode": "tozero"},
            xaxis={"dtick": 1},
        ),
    )


def grad_norm_figure(runs: Mapping[str, Events], height: int = 440) -> go.Figure:
    """Each stage's gradient norm in the latest epoch, input on the left; log scale.

    The seeds' vanishing-gradient argument made visible: with the auxiliary
    weights at 0 the early blocks receive only what survives the whole trunk;
    with 0.3 the heads inject gradient into the middle of the network.
    """
    traces: list[go.Bar] = []
    order: list[str] = []
    for i, (label, events) in enumerate(runs.items()):
        epochs = _of(events, "epoch")
        if not epochs:
            continue
        norms: Mapping[str, float] = epochs[-1].get("grad_norms") or {}
        for stage in norms:
            if stage not in order:
                order.append(stage)
        traces.append(
            go.Bar(
                x=list(norms),
                y=[max(v, 1e-12) for v in norms.values()],
                name=f"{label} (epoch {epochs[-1]['epoch']})",
                marker={"color": RUN_COLORS[i % len(RUN_COLORS)]},
                hovertemplate="%{x}: %{y:.4g}<extra>" + label + "</extra>",
            )
        )
    return go.Figure(
        traces,
        _layout(
            "Gradient norm per stage (mean over the epoch's steps)",
            "stage (input → output, then heads)",
            "‖∇‖ (log scale)",
            height,
            barmode="group",
            hovermode="closest",
            yaxis={"type": "log"},
            xaxis={"categoryorder": "array", "categoryarray": order, "tickangle": -40},
        ),
    )


def early_gradient_figure(runs: Mapping[str, Events], stage: str, height: int = 360) -> go.Figure:
    """One stage's gradient norm per epoch for each run (e.g. the stem, ``conv1``)."""
    traces = []
    for i, (label, events) in enumerate(runs.items()):
        rows = [
            (e["epoch"], (e.get("grad_norms") or {}).get(stage))
            for e in _of(events, "epoch")
            if (e.get("grad_norms") or {}).get(stage) is not None
        ]
        if rows:
            traces.append(
                go.Scatter(
                    x=[r[0] for r in rows],
                    y=[r[1] for r in rows],
                    mode="lines+markers",
                    name=label,
                    line={"color": RUN_COLORS[i % len(RUN_COLORS)], "width": 3},
                )
            )
    return go.Figure(
        traces,
        _layout(
            f"Gradient norm reaching {stage}, per epoch", "epoch", "‖∇‖", height,
            xaxis={"dtick": 1},
        ),
    )  # fmt: skip


def throughput_figure(runs: Mapping[str, Events], height: int = 320) -> go.Figure:
    """Training images per second at each logged step."""
    traces = []
    for i, (label, events) in enumerate(runs.items()):
        xs, ys = _series(_of(events, "step"), "step", "images_per_s")
        if xs:
            traces.append(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    name=label,
                    line={"color": RUN_COLORS[i % len(RUN_COLORS)], "width": 2},
                )
            )
    return go.Figure(
        traces,
        _layout("Throughput", "step", "images / s", height, yaxis={"rangemode": "tozero"}),
    )
