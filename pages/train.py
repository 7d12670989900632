"""Train: short runs with adjustable auxiliary-loss weights, watched live, compared afterwards.

The network is the Architect page's (or a preset). What a run will train is
decided by googlenet_core's planner (:func:`googlenet_core.training.plan.plan_training`),
the same one ``python -m googlenet_core train`` asks: the widgets start at the
plan's proposal for this network and data, and the page shows why. A run goes
to the server's job registry (:mod:`googlenet_core.training.jobs`, one per
process via ``st.cache_resource``), which runs a bounded number at once and
queues the rest; the worker thread only appends events to its job, never
calls ``st.*``. Fragments poll this browser's jobs (progress rows every 2 s,
charts every 5 s). A job belongs to the browser that started it (its owner
cookie, :mod:`pages.common.ownership`): a refresh or another tab of the same
browser finds it again and may cancel it; a shared design link carries nothing
of it.

Every run is a folder in the run store; the list at the bottom shows the runs
this browser may see (its own, its class's, the published ones and the host's
command-line runs), overlays any of them, downloads their checkpoint and metrics,
and lets an owner share or delete theirs.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import streamlit as st

from googlenet_core import GoogLeNetConfig, analyze, minimum_input_size, network_name
from googlenet_core._host import Figure, training_threads
from googlenet_core._io import duration
from googlenet_core.data import DatasetError
from googlenet_core.data.datasets import split_sizes
from googlenet_core.data.downloads import DOWNLOADABLE, SOURCES
from googlenet_core.data.folders import Limits
from googlenet_core.figures.style import format_count
from googlenet_core.figures.training import (
    accuracy_figure,
    early_gradient_figure,
    grad_norm_figure,
    gradient_ratio_figure,
    loss_figure,
    throughput_figure,
)
from googlenet_core.inference.checkpoints import load_checkpoint
from googlenet_core.inference.export import plain_pytorch_zip, safetensors_bytes
from googlenet_core.network.config import MAX_INPUT_SIZE
from googlenet_core.network.presets import get_preset
from googlenet_core.training.access import (
    SHARED,
    Access,
    Shared,
    Viewer,
    delete_run,
    prune,
    read_access,
    retention,
    set_sharing,
    visible,
)
from googlenet_core.training.card import CARD
from googlenet_core.training.compare import (
    ab_pair,
    differences,
    fair_pair,
    gradient_ratios,
    ratio_sentence,
)
from googlenet_core.training.config import OPTIMIZERS, SCHEDULES
from googlenet_core.training.estimate import estimate_seconds, host_rate
from googlenet_core.training.events import (
    DownloadEvent,
    EndEvent,
    Event,
    NoteEvent,
    epochs_of,
    progress_of,
    start_of,
    steps_of,
)
from googlenet_core.training.jobs import (
    Job,
    JobRegistry,
    JobSnapshot,
    job_time_limit,
    submit_training,
)
from googlenet_core.training.memory import BATCH_SIZES, check_fit, job_budget
from googlenet_core.training.plan import Choices, TrainPlan, plan_training
from googlenet_core.training.runs import (
    RunSummary,
    default_runs_dir,
    list_runs,
    open_run,
    runs_frame,
    sweep_temporary,
)
from googlenet_core.training.status import FINISHED
from pages.common import current_config, literal, rerun, run_page, set_config
from pages.common.ownership import class_code, set_class_code, viewer

OLD_JOBS_PARAM = "jobs"  # where job tokens used to travel; dropped from old links
RECENT_S = 600.0  # a finished job stays in "Your runs, live" this long (then: All runs)
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

_PROPOSAL = "train_proposal"  # the plan's proposal the recipe widgets were last set from
_GENERATION = "train_recipe_generation"  # bumped when the proposal changes (follow_plan)
_FINISHED = "train_finished"  # ids of the finished runs the run list has shown


# ---- shared, process-wide ------------------------------------------------------------------


@st.cache_resource(ttl=60)
def job_threads() -> Figure:
    """The threads a new job's process gets (re-measured each minute: the load changes)."""
    return training_threads(leave_one_for_server=True)


