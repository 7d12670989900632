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
from googlenet_core.i18n import N_, _, pgettext
from googlenet_core.training.compare import differences, fair_pair, gradient_ratios, ratio_sentence
from googlenet_core.training.events import Event, epochs_of, start_of
from pages.common import literal
from pages.common.view import chart

#: The tabs, by an internal name; their labels are shown translated.
TAB_LABELS = {
    "ratio": N_("Aux heads: gradient ratio"),
    "loss": N_("Loss"),
    "accuracy": N_("Accuracy per head"),
    "gradients": N_("Gradient norms"),
    "throughput": N_("Throughput"),
}
RATIO_TAB = "ratio"


def _tab_label(name: str) -> str:
    label = TAB_LABELS[name]
    return _(label)


def _list(items: Sequence[str]) -> str:
    """Settings, or a setting's values, named in a sentence: "a, b" (in Chinese "a、b")."""
    return pgettext("list of settings", ", ").join(items)


def curves_ui(runs: Mapping[str, Sequence[Event]], key: str) -> None:
    """The views of one or several runs, as tabs; with a fair A/B pair, its gradient ratio."""
    differences_ui(runs)
    pair = fair_pair(runs)
    names = ["loss", "accuracy", "gradients", "throughput"]
    if pair is not None:
        names.insert(0, RATIO_TAB)
    labels = [_tab_label(name) for name in names]
    tabs = dict(zip(names, st.tabs(labels, default=labels[0]), strict=True))
    any_epoch = any(epochs_of(events) for events in runs.values())
    if pair is not None:
        with tabs[RATIO_TAB]:
            ratio_ui(runs, pair, key)
    with tabs["loss"]:
        chart(loss_figure(runs), f"{key}_loss")
    with tabs["accuracy"]:
        if any_epoch:
            chart(accuracy_figure(runs), f"{key}_accuracy")
        else:
            st.caption(_("Validation accuracy appears after the first epoch."))
    with tabs["gradients"]:
        if any_epoch:
            chart(grad_norm_figure(runs), f"{key}_grads")
            starts = [s for events in runs.values() if (s := start_of(events)) is not None]
            first = starts[0].stages[0] if starts else "conv1"
            chart(early_gradient_figure(runs, first), f"{key}_conv1")
            text = _(
                "The vanishing-gradient argument of the paper, measured: with the auxiliary "
                "weights at 0 the stem and the first blocks only get what flows back through "
                "the whole trunk."
            )
            if not pair:
                text += " " + _("Run an A/B pair (the Compare button) to see it as a ratio.")
            st.caption(text)
        else:
            st.caption(_("Gradient norms appear after the first epoch."))
    with tabs["throughput"]:
        chart(throughput_figure(runs), f"{key}_speed")


def ratio_ui(runs: Mapping[str, Sequence[Event]], pair: tuple[str, str], key: str) -> None:
    """Per stage, the gradient with the aux losses over that without, for a fair pair."""
    with_aux, without = pair
    rows = gradient_ratios(runs[with_aux], runs[without])
    if not rows:
        st.caption(_("The ratio appears once both runs of the pair have finished an epoch."))
        return
    start = start_of(runs[with_aux])
    aux_after = {h.name: h.after for h in start.aux_heads} if start else {}
    st.markdown(_("**{sentence}.**").format(sentence=ratio_sentence(rows)))
    compared = len({r.epoch for r in rows})
    if start is not None and compared < start.epochs:
        st.caption(
            _(
                "So far {compared} of {epochs} epochs compared: in the first epoch both runs "
                "start from the same weights and the aux heads are still guessing, so the effect "
                "often shows only later."
            ).format(compared=compared, epochs=start.epochs)
        )
    chart(gradient_ratio_figure(rows, aux_after), f"{key}_ratio")
    st.caption(
        _(
            "{with_aux} over {without}: the two runs are identical but for the "
            "aux weights (same initial weights, data and order). Above 1, a stage gets more "
            "gradient with the aux heads; the shaded stages lie before the first head joins."
        ).format(with_aux=literal(with_aux), without=literal(without))
    )


def differences_ui(runs: Mapping[str, Sequence[Event]]) -> None:
    """Every setting in which the overlaid runs differ, said before any curve is drawn."""
    found = differences(runs)
    if not found:
        return
    labels = list(runs)
    unfair = [d for d in found if not d.expected]
    lines = [
        _("- **{setting}**: {values}").format(
            setting=d.label,
            values=_list(
                [f"{v} ({literal(label)})" for v, label in zip(d.values, labels, strict=True)]
            ),
        )
        for d in found
    ]
    if unfair:
        st.warning(
            _(
                "**Not a fair comparison: these runs differ in {settings}.** "
                "A difference in the curves may come from any of them."
            ).format(settings=_list([d.label for d in unfair]))
            + "\n\n"
            + "\n".join(lines),
            icon=":material/balance:",
        )
    else:
        st.info(
            _("**A fair comparison: the runs differ only in the aux weights.**")
            + "\n\n"
            + "\n".join(lines),
            icon=":material/balance:",
        )
