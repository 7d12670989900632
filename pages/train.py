"""Train: short runs with adjustable auxiliary-loss weights, watched live, compared afterwards.

The network is the Architect page's (or a preset). A run goes to the server's
job registry (:mod:`googlenet_core.jobs`, one per process via
``st.cache_resource``), which runs a bounded number at once and queues the
rest; the worker thread only appends events to its job, never calls ``st.*``.
Fragments poll the session's jobs (progress rows every 2 s, charts every 5 s).
The jobs' secret tokens live in the page URL (``?jobs=...``), so a refresh or
a return from another page finds them again, and only this session can cancel
them.

Every run, from here or the command line, is a folder in the run store; the
list at the bottom overlays any of them and downloads their checkpoint and
metrics.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import streamlit as st

from googlenet_core import GoogLeNetConfig, analyze, base_preset, get_preset, minimum_input_size
from googlenet_core.config import MAX_INPUT_SIZE
from googlenet_core.data import DOWNLOADABLE, DatasetError, split_sizes
from googlenet_core.figures import format_count
from googlenet_core.jobs import Job, JobRegistry, JobSnapshot, submit_training
from googlenet_core.runs import RunSummary, default_runs_dir, list_runs, open_run, runs_frame
from googlenet_core.train import (
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    check_compatible,
    estimate_seconds,
    probe_macs_per_s,
    progress_of,
    quick_recipe,
    recipe_input_size,
    resolve_device,
)
from googlenet_core.train_figures import (
    accuracy_figure,
    early_gradient_figure,
    grad_norm_figure,
    loss_figure,
    throughput_figure,
)
from pages._common import config_version, current_config, ensure_state, network_label, set_config

JOBS_PARAM = "jobs"  # the session's job tokens, in the URL so a refresh finds them
POLL_SECONDS = 2.0  # progress rows of running jobs
CHART_SECONDS = 5.0  # their live charts
DATASET_LABELS = {
    "digits": "Digits — built in, 8×8 grayscale, offline",
    "fashionmnist": "Fashion-MNIST — downloaded once (30 MB)",
    "mnist": "MNIST — downloaded once (11 MB)",
    "cifar10": "CIFAR-10 — downloaded once (170 MB)",
    "upload": "Your images — a zip of class folders",
}
OPTIMIZER_LABELS = {"adamw": "AdamW", "sgd": "SGD + Nesterov momentum"}
SCHEDULE_LABELS = {"onecycle": "one-cycle", "cosine": "cosine", "constant": "constant"}
BATCH_SIZES = [2, 4, 8, 16, 32, 64, 128, 256, 512]
CPU_SUBSET = 256  # images proposed for a network larger than mini on a CPU-only host
MAX_UPLOAD_MB = 200

_TOKENS = "train_tokens"
_NOTICE = "train_notice"


# ---- shared, process-wide ------------------------------------------------------------------


@st.cache_resource
def job_registry() -> JobRegistry:
    """One registry per server process: every session's jobs, with their lock."""
    return JobRegistry()


# Re-measured after ten minutes: a shared host's load changes, and one unlucky probe
# should not set every estimate for the life of the server.
@st.cache_data(max_entries=32, ttl=600, show_spinner="Measuring this machine's training speed…")
def machine_rate(model_json: str, device: str, precision: str, batch_size: int) -> float:
    """Forward MACs per second while training this network here (a probe of about a second)."""
    config = GoogLeNetConfig.from_json(model_json)
    probe = TrainConfig(device=device, precision=precision, batch_size=batch_size)
    return probe_macs_per_s(config, probe)


