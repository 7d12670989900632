"""The preset registry and the presets' defining numbers."""

from __future__ import annotations

import dataclasses

import pytest

from googlenet_core import (
    analyze,
    base_preset,
    get_preset,
    list_presets,
    matching_preset,
    network_name,
)
from googlenet_core.network.presets import PresetRegistry


def test_registry_refuses_duplicates_and_unknown_names() -> None:
    registry = PresetRegistry()
    registry.register("a", lambda: get_preset("mini"), "first")
    with pytest.raises(ValueError, match="'a' is already registered"):
        registry.register("a", lambda: get_preset("paper"), "second")
    with pytest.raises(ValueError, match="unknown preset 'b'; choose one of a"):
        registry.get("b")


def test_the_three_presets() -> None:
    assert {"paper", "torchvision", "mini"} <= set(list_presets())
    for name in list_presets():
        assert matching_preset(get_preset(name)) == name
    assert matching_preset(dataclasses.replace(get_preset("mini"), num_classes=3)) is None


def test_presets_differ_where_the_comments_say() -> None:
    paper, tv = get_preset("paper"), get_preset("torchvision")
    assert [b.branch3_kernel for b in paper.blocks] == [5] * 9
    assert [b.branch3_kernel for b in tv.blocks] == [3] * 9  # torchvision issue #906
    # The channel table itself is the same: both come from the paper's Table 1.
    strip = [dataclasses.replace(b, branch3_kernel=5) for b in tv.blocks]
    assert strip == list(paper.blocks)
    assert (paper.batch_norm, paper.dropout) == (False, 0.4)
    assert (tv.batch_norm, tv.bn_eps, tv.dropout) == (True, 0.001, 0.2)
    assert [p.kernel_size for p in tv.pools] == [3, 3, 3, 2]


def test_mini_is_cpu_sized() -> None:
    mini = get_preset("mini")
    assert (mini.in_channels, mini.input_size, mini.num_classes) == (1, 32, 10)
    result = analyze(mini)
    assert result.total_macs < 30e6 and result.total_params < 1e6
    assert [h.after for h in mini.aux_heads] == ["inception4a", "inception4d"]
    # It also takes 28 px (MNIST-sized) and RGB input.
    dataclasses.replace(mini, input_size=28, in_channels=3)


def test_a_preset_at_another_input_side_keeps_its_name_with_the_side() -> None:
    mini16 = dataclasses.replace(get_preset("mini"), input_size=16)
    assert matching_preset(mini16) is None  # the side is part of the design...
    assert base_preset(mini16) == "mini"  # ...but it is still mini (16 px is its smallest)
    assert network_name(mini16) == "mini-16px"
    assert network_name(get_preset("mini")) == "mini"
    other = dataclasses.replace(get_preset("mini"), num_classes=3, input_size=16)
    assert base_preset(other) is None and network_name(other) == "mini-16px-3cls"
    assert network_name(other, classes=False) == "mini-16px"  # a run names its data set


def test_what_a_plan_or_a_load_changes_is_in_the_name_an_edit_is_custom() -> None:
    paper = get_preset("paper")
    planned = dataclasses.replace(paper, input_size=79, num_classes=10)  # the digits' plan
    assert network_name(planned) == "paper-79px-10cls"
    assert network_name(dataclasses.replace(paper, aux_logits=False)) == "paper-noaux"
    imagenet = dataclasses.replace(get_preset("torchvision"), transform_input=True)
    assert network_name(imagenet) == "torchvision-imagenet"
    wider = dataclasses.replace(paper.blocks[0], ch1x1=65)
    assert network_name(dataclasses.replace(paper, blocks=(wider, *paper.blocks[1:]))) == "custom"
    # paper and torchvision cannot take 16 px at all: no error, they just do not match.
    with pytest.raises(ValueError, match="too small"):
        dataclasses.replace(get_preset("torchvision"), input_size=16)
