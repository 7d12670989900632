"""The Architect page: edit the network in place; invalid input never replaces the valid one."""

from __future__ import annotations

import re

import pytest
from conftest import app_test

from googlenet_core import analyze, get_preset
from googlenet_core.figures.style import format_change, format_count
from googlenet_core.network.editing import TOKEN_PARAM, encode_token, export_json

PAGE = "pages/architect.py"


def _edit_cell(at, row: int, column: str, value: object):  # type: ignore[no-untyped-def]
    """Edit one cell the way the browser does: through the editor's edit state."""
    at.session_state[at.data_editor[0].key] = {
        "edited_rows": {row: {column: value}},
        "added_rows": [],
        "deleted_rows": [],
    }
    return at.run()


def _number_input(at, label: str):  # type: ignore[no-untyped-def]
    return next(widget for widget in at.number_input if widget.label == label)


def _metrics(at) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m.label: m.value for m in at.metric}


def test_renders_the_inception_table_from_an_empty_session() -> None:
    at = app_test(PAGE).run()
    assert not at.exception
    editor = at.data_editor[0]
    assert editor.editing_mode == "fixed"
    table = editor.value
    assert list(table["name"]) == [b.name for b in get_preset("paper").blocks]
    assert table.loc[1, "in_channels"] == 256 and table.loc[1, "out_channels"] == 480
    assert _metrics(at)["Smallest input it accepts"] == "79 px"


def test_editing_a_block_changes_the_network_and_the_totals() -> None:
    at = app_test(PAGE).run()
    before = analyze(get_preset("paper"))
    _edit_cell(at, 0, "ch1x1", 128)
    assert not at.exception and not at.error
    config = at.session_state["config"]
    assert config.blocks[0].ch1x1 == 128
    after = analyze(config)
    assert after.params_without_aux > before.params_without_aux
    metrics = at.metric
    assert metrics[0].value == format_count(after.params_without_aux)
    change = after.params_without_aux - before.params_without_aux
    assert metrics[0].proto.delta == f"+{format_count(change)}"  # short: a quarter of 1280 px
    assert any("how much the last edit changed it" in c.value for c in at.caption)
    # The editor starts again from the new network: its computed columns follow.
    table = at.data_editor[0].value
    assert table.loc[0, "out_channels"] == 256 + 64
    assert table.loc[1, "in_channels"] == 256 + 64
    assert at.query_params == {TOKEN_PARAM: encode_token(config), "lang": "en"}
    assert at.session_state["config_error"] is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "inception4b: ch5x5red must be between 1 and 2048, got 0"),
        (-3, "inception4b: ch5x5red must be between 1 and 2048, got -3"),
        (10**9, "inception4b: ch5x5red must be between 1 and 2048, got 1000000000"),
        ("abc", "inception4b: ch5x5red is empty or not a number"),
        (None, "inception4b: ch5x5red is empty or not a number"),
    ],
)
def test_an_invalid_cell_is_refused_and_the_valid_network_stays(
    value: object, message: str
) -> None:
    at = app_test(PAGE).run()
    _edit_cell(at, 3, "ch5x5red", value)
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value
    assert "last valid network is still active" in at.error[0].value
    assert at.session_state["config"] == get_preset("paper")
    assert message in at.session_state["config_error"]
    assert at.query_params == {"preset": "paper", "lang": "en"}


def test_fixing_the_invalid_cell_applies_it_and_clears_the_error() -> None:
    at = app_test(PAGE).run()
    _edit_cell(at, 3, "ch5x5red", 0)
    assert at.error
    _edit_cell(at, 3, "ch5x5red", 48)
    assert not at.error
    assert at.session_state["config"].blocks[3].ch5x5red == 48
    assert at.session_state["config_error"] is None


def test_too_small_an_input_is_refused_with_the_smallest_size() -> None:
    at = app_test(PAGE).run()
    _number_input(at, "Input size (pixels)").set_value(20).run()
    assert not at.exception
    assert "input_size 20 is too small" in at.error[0].value
    assert "smallest input this network accepts is 79x79" in at.error[0].value
    assert at.session_state["config"].input_size == 224


