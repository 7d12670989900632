"""Fair comparisons: the A/B pair, the settings that differ, the gradient ratio and its sentence,
on real (tiny) training runs."""

from __future__ import annotations

import dataclasses

import pytest
from tiny import tiny_config, tiny_data, tiny_train_config

from googlenet_core import get_preset
from googlenet_core.training.compare import (
    GradientRatio,
    ab_pair,
    differences,
    fair_pair,
    gradient_ratios,
    ratio_sentence,
)
from googlenet_core.training.events import Event, start_of
from googlenet_core.training.plan import Choices, plan_training
from googlenet_core.training.train import train


def _events(**changes: object) -> list[Event]:
    events: list[Event] = []
    config = tiny_train_config(epochs=2, **changes)
    result = train(tiny_config(), config, data=tiny_data(), callbacks=[events.append])
    assert result.status == "completed", result.message
    return events


@pytest.fixture(scope="module")
def pair() -> dict[str, list[Event]]:
    return {
        "with": _events(aux_weight1=0.3, aux_weight2=0.3),
        "without": _events(aux_weight1=0.0, aux_weight2=0.0),
    }


def test_the_pair_differs_only_in_the_aux_weights() -> None:
    plan = plan_training(get_preset("mini"), "digits", Choices(device="cpu", seed=7))
    with_aux, without = ab_pair(plan)
    assert with_aux.train_config.aux_weights == (0.3, 0.3)
    assert without.train_config.aux_weights == (0.0, 0.0)
    assert with_aux.config == without.config == plan.config
    same = dataclasses.replace(with_aux.train_config, aux_weight1=0.0, aux_weight2=0.0)
    assert same == without.train_config and without.train_config.seed == 7
    # A plan already at 0/0 gets the paper's weights on its "with" side.
    zero = plan_training(get_preset("mini"), "digits", Choices(aux_weight1=0, aux_weight2=0))
    assert ab_pair(zero)[0].train_config.aux_weights == (0.3, 0.3)


def test_a_fair_pair_starts_from_the_same_weights_and_is_found_again(
    pair: dict[str, list[Event]],
) -> None:
    start_with, start_without = start_of(pair["with"]), start_of(pair["without"])
    assert start_with is not None and start_without is not None
    assert start_with.init_fingerprint == start_without.init_fingerprint
    [only] = differences(pair)
    assert (only.setting, only.values, only.expected) == ("aux weights", ("0.3/0.3", "0/0"), True)
    assert fair_pair(pair) == ("with", "without")
    assert fair_pair({"without": pair["without"], "with": pair["with"]}) == ("with", "without")


def test_an_unfair_overlay_names_every_setting_that_differs(
    pair: dict[str, list[Event]],
) -> None:
    other = _events(aux_weight1=0.0, aux_weight2=0.0, seed=1, batch_size=8)
    runs = {"with": pair["with"], "other": other}
    found = differences(runs)
    settings = [d.setting for d in found]
    assert {"batch size", "seed", "initial weights"} <= set(settings)
    assert settings[-1] == "aux weights" and not any(d.expected for d in found[:-1])
    assert fair_pair(runs) is None
    # In a longer overlay the fair pair is still found.
    assert fair_pair({**runs, "without": pair["without"]}) == ("with", "without")


def test_gradient_ratios_cover_the_trunk_in_every_epoch(pair: dict[str, list[Event]]) -> None:
    rows = gradient_ratios(pair["with"], pair["without"])
    stages = [r.stage for r in rows if r.epoch == 1]
    assert stages == ["conv1", "inception3a", "inception4a", "inception5a"]  # no heads, no fc
    assert {r.epoch for r in rows} == {1, 2}
    assert all(r.with_aux > 0 and r.without > 0 for r in rows)
    assert ratio_sentence(rows).startswith("conv1 receives ")


def test_the_sentence_summarises_the_whole_run_and_each_epoch() -> None:
    rows = [
        GradientRatio(1, "conv1", 7.61, 7.97),
        GradientRatio(1, "inception3a", 2.0, 1.0),
        GradientRatio(2, "conv1", 9.0, 7.1),
        GradientRatio(3, "conv1", 8.0, 6.5),
    ]
    assert ratio_sentence(rows) == (
        "conv1 receives 14% more gradient with the aux heads in the loss over 3 epochs "
        "(8.2 vs 7.19 on average; epoch 1 -5%, epoch 2 +27%, epoch 3 +23%)"
    )
    assert ratio_sentence(rows, epoch=1) == (
        "conv1 receives 5% less gradient with the aux heads in the loss in epoch 1 (7.61 vs 7.97)"
    )
    same = [GradientRatio(1, "conv1", 1.0, 1.001)]
    assert ratio_sentence(same).startswith("conv1 receives the same gradient")
    assert ratio_sentence([]) == ""
