"""Train: short runs with adjustable auxiliary-loss weights, watched live, compared afterwards.

The network is the Architect page's (or a preset). What a run will train is
decided by googlenet_core's planner (:func:`googlenet_core.training.plan.plan_training`),
the same one ``python -m googlenet_core train`` asks: the widgets start at the
plan's proposal for this network and data (:mod:`pages.common.recipe`), and the
page shows why. Before a run starts, the page shows how long it will take and
whether it fits the server's memory. Start (or the A/B pair) goes to the server's
job queue (:class:`googlenet_core.service.server.Server`, one per process), which
runs a bounded number at once in processes of their own and queues the rest.

Below the settings: this browser's runs, live (:mod:`pages.common.live`), then every
run it may see, overlaid and downloaded (:mod:`pages.common.run_store`).
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from googlenet_core import GoogLeNetConfig, analyze, minimum_input_size, network_name
from googlenet_core._io import duration
from googlenet_core.data import DatasetError
from googlenet_core.data.downloads import DOWNLOADABLE, SOURCES
from googlenet_core.data.folders import Limits
from googlenet_core.figures.style import format_count
from googlenet_core.i18n import N_, _
from googlenet_core.network.config import MAX_INPUT_SIZE
from googlenet_core.network.presets import get_preset
from googlenet_core.service.budgets import BATCH_SIZES
from googlenet_core.service.jobs import QueueFull
from googlenet_core.training.compare import ab_pair, start_pair
from googlenet_core.training.config import OPTIMIZERS, SCHEDULES
from googlenet_core.training.plan import Choices, TrainPlan, plan_training
from pages.common import current_config, literal, rerun, run_page, server, set_config
from pages.common.collect import collect_ui
from pages.common.live import live_ui
from pages.common.ownership import viewer
from pages.common.recipe import (
    choices_from,
    follow_plan,
    freeze_key,
    freeze_ui,
    recipe_key,
    set_recipe,
    weights_start_ui,
)
from pages.common.run_store import runs_ui

OLD_JOBS_PARAM = "jobs"  # where job tokens used to travel; dropped from old links
PHOTOS = "photos"  # classes built on this page; they train as an uploaded zip does
DATASETS = ("digits", *SOURCES, "upload", PHOTOS)  # the selectbox's values, in its order
OPTIMIZER_LABELS = {"adamw": "AdamW", "sgd": N_("SGD + Nesterov momentum")}
SCHEDULE_LABELS = {"onecycle": N_("one-cycle"), "cosine": N_("cosine"), "constant": N_("constant")}


def dataset_label(dataset: str) -> str:
    """How the dataset selectbox names ``dataset`` (one of :data:`DATASETS`)."""
    if dataset == "digits":
        return _("Digits — built in, 8×8 grayscale, offline")
    if dataset == "upload":
        return _("Your images — a zip of class folders")
    if dataset == PHOTOS:
        return _("Your photos — classes from the camera or image files")
    source = SOURCES[dataset]
    return _("{name} — downloaded once ({size})").format(
        name=source.description.split(" (")[0], size=source.size
    )


def _label(labels: dict[str, str], value: str) -> str:
    """An option's label, in the page's language (``labels`` holds its English)."""
    label = labels[value]
    return _(label)


def upload_limit_mb() -> int:
    """The largest zip this server takes: Streamlit's upload cap or the data limit, if lower."""
    server_cap = int(st.get_option("server.maxUploadSize"))
    return min(server_cap, Limits().max_zip_bytes // 2**20)


# ---- settings ------------------------------------------------------------------------------


def network_ui(config: GoogLeNetConfig) -> None:
    """The network to train."""
    analysis = analyze(config)
    side = config.input_size
    st.markdown(
        _(
            "**Network:** `{network}` — {channels} × {side} × {side} input, "
            "{params} parameters with its aux heads, "
            "{macs} MACs per image. Design another on the Architect page."
        ).format(
            network=network_name(config),
            channels=config.in_channels,
            side=side,
            params=format_count(analysis.total_params),
            macs=format_count(analysis.total_macs),
        )
    )


def heavy_ui(proposal: TrainPlan) -> None:
    """A nudge towards mini when the plan finds the network heavy for this machine."""
    if proposal.heavy is None:
        return
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.warning(
        _(
            "This machine has no GPU. This network needs {heavy:.0f}× the compute of "
            "the mini preset (a quarter-width GoogLeNet for 32 px images) that trains on the "
            "digits in well under a minute; a subset of {subset} images is "
            "proposed below."
        ).format(heavy=proposal.heavy, subset=proposal.train_config.subset),
        icon=":material/speed:",
    )
    if right.button(_("Use the mini preset"), key="train_use_mini", type="primary"):
        set_config(get_preset("mini"))
        rerun()


def dataset_ui() -> tuple[str, bytes | None, str | None]:
    """The data set, and for an upload the zip's bytes and file name."""
    dataset = (
        st.selectbox(
            _("Dataset"),
            DATASETS,
            format_func=dataset_label,
            key="train_dataset",
        )
        or "digits"
    )
    archive, archive_name = None, None
    if dataset == PHOTOS:
        archive, archive_name = collect_ui()
        return "upload", archive, archive_name or _("photos collected on this page")
    if dataset == "upload":
        limit = upload_limit_mb()
        upload = st.file_uploader(
            _("A zip of class folders (cat/1.jpg, dog/2.png, …), up to {limit} MB").format(
                limit=limit
            ),
            type=["zip"],
            key="train_zip",
            max_upload_size=limit,
        )
        if upload is not None:
            archive, archive_name = upload.getvalue(), upload.name
        st.caption(
            _(
                "Read in memory (nothing is unpacked to disk) and released when the job ends; "
                "files that are not images are skipped and counted."
            )
        )
    elif dataset in DOWNLOADABLE:
        st.caption(
            _(
                "Downloaded through torchvision into the data cache on first use, with a progress "
                "bar below. Offline? The built-in digits need no download."
            )
        )
    return dataset, archive, archive_name


def _proposed(proposal: TrainPlan, name: str) -> None:
    """The plan's reason for one widget's starting value, as a one-line caption."""
    if name in proposal.reasons:  # the planner's own sentence (no file or class names)
        st.caption(_("Proposed: {reason}.").format(reason=proposal.reasons[name]))


def choices_ui(config: GoogLeNetConfig, proposal: TrainPlan) -> Choices:
    """Every setting, starting at the plan's proposal; what the widgets say is the choice
    (read back by :func:`pages.common.recipe.choices_from`)."""
    proposed = proposal.train_config
    left, right = st.columns(2, gap="large")
    with left:
        use_subset = st.toggle(_("Train on a subset"), key=recipe_key("train_use_subset"))
        if use_subset:
            st.number_input(
                _("Training images"),
                min_value=8,
                max_value=60_000,
                step=64,
                key=recipe_key("train_subset"),
            )
        if use_subset == (proposed.subset is not None):
            _proposed(proposal, "subset")
        input_side_ui(config, proposal)
        st.slider(_("Epochs"), 1, 30, key=recipe_key("train_epochs"))
        st.select_slider(_("Batch size"), list(BATCH_SIZES), key=recipe_key("train_batch"))
        _proposed(proposal, "epochs")
    with right:
        st.radio(
            _("Optimizer"),
            list(OPTIMIZERS),
            format_func=lambda o: _label(OPTIMIZER_LABELS, o),
            horizontal=True,
            key=recipe_key("train_optimizer"),
        )
        st.number_input(
            _("Peak learning rate"),
            min_value=1e-6,
            max_value=1e6,
            format="%.4g",
            key=recipe_key("train_lr"),
            help=_(
                "One-cycle warms up to this rate and anneals from it. Try 1e6 to watch a "
                "run diverge: it stops at the first non-finite loss and keeps its last checkpoint."
            ),
        )
        if "lr" in proposal.reasons and proposal.reasons["lr"] != proposal.reasons.get("epochs"):
            _proposed(proposal, "lr")
        st.selectbox(
            _("Schedule"),
            list(SCHEDULES),
            format_func=lambda s: _label(SCHEDULE_LABELS, s),
            key=recipe_key("train_schedule"),
        )
        augment = st.toggle(
            _("Augmentation (small shifts, rotations, scalings)"),
            key=recipe_key("train_augment"),
            help=_(
                "On the bundled digits: slants, widths and rotations only, no shifts. Every "
                "digit, in training and in a photo, is cropped to its ink and stretched the "
                "same way, so where it sits never varies; how people write does."
            ),
        )
        frozen = st.session_state.get(freeze_key(proposed.init), proposed.freeze)
        if proposed.init and frozen != "none" and augment == proposed.augment:
            _proposed(proposal, "augment")  # off: frozen stages' features computed once
        st.number_input(_("Seed"), 0, 2**31 - 1, key=recipe_key("train_seed"))
    aux_weights_ui(config)
    return choices_from(st.session_state, config)


def input_side_ui(config: GoogLeNetConfig, proposal: TrainPlan) -> int:
    """The side images are resized to for training, starting at the plan's."""
    proposed = proposal.config.input_size
    smallest = minimum_input_size(config) or config.input_size
    side = int(
        st.number_input(
            _("Input side (px)"),
            min_value=min(smallest, proposed),
            max_value=MAX_INPUT_SIZE,
            step=1,
            key=recipe_key("train_side"),
            help=_(
                "Images are resized to this side; the smallest this network takes is "
                "{smallest} px. Compute grows with its square."
            ).format(smallest=smallest),
        )
    )
    if side == proposed:
        _proposed(proposal, "input_size")
    return side


def aux_weights_ui(config: GoogLeNetConfig) -> None:
    """The two sliders and the formula they make, with what a weight of 0 means."""
    st.subheader(_("Auxiliary-loss weights"))
    heads = {h.name: h for h in config.active_aux_heads}
    left, right = st.columns(2, gap="large")
    weights = []
    for column, name in ((left, "aux1"), (right, "aux2")):
        head = heads.get(name)
        if head is None:
            column.caption(_("{head}: not in this network").format(head=name))
            weights.append(0.0)
            continue
        weights.append(
            column.slider(
                _("w{n} — {head}, after {block}").format(n=name[-1], head=name, block=head.after),
                0.0,
                1.0,
                step=0.05,
                key=recipe_key(f"train_w{name[-1]}"),
                help=_("0.3 in the paper (section 5)."),
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
            notes.append(
                _("{head} is absent from this network, so its term is not computed.").format(
                    head=name
                )
            )
        elif weight == 0:
            notes.append(
                _(
                    "{head} has weight 0: its loss is not computed and it gets no gradient, so it "
                    "stays untrained; its accuracy is still measured on the validation set, as a "
                    "chance-level baseline."
                ).format(head=name)
            )
    if notes:
        st.caption(" ".join(notes))
    else:
        st.caption(
            _(
                "Each head's accuracy is measured on the validation set every epoch. Compare a run "
                "at 0.3/0.3 with one at 0/0 to see what the heads do to the early layers' "
                "gradients."
            )
        )


def plan_ui(config: GoogLeNetConfig) -> tuple[TrainPlan | None, bytes | None]:
    """The settings, and the plan they make (None, with the reason shown, when it cannot train)."""
    network_ui(config)
    dataset, archive, archive_name = dataset_ui()
    data_path = archive_name if dataset == "upload" else None  # recorded, not read
    init = weights_start_ui(config)
    try:
        proposal = plan_training(
            config, dataset, Choices(init=init), data_path=data_path, archive=archive
        )
    except (ValueError, DatasetError) as exc:
        st.error(
            _("**Cannot train this network on this data:** {error}").format(error=literal(exc)),
            icon=":material/error:",
        )
        return None, archive
    heavy_ui(proposal)
    follow_plan(dataset, proposal)
    choices = choices_ui(config, proposal)
    if init is not None:
        freeze = freeze_ui(config, proposal, init)
        if freeze == proposal.train_config.freeze:
            _proposed(proposal, "freeze")
        choices = dataclasses.replace(choices, init=init, freeze=freeze)
    try:
        plan = plan_training(config, dataset, choices, data_path=data_path, archive=archive)
    except ValueError as exc:
        st.error(
            _("**Cannot train with these settings:** {error}").format(error=literal(exc)),
            icon=":material/error:",
        )
        return None, archive
    for note in plan.notes:
        st.caption(_("Note: {note}.").format(note=note))
    return plan, archive


def estimate_ui(plan: TrainPlan) -> None:
    """Time before starting: what the run costs over a training rate measured here."""
    with st.spinner(_("Measuring this machine's training speed…")):
        estimate = server().time_estimate(plan)
    threads = server().job_threads()
    where = (
        _("Runs train in their own process with {threads} CPU thread(s) ({source}).").format(
            threads=threads.value, source=threads.source
        )
        if plan.train_config.device != "cuda"
        else _("Runs train in their own process, on the GPU.")
    )
    if estimate is None:
        return
    augment_cost_ui(plan, estimate.seconds)
    rate = f"{estimate.macs_per_s / 1e9:.2f} G MACs/s"
    if estimate.per_images:
        st.caption(
            _(
                "Estimated time: about {duration} per {images:,} images over {epochs} epoch(s) "
                "({rate} measured here). {where}"
            ).format(
                duration=duration(estimate.seconds),
                images=estimate.train_images,
                epochs=estimate.epochs,
                rate=rate,
                where=where,
            )
        )
        return
    st.caption(
        _(
            "Estimated time: **about {duration}** on this machine — "
            "{train:,} training and {val:,} validation images × "
            "{epochs} epoch(s), {macs} MACs per "
            "image, {rate} measured once on the mini network (larger networks often run faster "
            "per MAC, so this errs long). {where}"
        ).format(
            duration=duration(estimate.seconds),
            train=estimate.train_images,
            val=estimate.val_images,
            epochs=estimate.epochs,
            macs=format_count(analyze(plan.config).total_macs),
            rate=rate,
            where=where,
        )
    )


def augment_cost_ui(plan: TrainPlan, seconds: float) -> None:
    """What augmentation costs a run with frozen stages: their features cannot be kept."""
    train_config = plan.train_config
    if not (train_config.augment and train_config.frozen_stages(plan.config)):
        return
    without = dataclasses.replace(train_config, augment=False)
    cheaper = server().time_estimate(dataclasses.replace(plan, train_config=without))
    if cheaper is None:
        return
    st.caption(
        _(
            "Augmentation makes the frozen stages run on every step: about {with_} here, "
            "against {without} with it off (their features computed once per image)."
        ).format(with_=duration(seconds), without=duration(cheaper.seconds))
    )


def memory_ui(plan: TrainPlan, archive: bytes | None) -> bool:
    """The run's predicted peak memory against what a job may take here; False if too big.

    Predicted from the analysis before anything is allocated
    (:mod:`googlenet_core.service.budgets`): a run that would not fit is refused here,
    with the largest batch that would, instead of being killed halfway, or worse,
    taking the server and every session with it.
    """
    fit = server().fit(plan, archive)
    if fit.fits and fit.estimate is not None:
        st.caption(
            _("Memory: {estimate}; a job may take {gb:.1f} GB here ({source}).").format(
                estimate=fit.estimate.sentence(),
                gb=fit.budget.value / 1e9,
                source=_no_math(fit.budget.source),
            )
        )
        return True
    left, right = st.columns([4, 1], vertical_alignment="center")
    # Our own sentence (no file or user text in it); "$" would start LaTeX in markdown.
    left.error(
        _("**Too large for this server:** {reason}.").format(reason=_no_math(fit.refusal())),
        icon=":material/memory:",
    )
    batch = fit.smaller_batch
    if batch is not None:
        right.button(
            _("Use batch {batch}").format(batch=batch),
            key="train_fit_batch",
            on_click=set_recipe,
            args=("train_batch", batch),
            type="primary",
        )
    return False


def _no_math(text: str) -> str:
    """Our own text for markdown: "$GOOGLENET_MEMORY_MB" must not open a LaTeX formula."""
    return text.replace("$", "\\$")


def start_ui(plan: TrainPlan | None, archive: bytes | None, fits: bool = True) -> None:
    """Start one run, or the A/B pair: the same run with and without the aux losses."""
    queue = server().queue()
    missing_zip = plan is not None and plan.train_config.dataset == "upload" and not archive
    has_heads = plan is not None and bool(plan.config.active_aux_heads)
    pair = ab_pair(plan) if plan is not None and has_heads else None
    one, two = st.columns([1, 2], vertical_alignment="center")
    start = one.button(
        _("Start training"),
        type="primary",
        icon=":material/play_arrow:",
        key="train_start",
        disabled=plan is None or missing_zip or not fits,
        width="stretch",
    )
    ab_label = (
        _("Compare: w {weights} vs 0/0 (two fair runs)").format(
            weights="/".join(f"{w:g}" for w in pair[0].train_config.aux_weights)
        )
        if pair is not None
        else _("Compare with aux weights 0/0")
    )
    ab = two.button(
        ab_label,
        icon=":material/compare_arrows:",
        key="train_ab",
        disabled=pair is None or missing_zip or not fits,
        width="stretch",
        help=_(
            "Queues two runs identical in everything but the aux-loss weights: the same "
            "seed, hence the same initial weights, data order and augmentation. Their curves and "
            "the gradient ratio per stage appear below."
        ),
    )
    versus = (
        plan is not None
        and plan.train_config.init is not None
        and two.button(
            _("Compare this start with scratch (two fair runs)"),
            icon=":material/difference:",
            key="train_vs_scratch",
            disabled=missing_zip or not fits,
            width="stretch",
            help=_(
                "Queues this run and the same run from random weights with nothing frozen: the "
                "same seed, images and recipe, so the difference is what the start gives."
            ),
        )
    )
    if start or ab or versus:
        assert plan is not None
        plans = [plan] if start else list(start_pair(plan) if versus else pair or ())
        try:  # an A/B pair goes in whole or not at all
            jobs = server().submit(plans, viewer(), archive)
        except QueueFull as exc:
            st.error(
                _("Not started: {reason}.").format(reason=exc), icon=":material/hourglass_disabled:"
            )
            return
        except (ValueError, OSError) as exc:
            st.error(_("Could not start: {error}").format(error=literal(exc)))
            return
        if ab or versus:  # the pair alone in the overlay: older runs would make it unfair
            st.session_state["train_compare"] = [job.id for job in jobs]
        rerun()
    if plan is not None and not has_heads:
        st.caption(_("This network has no aux heads: there is no aux-weight A/B to run."))
    st.caption(
        _(
            "Runs in the background: you can leave this page or reload it. This server runs "
            "{max_running} job(s) at a time ({running} running, {queued} "
            "waiting); each browser may have {per_browser} waiting or running, the queue "
            "holds {max_queued}, and a run is stopped after {duration} "
            "(keeping its last checkpoint)."
        ).format(
            max_running=queue.max_running,
            running=queue.running,
            queued=queue.queued,
            per_browser=queue.per_browser,
            max_queued=queue.max_queued,
            duration=duration(queue.job_seconds),
        )
    )


def main() -> None:
    st.title(_("Train"))
    st.caption(
        _(
            "Train the current network with the paper's auxiliary classifiers weighted as you "
            "choose, watch the curves and the early layers' gradients, then compare runs."
        )
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
