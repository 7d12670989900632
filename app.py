"""GoogLeNet lab: the dashboard's first page, Concepts. Run it with ``make run``.

A Streamlit pages-directory app: this file is the first page and every
``pages/*.py`` another; all of them share the frame in ``pages/common``
(navigation, the current network in the sidebar and the URL). Each page is a
thin ``main()`` over googlenet_core.

Concepts tells what GoogLeNet is and why it mattered through eight interactive
pieces (the table in ``pages/common/concepts.py``), following "Going Deeper with
Convolutions" (Szegedy et al., 2014, https://arxiv.org/abs/1409.4842): the Inception
block (section 4, Figure 2), its 1x1 reductions branch by branch and over the whole
network, the output-size formula, the auxiliary classifiers, the gradient they add
(section 5), deployment without them, global average pooling against a fully-connected
classifier, and Table 1 checked against arithmetic. Normally they follow one
another; in presentation mode (``?present=1``) each has a screen of its own,
reachable by ``?concept=<slug>``, with the next and previous one on the arrow keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from googlenet_core import (
    GoogLeNetConfig,
    analyze,
    get_preset,
    matching_preset,
    naive_vs_reduced,
    network_name,
)
from googlenet_core._io import first_line
from googlenet_core.figures.lessons import (
    BRANCH_COLUMNS,
    aux_heads_figure,
    branch_frame,
    branch_label,
    deploy_figure,
    gradient_flow_figure,
    naive_network_figure,
)
from googlenet_core.figures.network import (
    inception_block_figure,
    naive_vs_reduced_frame,
    paper_table_style,
)
from googlenet_core.figures.style import format_count
from googlenet_core.i18n import N_, _, active_language
from googlenet_core.network.config import spatial_sides
from googlenet_core.network.costs import flow_batch
from googlenet_core.network.lessons import (
    branch_costs,
    head_costs,
    naive_network,
)
from googlenet_core.network.paper import compare
from pages.common import current_config, run_page, server
from pages.common.calculator import (
    CALCULATOR,
    NO_LAYER,
    geometry,
    output_size_ui,
    parse_calc,
)
from pages.common.concepts import (
    SLUGS,
    heading,
    navigation_ui,
    present_picked,
    title,
    visual,
)
from pages.common.language import glossary_ui
from pages.common.view import (
    Setting,
    chart,
    choice,
    flag,
    presenting,
    record,
    restore,
)

# ---- figures shared by every session ---------------------------------------------------------
# What depends only on the design and the view is built once for every session: a class of
# 30 opening the same link draws these from the cache. cache_resource hands out the same
# object, which chart() only reads (st.plotly_chart and for_projector copy it). Keyed on the
# config's JSON, as the Shapes page's figures are, and on the visitor's language (``language``
# only keys the cache: the figures' words come from the active language).
_BY_CONFIG: dict[str | type[Any], Callable[[Any], Any]] = {
    GoogLeNetConfig: lambda config: config.to_json()
}


@st.cache_resource(hash_funcs=_BY_CONFIG, max_entries=256, show_spinner=False)
def block_figure(config: GoogLeNetConfig, name: str, reduced: bool, language: str) -> go.Figure:
    """One Inception block of the design, with or without its 1x1 reductions."""
    _name, spec, in_channels, side = _block_named(config, name)
    costs = naive_vs_reduced(in_channels, spec, side, config.batch_norm)
    return inception_block_figure(
        spec, in_channels, side, reduced, costs["reduced" if reduced else "naive"]
    )


@st.cache_resource(hash_funcs=_BY_CONFIG, max_entries=64, show_spinner=False)
def naive_figure(config: GoogLeNetConfig, language: str) -> go.Figure:
    return naive_network_figure(naive_network(config))


@st.cache_resource(hash_funcs=_BY_CONFIG, max_entries=64, show_spinner=False)
def aux_figure(config: GoogLeNetConfig, language: str) -> go.Figure:
    return aux_heads_figure(config)


@st.cache_resource(hash_funcs=_BY_CONFIG, max_entries=64, show_spinner=False)
def deployment_figure(config: GoogLeNetConfig, language: str) -> go.Figure:
    return deploy_figure(analyze(config))


# ---- the concepts ---------------------------------------------------------------------------


def intro_ui(config: GoogLeNetConfig) -> None:
    st.title(_("GoogLeNet: going deeper with convolutions"))
    st.markdown(
        _(
            "Szegedy et al. won the ILSVRC 2014 classification challenge (top-5 error 6.67 %) "
            "with a network 22 layers deep that uses **12× fewer parameters than AlexNet**. "
            "Two ideas made that possible: the **Inception block**, which looks at the same "
            "input through 1×1, 3×3 and 5×5 windows at once (three receptive fields side by "
            "side) and keeps the cost down with 1×1 "
            "convolutions, and **auxiliary classifiers** that push gradient into the middle "
            "of the network during training."
        )
    )
    analysis = analyze(config)
    cols = st.columns(4)
    cols[0].metric(_("Network shown"), network_name(config))
    cols[1].metric(_("Inception blocks"), len(config.blocks))
    cols[2].metric(_("Parameters (deployed)"), format_count(analysis.params_without_aux))
    cols[3].metric(_("MACs per image"), format_count(analysis.macs_without_aux))
    st.segmented_control(
        _("Present one concept on a projector (large type, one per screen, ← → to move on)"),
        list(SLUGS),
        format_func=title,
        key="present_pick",
        on_change=present_picked,
    )


def _block(config: GoogLeNetConfig) -> tuple[str, Any, int, int]:
    """The block chosen on the Inception screen: (name, spec, input depth, side)."""
    return _block_named(config, st.session_state["home_block"])


def _block_named(config: GoogLeNetConfig, name: str) -> tuple[str, Any, int, int]:
    spec = next(b for b in config.blocks if b.name == name)
    return (
        name,
        spec,
        config.block_in_channels()[name],
        spatial_sides(config, config.input_size)[name],
    )


def inception_ui(config: GoogLeNetConfig) -> None:
    heading("inception", _("The Inception block"))
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    left.selectbox(_("Block"), [b.name for b in config.blocks], key="home_block")
    right.toggle(_("With 1×1 reductions"), key="home_reduced")
    name, spec, in_channels, side = _block(config)
    costs = naive_vs_reduced(in_channels, spec, side, config.batch_norm)
    with visual("inception"):
        reduced = bool(st.session_state["home_reduced"])
        figure = block_figure(config, name, reduced, active_language())
        chart(figure, "home_block_figure", height=420)
    st.markdown(
        _(
            "Four branches read the same input; their outputs have the same height and width, "
            "so they are **stacked along the depth**. Switch the 1×1 reductions off to see the "
            "naive block the paper started from."
        )
    )
    if not presenting():
        # The frame's headers are in the visitor's language (naive_vs_reduced_frame).
        counts = (_("naive (no 1×1 reductions)"), _("with 1×1 reductions"))
        st.dataframe(
            naive_vs_reduced_frame(costs),
            width="content",
            column_config={
                column: st.column_config.NumberColumn(format="localized") for column in counts
            },
        )


def reductions_ui(config: GoogLeNetConfig) -> None:
    heading("reductions", _("What the 1×1 reductions save"))
    name, spec, in_channels, side = _block(config)
    costs = naive_vs_reduced(in_channels, spec, side, config.batch_norm)
    naive, built = costs["naive"], costs["reduced"]
    steps = naive_network(config)
    with visual("reductions"):
        chart(naive_figure(config, active_language()), "home_naive_network", height=480)
    last = steps[-1]
    st.markdown(
        _(
            "With every block naive, **{block}** would read **{naive_in:,}** "
            "channels instead of {built_in:,}: the pooling branch passes the whole input "
            "depth through, so depth grows block after block. The paper (section 4): without the "
            'reductions, "an inevitable increase in the number of outputs from stage to stage" '
            "makes the cost blow up within a few stages."
        ).format(block=last.block, naive_in=last.naive_in_channels, built_in=last.in_channels)
    )
    branches = branch_costs(in_channels, spec, side, config.batch_norm)
    costly = max(branches, key=lambda b: b.naive_macs - b.macs)
    st.markdown(
        _(
            "**Branch by branch in {block}** (the block chosen in 1): naive, it would need "
            "**{params:.1f}×** the parameters and "
            "**{macs:.1f}×** the multiply-accumulates; the reductions save "
            "most on the **{branch}** branch "
            "({naive_macs} → {built_macs} MACs)."
        ).format(
            block=name,
            params=naive.params / built.params,
            macs=naive.macs / built.macs,
            branch=branch_label(costly.branch),
            naive_macs=format_count(costly.naive_macs),
            built_macs=format_count(costly.macs),
        )
    )
    frame = branch_frame(branches)
    counts = ("MACs, naive", "MACs, with 1×1", "params, naive", "params, with 1×1")
    shown = frame.assign(**{c: frame[c].map(format_count) for c in counts})
    headers = {column: _(header) for column, header in BRANCH_COLUMNS.items()}
    # A plain table: its headers wrap, so all eight columns fit a 1280 px projector.
    st.table(shown.rename(columns=headers), hide_index=True)


def aux_ui(config: GoogLeNetConfig) -> None:
    heading("aux-heads", _("Auxiliary classifiers"))
    with visual("aux-heads"):
        chart(aux_figure(config, active_language()), "home_aux_figure", height=380)
    st.latex(
        r"\mathcal{L} = \mathcal{L}_{\text{main}} + w_1\,\mathcal{L}_{\text{aux1}}"
        r" + w_2\,\mathcal{L}_{\text{aux2}}, \qquad w_1 = w_2 = 0.3"
    )
    st.markdown(
        _(
            "Small classifiers on intermediate blocks add their loss during training (weighted "
            "0.3 in the paper), so the middle of a deep network gets a strong gradient signal. "
            "They are dropped at inference time."
        )
    )
    if not config.aux_heads:
        st.info(
            _("This design has no auxiliary heads (the Architect page can start from a preset).")
        )
    elif not config.aux_logits:
        st.warning(_("The auxiliary heads are switched off in this design (Architect page)."))
    elif not presenting():
        _aux_tables(config)
    st.info(
        _(
            "**Which head is which?** torchvision's `googlenet` returns "
            "`(logits, aux_logits2, aux_logits1)` in training mode (the *later* head first), "
            "so `logits, aux1, aux2 = model(x)` silently swaps the two heads. This project "
            "names heads **by position**: `model.forward_heads(x)` returns "
            "`Heads(logits, aux1, aux2)` with `aux1` the head nearest the input, in training and "
            "evaluation alike, and `model(x)` is always just the logits."
        ),
        icon=":material/swap_vert:",
    )


def _aux_tables(config: GoogLeNetConfig) -> None:
    analysis = analyze(config)
    cols = st.columns(len(config.aux_heads))
    for col, head in zip(cols, config.aux_heads, strict=True):
        row = analysis.row(head.name)
        with col:
            st.subheader(_("{head}: after {block}").format(head=head.name, block=head.after))
            st.caption(
                _("{detail}; {params:,} parameters").format(detail=row.detail, params=row.params)
            )
            layers = [layer for layer in analysis.layers if layer.stage == head.name]
            st.dataframe(
                [
                    {
                        "layer": layer.name,
                        "kind": layer.kind,
                        "kernel": layer.kernel,
                        "output": " × ".join(map(str, layer.out_shape)),
                        "params": layer.params,
                    }
                    for layer in layers
                ],
                hide_index=True,
                column_config={
                    "layer": st.column_config.TextColumn(_("layer")),
                    "kind": st.column_config.TextColumn(_("kind")),
                    "kernel": st.column_config.TextColumn(_("kernel")),
                    "output": st.column_config.TextColumn(_("output")),
                    "params": st.column_config.NumberColumn(_("params"), format="localized"),
                },
            )


def _measure_wanted(config: GoogLeNetConfig) -> bool:
    """Whether to measure now: for a preset or in presentation mode, or after a click.

    Presets are three, shared by everyone; an edited design is nobody else's, and thirty
    students must not each start a backward pass by scrolling past this section.
    """
    if presenting() or matching_preset(config) or st.session_state.get("flow_for") == config:
        return True
    st.caption(
        _(
            "`{network}` is an edited design: measuring it takes a forward and "
            "backward pass on this shared server (up to a few seconds for a 224 px network)."
        ).format(network=network_name(config))
    )
    if st.button(_("Measure the gradients for this design"), key="flow_measure"):
        st.session_state["flow_for"] = config
        return True
    return False


def gradients_ui(config: GoogLeNetConfig) -> None:
    heading("gradients", _("Gradient flow: what the auxiliary heads add"))
    if not config.active_aux_heads:
        st.info(
            _(
                "This design has no auxiliary heads switched on, so only the main loss sends "
                "gradient back. The paper and torchvision presets have two (Architect page)."
            )
        )
    if not _measure_wanted(config):
        return
    try:  # one measurement at a time in this server, the last few remembered
        batch = flow_batch(config, server().flow_budget())
        with st.spinner(_("Measuring one batch's gradients…")):
            rows = server().gradient_flow(config, batch)
    except ValueError as exc:  # too big for the memory this server has left
        st.info(_("Not measured here: {reason}.").format(reason=exc), icon=":material/memory:")
        return
    except RuntimeError as exc:  # torch ran out of memory after all, or refused the input
        st.error(
            _("The measurement failed: {error}").format(error=first_line(exc)),
            icon=":material/error:",
        )
        return
    if not any(r.main for r in rows):
        st.info(_("No gradient to show: with a single class the loss is zero everywhere."))
        return
    with visual("gradients"):
        chart(gradient_flow_figure(rows, 0.3, 0.3), "home_flow", height=480)
    first, last = rows[0], rows[-1]
    st.markdown(
        _(
            "One batch of {batch} handwritten digits through a freshly initialised "
            "`{network}` "
            "(training mode, aux weights 0.3): the main loss sends a gradient of norm "
            "{first_norm:.3g} to **{first}** and {last_norm:.3g} to {last}. "
            "With the auxiliary losses, {first} gets **{gain:.2f}×** the main loss's "
            "gradient; the stages after the last head get nothing extra. The paper (section 5): "
            '"the ability to propagate gradients back through all the layers in an effective '
            'manner was a concern", so the heads were added "to encourage discrimination in the '
            'lower stages … [and] increase the gradient signal that gets propagated back".'
        ).format(
            batch=batch,
            network=network_name(config),
            first_norm=first.main,
            first=first.stage,
            last_norm=last.main,
            last=last.stage,
            gain=first.gain,
        )
    )
    st.caption(
        _(
            "That is the first step. The Train page measures the same norms over whole training "
            "runs, and for a pair of runs with and without the heads, their ratio per stage."
        )
    )


def deploy_ui(config: GoogLeNetConfig) -> None:
    heading("deploy", _("Deployment without the auxiliary heads"))
    with visual("deploy"):
        chart(deployment_figure(config, active_language()), "home_deploy", height=460)
    st.markdown(
        _(
            "The auxiliary heads only help training: at test time the paper discards them "
            '(section 5: "at inference time, these auxiliary networks are discarded"). Dropping '
            "them must be explicit: tutorials build the network without heads and load with "
            "`strict=False`, which also hides every key that does not match."
        )
    )
    st.code(
        "from googlenet_core.inference.checkpoints import load_checkpoint\n\n"
        "# removes exactly aux1.* and aux2.*, lists them, loads the rest with strict=True\n"
        'loaded = load_checkpoint("best.pt", drop_aux=True)\n'
        "print(loaded.dropped_keys)  # ['aux1.conv.conv.weight', ...]\n"
        "model = loaded.model.eval()  # model(x): the main head's logits only",
        language="python",
    )
    st.caption(
        _(
            "The Predict page's 'Load without the aux heads' does the same. The Train page's "
            "plain-PyTorch export keeps the heads, so its weights load strictly; its "
            "`model(x)` runs the main head only."
        )
    )


def head_ui(config: GoogLeNetConfig) -> None:
    heading("gap", _("Global average pooling instead of a big classifier"))
    head = head_costs(config)
    with visual("gap"):
        cols = st.columns(3)
        weights = _("{weights:,} weights + {biases:,} biases")
        cols[0].metric(
            _("FC on the flattened map"),
            f"{head.fc_weights + head.biases:,}",
            help=weights.format(weights=head.fc_weights, biases=head.biases),
        )
        cols[1].metric(
            _("Average pool, then FC"),
            f"{head.gap_weights + head.biases:,}",
            help=weights.format(weights=head.gap_weights, biases=head.biases),
        )
        cols[2].metric(_("Parameters saved"), _("{ratio:.0f}× fewer").format(ratio=head.ratio))
    st.markdown(
        _(
            "The last block's output is **{side} × {side} × {channels}**. A "
            "fully-connected layer on it, flattened, needs a weight for every one of those "
            "{values:,} values and each of the {classes:,} "
            "classes. GoogLeNet first averages each channel over the {side} × {side} "
            "map (global average pooling: no weights), so the classifier sees only "
            "{channels:,} values."
        ).format(
            side=head.side,
            channels=head.channels,
            values=head.side * head.side * head.channels,
            classes=head.classes,
        )
    )
    st.markdown(
        _(
            "The paper's reasons (Szegedy et al., 2014, section 5): average pooling before the "
            "classifier, an idea from Network in Network (Lin et al., 2013), makes it easy to "
            'adapt the network to other label sets ("mostly convenience", it says), and *"a move '
            "from fully connected layers "
            'to average pooling improved the top-1 accuracy by about 0.6%"*; dropout stayed '
            "essential even without the fully-connected layers. The numbers above follow the "
            "current design: change the last block or the input size on the Architect page."
        )
    )


def paper_ui(config: GoogLeNetConfig) -> None:
    heading("paper", _("The paper vs arithmetic"))
    st.markdown(
        _(
            "Table 1 as published, checked against the numbers computed from the same channel "
            "table. Params are in K = 1,024 weights (no biases), as the paper counts them: its "
            "1024 × 1000 classifier is listed as 1000K; ops are in millions of "
            "multiply-accumulates. One number where the paper and arithmetic agree; **red cells** "
            "disagree by more than rounding and read *paper → computed*."
        )
    )
    st.segmented_control(
        _("Compute from"),
        list(COMPARE_SOURCES),
        format_func=_source_label,
        key="home_compare_source",
    )
    source = st.session_state["home_compare_source"] or "the paper's network"
    network = config if source == "the current design" else get_preset("paper")
    frame = compare(network)
    with visual("paper"):
        # A plain table of five columns: it fits a 1280 px projector, ops included.
        st.table(paper_table_style(frame), hide_index=True)
    flagged = frame[frame["output_differs"] | frame["params_differ"] | frame["ops_differ"]]
    if len(flagged):
        st.caption(
            _(
                "{n} of {total} rows disagree: "
                "{rows}. With the paper's network these are the paper's "
                "own inconsistencies; with an edited design they are your edits."
            ).format(n=len(flagged), total=len(frame), rows=", ".join(flagged["row"]))
        )


def _source_label(source: str) -> str:
    """The comparison's source as shown (its value, the English, is what the link keeps)."""
    return _(source)


