"""The curves of one or several training runs, as tabs; a fair A/B pair's gradient ratio.

Shared by the Train page's live view (:mod:`.live`) and its runs list (:mod:`.run_store`).
Before any curve, every setting in which the overlaid runs differ is said, as a
warning when anything but the aux weights does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

from googlenet_core.figures.training import (
    accuracy_figure,
    early_gradient_figure,
    grad_norm_figure,
    gradient_ratio_figure,
    loss_figure,
    throughput_figure,
)
from googlenet_core.training.compare import differences, fair_pair, gradient_ratios, ratio_sentence
from googlenet_core.training.events import Event, epochs_of, start_of
from pages.common import literal
from pages.common.view import chart

RATIO_TAB = "Aux heads: gradient ratio"


def curves_ui(runs: Mapping[str, Sequence[Event]], key: str) -> None:
    """The views of one or several runs, as tabs; with a fair A/B pair, its gradient ratio."""
    differences_ui(runs)
    pair = fair_pair(runs)
    names = ["Loss", "Accuracy per head", "Gradient norms", "Throughput"]
    if pair is not None:
        names.insert(0, RATIO_TAB)
    tabs = dict(zip(names, st.tabs(names, default=names[0]), strict=True))
    any_epoch = any(epochs_of(events) for events in runs.values())
    if pair is not None:
        with tabs[RATIO_TAB]:
            ratio_ui(runs, pair, key)
    with tabs["Loss"]:
        chart(loss_figure(runs), f"{key}_loss")
    with tabs["Accuracy per head"]:
        if any_epoch:
            chart(accuracy_figure(runs), f"{key}_accuracy")
        else:
            st.caption("Validation accuracy appears after the first epoch.")
    with tabs["Gradient norms"]:
        if any_epoch:
            chart(grad_norm_figure(runs), f"{key}_grads")
            starts = [s for events in runs.values() if (s := start_of(events)) is not None]
            first = starts[0].stages[0] if starts else "conv1"
            chart(early_gradient_figure(runs, first), f"{key}_conv1")
            st.caption(
                "The vanishing-gradient argument of the paper, measured: with the auxiliary "
                "weights at 0 the stem and the first blocks only get what flows back through "
                "the whole trunk."
                + ("" if pair else " Run an A/B pair (the Compare button) to see it as a ratio.")
            )
        else:
            st.caption("Gradient norms appear after the first epoch.")
    with tabs["Throughput"]:
        chart(throughput_figure(runs), f"{key}_speed")


def ratio_ui(runs: Mapping[str, Sequence[Event]], pair: tuple[str, str], key: str) -> None:
    """Per stage, the gradient with the aux losses over that without, for a fair pair."""
    with_aux, without = pair
    rows = gradient_ratios(runs[with_aux], runs[without])
    if not rows:
        st.caption("The ratio appears once both runs of the pair have finished an epoch.")
        return
    start = start_of(runs[with_aux])
    aux_after = {h.name: h.after for h in start.aux_heads} if start else {}
    st.markdown(f"**{ratio_sentence(rows)}.**")
    compared = len({r.epoch for r in rows})
    if start is not None and compared < start.epochs:
        st.caption(
            f"So far {compared} of {start.epochs} epochs compared: in the first epoch both runs "
            "start from the same weights and the aux heads are still guessing, so the effect "
            "often shows only later."
        )
    chart(gradient_ratio_figure(rows, aux_after), f"{key}_ratio")
    st.caption(
        f"{literal(with_aux)} over {literal(without)}: the two runs are identical but for the "
        "aux weights (same initial weights, data and order). Above 1, a stage gets more "
        "gradient with the aux heads; the shaded stages lie before the first head joins."
    )


def differences_ui(runs: Mapping[str, Sequence[Event]]) -> None:
    """Every setting in which the overlaid runs differ, said before any curve is drawn."""
    found = differences(runs)
    if not found:
        return
    labels = list(runs)
    unfair = [d for d in found if not d.expected]
    lines = [
        f"- **{d.setting}**: "
        + ", ".join(f"{v} ({literal(label)})" for v, label in zip(d.values, labels, strict=True))
        for d in found
    ]
    if unfair:
        st.warning(
            "**Not a fair comparison: these runs differ in "
            + ", ".join(d.setting for d in unfair)
            + ".** A difference in the curves may come from any of them.\n\n"
            + "\n".join(lines),
            icon=":material/balance:",
        )
    else:
        st.info(
            "**A fair comparison: the runs differ only in the aux weights.**\n\n"
            + "\n".join(lines),
            icon=":material/balance:",
        )