def test_settings_change_the_network() -> None:
    at = app_test(PAGE).run()
    _number_input(at, "Classes").set_value(10).run()
    config = at.session_state["config"]
    assert config.num_classes == 10
    assert analyze(config).params_without_aux < analyze(get_preset("paper")).params_without_aux
    next(t for t in at.toggle if t.label == "Auxiliary heads").set_value(False).run()
    assert at.session_state["config"].aux_logits is False
    _number_input(at, "Input channels").set_value(0).run()
    assert "network: in_channels must be between 1 and 4, got 0" in at.error[0].value


def test_choosing_a_preset_loads_it() -> None:
    at = app_test(PAGE).run()
    at.selectbox[0].set_value("mini").run()
    assert not at.exception
    assert at.session_state["config"] == get_preset("mini")
    assert any("Loaded the mini preset" in s.value for s in at.success)
    assert at.query_params == {"preset": "mini", "lang": "en"}
    assert len(at.data_editor[0].value) == 9


def test_adding_and_removing_blocks() -> None:
    at = app_test(PAGE).run()
    at.selectbox[1].set_value("inception4e").run()
    at.button(key="arch_add").click().run()
    names = [b.name for b in at.session_state["config"].blocks]
    assert names[7] == "inception4f" and len(names) == 10
    assert len(at.data_editor[0].value) == 10
    at.selectbox[1].set_value("inception4a").run()
    at.button(key="arch_remove").click().run()
    config = at.session_state["config"]
    assert "inception4a" not in [b.name for b in config.blocks]
    assert [h.after for h in config.aux_heads] == ["inception3b", "inception4d"]
    assert not at.exception


def test_removing_the_only_block_is_refused() -> None:
    paper = get_preset("paper")
    at = app_test(PAGE, preset="mini").run()
    for _ in range(8):
        at.button(key="arch_remove").click().run()
    assert len(at.session_state["config"].blocks) == 1
    at.button(key="arch_remove").click().run()
    assert "a network needs at least one" in at.error[0].value
    assert len(at.session_state["config"].blocks) == 1
    assert paper != at.session_state["config"]


def test_json_export_then_import_round_trips() -> None:
    at = app_test(PAGE).run()
    _edit_cell(at, 8, "pool_proj", 200)
    custom = at.session_state["config"]
    exported = at.code[0].value  # the same text the download button serves
    assert exported.strip() == export_json(custom).strip()
    assert at.download_button(key="arch_download").proto.label.startswith("Download")
    code = at.download_button(key="arch_download_code").proto
    assert code.label == "Download as plain PyTorch code (.py)"
    at.selectbox[0].set_value("torchvision").run()
    assert at.session_state["config"] == get_preset("torchvision")
    at.file_uploader[0].set_value(("my-net.json", exported.encode(), "application/json")).run()
    assert not at.exception
    assert at.session_state["config"] == custom
    assert any("Loaded `my-net.json`" in s.value for s in at.success)


def test_a_bad_json_upload_is_refused() -> None:
    at = app_test(PAGE).run()
    at.file_uploader[0].set_value(("broken.json", b'{"blocks": 3', "application/json")).run()
    assert not at.exception
    assert "broken.json: not valid JSON" in at.error[0].value
    assert at.session_state["config"] == get_preset("paper")


def test_a_tampered_link_falls_back_to_the_default() -> None:
    at = app_test(PAGE, **{TOKEN_PARAM: "v1." + "A" * 9000}).run()
    assert not at.exception
    assert "the limit is 8,000" in at.warning[0].value
    assert at.session_state["config"] == get_preset("paper")


def test_a_refused_cell_is_put_back_and_never_blocks_a_later_edit() -> None:
    at = app_test(PAGE).run()
    _edit_cell(at, 3, "ch5x5red", "abc")
    assert "The value was put back" in at.error[0].value
    # The editor shows the last valid network again: no "None" left in the cell.
    assert at.data_editor[0].value.loc[3, "ch5x5red"] == 24
    # Later edits anywhere go through.
    _number_input(at, "Input size (pixels)").set_value(160).run()
    assert not at.error and at.session_state["config"].input_size == 160
    assert _number_input(at, "Input size (pixels)").value == 160
    _number_input(at, "Classes").set_value(10).run()
    assert not at.error and at.session_state["config"].num_classes == 10


