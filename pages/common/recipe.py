"""The Train page's recipe widgets: they start at the plan's proposal, one generation each.

A widget keeps its value across reruns, in Session State and in the browser,
whatever its ``value=`` says: "Use the mini preset" on the paper network kept the
paper's 256-image subset and 3 epochs, and mini trained below chance. Writing the
new values into the same keys is not enough either: a click that reaches the
server before the browser has drawn them (a busy server, a quick user) sends the
old values back, and a paper-sized recipe trained mini (seen with three sessions
and a busy CPU). So each proposal gets its own generation of widget keys
(:func:`key_for`): values sent for an older generation belong to widgets that no
longer exist and are dropped. A key the page dropped while another page was open
starts at the proposal again.

Tests import :func:`key_for` and :func:`choices_from` instead of re-deriving the
keys or asking the page for its plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import streamlit as st

from googlenet_core import GoogLeNetConfig
from googlenet_core.i18n import N_, _
from googlenet_core.inference.pretrained import imagenet_network, is_downloaded
from googlenet_core.service.access import visible
from googlenet_core.training.plan import Choices, TrainPlan
from googlenet_core.training.runs import list_runs
from googlenet_core.training.transfer import (
    FREEZE_NONE,
    FREEZE_TRUNK,
    IMAGENET,
    check_weights_file,
    starts_for,
    trunk_shapes,
    trunk_stage_names,
)
from pages.common.ownership import viewer
from pages.common.server import server
from pages.common.text import literal

GENERATION = "train_recipe_generation"  # bumped when the proposal changes
_PROPOSAL = "train_proposal"  # the proposal the recipe widgets were last set from


def recipe_values(proposal: TrainPlan) -> dict[str, object]:
    """What each recipe widget starts at: the plan's proposal, by widget name."""
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


def key_for(name: str, state: Mapping[Any, Any]) -> str:
    """The widget key of recipe setting ``name`` ("train_epochs") in ``state``'s generation."""
    return f"{name}_{state.get(GENERATION, 0)}"


def recipe_key(name: str) -> str:
    """The widget key of recipe setting ``name`` for this session's current proposal."""
    return key_for(name, st.session_state)


def follow_plan(dataset: str, proposal: TrainPlan) -> None:
    """Start the recipe widgets at the plan's proposal whenever the proposal changes."""
    identity = (
        dataset,
        proposal.config,
        dataclasses.replace(proposal.train_config, data_path=None),
    )
    if st.session_state.get(_PROPOSAL) != identity:
        st.session_state[GENERATION] = st.session_state.get(GENERATION, -1) + 1
        st.session_state[_PROPOSAL] = identity
    for name, value in recipe_values(proposal).items():
        if recipe_key(name) not in st.session_state:
            st.session_state[recipe_key(name)] = value


def set_recipe(name: str, value: object) -> None:
    """A widget callback: set recipe setting ``name`` (the next run draws it)."""
    st.session_state[recipe_key(name)] = value


def choices_from(state: Mapping[Any, Any], config: GoogLeNetConfig) -> Choices:
    """The user's choices as the recipe widgets in ``state`` hold them.

    What the page plans with: a subset only while its toggle is on, and an aux weight
    only for a head ``config`` runs (0 for the others).
    """

    def value(name: str) -> Any:
        return state[key_for(name, state)]

    heads = {h.name for h in config.active_aux_heads}
    use_subset = bool(value("train_use_subset"))
    return Choices(
        subset=int(value("train_subset")) if use_subset else "all",
        input_size=int(value("train_side")),
        epochs=int(value("train_epochs")),
        batch_size=int(value("train_batch")),
        optimizer=str(value("train_optimizer")),
        lr=float(value("train_lr")),
        schedule=str(value("train_schedule")),
        aux_weight1=float(value("train_w1")) if "aux1" in heads else 0.0,
        aux_weight2=float(value("train_w2")) if "aux2" in heads else 0.0,
        augment=bool(value("train_augment")),
        seed=int(value("train_seed")),
    )


# ---- where the weights start ---------------------------------------------------------------

SCRATCH = "scratch"  # the start picker's value for random weights
UPLOADED = "file"  # ... for a weights file uploaded here
_START_LABELS = {
    SCRATCH: N_("Random weights (from scratch)"),
    IMAGENET: N_("ImageNet: torchvision's weights"),
    UPLOADED: N_("A weights file from your computer (.pth, .pt)"),
}
_CHECKED = "train_init_checked"  # (file id, network) -> the file's path, or why it is refused
_FREEZE_LABELS = {
    FREEZE_NONE: N_("nothing: every stage trains"),
    FREEZE_TRUNK: N_("the trunk: only the heads train"),
}


