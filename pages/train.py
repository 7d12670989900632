"""Train: short runs with adjustable auxiliary-loss weights, watched live, compared afterwards.

The network is the Architect page's (or a preset). What a run will train is
decided by googlenet_core's planner (:func:`googlenet_core.training.plan.plan_training`),
the same one ``python -m googlenet_core train`` asks: the widgets start at the
plan's proposal for this network and data, and the page shows why. A run goes
to the server's job registry (:mod:`googlenet_core.training.jobs`, one per
process via ``st.cache_resource``), which runs a bounded number at once and
queues the rest; the worker thread only appends events to its job, never
calls ``st.*``. Fragments poll the session's jobs (progress rows every 2 s,
charts every 5 s). The jobs' secret tokens live in the page URL (``?jobs=...``),
so a refresh or a return from another page finds them again, and only this
session can cancel them.

Every run, from here or the command line, is a folder in the run store; the
list at the bottom overlays any of them and downloads their checkpoint and
metrics.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import streamlit as st

from googlenet_core import GoogLeNetConfig, analyze, minimum_input_size, network_name
from googlenet_core.data import DatasetError
from googlenet_core.data.datasets import split_sizes
from googlenet_core.data.downloads import DOWNLOADABLE, SOURCES
from googlenet_core.data.folders import Limits
from googlenet_core.figures.style import format_count
from googlenet_core.figures.training import (
    accuracy_figure,
    early_gradient_figure,
    grad_norm_figure,
    loss_figure,
    throughput_figure,
)
from googlenet_core.network.config import MAX_INPUT_SIZE
from googlenet_core.network.presets import get_preset
from googlenet_core.training.config import OPTIMIZERS, SCHEDULES, TrainConfig
from googlenet_core.training.estimate import estimate_seconds, machine_rate
from googlenet_core.training.events import (
    DownloadEvent,
    Event,
    NoteEvent,
    epochs_of,
    progress_of,
    start_of,
    steps_of,
)
from googlenet_core.training.jobs import Job, JobRegistry, JobSnapshot, submit_training
from googlenet_core.training.plan import Choices, TrainPlan, plan_training
from googlenet_core.training.runs import (
    RunSummary,
    default_runs_dir,
    list_runs,
    open_run,
    runs_frame,
)
from pages.common import config_version, current_config, literal, run_page, set_config

JOBS_PARAM = "jobs"  # the session's job tokens, in the URL so a refresh finds them
PLAN_KEY = "train_plan"  # the plan the Start button would submit (tests read it)
POLL_SECONDS = 2.0  # progress rows of running jobs
CHART_SECONDS = 5.0  # their live charts
DATASET_LABELS = {
    "digits": "Digits — built in, 8×8 grayscale, offline",
    **{
        name: f"{source.description.split(' (')[0]} — downloaded once ({source.size})"
        for name, source in SOURCES.items()
    },
    "upload": "Your images — a zip of class folders",
}
OPTIMIZER_LABELS = {"adamw": "AdamW", "sgd": "SGD + Nesterov momentum"}
SCHEDULE_LABELS = {"onecycle": "one-cycle", "cosine": "cosine", "constant": "constant"}
BATCH_SIZES = [2, 4, 8, 16, 32, 64, 128, 256, 512]

_TOKENS = "train_tokens"
_NOTICE = "train_notice"


# ---- shared, process-wide ------------------------------------------------------------------


@st.cache_resource
def job_registry() -> JobRegistry:
    """One registry per server process: every session's jobs, with their lock."""
    return JobRegistry()


