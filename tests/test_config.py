"""Validation at the door: every bad value is a sentence naming the block and field."""

from __future__ import annotations

import dataclasses
import json

import pytest

from googlenet_core import (
    CHANNEL_FIELDS,
    AuxSpec,
    GoogLeNetConfig,
    InceptionSpec,
    conv_out,
    get_preset,
    minimum_input_size,
)
from googlenet_core.network.presets import with_blocks


def replace_block(config: GoogLeNetConfig, index: int, **changes: object) -> GoogLeNetConfig:
    blocks = list(config.blocks)
    blocks[index] = dataclasses.replace(blocks[index], **changes)
    return dataclasses.replace(config, blocks=tuple(blocks))


@pytest.mark.parametrize("field", CHANNEL_FIELDS)
@pytest.mark.parametrize("value", [0, -3, 2.5, "abc", True, None, 10**6])
def test_bad_channel_counts_name_block_field_and_range(field: str, value: object) -> None:
    with pytest.raises(ValueError) as info:
        replace_block(get_preset("paper"), 3, **{field: value})
    message = str(info.value)
    assert "inception4b" in message
    assert field in message
    assert "between 1 and 2048" in message


def test_block_over_the_output_cap_is_refused() -> None:
    with pytest.raises(ValueError, match=r"inception3a: the four branches add up to 8000"):
        replace_block(get_preset("paper"), 0, ch1x1=2000, ch3x3=2000, ch5x5=2000, pool_proj=2000)


def test_branch3_kernel_must_be_3_or_5() -> None:
    with pytest.raises(ValueError, match="inception3a: branch3_kernel must be 3 or 5"):
        replace_block(get_preset("paper"), 0, branch3_kernel=7)


def test_input_too_small_says_the_minimum() -> None:
    paper = get_preset("paper")
    smallest = minimum_input_size(paper)
    assert smallest is not None
    dataclasses.replace(paper, input_size=smallest)  # the minimum itself is accepted
    with pytest.raises(ValueError) as info:
        dataclasses.replace(paper, input_size=smallest - 1)
    assert f"smallest input this network accepts is {smallest}x{smallest}" in str(info.value)


