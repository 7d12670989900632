"""This browser's training jobs on the Train page, live: progress, cancel, curves.

A job belongs to the browser that started it (its owner cookie,
:mod:`pages.common.ownership`): a refresh or another tab of the same browser finds
it again here and may cancel it. Fragments poll the server's job registry (rows
every :data:`POLL_SECONDS`, charts every :data:`CHART_SECONDS`); the jobs' own
threads never call ``st.*``. A job that ends redraws the whole page once, so the
runs list below shows it.
"""

from __future__ import annotations

import streamlit as st

from googlenet_core._io import duration
from googlenet_core.i18n import _, pgettext
from googlenet_core.service.jobs import JobSnapshot
from googlenet_core.training.events import (
    DownloadEvent,
    EndEvent,
    NoteEvent,
    progress_of,
    start_of,
    steps_of,
)
from googlenet_core.training.runs import run_label
from googlenet_core.training.status import state_label
from pages.common import literal, rerun, server
from pages.common.curves import curves_ui
from pages.common.ownership import viewer

POLL_SECONDS = 2.0  # progress rows of running jobs
CHART_SECONDS = 5.0  # their live charts


def _label(snapshot: JobSnapshot) -> str:
    """The run's name in the live legend: its aux weights, as in the runs list."""
    start = start_of(snapshot.events)
    return run_label(snapshot.id, start.train_config.aux_weights if start else None)


def live_ui() -> None:
    """This browser's runs while they wait and train: a progress row each, live curves."""
    jobs = server().recent_jobs(viewer())
    if not jobs:
        return
    registry = server().registry
    done_before = sum(job.done for job in jobs)
    active = done_before < len(jobs)
    st.subheader(_("Your runs, live"))

    def rows() -> None:
        snapshots = [registry.snapshot(job) for job in jobs]
        for snapshot in reversed(snapshots):
            job_row_ui(snapshot)
        if sum(s.done for s in snapshots) > done_before:
            # A job just ended: redraw the whole page once, so the run list, the overlay
            # and the download selector show it (and polling stops after the last one).
            rerun()

    def charts() -> None:
        snapshots = [registry.snapshot(job) for job in jobs]
        started = {_label(s): s.events for s in snapshots if steps_of(s.events)}
        if started:
            curves_ui(started, key="live")

    if not active:  # finished runs are compared once, under All runs (they join its overlay)
        rows()
        return

    # Every refresh costs the training job CPU time: the server reruns the fragment and the
    # browser re-renders it. On a 2-core machine with the browser on it, the digits recipe
    # trains in 12.5-13.8 s with nobody watching, 27-29 s with rows and charts refreshed
    # every second, 19-21 s with rows every 2 s and charts every 4-5 s (the charts are
    # the expensive part: five Plotly figures re-plotted).
    st.fragment(rows, run_every=POLL_SECONDS)()
    st.fragment(charts, run_every=CHART_SECONDS)()


def job_row_ui(snapshot: JobSnapshot) -> None:
    events = snapshot.events
    with st.container(border=True):
        top, button = st.columns([5, 1], vertical_alignment="center")
        start = start_of(events)
        state = snapshot.state
        if state == "queued":
            top.markdown(
                _("**{run}** — waiting, position {position} in the queue").format(
                    run=snapshot.id, position=snapshot.position
                )
            )
        else:
            top.markdown(f"**{snapshot.id}** — {state_label(state)}")
        if not snapshot.done and button.button(
            _("Cancel"),
            key=f"train_cancel_{snapshot.id}",
            icon=":material/stop:",
            disabled=snapshot.cancel_requested,
        ):
            server().registry.cancel(snapshot.id, viewer().owner)
        last = events[-1] if events else None
        if state == "running" and isinstance(last, DownloadEvent):
            done = last.done / last.total if last.total else 0.0
            st.progress(
                done,
                text=_("downloading {file}: {mb:.1f} MB").format(
                    file=last.file, mb=last.done / 2**20
                ),
            )
        elif start is not None:
            fraction, left = progress_of(events)
            steps = steps_of(events)
            where = (
                _("epoch {epoch}/{epochs} · step {step}/{steps} · {speed:.0f} images/s").format(
                    epoch=steps[-1].epoch,
                    epochs=start.epochs,
                    step=steps[-1].step,
                    steps=start.total_steps,
                    speed=steps[-1].images_per_s,
                )
                if steps
                else _("starting")
            )
            if left is not None and not snapshot.done:
                where = _("{progress} · about {duration} left").format(
                    progress=where, duration=duration(left)
                )
            st.progress(fraction if not snapshot.done else 1.0, text=where)
            aux = [
                f"{h.name}: w = {h.weight:g}"
                if h.in_loss
                else _("{head}: not in the loss, accuracy still measured").format(head=h.name)
                for h in start.aux_heads
            ]
            st.caption(
                _(
                    "{device} ({precision}) · {train:,} training / {val:,} validation images · "
                    "{heads}"
                ).format(
                    device=start.device,
                    precision=start.precision,
                    train=start.train_images,
                    val=start.val_images,
                    heads=pgettext("list of heads", "; ").join(aux),
                )
            )
        notes = [e.message for e in events if isinstance(e, NoteEvent)]
        if notes and not snapshot.done:
            st.caption(literal(notes[-1]))
        if snapshot.done:
            end = events[-1] if events and isinstance(events[-1], EndEvent) else None
            if state == "completed" and end is not None and end.at_chance:
                st.warning(snapshot.message, icon=":material/warning:")
                return
            kind = {"completed": st.success, "cancelled": st.info, "interrupted": st.warning}.get(
                state, st.error
            )
            kind(
                snapshot.message
                if state == "completed"
                else literal(snapshot.message or state_label(state))
            )