@st.cache_data(max_entries=8, show_spinner=False)
def file_bytes(path: str, mtime_ns: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def upload_limit_mb() -> int:
    """The largest zip this server takes: Streamlit's upload cap or the data limit, if lower."""
    server = int(st.get_option("server.maxUploadSize"))
    return min(server, Limits().max_zip_bytes // 2**20)


# ---- the session's jobs --------------------------------------------------------------------


def session_jobs() -> list[tuple[str, Job]]:
    """(token, job) for this session's jobs; adopted from the URL after a refresh."""
    registry = job_registry()
    if _TOKENS not in st.session_state:
        tokens = [t for t in st.query_params.get_all(JOBS_PARAM) if t]
        found = [t for t in tokens if registry.find(t) is not None]
        st.session_state[_TOKENS] = found
        st.session_state[_NOTICE] = (
            f"{len(tokens) - len(found)} training job(s) in this link are no longer on the "
            "server (it was restarted); their runs, if they started, are in the list below."
            if len(found) < len(tokens)
            else None
        )
    pairs = []
    for token in st.session_state[_TOKENS]:
        job = registry.find(token)
        if job is not None:
            pairs.append((token, job))
    return pairs


def remember(token: str) -> None:
    st.session_state[_TOKENS] = [*st.session_state.get(_TOKENS, []), token]
    st.query_params[JOBS_PARAM] = st.session_state[_TOKENS]


def sync_url() -> None:
    tokens = st.session_state.get(_TOKENS, [])
    if tokens and st.query_params.get_all(JOBS_PARAM) != tokens:
        st.query_params[JOBS_PARAM] = tokens
    elif not tokens and JOBS_PARAM in st.query_params:
        del st.query_params[JOBS_PARAM]


# ---- settings ------------------------------------------------------------------------------


def network_ui(config: GoogLeNetConfig) -> None:
    """The network to train."""
    analysis = analyze(config)
    side = config.input_size
    st.markdown(
        f"**Network:** `{network_name(config)}` — {config.in_channels} × {side} × {side} input, "
        f"{format_count(analysis.total_params)} parameters with its aux heads, "
        f"{format_count(analysis.total_macs)} MACs per image. Design another on the Architect page."
    )


def heavy_ui(proposal: TrainPlan) -> None:
    """A nudge towards mini when the plan finds the network heavy for this machine."""
    if proposal.heavy is None:
        return
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.warning(
        f"This machine has no GPU. This network needs {proposal.heavy:.0f}× the compute of "
        "the mini preset (a quarter-width GoogLeNet for 32 px images) that trains on the "
        f"digits in well under a minute; a subset of {proposal.train_config.subset} images is "
        "proposed below.",
        icon=":material/speed:",
    )
    if right.button("Use the mini preset", key="train_use_mini", type="primary"):
        set_config(get_preset("mini"))
        st.rerun()


def dataset_ui() -> tuple[str, bytes | None, str | None]:
    """The data set, and for an upload the zip's bytes and file name."""
    dataset = (
        st.selectbox(
            "Dataset",
            list(DATASET_LABELS),
            format_func=lambda d: DATASET_LABELS[d],
            key="train_dataset",
        )
        or "digits"
    )
    archive, archive_name = None, None
    if dataset == "upload":
        limit = upload_limit_mb()
        upload = st.file_uploader(
            f"A zip of class folders (cat/1.jpg, dog/2.png, …), up to {limit} MB",
            type=["zip"],
            key="train_zip",
            max_upload_size=limit,
        )
        if upload is not None:
            archive, archive_name = upload.getvalue(), upload.name
        st.caption(
            "Read in memory (nothing is unpacked to disk) and released when the job ends; "
            "files that are not images are skipped and counted."
        )
    elif dataset in DOWNLOADABLE:
        st.caption(
            "Downloaded through torchvision into the data cache on first use, with a progress "
            "bar below. Offline? The built-in digits need no download."
        )
    return dataset, archive, archive_name


def choices_ui(config: GoogLeNetConfig, dataset: str, proposal: TrainPlan) -> Choices:
    """Every setting, starting at the plan's proposal; what the widgets say is the choice."""
    proposed = proposal.train_config
    left, right = st.columns(2, gap="large")
    with left:
        use_subset = st.toggle(
            "Train on a subset", value=proposed.subset is not None, key="train_use_subset"
        )
        subset = None
        if use_subset:
            subset = int(
                st.number_input(
                    "Training images",
                    min_value=8,
                    max_value=60_000,
                    value=proposed.subset or 1000,
                    step=64,
                    key="train_subset",
                )
            )
        side = input_side_ui(config, dataset, proposal)
        epochs = st.slider("Epochs", 1, 30, proposed.epochs, key="train_epochs")
        batch = st.select_slider(
            "Batch size", BATCH_SIZES, value=proposed.batch_size, key="train_batch"
        )
    with right:
        optimizer = st.radio(
            "Optimizer",
            list(OPTIMIZERS),
            index=OPTIMIZERS.index(proposed.optimizer),
            format_func=lambda o: OPTIMIZER_LABELS[o],
            horizontal=True,
            key="train_optimizer",
        )
        lr = st.number_input(
            "Peak learning rate",
            min_value=1e-6,
            max_value=1e6,
            value=proposed.lr,
            format="%.4g",
            key="train_lr",
            help="One-cycle warms up to this rate and anneals from it. Try 1e6 to watch a "
            "run diverge: it stops at the first non-finite loss and keeps its last checkpoint.",
        )
        schedule = st.selectbox(
            "Schedule",
            list(SCHEDULES),
            index=SCHEDULES.index(proposed.schedule),
            format_func=lambda s: SCHEDULE_LABELS[s],
            key="train_schedule",
        )
        augment = st.toggle(
            "Augmentation (small shifts, rotations, scalings)",
            value=proposed.augment,
            key="train_augment",
        )
        seed = int(st.number_input("Seed", 0, 2**31 - 1, proposed.seed, key="train_seed"))
    w1, w2 = aux_weights_ui(config, proposed)
    return Choices(
        subset=subset if use_subset else "all",
        input_size=side,
        epochs=int(epochs),
        batch_size=int(batch),
        optimizer=str(optimizer),
        lr=float(lr),
        schedule=str(schedule),
        aux_weight1=w1,
        aux_weight2=w2,
        augment=bool(augment),
        seed=seed,
    )


def input_side_ui(config: GoogLeNetConfig, dataset: str, proposal: TrainPlan) -> int:
    """The side images are resized to for training, starting at the plan's."""
    proposed = proposal.config.input_size
    smallest = minimum_input_size(config) or config.input_size
    side = int(
        st.number_input(
            "Input side (px)",
            min_value=min(smallest, proposed),
            max_value=MAX_INPUT_SIZE,
            value=proposed,
            step=1,
            # One value per network and dataset: switching back finds the one set before.
            key=f"train_side_{dataset}_{config_version()}",
            help=f"Images are resized to this side; the smallest this network takes is "
            f"{smallest} px. Compute grows with its square.",
        )
    )
    if side == proposed and "input_size" in proposal.reasons:
        st.caption(f"Proposed: {proposal.reasons['input_size']}.")
    return side


def aux_weights_ui(config: GoogLeNetConfig, proposed: TrainConfig) -> tuple[float, float]:
    """The two sliders and the formula they make, with what a weight of 0 means."""
    st.subheader("Auxiliary-loss weights")
    heads = {h.name: h for h in config.active_aux_heads}
    left, right = st.columns(2, gap="large")
    weights = []
    for column, name, value in (
        (left, "aux1", proposed.aux_weight1),
        (right, "aux2", proposed.aux_weight2),
    ):
        head = heads.get(name)
        if head is None:
            column.caption(f"{name}: not in this network")
            weights.append(0.0)
            continue
        weights.append(
            column.slider(
                f"w{name[-1]} — {name}, after {head.after}",
                0.0,
                1.0,
                value,
                0.05,
                key=f"train_w{name[-1]}",
                help="0.3 in the paper (section 5).",
            )
        )
    w1, w2 = (float(w) for w in weights)
    st.latex(
        rf"\mathcal{{L}} = \mathcal{{L}}_\mathrm{{main}} + {w1:g}\,\mathcal{{L}}_\mathrm{{aux1}}"
        rf" + {w2:g}\,\mathcal{{L}}_\mathrm{{aux2}}"
    )
    notes = []
    for name, weight in (("aux1", w1), ("aux2", w2)):
        if name not in heads:
            notes.append(f"{name} is absent from this network, so its term is not computed.")
        elif weight == 0:
            notes.append(
                f"{name} has weight 0: its loss is not computed and it gets no gradient, so it "
                "stays untrained; its accuracy is still measured on the validation set, as a "
                "chance-level baseline."
            )
    if notes:
        st.caption(" ".join(notes))
    else:
        st.caption(
            "Each head's accuracy is measured on the validation set every epoch. Compare a run "
            "at 0.3/0.3 with one at 0/0 to see what the heads do to the early layers' gradients."
        )
    return w1, w2


def plan_ui(config: GoogLeNetConfig) -> tuple[TrainPlan | None, bytes | None]:
    """The settings, and the plan they make (None, with the reason shown, when it cannot train)."""
    network_ui(config)
    dataset, archive, archive_name = dataset_ui()
    data_path = archive_name if dataset == "upload" else None  # recorded, not read
    try:
        proposal = plan_training(config, dataset, data_path=data_path, archive=archive)
    except (ValueError, DatasetError) as exc:
        st.error(
            f"**Cannot train this network on this data:** {literal(exc)}",
            icon=":material/error:",
        )
        st.session_state[PLAN_KEY] = None
        return None, archive
    heavy_ui(proposal)
    choices = choices_ui(config, dataset, proposal)
    try:
        plan = plan_training(config, dataset, choices, data_path=data_path, archive=archive)
    except ValueError as exc:
        st.error(f"**Cannot train with these settings:** {literal(exc)}", icon=":material/error:")
        st.session_state[PLAN_KEY] = None
        return None, archive
    if choices.subset != "all" and "subset" in proposal.reasons:
        st.caption(f"Subset proposed: {proposal.reasons['subset']}.")
    for note in plan.notes:
        st.caption(f"Note: {note}.")
    st.session_state[PLAN_KEY] = plan
    return plan, archive


def estimate_ui(plan: TrainPlan) -> None:
    """Time before starting: the MAC count over a measured training rate."""
    config, train_config = plan.config, plan.train_config
    with st.spinner("Measuring this machine's training speed…"):
        rate = machine_rate(config, train_config)
    if train_config.dataset == "upload":
        per_1000 = estimate_seconds(config, train_config, rate, 1000, 250)
        st.caption(
            f"Estimated time: about {_duration(per_1000)} per 1,000 images over "
            f"{train_config.epochs} epoch(s) ({rate / 1e9:.2f} G MACs/s measured here)."
        )
        return
    try:
        n_train, n_val = split_sizes(
            train_config.dataset, train_config.subset, train_config.val_fraction
        )
    except DatasetError:
        return
    seconds = estimate_seconds(config, train_config, rate, n_train, n_val)
    st.caption(
        f"Estimated time: **about {_duration(seconds)}** on this machine — {n_train:,} training "
        f"and {n_val:,} validation images × {train_config.epochs} epoch(s), "
        f"{format_count(analyze(config).total_macs)} MACs per image, "
        f"{rate / 1e9:.2f} G MACs/s measured by a quick probe."
    )


def start_ui(plan: TrainPlan | None, archive: bytes | None) -> None:
    registry = job_registry()
    running, queued = registry.counts()
    missing_zip = plan is not None and plan.train_config.dataset == "upload" and not archive
    if st.button(
        "Start training",
        type="primary",
        icon=":material/play_arrow:",
        key="train_start",
        disabled=plan is None or missing_zip,
    ):
        assert plan is not None
        try:
            job = submit_training(registry, plan, runs_dir=default_runs_dir(), archive=archive)
        except (ValueError, OSError) as exc:
            st.error(f"Could not start: {literal(exc)}")
            return
        remember(job.token)
        st.rerun()
    st.caption(
        f"Runs in the background: you can leave this page or reload it. This server runs "
        f"{registry.max_running} job(s) at a time ({running} running, {queued} waiting)."
    )


# ---- live view -----------------------------------------------------------------------------


def _label(snapshot: JobSnapshot) -> str:
    start = start_of(snapshot.events)
    if start is None:
        return snapshot.id
    w1, w2 = start.train_config.aux_weights
    return f"w {w1:g}/{w2:g} · …{snapshot.id[-4:]}"


def live_ui() -> None:
    jobs = session_jobs()
    if not jobs:
        return
    registry = job_registry()
    active = any(not job.done for _, job in jobs)
    st.subheader("Your runs, live")

    def rows() -> None:
        snapshots = [(token, registry.snapshot(job)) for token, job in jobs]
        for token, snapshot in reversed(snapshots):
            job_row_ui(token, snapshot)
        if active and all(s.done for _, s in snapshots):
            st.rerun()  # the last job just ended: redraw everything once, stop polling

    def charts() -> None:
        snapshots = [registry.snapshot(job) for _, job in jobs]
        started = {_label(s): s.events for s in snapshots if steps_of(s.events)}
        if started:
            curves_ui(started, key="live")

    # Every refresh costs the training job CPU time: the server reruns the fragment and the
    # browser re-renders it. On a 2-core machine with the browser on it, the digits recipe
    # trains in 12.5-13.8 s with nobody watching, 27-29 s with rows and charts refreshed
    # every second, 19-21 s with rows every 2 s and charts every 4-5 s (the charts are
    # the expensive part: five Plotly figures re-plotted).
    st.fragment(rows, run_every=POLL_SECONDS if active else None)()
    st.fragment(charts, run_every=CHART_SECONDS if active else None)()


def job_row_ui(token: str, snapshot: JobSnapshot) -> None:
    events = snapshot.events
    with st.container(border=True):
        top, button = st.columns([5, 1], vertical_alignment="center")
        start = start_of(events)
        state = snapshot.state
        if state == "queued":
            top.markdown(f"**{snapshot.id}** — waiting, position {snapshot.position} in the queue")
        else:
            top.markdown(f"**{snapshot.id}** — {state}")
        if not snapshot.done and button.button(
            "Cancel",
            key=f"train_cancel_{snapshot.id}",
            icon=":material/stop:",
            disabled=snapshot.cancel_requested,
        ):
            job_registry().cancel(snapshot.id, token)
        last = events[-1] if events else None
        if state == "running" and isinstance(last, DownloadEvent):
            done = last.done / last.total if last.total else 0.0
            st.progress(done, text=f"downloading {last.file}: {last.done / 2**20:.1f} MB")
        elif start is not None:
            fraction, left = progress_of(events)
            steps = steps_of(events)
            where = (
                f"epoch {steps[-1].epoch}/{start.epochs} · step "
                f"{steps[-1].step}/{start.total_steps} · {steps[-1].images_per_s:.0f} images/s"
                if steps
                else "starting"
            )
            eta = (
                f" · about {_duration(left)} left" if left is not None and not snapshot.done else ""
            )
            st.progress(fraction if not snapshot.done else 1.0, text=where + eta)
            aux = [
                f"{h.name}: w = {h.weight:g}"
                if h.in_loss
                else f"{h.name}: not in the loss, accuracy still measured"
                for h in start.aux_heads
            ]
            st.caption(
                f"{start.device} ({start.precision}) · {start.train_images:,} training / "
                f"{start.val_images:,} validation images · " + "; ".join(aux)
            )
        notes = [e.message for e in events if isinstance(e, NoteEvent)]
        if notes and not snapshot.done:
            st.caption(literal(notes[-1]))
        if snapshot.done:
            kind = {"completed": st.success, "cancelled": st.info}.get(state, st.error)
            kind(snapshot.message if state == "completed" else literal(snapshot.message or state))


def curves_ui(runs: Mapping[str, Sequence[Event]], key: str) -> None:
    """The four views of one or several runs, as tabs."""
    loss, accuracy, gradients, speed = st.tabs(
        ["Loss", "Accuracy per head", "Gradient norms", "Throughput"]
    )
    any_epoch = any(epochs_of(events) for events in runs.values())
    with loss:
        st.plotly_chart(loss_figure(runs), key=f"{key}_loss")
    with accuracy:
        if any_epoch:
            st.plotly_chart(accuracy_figure(runs), key=f"{key}_accuracy")
        else:
            st.caption("Validation accuracy appears after the first epoch.")
    with gradients:
        if any_epoch:
            st.plotly_chart(grad_norm_figure(runs), key=f"{key}_grads")
            starts = [s for events in runs.values() if (s := start_of(events)) is not None]
            first = starts[0].stages[0] if starts else "conv1"
            st.plotly_chart(early_gradient_figure(runs, first), key=f"{key}_conv1")
            st.caption(
                "The vanishing-gradient argument of the paper, measured: with the auxiliary "
                "weights at 0 the stem and the first blocks only get what flows back through "
                "the whole trunk."
            )
        else:
            st.caption("Gradient norms appear after the first epoch.")
    with speed:
        st.plotly_chart(throughput_figure(runs), key=f"{key}_speed")


# ---- every run in the store ----------------------------------------------------------------


def runs_ui() -> None:
    st.subheader("All runs")
    root = default_runs_dir()
    summaries = list_runs(root)
    if not summaries:
        st.caption(
            f"No runs in `{root}` yet. Runs from the command line "
            "(`python -m googlenet_core train …`) appear here too."
        )
        return
    frame = runs_frame(summaries)
    st.dataframe(
        frame,
        hide_index=True,
        key="train_runs_table",
        column_config={
            "best_val_acc": st.column_config.NumberColumn("best accuracy", format="percent"),
            "aux_weight1": st.column_config.NumberColumn("w1"),
            "aux_weight2": st.column_config.NumberColumn("w2"),
            "epochs_done": st.column_config.NumberColumn("epochs done"),
        },
    )
    by_id = {s.id: s for s in summaries}
    mine = [job.id for _, job in session_jobs() if job.id in by_id]
    default = mine[-2:] or [s.id for s in summaries[:2]]
    chosen = st.multiselect(
        "Overlay runs",
        list(by_id),
        default=default,
        format_func=lambda run_id: by_id[run_id].label,
        key="train_compare",
    )
    if chosen:
        overlay = {by_id[r].label: open_run(r, root).events() for r in chosen}
        curves_ui(overlay, key="compare")
    downloads_ui(summaries, root)


def downloads_ui(summaries: Sequence[RunSummary], root: os.PathLike[str] | str) -> None:
    by_id = {s.id: s for s in summaries}
    finished = [s.id for s in summaries if s.has_checkpoint]
    best = max(finished, key=lambda r: by_id[r].best_val_acc or 0.0) if finished else None
    run_id = st.selectbox(
        "Download from run",
        list(by_id),
        index=list(by_id).index(best) if best else 0,
        format_func=lambda r: (
            f"{by_id[r].label} — {by_id[r].status}, best "
            + (f"{by_id[r].best_val_acc:.1%}" if by_id[r].best_val_acc is not None else "—")
        ),
        key="train_download_run",
    )
    run = open_run(run_id, root)
    left, right = st.columns(2)
    checkpoint = run.checkpoint("best")
    if checkpoint is not None:
        left.download_button(
            "Best checkpoint (.pt)",
            data=file_bytes(str(checkpoint), checkpoint.stat().st_mtime_ns),
            file_name=f"{run_id}-best.pt",
            mime="application/octet-stream",
            icon=":material/download:",
            key="train_download_checkpoint",
        )
    else:
        left.caption("No checkpoint yet: one is written after each epoch.")
    right.download_button(
        "Metrics (.csv)",
        data=run.metrics_csv(),
        file_name=f"{run_id}-metrics.csv",
        mime="text/csv",
        icon=":material/table_view:",
        key="train_download_metrics",
    )
    st.caption(
        "The checkpoint loads on the Predict page and with "
        f"`python -m googlenet_core evaluate --checkpoint {run_id}-best.pt --data DIR`."
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def main() -> None:
    st.title("Train")
    st.caption(
        "Train the current network with the paper's auxiliary classifiers weighted as you "
        "choose, watch the curves and the early layers' gradients, then compare runs."
    )
    session_jobs()
    sync_url()
    if st.session_state.get(_NOTICE):
        st.info(st.session_state[_NOTICE], icon=":material/link_off:")
    plan, archive = plan_ui(current_config())
    if plan is not None:
        estimate_ui(plan)
    start_ui(plan, archive)
    live_ui()
    runs_ui()


run_page("Train", main)
