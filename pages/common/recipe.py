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
from googlenet_core.training.plan import Choices, TrainPlan

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
