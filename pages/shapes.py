"""Shapes & parameters: every stage's shapes, parameters and MACs, with charts.

All numbers come from :func:`googlenet_core.analyze`, which walks the config
with the output-size formula; no torch model is built, so a rerun after an edit
takes milliseconds. Tables and figures are cached per config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from googlenet_core import GoogLeNetConfig, analyze, network_name
from googlenet_core.figures.network import cost_figure, network_figure, shapes_figure
from googlenet_core.figures.style import format_count
from googlenet_core.i18n import _, active_language
from googlenet_core.network.editing import stage_table
from pages.common import current_config, run_page
from pages.common.view import chart, presenting

# Cached on the config's JSON: equal designs share an entry, whichever page made them.
_BY_CONFIG: dict[str | type[Any], Callable[[Any], Any]] = {
    GoogLeNetConfig: lambda config: config.to_json()
}


def stage_columns() -> dict[str, Any]:
    """The stage table's headers, in the active language (the frame's columns stay)."""
    return {
        "name": st.column_config.TextColumn(_("stage"), width=100),
        "kind": st.column_config.TextColumn(_("kind")),
        "in_shape": st.column_config.TextColumn(_("input (C × H × W)")),
        "out_shape": st.column_config.TextColumn(_("output (C × H × W)"), width=130),
        "params": st.column_config.NumberColumn(_("params"), format="localized"),
        "params_share": st.column_config.ProgressColumn(
            _("share of params"), min_value=0.0, max_value=1.0, format="percent", width=110
        ),
        "macs": st.column_config.NumberColumn(_("MACs"), format="compact"),
        "detail": st.column_config.TextColumn(_("what it does")),
    }


#: What the page shows of the stage table. The kind, the input shape (the previous row's
#: output) and the share of parameters (the chart below draws it) stay in the CSV: with them
#: the table scrolled sideways at 1280 px and cut the "what it does" column.
STAGE_ORDER = ("name", "out_shape", "params", "macs", "detail")


def stage_labels() -> dict[str, str]:
    """The headers of the plain stage table (presentation mode), in the active language."""
    return {
        "name": _("stage"),
        "out_shape": _("output (C × H × W)"),
        "params": _("params"),
        "macs": _("MACs"),
        "detail": _("what it does"),
    }


#: The columns of a block's or aux head's layer table, in display order.
LAYER_ORDER = ("name", "branch", "kind", "kernel", "out_shape", "params", "macs")


def layer_columns() -> dict[str, Any]:
    """The layer tables' headers, in the active language."""
    return {
        "name": st.column_config.TextColumn(_("layer")),
        "branch": st.column_config.TextColumn(_("branch")),
        "kind": st.column_config.TextColumn(_("kind")),
        "kernel": st.column_config.TextColumn(_("kernel/stride")),
        "out_shape": st.column_config.TextColumn(_("output")),
        "params": st.column_config.NumberColumn(_("params"), format="localized"),
        "macs": st.column_config.NumberColumn(_("MACs"), format="compact"),
    }


