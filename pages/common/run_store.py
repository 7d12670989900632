"""The Train page's runs list: every run this browser may see, overlaid, downloaded, shared.

The runs are the run store's (:mod:`googlenet_core.training.runs`), filtered by who
may see them (:mod:`googlenet_core.service.access`): this browser's own, its class's,
the published ones and the host's command-line runs. Any of them can be overlaid
(:mod:`.curves`); the selected one's checkpoint, metrics and exports downloaded; and
its owner can share it with the class or everyone, or delete it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import streamlit as st

from googlenet_core.i18n import N_, _
from googlenet_core.service.access import (
    SHARED,
    Shared,
    delete_run,
    read_access,
    set_sharing,
    visible,
    who_sees,
)
from googlenet_core.training.compare import best_finished
from googlenet_core.training.runs import (
    RunSummary,
    list_runs,
    open_run,
    run_label,
    runs_frame,
)
from googlenet_core.training.status import FINISHED
from pages.common import literal, rerun, server
from pages.common.curves import curves_ui
from pages.common.ownership import class_code, set_class_code, viewer
from pages.common.per_class import per_class_ui

_FINISHED = "train_finished"  # ids of the finished runs the run list has shown
_PRESELECTED = "train_download_preselected"  # the download run the page chose, not the visitor


SHARING_LABELS: dict[Shared, str] = {
    "private": N_("Only me"),
    "class": N_("My class"),
    "public": N_("Everyone on this server"),
}


def _sharing_label(shared: Shared) -> str:
    label = SHARING_LABELS[shared]
    return _(label)


def class_ui() -> None:
    """Who sees what, and the class code that shares runs with a class."""
    keep, days = server().settings.keep_runs, server().settings.keep_days
    code = class_code()
    with st.expander(
        _("Who sees your runs — class: {code}").format(code=literal(code, 64))
        if code
        else _("Who sees your runs"),
        icon=":material/visibility_lock:",
    ):
        st.markdown(
            _(
                "Runs you start are **private to this browser** (a cookie identifies it; the "
                "page's link carries only the design, so sharing it gives nobody your runs or "
                "the right to cancel them). Enter your class's code to share new runs with "
                "everyone who entered it, and to see theirs. An owner can share a run with "
                "the class or publish it to everyone below, or delete it. Runs started on the "
                "host from the command line are visible to all."
            )
        )
        typed = st.text_input(
            _("Class code"),
            value=code,
            key="train_class_code",
            max_chars=64,
            placeholder=_("e.g. CNN-101 (ask your lecturer)"),
        )
        if " ".join(typed.split()) != code:  # spaces around a code are not a new code
            try:
                set_class_code(typed)
            except ValueError as exc:
                st.error(literal(exc))
            else:
                rerun()
        st.caption(
            _(
                "This server keeps the newest {keep} runs started here and none older than "
                "{days} days (checkpoints included); download what you want to keep."
            ).format(keep=keep, days=days)
        )


#: The All runs table's columns, what a student looks for first on the left: at 1280 px
#: the run's long id pushed status, epochs and accuracy off screen. The id is pinned, cut to
#: a medium width (hover shows it whole). These are the frame's own (internal) names; the
#: headers shown are :data:`RUNS_HEADERS`, translated.
RUNS_COLUMNS = (
    "id", "status", "best_val_acc", "epochs_done", "epochs", "aux_weight1", "aux_weight2",
    "seen by", "network", "dataset", "message",
)  # fmt: skip
RUNS_HEADERS: dict[str, str] = {
    "id": N_("run"),
    "status": N_("status"),
    "best_val_acc": N_("best accuracy"),
    "epochs_done": N_("epochs done"),
    "epochs": N_("epochs"),
    "aux_weight1": "w1",
    "aux_weight2": "w2",
    "seen by": N_("seen by"),
    "network": N_("network"),
    "dataset": N_("dataset"),
    "message": N_("message"),
}


def runs_column_config() -> dict[str, Any]:
    """Each column of the All runs table with its header in the page's language."""
    headers = {}
    for column in RUNS_COLUMNS:
        header = RUNS_HEADERS[column]
        headers[column] = _(header)
    config = {column: st.column_config.Column(header) for column, header in headers.items()}
    config["id"] = st.column_config.TextColumn(headers["id"], width="medium", pinned=True)
    config["best_val_acc"] = st.column_config.NumberColumn(
        headers["best_val_acc"], format="percent"
    )
    for column in ("aux_weight1", "aux_weight2", "epochs_done"):
        config[column] = st.column_config.NumberColumn(headers[column])
    return config


def runs_ui() -> None:
    """Every run this browser may see: the table, an overlay of any of them, downloads."""
    st.subheader(_("All runs"))
    class_ui()
    root = server().runs_dir
    server().prune()
    me = viewer()
    summaries = visible(list_runs(root), me)
    if not summaries:
        st.caption(
            _(
                "No runs you can see yet. Runs from the command line on the host "
                "(`python -m googlenet_core train …`) appear here too."
            )
        )
        return
    frame = runs_frame(summaries)
    frame.insert(2, "seen by", [who_sees(read_access(s.path), me) for s in summaries])
    st.dataframe(
        frame,
        hide_index=True,
        key="train_runs_table",
        column_order=RUNS_COLUMNS,
        column_config=runs_column_config(),
    )
    by_id = {s.id: s for s in summaries}
    fresh_selections(summaries)
    chosen = st.multiselect(
        _("Overlay runs"),
        list(by_id),
        format_func=lambda run_id: by_id[run_id].label,
        key="train_compare",
    )
    if chosen:
        labels = overlay_labels([by_id[r] for r in chosen])
        overlay = {labels[r]: open_run(r, root).events() for r in chosen}
        curves_ui(overlay, key="compare")
    downloads_ui(summaries, root)


