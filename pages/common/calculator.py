"""The Concepts page's output-size calculator: the formula, filled in from any layer.

Its numbers are widgets (:data:`CALCULATOR`), kept in the link as ``?calc=224,7,2,3,0``
(:func:`parse_calc`) and ``?layer=<module path>``; choosing a layer of the current design
fills them in from that layer (:func:`geometry`, cached per design).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from googlenet_core import GoogLeNetConfig, conv_out, network_name
from googlenet_core.figures.network import KIND_LABELS, output_size_latex
from googlenet_core.i18n import N_, _
from googlenet_core.network.lessons import LayerGeometry, layer_geometry
from pages.common.concepts import heading, visual

CALCULATOR = {"calc_in": 224, "calc_kernel": 7, "calc_stride": 2, "calc_padding": 3}
CALC_LIMITS = ((1, 4096), (1, 64), (1, 64), (0, 64))
NO_LAYER = N_("(type your own numbers)")  # an option's value: translated where shown


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


def _layer_option(option: str) -> str:
    """The layer picker's options: the layers by their module names, the first in words."""
    return _(NO_LAYER) if option == NO_LAYER else option


def output_size_ui(config: GoogLeNetConfig) -> None:
    heading("output-size", _("How big is the output?"))
    layers = geometry(config)
    st.selectbox(
        _("Fill in from a layer of the current design"),
        [NO_LAYER, *layers],
        format_func=_layer_option,
        key="calc_layer",
        on_change=_fill_from_layer,
        args=(layers,),
    )
    # The toggle's column wider: at 1280 px its label was cut to "round up (ceil…".
    cols = st.columns([1, 1, 1, 1, 1.5], vertical_alignment="bottom")
    labels = (_("in (pixels)"), _("kernel k"), _("stride s"), _("padding p"))
    for col, label, key, (low, high) in zip(cols[:4], labels, CALCULATOR, CALC_LIMITS, strict=True):
        col.number_input(label, low, high, step=1, key=key)
    cols[4].toggle(_("round up (ceil mode)"), key="home_ceil")
    size, kernel, stride, padding = (int(st.session_state[k]) for k in CALCULATOR)
    ceil_mode = bool(st.session_state["home_ceil"])
    out = conv_out(size, kernel, stride, padding, ceil_mode)
    with visual("output-size"):
        formula = output_size_latex(size, kernel, stride, padding, ceil_mode)
        st.latex(f"{formula} = {out}")
        if out <= 0:
            st.error(
                _(
                    "A {kernel}×{kernel} window does not fit in {size} + 2·{pad} pixels: "
                    "the layer would have no output."
                ).format(kernel=kernel, size=size, pad=padding)
            )
        else:
            st.markdown(_("The output is **{out} × {out}** per channel.").format(out=out))
    layer = layers.get(st.session_state["calc_layer"])
    chosen = (size, kernel, stride, padding, ceil_mode)
    if layer is not None and chosen == (
        layer.in_side,
        layer.kernel,
        layer.stride,
        layer.padding,
        layer.ceil_mode,
    ):
        said = (
            _(
                "These are **{layer}**'s numbers in `{network}` ({kind}); "
                "the model's output is {out} × {out}, as the formula says."
            )
            if layer.out_side == out
            else _(
                "These are **{layer}**'s numbers in `{network}` ({kind}); "
                "the model's output is {out} × {out}."
            )
        )
        kind = KIND_LABELS.get(layer.kind, layer.kind)
        st.success(
            said.format(
                layer=layer.name, network=network_name(config), kind=_(kind), out=layer.out_side
            )
        )
    st.caption(
        _(
            "Every convolution and pooling layer shrinks (or keeps) the feature map by this "
            "formula. GoogLeNet's max-pools round up (Caffe's ceil mode; torchvision keeps it), "
            "so 112 → 56 → 28 → 14 → 7. Like PyTorch, the calculator drops a last window that "
            "would start in the padding."
        )
    )


def parse_calc(text: str) -> tuple[Any, ...]:
    """``?calc=224,7,2,3,0``: in, kernel, stride, padding, ceil mode, each within its limits."""
    *numbers, ceil = (int(part) for part in text.split(",", 5))
    if ceil not in (0, 1) or len(numbers) != 4:
        raise ValueError(text)
    for value, (low, high) in zip(numbers, CALC_LIMITS, strict=True):
        if not low <= value <= high:
            raise ValueError(text)
    return (*numbers, bool(ceil))