@st.cache_data(hash_funcs=_BY_CONFIG, max_entries=64, show_spinner=False)
def tables(
    config: GoogLeNetConfig, language: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """The stage table, the layer table, and the layers of each block and aux head.

    ``language`` keys the cache: the stage table's "what it does" is said in it."""
    analysis = analyze(config)
    stages, layers = stage_table(analysis), analysis.layers_frame()
    expandable = stages.loc[stages["kind"].isin(["inception", "aux"]), "name"]
    by_stage = {name: layers[layers["stage"] == name] for name in expandable}
    return stages, layers, by_stage


# cache_resource, not cache_data: cache_data hands back a pickled copy, and unpickling a
# go.Figure re-validates every property (about 90 ms per figure, most of a rerun).
# st.plotly_chart only reads the figure (Figure.to_dict copies it), so sharing is safe.
@st.cache_resource(hash_funcs=_BY_CONFIG, max_entries=64, show_spinner=False)
def figures(config: GoogLeNetConfig, language: str) -> tuple[go.Figure, go.Figure, go.Figure]:
    """Shapes along the network, cost per stage, and the network diagram (read-only), with
    their words in ``language`` (which keys the cache)."""
    analysis = analyze(config)
    return shapes_figure(analysis), cost_figure(analysis), network_figure(analysis)


def totals_ui(config: GoogLeNetConfig) -> None:
    analysis = analyze(config)
    side = config.input_size
    st.caption(
        _(
            "Network: **{name}**, input {depth} × {side} × {side}, "
            "{classes:,} classes. Edit it on the Architect page."
        ).format(
            name=network_name(config),
            depth=config.in_channels,
            side=side,
            classes=config.num_classes,
        )
    )
    cols = st.columns(4)
    cols[0].metric(_("Parameters, all heads"), f"{analysis.total_params:,}")
    cols[1].metric(
        _("Parameters, deployed"),
        f"{analysis.params_without_aux:,}",
        help=_("what is deployed: the auxiliary heads only help training"),
    )
    cols[2].metric(
        _("MACs per image"),
        format_count(analysis.macs_without_aux),
        help=_("{macs:,} multiply-accumulates, main head only (deployed)").format(
            macs=analysis.macs_without_aux
        ),
    )
    cols[3].metric(
        _("MACs in training"),
        format_count(analysis.total_macs),
        help=_("{macs:,} multiply-accumulates, every head (training)").format(
            macs=analysis.total_macs
        ),
    )


def stage_table_ui(stages: pd.DataFrame, layers: pd.DataFrame, label: str) -> None:
    if presenting():  # a plain table takes the projector's type; a data frame cannot
        shown = stages[list(STAGE_ORDER)].assign(
            params=stages["params"].map("{:,}".format), macs=stages["macs"].map(format_count)
        )
        st.table(shown.rename(columns=stage_labels()), hide_index=True)
    else:
        st.dataframe(
            stages,
            hide_index=True,
            column_order=STAGE_ORDER,
            column_config=stage_columns(),
            height="content",
        )
    cols = st.columns(2)
    cols[0].download_button(
        _("Stage table as CSV"),
        stages.to_csv(index=False),
        file_name=f"googlenet-{label}-stages.csv",
        mime="text/csv",
        icon=":material/download:",
        key="shapes_stages_csv",
    )
    cols[1].download_button(
        _("Every layer as CSV"),
        layers.to_csv(index=False),
        file_name=f"googlenet-{label}-layers.csv",
        mime="text/csv",
        icon=":material/download:",
        key="shapes_layers_csv",
    )


def layers_ui(stages: pd.DataFrame, by_stage: dict[str, pd.DataFrame]) -> None:
    st.markdown(
        _("**Inside the stages.** Open a block or an aux head to see its layers, branch by branch.")
    )
    outputs = dict(zip(stages["name"], stages["out_shape"], strict=True))
    columns = st.columns(2)
    headers = layer_columns()
    for index, (name, layers) in enumerate(by_stage.items()):
        with columns[index % 2].expander(f"**{name}** → {outputs[name]}"):
            st.dataframe(
                layers,
                hide_index=True,
                column_order=LAYER_ORDER,
                column_config=headers,
            )


def charts_ui(config: GoogLeNetConfig) -> None:
    shapes, cost, network = figures(config, active_language())
    left, right = st.columns([9, 11])
    chart(network, "shapes_network", container=left)
    chart(shapes, "shapes_sizes", container=right)
    chart(cost, "shapes_cost", container=right)


def main() -> None:
    config = current_config()
    st.title(_("Shapes & parameters"))
    totals_ui(config)
    stages, layers, by_stage = tables(config, active_language())
    stage_table_ui(stages, layers, network_name(config))
    layers_ui(stages, by_stage)
    st.header(_("Charts"), divider="gray")
    charts_ui(config)


run_page("Shapes & parameters", main)