@st.cache_data(max_entries=8, show_spinner=False)
def file_bytes(path: str, mtime_ns: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


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


def on_cpu_only() -> bool:
    return resolve_device("auto").type == "cpu"


def network_ui() -> GoogLeNetConfig:
    """The network to train, and on a CPU-only host a nudge towards mini."""
    config = current_config()
    analysis = analyze(config)
    side = config.input_size
    st.markdown(
        f"**Network:** `{network_label(config)}` — {config.in_channels} × {side} × {side} input, "
        f"{format_count(analysis.total_params)} parameters with its aux heads, "
        f"{format_count(analysis.total_macs)} MACs per image. Design another on the Architect page."
    )
    mini = get_preset("mini")
    if on_cpu_only() and analysis.total_macs > 4 * analyze(mini).total_macs:
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.warning(
            f"This machine has no GPU. This network needs "
            f"{analysis.total_macs / analyze(mini).total_macs:.0f}× the compute of the mini "
            f"preset (a quarter-width GoogLeNet for 32 px images) that trains on the digits in "
            f"well under a minute; a subset of {CPU_SUBSET} images is proposed below.",
            icon=":material/speed:",
        )
        if right.button("Use the mini preset", key="train_use_mini", type="primary"):
            set_config(mini)
            st.rerun()
    return config


def settings_ui(
    config: GoogLeNetConfig,
) -> tuple[GoogLeNetConfig, TrainConfig | None, bytes | None]:
    """The network at its training side, and the run's settings (None, with a message shown,
    when they cannot train)."""
    label = base_preset(config)
    left, right = st.columns(2, gap="large")
    with left:
        dataset = st.selectbox(
            "Dataset", list(DATASET_LABELS), format_func=DATASET_LABELS.get, key="train_dataset"
        )
        archive, archive_name = None, None
        if dataset == "upload":
            upload = st.file_uploader(
                f"A zip of class folders (cat/1.jpg, dog/2.png, …), up to {MAX_UPLOAD_MB} MB",
                type=["zip"],
                key="train_zip",
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
        recipe = quick_recipe(label, "folder" if dataset == "upload" else dataset)
        heavy = on_cpu_only() and label != "mini"
        subset_default = CPU_SUBSET if heavy else (2000 if dataset in DOWNLOADABLE else None)
        use_subset = st.toggle(
            "Train on a subset", value=subset_default is not None, key="train_use_subset"
        )
        subset = None
        if use_subset:
            subset = int(
                st.number_input(
                    "Training images",
                    min_value=8,
                    max_value=60_000,
                    value=subset_default or 1000,
                    step=64,
                    key="train_subset",
                )
            )
        try:
            net = input_side_ui(config, label, "folder" if dataset == "upload" else dataset)
        except ValueError as exc:  # a side this network cannot take
            st.error(f"**Cannot train at this input side:** {exc}", icon=":material/error:")
            net, refused = config, True
        else:
            refused = False
        epochs = st.slider("Epochs", 1, 30, int(recipe["epochs"]), key="train_epochs")
        batch = st.select_slider(
            "Batch size", BATCH_SIZES, value=int(recipe.get("batch_size", 64)), key="train_batch"
        )
    with right:
        optimizer = st.radio(
            "Optimizer",
            OPTIMIZERS,
            index=OPTIMIZERS.index(recipe.get("optimizer", "adamw")),
            format_func=OPTIMIZER_LABELS.get,
            horizontal=True,
            key="train_optimizer",
        )
        lr = st.number_input(
            "Peak learning rate",
            min_value=1e-6,
            max_value=1e6,
            value=float(recipe.get("lr", 0.003)),
            format="%.4g",
            key="train_lr",
            help="One-cycle warms up to this rate and anneals from it. Try 1e6 to watch a "
            "run diverge: it stops at the first non-finite loss and keeps its last checkpoint.",
        )
        schedule = st.selectbox(
            "Schedule", SCHEDULES, format_func=SCHEDULE_LABELS.get, key="train_schedule"
        )
        augment = st.toggle(
            "Augmentation (small shifts, rotations, scalings)",
            value=bool(recipe.get("augment", True)),
            key="train_augment",
        )
        seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed"))
    w1, w2 = aux_weights_ui(config)
    try:
        train_config = TrainConfig(
            dataset=dataset,
            data_path=archive_name if dataset == "upload" else None,  # recorded, not read
            subset=subset,
            batch_size=int(batch),
            epochs=int(epochs),
            optimizer=str(optimizer),
            lr=float(lr),
            schedule=str(schedule),
            aux_weight1=w1,
            aux_weight2=w2,
            augment=bool(augment),
            seed=seed,
        )
        check_compatible(net, train_config)
    except ValueError as exc:
        st.error(f"**Cannot train with these settings:** {exc}", icon=":material/error:")
        return net, None, archive
    return net, None if refused else train_config, archive


def input_side_ui(config: GoogLeNetConfig, preset: str | None, dataset: str) -> GoogLeNetConfig:
    """The side images are resized to for training: the recipe's where it has one."""
    own = config.input_size
    proposed = recipe_input_size(preset, dataset) or own
    smallest = minimum_input_size(config) or own
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
    if proposed != own and side == proposed:
        st.caption(
            f"The network is designed for {own} px; the quick recipe for {preset} on "
            f"{DATASET_LABELS.get(dataset, dataset).split(' —')[0]} trains at {proposed} px, "
            f"about {(own / proposed) ** 2:.0f}× less compute per image for the same accuracy. "
            "The checkpoint records the side it was trained at."
        )
    if side == own:
        return config
    return dataclasses.replace(config, input_size=side)  # ValueError: refused by the caller


def aux_weights_ui(config: GoogLeNetConfig) -> tuple[float, float]:
    """The two sliders and the formula they make, with what a weight of 0 means."""
    st.subheader("Auxiliary-loss weights")
    heads = {h.name: h for h in config.active_aux_heads}
    left, right = st.columns(2, gap="large")
    weights = []
    for column, name in ((left, "aux1"), (right, "aux2")):
        head = heads.get(name)
        where = f"after {head.after}" if head else "not in this network"
        if head is None:
            column.caption(f"{name}: {where}")
            weights.append(0.0)
            continue
        weights.append(
            column.slider(
                f"w{name[-1]} — {name}, {where}",
                0.0,
                1.0,
                0.3,
                0.05,
                key=f"train_w{name[-1]}",
                help="0.3 in the paper (section 5) and the seeds.",
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


def estimate_ui(config: GoogLeNetConfig, train_config: TrainConfig) -> None:
    """Time before starting: the MAC count over a measured training rate."""
    rate = machine_rate(
        config.to_json(), train_config.device, train_config.precision, train_config.batch_size
    )
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


def start_ui(
    config: GoogLeNetConfig, train_config: TrainConfig | None, archive: bytes | None
) -> None:
    registry = job_registry()
    running, queued = registry.counts()
    missing_zip = train_config is not None and train_config.dataset == "upload" and not archive
    if st.button(
        "Start training",
        type="primary",
        icon=":material/play_arrow:",
        key="train_start",
        disabled=train_config is None or missing_zip,
    ):
        assert train_config is not None
        try:
            job = submit_training(
                registry, config, train_config, runs_dir=default_runs_dir(), archive=archive
            )
        except (ValueError, OSError) as exc:
            st.error(f"Could not start: {exc}")
            return
        remember(job.token)
        st.rerun()
    st.caption(
        f"Runs in the background: you can leave this page or reload it. This server runs "
        f"{registry.max_running} job(s) at a time ({running} running, {queued} waiting)."
    )


# ---- live view -----------------------------------------------------------------------------


def _label(snapshot: JobSnapshot) -> str:
    start = next((e for e in snapshot.events if e.get("type") == "start"), None)
    if start is None:
        return snapshot.id
    w = start["aux_weights"]
    return f"w {w['aux1']:g}/{w['aux2']:g} · …{snapshot.id[-4:]}"


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
        with_events = {_label(s): s.events for s in snapshots if s.events}
        started = {k: v for k, v in with_events.items() if any(e["type"] == "step" for e in v)}
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
        start = next((e for e in events if e.get("type") == "start"), None)
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
        if state == "running" and last is not None and last.get("type") == "download":
            total = last.get("total")
            done = last["done"] / total if total else 0.0
            st.progress(done, text=f"downloading {last['file']}: {last['done'] / 2**20:.1f} MB")
        elif start is not None:
            fraction, left = progress_of(events)
            steps = [e for e in events if e.get("type") == "step"]
            where = (
                f"epoch {steps[-1]['epoch']}/{start['epochs']} · step "
                f"{steps[-1]['step']}/{start['total_steps']} · {steps[-1]['images_per_s']:.0f} "
                "images/s"
                if steps
                else "starting"
            )
            eta = (
                f" · about {_duration(left)} left" if left is not None and not snapshot.done else ""
            )
            st.progress(fraction if not snapshot.done else 1.0, text=where + eta)
            aux = [
                f"{h}: w = {start['aux_weights'][h]:g}"
                if on
                else f"{h}: not in the loss, accuracy still measured"
                for h, on in start["aux_in_loss"].items()
                if start["aux_present"][h]
            ]
            st.caption(
                f"{start['device']} ({start['precision']}) · {start['train_images']:,} training / "
                f"{start['val_images']:,} validation images · " + "; ".join(aux)
            )
        notes = [e["message"] for e in events if e.get("type") == "note"]
        if notes and not snapshot.done:
            st.caption(notes[-1])
        if snapshot.done:
            kind = {"completed": st.success, "cancelled": st.info}.get(state, st.error)
            kind(snapshot.message or state)


def curves_ui(runs: dict[str, Sequence[dict[str, Any]]], key: str) -> None:
    """The four views of one or several runs, as tabs."""
    loss, accuracy, gradients, speed = st.tabs(
        ["Loss", "Accuracy per head", "Gradient norms", "Throughput"]
    )
    with loss:
        st.plotly_chart(loss_figure(runs), key=f"{key}_loss")
    with accuracy:
        if any(e.get("type") == "epoch" for events in runs.values() for e in events):
            st.plotly_chart(accuracy_figure(runs), key=f"{key}_accuracy")
        else:
            st.caption("Validation accuracy appears after the first epoch.")
    with gradients:
        if any(e.get("type") == "epoch" for events in runs.values() for e in events):
            st.plotly_chart(grad_norm_figure(runs), key=f"{key}_grads")
            st.plotly_chart(early_gradient_figure(runs, "conv1"), key=f"{key}_conv1")
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
            "preset": st.column_config.TextColumn("network"),
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
    ensure_state()
    st.title("Train")
    st.caption(
        "Train the current network with the paper's auxiliary classifiers weighted as you "
        "choose, watch the curves and the early layers' gradients, then compare runs."
    )
    session_jobs()
    sync_url()
    if st.session_state.get(_NOTICE):
        st.info(st.session_state[_NOTICE], icon=":material/link_off:")
    config = network_ui()
    net, train_config, archive = settings_ui(config)
    if train_config is not None:
        estimate_ui(net, train_config)
    start_ui(net, train_config, archive)
    live_ui()
    runs_ui()


main()
