"""GoogLeNet lab: the dashboard's first page, Concepts. Run it with ``make run``.

A Streamlit pages-directory app: this file is the first page and every
``pages/*.py`` another; all of them share the frame in ``pages/common``
(navigation, the current network in the sidebar and the URL). Each page is a
thin ``main()`` over googlenet_core.

Concepts tells what GoogLeNet is and why it mattered through interactive
pieces, following "Going Deeper with Convolutions" (Szegedy et al., 2014,
https://arxiv.org/abs/1409.4842): the Inception block and its 1x1 reductions
(section 4, Figure 2) branch by branch and over the whole network, the output-size
formula, the auxiliary classifiers (section 5), Table 1 checked against arithmetic,
and global average pooling against a fully-connected classifier.
"""

from __future__ import annotations

import streamlit as st

from googlenet_core import (
    GoogLeNetConfig,
    analyze,
    conv_out,
    get_preset,
    naive_vs_reduced,
    network_name,
)
from googlenet_core.figures.lessons import aux_heads_figure, branch_frame, naive_network_figure
from googlenet_core.figures.network import (
    inception_block_figure,
    naive_vs_reduced_frame,
    output_size_latex,
    paper_table_style,
)
from googlenet_core.figures.style import format_count
from googlenet_core.network.config import spatial_sides
from googlenet_core.network.lessons import (
    LayerGeometry,
    branch_costs,
    head_costs,
    layer_geometry,
    naive_network,
)
from googlenet_core.network.paper import compare
from pages.common import config_version, current_config, run_page


def intro_ui(config: GoogLeNetConfig) -> None:
    st.title("GoogLeNet: going deeper with convolutions")
    st.markdown(
        "Szegedy et al. won the ILSVRC 2014 classification challenge (top-5 error 6.67 %) "
        "with a network 22 layers deep that uses **12× fewer parameters than AlexNet**. "
        "Two ideas made that possible: the **Inception block**, which looks at the same "
        "input through 1×1, 3×3 and 5×5 windows at once and keeps the cost down with 1×1 "
        "convolutions, and **auxiliary classifiers** that push gradient into the middle "
        "of the network during training."
    )
    analysis = analyze(config)
    cols = st.columns(4)
    cols[0].metric("Network shown", network_name(config))
    cols[1].metric("Inception blocks", len(config.blocks))
    cols[2].metric("Parameters (deployed)", format_count(analysis.params_without_aux))
    cols[3].metric("MACs per image", format_count(analysis.macs_without_aux))


def inception_ui(config: GoogLeNetConfig) -> None:
    st.header("1 · The Inception block", divider="gray")
    st.markdown(
        "Four branches read the same input; their outputs have the same height and width, "
        "so they are **stacked along the depth**. Switch the 1×1 reductions off to see the "
        "naive block the paper started from."
    )
    names = [b.name for b in config.blocks]
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    # The key follows the config, so a removed block is never left selected.
    name = left.selectbox("Block", names, key=f"home_block_{config_version()}")
    reduced = right.toggle("With 1×1 reductions", value=True, key="home_reduced")
    spec = next(b for b in config.blocks if b.name == name)
    in_channels = config.block_in_channels()[name]
    side = spatial_sides(config, config.input_size)[name]
    costs = naive_vs_reduced(in_channels, spec, side, config.batch_norm)
    variant = "reduced" if reduced else "naive"
    st.plotly_chart(
        inception_block_figure(spec, in_channels, side, reduced, costs[variant]),
        key="home_block_figure",
        theme=None,
    )
    st.dataframe(
        naive_vs_reduced_frame(costs),
        width="content",
        column_config={
            "naive (no 1×1 reductions)": st.column_config.NumberColumn(format="localized"),
            "with 1×1 reductions": st.column_config.NumberColumn(format="localized"),
        },
    )
    naive, built = costs["naive"], costs["reduced"]
    st.markdown(
        f"Without the 1×1 reductions, **{name}** would need "
        f"**{naive.params / built.params:.1f}×** the parameters and "
        f"**{naive.macs / built.macs:.1f}×** the multiply-accumulates, and its output would "
        f"be {naive.out_channels} channels deep instead of {built.out_channels}: the pooling "
        "branch passes the whole input depth through, so depth would grow block after block."
    )
    branches = branch_costs(in_channels, spec, side, config.batch_norm)
    costly = max(branches, key=lambda b: b.naive_macs - b.macs)
    st.markdown(
        f"**Branch by branch:** the reductions save most on the **{costly.branch}** branch "
        f"({format_count(costly.naive_macs)} → {format_count(costly.macs)} MACs)."
    )
    st.dataframe(
        branch_frame(branches),
        hide_index=True,
        width="content",
        column_config={
            c: st.column_config.NumberColumn(format="compact")
            for c in ("MACs, naive", "MACs, with 1×1", "params, naive", "params, with 1×1")
        },
    )
    steps = naive_network(config)
    st.plotly_chart(naive_network_figure(steps), key="home_naive_network", theme=None)
    last = steps[-1]
    st.caption(
        f"The whole {network_name(config)} network with every block naive: {last.block} "
        f"would read {last.naive_in_channels:,} channels instead of {last.in_channels:,}. "
        'The paper (section 4): without the reductions, "an inevitable increase in the '
        'number of outputs from stage to stage" makes the cost blow up within a few stages.'
    )


