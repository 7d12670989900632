"""The logic behind the Architect page and the URL: googlenet_core.editing."""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import zlib

import pandas as pd
import pytest

from googlenet_core import GoogLeNetConfig, analyze, get_preset, list_presets
from googlenet_core.network.editing import (
    BLOCK_COLUMNS,
    MAX_CONFIG_JSON_BYTES,
    MAX_TOKEN_CHARS,
    PRESET_PARAM,
    TOKEN_PARAM,
    TOKEN_PREFIX,
    add_block,
    apply_edits,
    blocks_frame,
    config_from_query,
    decode_token,
    encode_token,
    export_json,
    import_json,
    query_for,
    remove_block,
    stage_table,
)


@pytest.fixture
def paper() -> GoogLeNetConfig:
    return get_preset("paper")


def _edited(config: GoogLeNetConfig, row: int, column: str, value: object) -> pd.DataFrame:
    frame = blocks_frame(config).astype({column: object})
    frame.at[row, column] = value
    return frame


# ---- the blocks table ------------------------------------------------------------------
def test_blocks_frame_has_one_row_per_block_with_computed_columns(paper: GoogLeNetConfig) -> None:
    frame = blocks_frame(paper)
    assert list(frame.columns) == list(BLOCK_COLUMNS)
    assert list(frame["name"]) == [b.name for b in paper.blocks]
    first = frame.iloc[0]
    # Table 1: inception (3a) reads 192 channels at 28x28 and writes 256.
    assert (first["in_channels"], first["out_channels"], first["side"]) == (192, 256, 28)
    assert first["params"] == analyze(paper).row("inception3a").params
    # Each block's input depth is the previous block's output depth (480 into 4a via a pool).
    assert list(frame["in_channels"][1:]) == list(frame["out_channels"][:-1])


def test_unedited_table_gives_back_the_same_config(paper: GoogLeNetConfig) -> None:
    assert apply_edits(paper, blocks_frame(paper)) == paper


def test_editing_a_channel_changes_the_block_and_the_totals(paper: GoogLeNetConfig) -> None:
    edited = apply_edits(paper, _edited(paper, 0, "ch1x1", 80))
    assert edited.blocks[0].ch1x1 == 80
    assert edited.blocks[1:] == paper.blocks[1:]
    assert analyze(edited).total_params > analyze(paper).total_params
    # The next block now reads 16 more channels.
    assert edited.block_in_channels()["inception3b"] == 256 + 16


@pytest.mark.parametrize("value", [64.0, "64", " 64 "])
def test_whole_numbers_in_other_types_are_accepted(paper: GoogLeNetConfig, value: object) -> None:
    assert apply_edits(paper, _edited(paper, 2, "ch5x5", value)).blocks[2].ch5x5 == 64


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "inception4a: ch3x3 must be between 1 and 2048, got 0"),
        (-5, "inception4a: ch3x3 must be between 1 and 2048, got -5"),
        (2.5, "inception4a: ch3x3 must be a whole number between 1 and 2048, got 2.5"),
        ("abc", "inception4a: ch3x3 must be a whole number between 1 and 2048, got 'abc'"),
        (10**9, "inception4a: ch3x3 must be between 1 and 2048, got 1000000000"),
        (True, "inception4a: ch3x3 must be a whole number"),
        (None, "inception4a: ch3x3 is empty or not a number"),
        (float("nan"), "inception4a: ch3x3 is empty or not a number"),
    ],
)
def test_invalid_cells_name_the_block_and_field(
    paper: GoogLeNetConfig, value: object, expected: str
) -> None:
    with pytest.raises(ValueError) as excinfo:
        apply_edits(paper, _edited(paper, 2, "ch3x3", value))
    assert str(excinfo.value).startswith(expected)


def test_a_row_that_is_not_a_block_is_refused(paper: GoogLeNetConfig) -> None:
    frame = blocks_frame(paper)
    frame.at[0, "name"] = "inception9z"
    with pytest.raises(ValueError, match="'inception9z' that is not a block"):
        apply_edits(paper, frame)


def test_settings_are_applied_and_validated_together(paper: GoogLeNetConfig) -> None:
    edited = apply_edits(paper, input_size=299, in_channels=1, num_classes=10, aux_logits=False)
    assert (edited.input_size, edited.in_channels, edited.num_classes) == (299, 1, 10)
    assert not edited.aux_logits
    with pytest.raises(ValueError, match="input_size 20 is too small.*smallest input"):
        apply_edits(paper, input_size=20)
    with pytest.raises(ValueError, match="network: num_classes must be between 1 and"):
        apply_edits(paper, num_classes=0)