def overlay_labels(summaries: Sequence[RunSummary]) -> dict[str, str]:
    """Legend names: by the aux weights alone when the runs share network and data."""
    shared = len({(s.network, s.dataset) for s in summaries}) == 1
    return {s.id: run_label(s.id, s.aux_weights) if shared else s.label for s in summaries}


def fresh_selections(summaries: Sequence[RunSummary]) -> None:
    """Point the overlay and the download selector at what is new.

    The first time: the session's latest two runs (an A/B pair, typically), else the
    store's newest two. Afterwards, each run that has finished since the last look
    joins the overlay. The download selector offers the best finished run
    (:func:`best_finished`), again whenever a run finishes, until the visitor picks
    another. Ids no longer in the store are dropped.
    """
    by_id = {s.id: s for s in summaries}
    finished = [s.id for s in summaries if s.status in FINISHED]  # newest first
    seen = st.session_state.get(_FINISHED)
    chosen = [r for r in st.session_state.get("train_compare", []) if r in by_id]
    offer = best_finished(summaries) or summaries[0].id
    download = st.session_state.get("train_download_run")
    offered = download == st.session_state.get(_PRESELECTED)  # not the visitor's own pick
    if seen is None or "train_compare" not in st.session_state:
        mine = [job.id for job in server().recent_jobs(viewer()) if job.id in by_id]
        chosen = mine[-2:] or [s.id for s in summaries[:2]]
        download = offer
    else:
        new = [r for r in finished if r not in seen]
        if new:
            chosen = [*chosen, *(r for r in reversed(new) if r not in chosen)]
            if offered:
                download = offer
    if download not in by_id:
        download = offer
    if download == offer:
        st.session_state[_PRESELECTED] = offer
    st.session_state["train_download_run"] = download
    st.session_state["train_compare"] = chosen
    st.session_state[_FINISHED] = set(finished)


def downloads_ui(summaries: Sequence[RunSummary], root: os.PathLike[str] | str) -> None:
    by_id = {s.id: s for s in summaries}
    run_id = st.selectbox(
        _("Download from run"),
        list(by_id),
        format_func=lambda r: by_id[r].description,
        key="train_download_run",
    )
    run = open_run(run_id, root)
    manage_ui(by_id[run_id])
    per_class_ui(run.path, run_id)
    checkpoint = run.checkpoint("best")
    top = st.columns(2)
    bottom = st.columns(2)
    top[1].download_button(
        _("Metrics (.csv)"),
        data=run.metrics_csv(),
        file_name=f"{run_id}-metrics.csv",
        mime="text/csv",
        icon=":material/table_view:",
        key="train_download_metrics",
    )
    if checkpoint is None:
        top[0].caption(_("No checkpoint yet: one is written after each epoch."))
        return
    top[0].download_button(
        _("Best checkpoint (.pt)"),
        data=checkpoint.read_bytes,  # read when clicked, not on every rerun
        file_name=f"{run_id}-best.pt",
        mime="application/octet-stream",
        icon=":material/download:",
        key="train_download_checkpoint",
        help=_("This project's format: network, weights, classes and preprocessing in one file."),
    )
    bottom[0].download_button(
        _("Plain PyTorch code + weights (.zip)"),
        data=lambda: run.export("zip"),
        file_name=f"{run_id}-pytorch.zip",
        mime="application/zip",
        icon=":material/code:",
        key="train_download_code",
        help=_(
            "{run}.py defines the network with torch only; {run}.pt holds its "
            "weights (loads with strict=True); MODEL_CARD.md says what they are."
        ).format(run=run_id),
    )
    bottom[1].download_button(
        _("Weights (.safetensors)"),
        data=lambda: run.export("safetensors"),
        file_name=f"{run_id}.safetensors",
        mime="application/octet-stream",
        icon=":material/deployed_code:",
        key="train_download_safetensors",
        help=_(
            "Weights only, nothing executable; network, classes and preprocessing in its metadata."
        ),
    )
    st.caption(
        _(
            "The checkpoint loads on the Predict page and with "
            "`python -m googlenet_core evaluate --checkpoint {run}-best.pt --data DIR`; "
            "ONNX for Netron: `python -m googlenet_core export --checkpoint {run}-best.pt "
            "--format onnx -o {run}.onnx` (needs `pip install onnx onnxscript`). "
            "`tensorboard --logdir runs/` shows every run's curves."
        ).format(run=run_id)
    )


def manage_ui(summary: RunSummary) -> None:
    """For the owner of the selected run: who sees it, and deleting it."""
    me = viewer()
    access = read_access(summary.path)
    if not me.owns(access):
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    choices: list[Shared] = [
        c for c in SHARED if c != "class" or me.class_id or access.shared == "class"
    ]
    shared = left.segmented_control(
        _("Who sees this run"),
        choices,
        default=access.shared,
        format_func=_sharing_label,
        key=f"train_share_{summary.id}",
    )
    if shared is not None and shared != access.shared:
        try:
            set_sharing(summary.path, me, shared)
        except (ValueError, PermissionError, OSError) as exc:
            st.error(literal(exc))
        else:
            rerun()
    with right.popover(_("Delete…"), icon=":material/delete:", width="stretch"):
        st.markdown(
            _("Delete {run} and its checkpoints? This cannot be undone.").format(
                run=literal(summary.id)
            )
        )
        if st.button(_("Delete this run"), type="primary", key=f"train_delete_{summary.id}"):
            try:
                delete_run(summary.path, me)
            except (ValueError, PermissionError, OSError) as exc:
                st.error(literal(exc))
            else:
                rerun()