CALCULATOR = {"calc_in": 224, "calc_kernel": 7, "calc_stride": 2, "calc_padding": 3}
_NO_LAYER = "(type your own numbers)"


@st.cache_resource(max_entries=16, show_spinner=False)
def geometry(config: GoogLeNetConfig) -> dict[str, LayerGeometry]:
    """Every conv and pool of the design with its formula's numbers, by module path."""
    return {g.name: g for g in layer_geometry(config)}


def _fill_from_layer(layers: dict[str, LayerGeometry]) -> None:
    """The layer picker's callback: its numbers into the calculator."""
    layer = layers.get(st.session_state["calc_layer"])
    if layer is None:
        return
    st.session_state.update(
        calc_in=layer.in_side,
        calc_kernel=layer.kernel,
        calc_stride=layer.stride,
        calc_padding=layer.padding,
        home_ceil=layer.ceil_mode,
    )


def output_size_ui(config: GoogLeNetConfig) -> None:
    st.header("2 · How big is the output?", divider="gray")
    st.markdown(
        "Every convolution and pooling layer shrinks (or keeps) the feature map by the same "
        "formula. Try GoogLeNet's first layer: 224 px, kernel 7, stride 2, padding 3, or "
        "pick any layer of the current design."
    )
    for key, value in {**CALCULATOR, "home_ceil": False}.items():
        st.session_state.setdefault(key, value)
    layers = geometry(config)
    st.selectbox(
        "Fill in from a layer of the current design",
        [_NO_LAYER, *layers],
        key="calc_layer",
        on_change=_fill_from_layer,
        args=(layers,),
    )
    # The toggle's column wider: at 1280 px its label was cut to "round up (ceil…".
    cols = st.columns([1, 1, 1, 1, 1.5], vertical_alignment="bottom")
    size = cols[0].number_input("in (pixels)", 1, 4096, step=1, key="calc_in")
    kernel = cols[1].number_input("kernel k", 1, 64, step=1, key="calc_kernel")
    stride = cols[2].number_input("stride s", 1, 64, step=1, key="calc_stride")
    padding = cols[3].number_input("padding p", 0, 64, step=1, key="calc_padding")
    ceil_mode = cols[4].toggle("round up (ceil mode)", key="home_ceil")
    out = conv_out(int(size), int(kernel), int(stride), int(padding), ceil_mode)
    formula = output_size_latex(int(size), int(kernel), int(stride), int(padding), ceil_mode)
    st.latex(f"{formula} = {out}")
    if out <= 0:
        st.error(
            f"A {kernel}×{kernel} window does not fit in {size} + 2·{padding} pixels: "
            "the layer would have no output."
        )
    else:
        st.markdown(f"The output is **{out} × {out}** per channel.")
    layer = layers.get(st.session_state["calc_layer"])
    chosen = (size, kernel, stride, padding, ceil_mode)
    if layer is not None and chosen == (
        layer.in_side,
        layer.kernel,
        layer.stride,
        layer.padding,
        layer.ceil_mode,
    ):
        st.success(
            f"These are **{layer.name}**'s numbers in `{network_name(config)}` ({layer.kind}); "
            f"the model's output is {layer.out_side} × {layer.out_side}"
            + (", as the formula says." if layer.out_side == out else ".")
        )
    st.caption(
        "GoogLeNet's max-pools round up (Caffe's ceil mode; torchvision keeps it), so "
        "112 → 56 → 28 → 14 → 7. Like PyTorch, the calculator drops a last window that "
        "would start in the padding."
    )