def test_add_block_copies_it_into_the_same_stage(paper: GoogLeNetConfig) -> None:
    added = add_block(paper, "inception3b")
    names = [b.name for b in added.blocks]
    assert names[:3] == ["inception3a", "inception3b", "inception3c"]
    copy = added.blocks[2]
    assert dataclasses.replace(copy, name="inception3b") == paper.blocks[1]
    # maxpool3 now follows the copy, so it still works at 28x28.
    assert {p.name: p.after for p in added.pools}["maxpool3"] == "inception3c"
    assert analyze(added).row("inception3c").out_shape == (480, 28, 28)
    assert [h.after for h in added.aux_heads] == ["inception4a", "inception4d"]


def test_add_block_names_skip_taken_letters_and_fall_back_to_a_suffix(
    paper: GoogLeNetConfig,
) -> None:
    # 4e's next letter (4f) is free; a second copy of 4d skips the taken 4e and 4f.
    assert add_block(paper, "inception4e").blocks[7].name == "inception4f"
    twice = add_block(add_block(paper, "inception4d"), "inception4d")
    assert [b.name for b in twice.blocks][5:9] == [
        "inception4d",
        "inception4g",
        "inception4f",
        "inception4e",
    ]
    # A hand-made name has no stage letter to count on: it gets a suffix.
    odd = dataclasses.replace(paper.blocks[-1], name="last")
    custom = dataclasses.replace(paper, blocks=(*paper.blocks[:-1], odd))
    assert add_block(custom, "last").blocks[-1].name == "last_2"


def test_remove_block_moves_pools_and_heads_to_the_block_before(paper: GoogLeNetConfig) -> None:
    removed = remove_block(paper, "inception4a")
    assert "inception4a" not in [b.name for b in removed.blocks]
    assert [(h.name, h.after) for h in removed.aux_heads] == [
        ("aux1", "inception3b"),
        ("aux2", "inception4d"),
    ]
    with pytest.raises(ValueError, match="no block named 'inception9z'"):
        remove_block(paper, "inception9z")
    one = dataclasses.replace(paper, blocks=paper.blocks[:1], pools=paper.pools[:2], aux_heads=())
    with pytest.raises(ValueError, match="only Inception block"):
        remove_block(one, "inception3a")


def test_stage_table_shares_add_up_to_one(paper: GoogLeNetConfig) -> None:
    table = stage_table(analyze(paper))
    assert table["params_share"].sum() == pytest.approx(1.0)
    assert table.loc[table["name"] == "aux1", "params_share"].iloc[0] > 0.2