# ---- the page -------------------------------------------------------------------------------


#: How each concept of :data:`pages.common.concepts.CONCEPTS` is drawn, by its slug.
DRAW: dict[str, Callable[[GoogLeNetConfig], None]] = {
    "inception": inception_ui,
    "reductions": reductions_ui,
    "output-size": output_size_ui,
    "aux-heads": aux_ui,
    "gradients": gradients_ui,
    "deploy": deploy_ui,
    "gap": head_ui,
    "paper": paper_ui,
}
assert tuple(DRAW) == SLUGS, "every concept is drawn, in the table's order"
#: The Table 1 comparison's sources: the picker's values (English, N_-marked) -> URL values.
COMPARE_SOURCES = {N_("the paper's network"): "paper", N_("the current design"): "design"}


def view_settings(config: GoogLeNetConfig) -> list[Setting]:
    """What a link to this page carries besides the design."""
    sources = {v: k for k, v in COMPARE_SOURCES.items()}
    return [
        choice("concept", "concept", SLUGS[0], list(SLUGS)),
        choice("block", "home_block", config.blocks[0].name, [b.name for b in config.blocks]),
        flag("reduced", "home_reduced", True),
        choice("layer", "calc_layer", NO_LAYER, list(geometry(config))),
        Setting(
            "calc",
            (*CALCULATOR, "home_ceil"),
            (*CALCULATOR.values(), False),
            parse_calc,
            lambda v: ",".join(str(int(x)) for x in v),
        ),
        Setting(
            "compare",
            ("home_compare_source",),
            ("the paper's network",),
            lambda text: (sources[text],),
            lambda v: COMPARE_SOURCES.get(v[0] or "", "paper"),
        ),
    ]


def _forget_stale(config: GoogLeNetConfig) -> None:
    """A block or layer the current design no longer has is not left selected."""
    if st.session_state.get("home_block") not in {b.name for b in config.blocks}:
        st.session_state.pop("home_block", None)
    if st.session_state.get("calc_layer") not in (NO_LAYER, *geometry(config)):
        st.session_state.pop("calc_layer", None)


def main() -> None:
    config = current_config()
    _forget_stale(config)
    settings = view_settings(config)
    restore(settings)
    if presenting():
        DRAW[navigation_ui().slug](config)
    else:
        intro_ui(config)
        for slug in SLUGS:
            DRAW[slug](config)
        glossary_ui()
    record(settings)


run_page("Concepts", main)