def weights_start_ui(config: GoogLeNetConfig) -> str | None:
    """Where the run's weights start (None: random): torchvision's ImageNet weights where
    this server has them and the design is torchvision's, or a finished run this browser
    may see whose trunk the design shares (googlenet_core.training.transfer)."""
    runs = {s.id: s for s in starts_for(config, visible(list_runs(server().runs_dir), viewer()))}
    options = [SCRATCH]
    if is_downloaded() and trunk_shapes(config) == trunk_shapes(imagenet_network()):
        options.append(IMAGENET)
    options += [*runs, UPLOADED]

    def label(option: str) -> str:
        if option in _START_LABELS:
            return _(_START_LABELS[option])
        summary = runs[option]
        accuracy = f"{summary.best_val_acc:.1%}" if summary.best_val_acc is not None else "–"
        return _("Run {run}: {accuracy} on its validation set").format(
            run=summary.label, accuracy=accuracy
        )

    if st.session_state.get("train_init") not in options:
        st.session_state["train_init"] = SCRATCH  # a run deleted, or another design
    chosen = st.selectbox(
        _("Start from"),
        options,
        format_func=label,
        key="train_init",
        help=_(
            "Trained weights to start from: the trunk is taken exactly, a head of another "
            "number of classes is rebuilt. Runs of a design with the same trunk are offered."
        ),
    )
    if len(options) == 2:
        st.caption(
            _(
                "No finished run of a design with this trunk yet. ImageNet weights are offered "
                "for torchvision's design once this server has them (the Predict page "
                "downloads them)."
            )
        )
    if chosen == IMAGENET and IMAGENET in options:
        return IMAGENET
    if chosen == UPLOADED:
        return uploaded_start_ui(config)
    if chosen in runs:
        return str(runs[chosen].path)
    # Random weights; also any value that is none of the options (Streamlit hands back
    # what the browser sent when it matches none): never a path from the browser.
    return None


def uploaded_start_ui(config: GoogLeNetConfig) -> str | None:
    """A weights file uploaded to start from, checked against this design's trunk at once
    (googlenet_core.training.transfer.start_from, weights_only); its path on the server."""
    upload = st.file_uploader(
        _("Weights file"),
        type=["pth", "pt"],
        key="train_init_file",
        help=_(
            "This project's checkpoint, or a plain state_dict in torchvision's format such as "
            "the googlenet-1378be20.pth torchvision downloads: where the internet is blocked, "
            "copy it here from a computer that has it. Read as tensors only, never run."
        ),
    )
    if upload is None:
        return None
    checked: dict[tuple[str, GoogLeNetConfig], tuple[str, str]] = st.session_state.setdefault(
        _CHECKED, {}
    )
    key = (upload.file_id, config)
    if key not in checked:
        with st.spinner(_("Checking the weights against this network…")):
            try:  # in memory, tensors only: nothing is kept on disk unless it fits
                check_weights_file(config, upload.getvalue())
                kept = str(server().keep_weights(upload.getvalue(), upload.name))
            except ValueError as exc:  # CheckpointError is one
                checked[key] = ("", str(exc))
            else:
                fits = _(
                    "These weights fit this network's trunk ({n} tensors, taken exactly); a "
                    "head for another number of classes is rebuilt when the run starts."
                )
                checked[key] = (kept, fits.format(n=len(trunk_shapes(config))))
        while len(checked) > 4:  # a session's few latest checks
            checked.pop(next(iter(checked)))
    found, said = checked[key]
    if not found:
        st.error(
            _("**These weights cannot start this network:** {error}").format(error=literal(said)),
            icon=":material/error:",
        )
        return None
    st.caption(said)
    return found


def freeze_key(init: str | None) -> str:
    """The Freeze picker's widget key for a start: each start begins at its proposal."""
    return f"train_freeze_{abs(hash(init))}"


def freeze_ui(config: GoogLeNetConfig, proposal: TrainPlan, init: str) -> str:
    """What does not train, starting at the plan's proposal (a frozen trunk on a CPU)."""
    options = [FREEZE_NONE, FREEZE_TRUNK, *trunk_stage_names(config)]
    proposed = proposal.train_config.freeze
    chosen = st.selectbox(
        _("Freeze"),
        options,
        index=options.index(proposed) if proposed in options else 0,
        format_func=lambda o: (
            _(_FREEZE_LABELS[o])
            if o in _FREEZE_LABELS
            else _("up to {stage}: the stages after it train").format(stage=o)
        ),
        key=freeze_key(init),  # each start begins at its proposal
    )
    return str(chosen)