@st.cache_resource
def job_registry() -> JobRegistry:
    """One registry per server process: every session's jobs, with their lock.

    Made when the server first serves this page: temporary files that saves killed
    before this server started (a crash, a restart) are swept then.
    """
    sweep_temporary()
    return JobRegistry()


@st.cache_resource(ttl=600)
def pruned() -> list[str]:
    """Apply the retention limits (at most every 10 minutes per server); the runs removed."""
    return prune(default_runs_dir())


def reader(path: Path) -> Callable[[], bytes]:
    """A file's bytes, read when its download button is clicked (not on every rerun)."""
    return path.read_bytes


def run_exporter(checkpoint: Path, run_id: str, kind: str) -> Callable[[], bytes]:
    """A run's best checkpoint as ``kind`` ("zip": plain PyTorch code + weights + card;
    "safetensors"), built when the button is clicked."""

    def build() -> bytes:
        loaded = load_checkpoint(checkpoint)
        if kind == "safetensors":
            return safetensors_bytes(loaded.model, loaded.class_names, loaded.preprocessing)
        card = checkpoint.with_name(CARD)
        return plain_pytorch_zip(loaded, run_id, card.read_text() if card.is_file() else None)

    return build


def upload_limit_mb() -> int:
    """The largest zip this server takes: Streamlit's upload cap or the data limit, if lower."""
    server = int(st.get_option("server.maxUploadSize"))
    return min(server, Limits().max_zip_bytes // 2**20)


# ---- the session's jobs --------------------------------------------------------------------


def session_jobs() -> list[Job]:
    """This browser's jobs: waiting, running, or finished in the last ten minutes."""
    now = time.time()
    return [
        job
        for job in job_registry().owned_by(viewer().owner)
        if not job.done or (job.finished or now) > now - RECENT_S
    ]


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
        rerun()


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


def recipe_values(proposal: TrainPlan) -> dict[str, object]:
    """What each recipe widget starts at: the plan's proposal, by widget key."""
    proposed = proposal.train_config
    return {
        "train_use_subset": proposed.subset is not None,
        "train_subset": proposed.subset or 1000,
        "train_side": proposal.config.input_size,
        "train_epochs": proposed.epochs,
        "train_batch": proposed.batch_size,
        "train_optimizer": proposed.optimizer,
        "train_lr": proposed.lr,
        "train_schedule": proposed.schedule,
        "train_augment": proposed.augment,
        "train_seed": proposed.seed,
        "train_w1": proposed.aux_weight1,
        "train_w2": proposed.aux_weight2,
    }


def follow_plan(dataset: str, proposal: TrainPlan) -> None:
    """Start the recipe widgets at the plan's proposal whenever the proposal changes.

    A widget keeps its value across reruns, in Session State and in the browser,
    whatever its ``value=`` says: "Use the mini preset" on the paper network kept the
    paper's 256-image subset and 3 epochs, and mini trained below chance. Writing the
    new values into the same keys is not enough either: a click that reaches the
    server before the browser has drawn them (a busy server, a quick user) sends the
    old values back, and a paper-sized recipe trained mini (seen with three sessions
    and a busy CPU). So each proposal gets its own generation of widget keys
    (:func:`recipe_key`): values sent for an older generation belong to widgets that
    no longer exist and are dropped. A key the page dropped while another page was
    open starts at the proposal again.
    """
    identity = (
        dataset,
        proposal.config,
        dataclasses.replace(proposal.train_config, data_path=None),
    )
    if st.session_state.get(_PROPOSAL) != identity:
        st.session_state[_GENERATION] = st.session_state.get(_GENERATION, -1) + 1
        st.session_state[_PROPOSAL] = identity
    for name, value in recipe_values(proposal).items():
        if recipe_key(name) not in st.session_state:
            st.session_state[recipe_key(name)] = value


def recipe_key(name: str) -> str:
    """The widget key of recipe setting ``name`` ("train_epochs") for the current proposal."""
    return f"{name}_{st.session_state.get(_GENERATION, 0)}"


def _proposed(proposal: TrainPlan, name: str) -> None:
    """The plan's reason for one widget's starting value, as a one-line caption."""
    if name in proposal.reasons:  # the planner's own sentence (no file or class names)
        st.caption(f"Proposed: {proposal.reasons[name]}.")


def choices_ui(config: GoogLeNetConfig, dataset: str, proposal: TrainPlan) -> Choices:
    """Every setting, starting at the plan's proposal; what the widgets say is the choice."""
    proposed = proposal.train_config
    left, right = st.columns(2, gap="large")
    with left:
        use_subset = st.toggle("Train on a subset", key=recipe_key("train_use_subset"))
        subset = None
        if use_subset:
            subset = int(
                st.number_input(
                    "Training images",
                    min_value=8,
                    max_value=60_000,
                    step=64,
                    key=recipe_key("train_subset"),
                )
            )
        if use_subset == (proposed.subset is not None):
            _proposed(proposal, "subset")
        side = input_side_ui(config, proposal)
        epochs = st.slider("Epochs", 1, 30, key=recipe_key("train_epochs"))
        batch = st.select_slider("Batch size", list(BATCH_SIZES), key=recipe_key("train_batch"))
        _proposed(proposal, "epochs")
    with right:
        optimizer = st.radio(
            "Optimizer",
            list(OPTIMIZERS),
            format_func=lambda o: OPTIMIZER_LABELS[o],
            horizontal=True,
            key=recipe_key("train_optimizer"),
        )
        lr = st.number_input(
            "Peak learning rate",
            min_value=1e-6,
            max_value=1e6,
            format="%.4g",
            key=recipe_key("train_lr"),
            help="One-cycle warms up to this rate and anneals from it. Try 1e6 to watch a "
            "run diverge: it stops at the first non-finite loss and keeps its last checkpoint.",
        )
        if "lr" in proposal.reasons and proposal.reasons["lr"] != proposal.reasons.get("epochs"):
            _proposed(proposal, "lr")
        schedule = st.selectbox(
            "Schedule",
            list(SCHEDULES),
            format_func=lambda s: SCHEDULE_LABELS[s],
            key=recipe_key("train_schedule"),
        )
        augment = st.toggle(
            "Augmentation (small shifts, rotations, scalings)",
            key=recipe_key("train_augment"),
        )
        seed = int(st.number_input("Seed", 0, 2**31 - 1, key=recipe_key("train_seed")))
    w1, w2 = aux_weights_ui(config)
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


def input_side_ui(config: GoogLeNetConfig, proposal: TrainPlan) -> int:
    """The side images are resized to for training, starting at the plan's."""
    proposed = proposal.config.input_size
    smallest = minimum_input_size(config) or config.input_size
    side = int(
        st.number_input(
            "Input side (px)",
            min_value=min(smallest, proposed),
            max_value=MAX_INPUT_SIZE,
            step=1,
            key=recipe_key("train_side"),
            help=f"Images are resized to this side; the smallest this network takes is "
            f"{smallest} px. Compute grows with its square.",
        )
    )
    if side == proposed:
        _proposed(proposal, "input_size")
    return side


def aux_weights_ui(config: GoogLeNetConfig) -> tuple[float, float]:
    """The two sliders and the formula they make, with what a weight of 0 means."""
    st.subheader("Auxiliary-loss weights")
    heads = {h.name: h for h in config.active_aux_heads}
    left, right = st.columns(2, gap="large")
    weights = []
    for column, name in ((left, "aux1"), (right, "aux2")):
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
                step=0.05,
                key=recipe_key(f"train_w{name[-1]}"),
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
    follow_plan(dataset, proposal)
    choices = choices_ui(config, dataset, proposal)
    try:
        plan = plan_training(config, dataset, choices, data_path=data_path, archive=archive)
    except ValueError as exc:
        st.error(f"**Cannot train with these settings:** {literal(exc)}", icon=":material/error:")
        st.session_state[PLAN_KEY] = None
        return None, archive
    for note in plan.notes:
        st.caption(f"Note: {note}.")
    st.session_state[PLAN_KEY] = plan
    return plan, archive


def estimate_ui(plan: TrainPlan) -> None:
    """Time before starting: the MAC count over a measured training rate."""
    config, train_config = plan.config, plan.train_config
    with st.spinner("Measuring this machine's training speed…"):
        rate = host_rate(train_config)
    threads = job_threads()
    where = (
        f"Runs train in their own process with {threads.value} CPU thread(s) ({threads.source})."
        if train_config.device != "cuda"
        else "Runs train in their own process, on the GPU."
    )
    if train_config.dataset == "upload":
        per_1000 = estimate_seconds(config, train_config, rate, 1000, 250)
        st.caption(
            f"Estimated time: about {duration(per_1000)} per 1,000 images over "
            f"{train_config.epochs} epoch(s) ({rate / 1e9:.2f} G MACs/s measured here). {where}"
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
        f"Estimated time: **about {duration(seconds)}** on this machine — {n_train:,} training "
        f"and {n_val:,} validation images × {train_config.epochs} epoch(s), "
        f"{format_count(analyze(config).total_macs)} MACs per image, "
        f"{rate / 1e9:.2f} G MACs/s measured once on the mini network (larger networks "
        f"often run faster per MAC, so this errs long). {where}"
    )


def memory_ui(plan: TrainPlan, archive: bytes | None) -> bool:
    """The run's predicted peak memory against what a job may take here; False if too big.

    Predicted from the analysis before anything is allocated
    (:mod:`googlenet_core.training.memory`): a run that would not fit is refused here,
    with the largest batch that would, instead of being killed halfway, or worse,
    taking the server and every session with it.
    """
    fit = check_fit(plan.config, plan.train_config, job_budget(job_registry().max_running), archive)
    if fit.fits:
        st.caption(
            f"Memory: {fit.estimate.sentence()}; a job may take "
            f"{fit.budget.value / 1e9:.1f} GB here ({_no_math(fit.budget.source)})."
        )
        return True
    left, right = st.columns([4, 1], vertical_alignment="center")
    # Our own sentence (no file or user text in it); "$" would start LaTeX in markdown.
    left.error(
        f"**Too large for this server:** {_no_math(fit.refusal())}.", icon=":material/memory:"
    )
    batch = fit.smaller_batch
    if batch is not None:
        right.button(
            f"Use batch {batch}",
            key="train_fit_batch",
            on_click=_set_recipe,
            args=("train_batch", batch),
            type="primary",
        )
    return False


def _no_math(text: str) -> str:
    """Our own text for markdown: "$GOOGLENET_MEMORY_MB" must not open a LaTeX formula."""
    return text.replace("$", "\\$")


def _set_recipe(name: str, value: object) -> None:
    st.session_state[recipe_key(name)] = value


def start_ui(plan: TrainPlan | None, archive: bytes | None, fits: bool = True) -> None:
    """Start one run, or the A/B pair: the same run with and without the aux losses."""
    registry = job_registry()
    running, queued = registry.counts()
    missing_zip = plan is not None and plan.train_config.dataset == "upload" and not archive
    has_heads = plan is not None and bool(plan.config.active_aux_heads)
    pair = ab_pair(plan) if plan is not None and has_heads else None
    one, two = st.columns([1, 2], vertical_alignment="center")
    start = one.button(
        "Start training",
        type="primary",
        icon=":material/play_arrow:",
        key="train_start",
        disabled=plan is None or missing_zip or not fits,
        width="stretch",
    )
    ab_label = (
        "Compare: w {} vs 0/0 (two fair runs)".format(
            "/".join(f"{w:g}" for w in pair[0].train_config.aux_weights)
        )
        if pair is not None
        else "Compare with aux weights 0/0"
    )
    ab = two.button(
        ab_label,
        icon=":material/compare_arrows:",
        key="train_ab",
        disabled=pair is None or missing_zip or not fits,
        width="stretch",
        help="Queues two runs identical in everything but the aux-loss weights: the same "
        "seed, hence the same initial weights, data order and augmentation. Their curves and "
        "the gradient ratio per stage appear below.",
    )
    if start or ab:
        assert plan is not None
        plans = [plan] if start else list(pair or ())
        me = viewer()
        full = registry.room(me.owner, len(plans))
        if full:  # an A/B pair goes in whole or not at all
            st.error(f"Not started: {full}.", icon=":material/hourglass_disabled:")
            return
        try:
            ids = []
            for one_plan in plans:
                job = submit_training(
                    registry,
                    one_plan,
                    owner=me.owner,
                    access=me.new_run(),
                    runs_dir=default_runs_dir(),
                    archive=archive,
                )
                ids.append(job.id)
        except (ValueError, OSError) as exc:
            st.error(f"Could not start: {literal(exc)}")
            return
        if ab:  # the pair alone in the overlay: older runs would make it an unfair one
            st.session_state["train_compare"] = ids
        rerun()
    if plan is not None and not has_heads:
        st.caption("This network has no aux heads: there is no aux-weight A/B to run.")
    st.caption(
        f"Runs in the background: you can leave this page or reload it. This server runs "
        f"{registry.max_running} job(s) at a time ({running} running, {queued} waiting); "
        f"each browser may have {registry.per_owner} waiting or running, the queue holds "
        f"{registry.max_queued}, and a run is stopped after {duration(job_time_limit())} "
        "(keeping its last checkpoint)."
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
    done_before = sum(job.done for job in jobs)
    active = done_before < len(jobs)
    st.subheader("Your runs, live")

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
            top.markdown(f"**{snapshot.id}** — waiting, position {snapshot.position} in the queue")
        else:
            top.markdown(f"**{snapshot.id}** — {state}")
        if not snapshot.done and button.button(
            "Cancel",
            key=f"train_cancel_{snapshot.id}",
            icon=":material/stop:",
            disabled=snapshot.cancel_requested,
        ):
            job_registry().cancel(snapshot.id, viewer().owner)
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
                f" · about {duration(left)} left" if left is not None and not snapshot.done else ""
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
            end = events[-1] if events and isinstance(events[-1], EndEvent) else None
            if state == "completed" and end is not None and end.at_chance:
                st.warning(snapshot.message, icon=":material/warning:")
                return
            kind = {"completed": st.success, "cancelled": st.info}.get(state, st.error)
            kind(snapshot.message if state == "completed" else literal(snapshot.message or state))


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
        st.plotly_chart(loss_figure(runs), key=f"{key}_loss", theme=None)
    with tabs["Accuracy per head"]:
        if any_epoch:
            st.plotly_chart(accuracy_figure(runs), key=f"{key}_accuracy", theme=None)
        else:
            st.caption("Validation accuracy appears after the first epoch.")
    with tabs["Gradient norms"]:
        if any_epoch:
            st.plotly_chart(grad_norm_figure(runs), key=f"{key}_grads", theme=None)
            starts = [s for events in runs.values() if (s := start_of(events)) is not None]
            first = starts[0].stages[0] if starts else "conv1"
            st.plotly_chart(early_gradient_figure(runs, first), key=f"{key}_conv1", theme=None)
            st.caption(
                "The vanishing-gradient argument of the paper, measured: with the auxiliary "
                "weights at 0 the stem and the first blocks only get what flows back through "
                "the whole trunk."
                + ("" if pair else " Run an A/B pair (the Compare button) to see it as a ratio.")
            )
        else:
            st.caption("Gradient norms appear after the first epoch.")
    with tabs["Throughput"]:
        st.plotly_chart(throughput_figure(runs), key=f"{key}_speed", theme=None)


RATIO_TAB = "Aux heads: gradient ratio"


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
    st.plotly_chart(gradient_ratio_figure(rows, aux_after), key=f"{key}_ratio", theme=None)
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


# ---- every run in the store ----------------------------------------------------------------


SHARING_LABELS: dict[Shared, str] = {
    "private": "Only me",
    "class": "My class",
    "public": "Everyone on this server",
}


def who_sees(access: Access, me: Viewer) -> str:
    """The runs table's "seen by" cell."""
    if access.owner is None:
        return "everyone (host's run)"
    owner = "you" if me.owns(access) else "another browser"
    audience = {"private": "only " + owner, "class": "your class", "public": "everyone"}
    return f"{audience[access.shared]} ({owner})" if owner == "you" else audience[access.shared]


def class_ui() -> None:
    """Who sees what, and the class code that shares runs with a class."""
    keep, days = retention()
    code = class_code()
    with st.expander(
        f"Who sees your runs — class: {code}" if code else "Who sees your runs",
        icon=":material/visibility_lock:",
    ):
        st.markdown(
            "Runs you start are **private to this browser** (a cookie identifies it; the "
            "page's link carries only the design, so sharing it gives nobody your runs or "
            "the right to cancel them). Enter your class's code to share new runs with "
            "everyone who entered it, and to see theirs. An owner can share a run with "
            "the class or publish it to everyone below, or delete it. Runs started on the "
            "host from the command line are visible to all."
        )
        typed = st.text_input(
            "Class code",
            value=code,
            key="train_class_code",
            max_chars=64,
            placeholder="e.g. CNN-101 (ask your lecturer)",
        )
        if " ".join(typed.split()) != code:  # spaces around a code are not a new code
            try:
                set_class_code(typed)
            except ValueError as exc:
                st.error(literal(exc))
            else:
                rerun()
        st.caption(
            f"This server keeps the newest {keep} runs started here and none older than "
            f"{days} days (checkpoints included); download what you want to keep."
        )


def runs_ui() -> None:
    st.subheader("All runs")
    class_ui()
    root = default_runs_dir()
    pruned()
    me = viewer()
    summaries = visible(list_runs(root), me)
    if not summaries:
        st.caption(
            "No runs you can see yet. Runs from the command line on the host "
            "(`python -m googlenet_core train …`) appear here too."
        )
        return
    frame = runs_frame(summaries)
    frame.insert(2, "seen by", [who_sees(read_access(s.path), me) for s in summaries])
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
    fresh_selections(summaries)
    chosen = st.multiselect(
        "Overlay runs",
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
    return {
        s.id: (
            f"w{s.aux_weight1:g}/{s.aux_weight2:g} (…{s.id[-4:]})"
            if shared and s.aux_weight1 is not None and s.aux_weight2 is not None
            else s.label
        )
        for s in summaries
    }


def fresh_selections(summaries: Sequence[RunSummary]) -> None:
    """Point the overlay and the download selector at what is new.

    The first time: the session's latest two runs (an A/B pair, typically), else the
    store's newest two, and the most accurate checkpoint. Afterwards, each run that
    has finished since the last look joins the overlay and becomes the download
    default. Ids no longer in the store are dropped.
    """
    by_id = {s.id: s for s in summaries}
    finished = [s.id for s in summaries if s.status in FINISHED]  # newest first
    seen = st.session_state.get(_FINISHED)
    chosen = [r for r in st.session_state.get("train_compare", []) if r in by_id]
    if seen is None or "train_compare" not in st.session_state:
        mine = [job.id for job in session_jobs() if job.id in by_id]
        chosen = mine[-2:] or [s.id for s in summaries[:2]]
        with_checkpoint = [s.id for s in summaries if s.has_checkpoint]
        best = max(with_checkpoint, key=lambda r: by_id[r].best_val_acc or 0.0, default=None)
        st.session_state["train_download_run"] = best or summaries[0].id
    else:
        new = [r for r in finished if r not in seen]
        if new:
            chosen = [*chosen, *(r for r in reversed(new) if r not in chosen)]
            st.session_state["train_download_run"] = new[0]
    if st.session_state.get("train_download_run") not in by_id:
        st.session_state["train_download_run"] = summaries[0].id
    st.session_state["train_compare"] = chosen
    st.session_state[_FINISHED] = set(finished)


def downloads_ui(summaries: Sequence[RunSummary], root: os.PathLike[str] | str) -> None:
    by_id = {s.id: s for s in summaries}
    run_id = st.selectbox(
        "Download from run",
        list(by_id),
        format_func=lambda r: (
            f"{by_id[r].label} — {by_id[r].status}, best "
            + (f"{by_id[r].best_val_acc:.1%}" if by_id[r].best_val_acc is not None else "—")
        ),
        key="train_download_run",
    )
    run = open_run(run_id, root)
    manage_ui(by_id[run_id])
    checkpoint = run.checkpoint("best")
    top = st.columns(2)
    bottom = st.columns(2)
    top[1].download_button(
        "Metrics (.csv)",
        data=run.metrics_csv(),
        file_name=f"{run_id}-metrics.csv",
        mime="text/csv",
        icon=":material/table_view:",
        key="train_download_metrics",
    )
    if checkpoint is None:
        top[0].caption("No checkpoint yet: one is written after each epoch.")
        return
    top[0].download_button(
        "Best checkpoint (.pt)",
        data=reader(checkpoint),
        file_name=f"{run_id}-best.pt",
        mime="application/octet-stream",
        icon=":material/download:",
        key="train_download_checkpoint",
        help="This project's format: network, weights, classes and preprocessing in one file.",
    )
    bottom[0].download_button(
        "Plain PyTorch code + weights (.zip)",
        data=run_exporter(checkpoint, run_id, "zip"),
        file_name=f"{run_id}-pytorch.zip",
        mime="application/zip",
        icon=":material/code:",
        key="train_download_code",
        help=f"{run_id}.py defines the network with torch only; {run_id}.pt holds its "
        "weights (loads with strict=True); MODEL_CARD.md says what they are.",
    )
    bottom[1].download_button(
        "Weights (.safetensors)",
        data=run_exporter(checkpoint, run_id, "safetensors"),
        file_name=f"{run_id}.safetensors",
        mime="application/octet-stream",
        icon=":material/deployed_code:",
        key="train_download_safetensors",
        help="Weights only, nothing executable; network, classes and preprocessing in its "
        "metadata.",
    )
    st.caption(
        "The checkpoint loads on the Predict page and with "
        f"`python -m googlenet_core evaluate --checkpoint {run_id}-best.pt --data DIR`; "
        f"ONNX for Netron: `python -m googlenet_core export --checkpoint {run_id}-best.pt "
        f"--format onnx -o {run_id}.onnx` (needs `pip install onnx onnxscript`). "
        "`tensorboard --logdir runs/` shows every run's curves."
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
        "Who sees this run",
        choices,
        default=access.shared,
        format_func=lambda c: SHARING_LABELS[c],
        key=f"train_share_{summary.id}",
    )
    if shared is not None and shared != access.shared:
        try:
            set_sharing(summary.path, me, shared)
        except (ValueError, PermissionError, OSError) as exc:
            st.error(literal(exc))
        else:
            rerun()
    with right.popover("Delete…", icon=":material/delete:", width="stretch"):
        st.markdown(f"Delete {literal(summary.id)} and its checkpoints? This cannot be undone.")
        if st.button("Delete this run", type="primary", key=f"train_delete_{summary.id}"):
            try:
                delete_run(summary.path, me)
            except (ValueError, PermissionError, OSError) as exc:
                st.error(literal(exc))
            else:
                rerun()


def main() -> None:
    st.title("Train")
    st.caption(
        "Train the current network with the paper's auxiliary classifiers weighted as you "
        "choose, watch the curves and the early layers' gradients, then compare runs."
    )
    if OLD_JOBS_PARAM in st.query_params:  # an old link: its tokens give no rights now
        del st.query_params[OLD_JOBS_PARAM]
    plan, archive = plan_ui(current_config())
    fits = True
    if plan is not None:
        estimate_ui(plan)
        fits = memory_ui(plan, archive)
    start_ui(plan, archive, fits)
    live_ui()
    runs_ui()


run_page("Train", main)