def test_aux_head_on_a_too_small_map_is_refused() -> None:
    # The paper's aux heads need a 5x5 map for their 5x5/3 average pool: at 64 px the
    # 4a map is 4x4. Without aux heads the same input is fine.
    paper = get_preset("paper")
    with pytest.raises(
        ValueError, match=r"aux1 after inception4a needs a feature map of at least 5x5"
    ):
        dataclasses.replace(paper, input_size=64)
    dataclasses.replace(paper, input_size=64, aux_logits=False)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("input_size", 0, "input_size must be between 1 and 1024"),
        ("input_size", "224", "input_size must be a whole number"),
        ("num_classes", 0, "num_classes must be between 1 and 100000"),
        ("in_channels", 5, "in_channels must be between 1 and 4"),
        ("dropout", 1.5, "dropout must be between 0.0 and 0.95"),
        ("aux_logits", "yes", "aux_logits must be true or false"),
    ],
)
def test_network_fields(field: str, value: object, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        dataclasses.replace(get_preset("torchvision"), **{field: value})


def test_aux_heads_are_named_by_position() -> None:
    tv = get_preset("torchvision")
    swapped = (
        dataclasses.replace(tv.aux_heads[0], after="inception4d"),
        dataclasses.replace(tv.aux_heads[1], after="inception4a"),
    )
    with pytest.raises(ValueError, match="aux1 must attach before aux2"):
        dataclasses.replace(tv, aux_heads=swapped)
    with pytest.raises(ValueError, match="name must be 'aux1' or 'aux2'"):
        AuxSpec("aux3", after="inception4a")


def test_dangling_references_are_refused() -> None:
    tv = get_preset("torchvision")
    with pytest.raises(
        ValueError, match="maxpool3: after='inception9z' is not a stem conv or block"
    ):
        dataclasses.replace(tv, pools=(dataclasses.replace(tv.pools[2], after="inception9z"),))
    with pytest.raises(ValueError, match="used twice"):
        dataclasses.replace(tv, blocks=tv.blocks + (tv.blocks[-1],))


def test_block_input_depths_are_derived_by_walking_the_table() -> None:
    depths = get_preset("paper").block_in_channels()
    assert depths == {
        "inception3a": 192,
        "inception3b": 256,
        "inception4a": 480,
        "inception4b": 512,
        "inception4c": 512,
        "inception4d": 512,
        "inception4e": 528,
        "inception5a": 832,
        "inception5b": 832,
    }
    assert get_preset("paper").feature_channels == 1024
    # Widening 3b changes every depth downstream without anything else being typed.
    wider = replace_block(get_preset("paper"), 1, ch1x1=200)
    assert wider.block_in_channels()["inception4a"] == 552


@pytest.mark.parametrize("name", ["paper", "torchvision", "mini"])
def test_json_round_trip(name: str) -> None:
    config = get_preset(name)
    text = json.dumps(config.to_dict())
    again = GoogLeNetConfig.from_json(text)
    assert again == config
    assert hash(again) == hash(config)


def test_from_dict_refuses_unknown_keys() -> None:
    data = get_preset("mini").to_dict()
    data["blcoks"] = data.pop("blocks")
    with pytest.raises(ValueError, match="unknown key"):
        GoogLeNetConfig.from_dict(data)
    data = get_preset("mini").to_dict()
    data["blocks"][0]["ch7x7"] = 3
    with pytest.raises(ValueError, match=r"blocks entry 'inception3a': unknown key\(s\) 'ch7x7'"):
        GoogLeNetConfig.from_dict(data)
    with pytest.raises(ValueError, match="not valid JSON"):
        GoogLeNetConfig.from_json("{nope")
    with pytest.raises(ValueError, match="must be a JSON object"):
        GoogLeNetConfig.from_json("[1, 2]")


def test_configs_are_frozen() -> None:
    config = get_preset("mini")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.input_size = 64  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.blocks[0].ch1x1 = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("size", "k", "s", "p", "ceil", "expected"),
    [
        (224, 7, 2, 3, False, 112),  # seed 004: floor((224 + 6 - 7) / 2) + 1
        (112, 3, 2, 1, False, 56),
        (112, 3, 2, 0, True, 56),  # the paper's pools: Caffe's ceil rounding
        (112, 3, 2, 0, False, 55),
        (14, 2, 2, 0, True, 7),
        (7, 2, 2, 0, True, 4),
        (6, 3, 3, 0, True, 2),  # last window would start in the padding: dropped
        (2, 3, 2, 0, False, 0),
    ],
)
def test_output_size_formula(size: int, k: int, s: int, p: int, ceil: bool, expected: int) -> None:
    import torch

    assert conv_out(size, k, s, p, ceil) == expected
    if expected > 0:  # PyTorch agrees
        pool = torch.nn.MaxPool2d(k, s, p, ceil_mode=ceil)
        assert pool(torch.zeros(1, 1, size, size)).shape[-1] == expected


def test_removing_a_block_reanchors_pools_and_heads() -> None:
    tv = get_preset("torchvision")
    without_4a = tuple(b for b in tv.blocks if b.name != "inception4a")
    edited = with_blocks(tv, without_4a)
    # aux1 moves to the nearest earlier block, 3b; 4b now reads 3b's 480 channels via maxpool3.
    assert [h.after for h in edited.aux_heads] == ["inception3b", "inception4d"]
    assert edited.block_in_channels()["inception4b"] == 480
    added = with_blocks(tv, tv.blocks + (InceptionSpec("inception6a", 8, 8, 8, 8, 8, 8),))
    assert added.feature_channels == 32