def test_a_bad_cell_does_not_take_a_good_setting_down_with_it() -> None:
    at = app_test(PAGE).run()
    at.session_state[at.data_editor[0].key] = {
        "edited_rows": {0: {"ch1x1": 0}},
        "added_rows": [],
        "deleted_rows": [],
    }
    _number_input(at, "Classes").set_value(7).run()  # both arrive in one rerun
    config = at.session_state["config"]
    assert config.num_classes == 7 and config.blocks[0].ch1x1 == 64
    assert "inception3a: ch1x1 must be between 1" in at.error[0].value
    assert at.data_editor[0].value.loc[0, "ch1x1"] == 64


def test_undo_and_redo_walk_the_design_history() -> None:
    at = app_test(PAGE).run()
    assert at.button(key="arch_undo").disabled and at.button(key="arch_redo").disabled
    _edit_cell(at, 0, "ch1x1", 128)
    _number_input(at, "Classes").set_value(10).run()
    at.button(key="arch_undo").click().run()
    config = at.session_state["config"]
    assert (config.num_classes, config.blocks[0].ch1x1) == (1000, 128)
    at.button(key="arch_undo").click().run()
    assert at.session_state["config"] == get_preset("paper")
    assert at.query_params == {"preset": "paper", "lang": "en"}  # the link follows
    assert at.button(key="arch_undo").disabled
    at.button(key="arch_redo").click().run()
    assert at.session_state["config"].blocks[0].ch1x1 == 128
    # A new edit after an undo drops what could have been redone.
    _number_input(at, "Classes").set_value(5).run()
    assert at.button(key="arch_redo").disabled
    at.button(key="arch_undo").click().run()
    assert at.session_state["config"].num_classes == 1000


def test_a_decrease_is_shown_as_one() -> None:
    at = app_test(PAGE).run()
    _edit_cell(at, 0, "ch1x1", 32)
    delta = at.metric[0].proto.delta
    assert delta.startswith("-") and "−" not in delta, delta  # ASCII: Streamlit's down arrow


def _remove_block(name: str) -> str:
    """Remove a block of the paper's design on the Architect; the page's one message."""
    at = app_test(PAGE).run()
    at.selectbox[1].set_value(name).run()
    at.button(key="arch_remove").click().run()
    (message,) = [s.value for s in at.success]
    return message


def test_removing_the_block_an_aux_head_follows_says_where_it_went() -> None:
    message = _remove_block("inception4a")
    assert "aux1 now follows inception3b (it followed inception4a, which is gone)" in message
    assert re.search(r"its parameters [\d.]+ M → [\d.]+ M", message), message


def test_a_head_whose_rounded_count_stays_the_same_says_the_exact_change() -> None:
    message = _remove_block("inception4d")
    # 3.19 M → 3.19 M would say nothing changed: the exact counts and the difference do.
    assert "aux2 now follows inception4c" in message
    assert "its parameters 3,190,888 → 3,188,840 (-2,048), since its input depth" in message


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        (9_475_648, 9_480_256, "9,475,648 → 9,480,256 (+4,608)"),
        (3_190_888, 3_188_840, "3,190,888 → 3,188,840 (-2,048)"),
        (3_188_840, 9_476_200, "3.19 M → 9.48 M"),
        (9_475_648, 9_475_648, "9.48 M → 9.48 M"),
    ],
)
def test_format_change_is_exact_where_rounding_hides_the_change(
    before: int, after: int, said: str
) -> None:
    assert format_change(before, after) == said


def test_a_valid_edit_after_a_refused_one_clears_the_refusal() -> None:
    at = app_test(PAGE).run()
    _number_input(at, "Input size (pixels)").set_value(20).run()
    refusal = "input_size 20 is too small"
    assert refusal in at.error[0].value
    assert any(refusal in c.value for c in at.sidebar.caption)
    # The old value typed back into a cell: valid, and nothing to apply, yet an answer.
    _edit_cell(at, 0, "ch1x1", 64)
    assert not at.error
    assert not any(refusal in c.value for c in at.sidebar.caption)
    assert at.session_state["config_error"] is None
    assert at.session_state["config"] == get_preset("paper")
    # A refusal, then a valid edit that changes the network.
    _edit_cell(at, 3, "ch5x5red", 0)
    assert at.error and at.session_state["config_error"]
    _edit_cell(at, 0, "ch1x1", 96)
    assert not at.error and at.session_state["config_error"] is None
    assert not any("ch5x5red" in c.value for c in at.sidebar.caption)
    assert at.session_state["config"].blocks[0].ch1x1 == 96