# ---- JSON files -------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_presets())
def test_export_then_import_round_trips(name: str) -> None:
    config = add_block(get_preset(name), "inception4b")
    assert import_json(export_json(config)) == config
    assert import_json(export_json(config).encode()) == config


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe not utf-8", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"stem": []}', "network config"),
        (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
        (b" " * (MAX_CONFIG_JSON_BYTES + 1), "at most 65,536 bytes"),
    ],
)
def test_bad_files_are_refused_with_a_sentence(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        import_json(data)


# ---- the URL ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_presets())
def test_a_preset_travels_by_name(name: str) -> None:
    config = get_preset(name)
    assert query_for(config) == {PRESET_PARAM: name}
    assert config_from_query({PRESET_PARAM: name}) == config


def test_a_custom_design_travels_as_a_compact_token(paper: GoogLeNetConfig) -> None:
    custom = apply_edits(add_block(paper, "inception5a"), input_size=256, num_classes=37)
    params = query_for(custom)
    assert list(params) == [TOKEN_PARAM]
    token = params[TOKEN_PARAM]
    assert token.startswith(TOKEN_PREFIX)
    assert len(token) < 1_500
    assert config_from_query(params) == custom
    # The token wins over a preset name in a hand-edited link; a repeated key uses the last.
    assert config_from_query({PRESET_PARAM: "mini", TOKEN_PARAM: token}) == custom
    assert config_from_query({TOKEN_PARAM: ["v1.junk", token]}) == custom


def test_the_largest_design_fits_under_the_token_cap(paper: GoogLeNetConfig) -> None:
    config = paper
    while len(config.blocks) < 24:
        config = add_block(config, config.blocks[-1].name)
    assert len(encode_token(config)) < MAX_TOKEN_CHARS // 2
    assert decode_token(encode_token(config)) == config


def test_no_design_in_the_url_is_none() -> None:
    assert config_from_query({}) is None
    assert config_from_query({"page": "shapes"}) is None


def _token(raw: bytes) -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({PRESET_PARAM: "resnet"}, "unknown preset 'resnet'"),
        ({TOKEN_PARAM: ""}, "does not start with 'v1.'"),
        ({TOKEN_PARAM: "v2.abc"}, "does not start with 'v1.'"),
        ({TOKEN_PARAM: "v1.a+b/c"}, "characters that base64url does not use"),
        ({TOKEN_PARAM: "v1.a"}, "not valid base64url"),
        ({TOKEN_PARAM: "v1.aGVsbG8"}, "not zlib data"),
        ({TOKEN_PARAM: "v1." + "A" * MAX_TOKEN_CHARS}, "the limit is 8,000"),
        ({TOKEN_PARAM: _token(b"[1, 2, 3]")}, "must be a JSON object"),
        ({TOKEN_PARAM: _token(b'{"input_size": 224}')}, "network config"),
        ({TOKEN_PARAM: _token(b" " * 4_000_000)}, "expands to more than 65,536 bytes"),
    ],
)
def test_bad_links_raise_value_error_with_the_reason(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config_from_query(params)


def test_a_token_cut_short_is_refused(paper: GoogLeNetConfig) -> None:
    token = encode_token(dataclasses.replace(paper, num_classes=7))
    with pytest.raises(ValueError, match="cut short|damaged"):
        decode_token(token[: len(token) // 2])


def test_a_token_for_an_invalid_config_names_the_field(paper: GoogLeNetConfig) -> None:
    data = paper.to_dict()
    data["blocks"][3]["ch5x5"] = 0
    with pytest.raises(ValueError, match="inception4b: ch5x5 must be between 1 and 2048"):
        decode_token(_token(json.dumps(data).encode()))


def test_tampered_tokens_only_ever_raise_value_error(paper: GoogLeNetConfig) -> None:
    """Flip, drop and insert characters anywhere: a clean ValueError or a valid config."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    token = encode_token(dataclasses.replace(paper, num_classes=10))
    rng = random.Random(1409)  # arXiv 1409.4842
    outcomes = {"refused": 0, "accepted": 0}
    for _ in range(300):
        chars = list(token)
        position = rng.randrange(len(TOKEN_PREFIX), len(chars))
        action = rng.choice(["flip", "drop", "insert"])
        if action == "flip":
            chars[position] = rng.choice(alphabet)
        elif action == "drop":
            del chars[position]
        else:
            chars.insert(position, rng.choice(alphabet))
        try:
            decoded = decode_token("".join(chars))
        except ValueError:
            outcomes["refused"] += 1
        else:
            assert isinstance(decoded, GoogLeNetConfig)
            outcomes["accepted"] += 1
    assert outcomes["refused"] > 250  # zlib's checksum catches almost every change


def test_tampered_json_inside_a_valid_token_only_raises_value_error(
    paper: GoogLeNetConfig,
) -> None:
    """Replace values in the config JSON with wrong types; the decoder never crashes."""
    rng = random.Random(4842)
    replacements: list[object] = [None, True, -1, 0, 2.5, "x", [], {}, [1], {"a": 1}, 1e308]
    data = paper.to_dict()
    paths: list[tuple[object, ...]] = [(key,) for key in data]
    for key in ("stem", "blocks", "pools", "aux_heads"):
        for index, item in enumerate(data[key]):
            paths += [(key, index, field) for field in item]
    refused = 0
    for _ in range(200):
        mutated = json.loads(json.dumps(data))
        path = rng.choice(paths)
        target = mutated
        for step in path[:-1]:
            target = target[step]  # type: ignore[index]
        target[path[-1]] = rng.choice(replacements)  # type: ignore[index]
        try:
            decoded = decode_token(_token(json.dumps(mutated).encode()))
        except ValueError as exc:
            assert str(exc)  # a sentence, never an empty message
            refused += 1
        else:
            assert isinstance(decoded, GoogLeNetConfig)
    assert refused > 100  # most wrong types are refused (a few, like dropout 0, are valid)