def aux_ui(config: GoogLeNetConfig) -> None:
    st.header("3 · Auxiliary classifiers", divider="gray")
    st.markdown(
        "Small classifiers on intermediate blocks add their loss during training, so the "
        "middle of a deep network gets a strong gradient signal. They are dropped at "
        "inference time."
    )
    analysis = analyze(config)
    if not config.aux_heads:
        st.info("This design has no auxiliary heads (the Architect page can start from a preset).")
    elif not config.aux_logits:
        st.warning("The auxiliary heads are switched off in this design (Architect page).")
    else:
        cols = st.columns(len(config.aux_heads))
        for col, head in zip(cols, config.aux_heads, strict=True):
            row = analysis.row(head.name)
            with col:
                st.subheader(f"{head.name}: after {head.after}")
                st.caption(f"{row.detail}; {row.params:,} parameters")
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
                    column_config={"params": st.column_config.NumberColumn(format="localized")},
                )
    st.plotly_chart(aux_heads_figure(config), key="home_aux_figure", theme=None)
    st.markdown("The training loss adds them with small weights (0.3 in the paper):")
    st.latex(
        r"\mathcal{L} = \mathcal{L}_{\text{main}} + w_1\,\mathcal{L}_{\text{aux1}}"
        r" + w_2\,\mathcal{L}_{\text{aux2}}, \qquad w_1 = w_2 = 0.3"
    )
    st.info(
        "**Which head is which?** torchvision's `googlenet` returns "
        "`(logits, aux_logits2, aux_logits1)` in training mode (the *later* head first) and "
        "only the logits in eval mode, so `logits, aux1, aux2 = model(x)` silently swaps the "
        "two heads, and hand-written training loops often get this order wrong. This "
        "project names heads **by position**: `model.forward_heads(x)` returns "
        "`Heads(logits, aux1, aux2)` with `aux1` the head nearest the input, in training and "
        "evaluation alike, and `model(x)` is always just the logits.",
        icon=":material/swap_vert:",
    )


def paper_ui(config: GoogLeNetConfig) -> None:
    st.header("4 · The paper vs arithmetic", divider="gray")
    st.markdown(
        "Table 1 as published, beside the numbers computed from the same channel table. "
        "Params are in K = 1,024 weights (no biases), as the paper counts them: its "
        "1024 × 1000 classifier is listed as 1000K; ops are in millions of "
        "multiply-accumulates. **Red cells** disagree by more than rounding."
    )
    source = st.segmented_control(
        "Compute from",
        ["the paper's network", "the current design"],
        default="the paper's network",
        key="home_compare_source",
    )
    network = config if source == "the current design" else get_preset("paper")
    frame = compare(network)
    st.dataframe(
        paper_table_style(frame),
        hide_index=True,
        height="content",
        placeholder="—",  # the paper prints no params/ops for pooling rows
        column_config={
            "row": "layer (paper)",
            "stages": "our stages",
            "published_output": "output (paper)",
            "computed_output": "output (computed)",
            "published_params_k": "params K (paper)",
            "computed_params_k": "params K (computed)",
            "published_ops_m": "ops M (paper)",
            "computed_ops_m": "ops M (computed)",
        },
    )
    flagged = frame[frame["output_differs"] | frame["params_differ"] | frame["ops_differ"]]
    if len(flagged):
        st.caption(
            f"{len(flagged)} of {len(frame)} rows disagree: "
            f"{', '.join(flagged['row'])}. With the paper's network these are the paper's "
            "own inconsistencies; with an edited design they are your edits."
        )


def head_ui(config: GoogLeNetConfig) -> None:
    st.header("5 · Global average pooling instead of a big classifier", divider="gray")
    head = head_costs(config)
    st.markdown(
        f"The last block's output is **{head.side} × {head.side} × {head.channels}**. A "
        f"fully-connected layer on it, flattened, needs a weight for every one of those "
        f"{head.side * head.side * head.channels:,} values and each of the {head.classes:,} "
        f"classes. GoogLeNet first averages each channel over the {head.side} × {head.side} "
        f"map (global average pooling: no weights), so the classifier sees only "
        f"{head.channels:,} values."
    )
    cols = st.columns(3)
    cols[0].metric(
        "Fully connected on the flattened map",
        f"{head.fc_weights + head.biases:,}",
        help=f"{head.fc_weights:,} weights + {head.biases:,} biases",
    )
    cols[1].metric(
        "Average pooling, then fully connected",
        f"{head.gap_weights + head.biases:,}",
        help=f"{head.gap_weights:,} weights + {head.biases:,} biases",
    )
    cols[2].metric("Parameters saved", f"{head.ratio:.0f}× fewer")
    st.markdown(
        "The paper's reasons (Szegedy et al., 2014, section 5): average pooling before the "
        "classifier, an idea from Network in Network (Lin et al., 2013), makes it easy to "
        'adapt the network to other label sets ("mostly convenience", it says), and *"a move '
        "from fully connected layers "
        'to average pooling improved the top-1 accuracy by about 0.6%"*; dropout stayed '
        "essential even without the fully-connected layers. The numbers above follow the "
        "current design: change the last block or the input size on the Architect page."
    )


def main() -> None:
    config = current_config()
    intro_ui(config)
    inception_ui(config)
    output_size_ui(config)
    aux_ui(config)
    paper_ui(config)
    head_ui(config)


run_page("Concepts", main)
