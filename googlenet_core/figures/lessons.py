"""Figures and tables for the Concepts page's arguments (:mod:`..network.lessons`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from ..network.lessons import BranchCost, NetworkStep
from .style import AUX_COLOR, FONT_SIZE, MAIN_COLOR, figure, format_count


def branch_frame(branches: Sequence[BranchCost]) -> pd.DataFrame:
    """One row per branch: MACs and parameters with and without the 1x1 reductions."""
    return pd.DataFrame(
        [
            {
                "branch": b.branch,
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

    def trace(values: list[int], name: str, color: str, axis: str, kind: str) -> go.Scatter:
        common = {"x": names, "y": values, "name": name, "xaxis": f"x{axis}", "yaxis": f"y{axis}"}
        common["legendgroup"] = name
        common["showlegend"] = axis == ""
        if kind == "bar":
            return go.Bar(
                **common, marker_color=color, hovertemplate=f"%{{x}}: %{{y:,}} MACs ({name})"
            )
        return go.Scatter(
            **common,
            mode="lines+markers+text",
            line={"color": color, "width": 3},
            marker={"size": 9},
            text=[str(v) for v in values],
            textposition="top center",
            textfont={"size": FONT_SIZE - 1, "color": color},
            cliponaxis=False,
            hovertemplate=f"%{{x}}: %{{y}} channels out ({name})<extra></extra>",
        )

    data = [
        trace([s.out_channels for s in steps], "with 1×1 reductions", MAIN_COLOR, "", "line"),
        trace([s.naive_out_channels for s in steps], "naive", AUX_COLOR, "", "line"),
        trace([s.macs for s in steps], "with 1×1 reductions", MAIN_COLOR, "2", "bar"),
        trace([s.naive_macs for s in steps], "naive", AUX_COLOR, "2", "bar"),
    ]
    layout = {
        "barmode": "group",
        "xaxis": {"anchor": "y", "matches": "x2", "showticklabels": False},
        "yaxis": {"domain": [0.56, 1.0], "title": {"text": "depth out"}, "rangemode": "tozero"},
        "xaxis2": {"anchor": "y2", "tickangle": -40},
        "yaxis2": {"domain": [0.0, 0.46], "title": {"text": "MACs"}},
    }
    subtitle = (
        f"all blocks: {format_count(built_total)} MACs with 1×1 reductions, "
        f"{format_count(naive_total)} naive ({naive_total / max(built_total, 1):.1f}×)"
    )
    return figure(data, layout, "Every block naive: depth and cost grow", 600, subtitle)
