"""Presentation mode, the exact view in the URL, and short links (AppTest, no browser)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import app_test, new_server

from googlenet_core import get_preset, network_name
from googlenet_core.figures.projector import PROJECTOR_FONT
from googlenet_core.network.editing import TOKEN_PARAM, encode_token

CONCEPT_HEADERS = {
    "inception": "1 · The Inception block",
    "reductions": "2 · What the 1×1 reductions save",
    "output-size": "3 · How big is the output?",
    "aux-heads": "4 · Auxiliary classifiers",
    "gradients": "5 · Gradient flow: what the auxiliary heads add",
    "deploy": "6 · Deployment without the auxiliary heads",
    "gap": "7 · Global average pooling instead of a big classifier",
    "paper": "8 · The paper vs arithmetic",
}


@pytest.fixture(autouse=True)
def _links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "links"
    new_server(monkeypatch, GOOGLENET_LINKS_DIR=str(folder))
    return folder


def _font_sizes(node: object, in_font: bool = False) -> list[float]:
    if isinstance(node, dict):
        return [
            size
            for key, value in node.items()
            for size in (
                [value]
                if in_font and key == "size" and isinstance(value, int | float)
                else _font_sizes(value, key.endswith("font"))
            )
        ]
    if isinstance(node, list):
        return [size for item in node for size in _font_sizes(item, in_font)]
    return []


@pytest.mark.parametrize("slug", list(CONCEPT_HEADERS))
def test_each_concept_opens_alone_from_its_link_in_large_type(slug: str) -> None:
    at = app_test(present="1", concept=slug).run()
    assert not at.exception
    assert [h.value for h in at.header] == [CONCEPT_HEADERS[slug]]
    assert at.query_params["present"] == "1"
    assert at.query_params.get("concept", "inception") == slug  # the first one is the default
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        assert spec["layout"]["font"]["size"] == PROJECTOR_FONT  # scaled once, not twice
        assert min(_font_sizes(spec)) >= PROJECTOR_FONT, chart.proto.id


def test_next_and_back_go_round_the_concepts_and_exit_restores_the_page() -> None:
    at = app_test(present="1").run()
    assert [h.value for h in at.header] == [CONCEPT_HEADERS["inception"]]
    at.button(key="concept_next").click().run()
    assert [h.value for h in at.header] == [CONCEPT_HEADERS["reductions"]]
    assert at.query_params["concept"] == "reductions"
    at.button(key="concept_back").click().run()
    at.button(key="concept_back").click().run()  # before the first: the last
    assert [h.value for h in at.header] == [CONCEPT_HEADERS["paper"]]
    at.button(key="present_exit").click().run()
    assert len(at.header) == len(CONCEPT_HEADERS) and "present" not in at.query_params


def test_the_landing_page_presents_any_concept_in_one_click() -> None:
    at = app_test().run()
    at.segmented_control(key="present_pick").set_value("gap").run()
    assert [h.value for h in at.header] == [CONCEPT_HEADERS["gap"]]
    assert at.query_params["present"] == "1" and at.query_params["concept"] == "gap"


def test_a_link_reopens_the_exact_view() -> None:
    """Block, toggle, calculator, layer and comparison source: all from the URL."""
    view = {
        "block": "inception4a",
        "reduced": "0",
        "calc": "100,5,3,2,1",
        "compare": "design",
        "preset": "torchvision",
    }
    at = app_test(**view).run()
    assert not at.exception
    assert at.selectbox(key="home_block").value == "inception4a"
    assert at.toggle(key="home_reduced").value is False
    calc = ("calc_in", "calc_kernel", "calc_stride", "calc_padding")
    assert [at.number_input(key=k).value for k in calc] == [100, 5, 3, 2]
    assert at.toggle(key="home_ceil").value is True
    assert at.segmented_control(key="home_compare_source").value == "the current design"
    assert (
        "inception4a, naive"
        in json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]
    )
    assert {k: at.query_params[k] for k in view} == view  # and the URL keeps saying so
    at.selectbox(key="calc_layer").set_value("maxpool1").run()
    assert at.query_params["layer"] == "maxpool1"
    assert at.query_params["calc"] == "112,3,2,0,1"


def test_a_bad_view_parameter_falls_back_to_its_default() -> None:
    at = app_test(block="inception9z", reduced="maybe", calc="1,2,3", concept="nope").run()
    assert not at.exception
    assert at.selectbox(key="home_block").value == "inception3a"
    assert at.toggle(key="home_reduced").value is True
    assert at.number_input(key="calc_in").value == 224
    assert {"block", "reduced", "calc", "concept"}.isdisjoint(at.query_params)


def test_a_short_link_reopens_the_view_and_carries_nothing_else(_links: Path) -> None:
    # Whatever else the address bar holds (an old ?jobs= token) is not stored.
    at = app_test(present="1", concept="output-size", preset="mini", jobs="secret-token").run()
    at.number_input(key="calc_in").set_value(57).run()
    at.button(key="present_share").click().run()
    assert not at.exception
    (stored,) = list(_links.glob("*.txt"))
    assert "secret" not in stored.read_text() and "jobs" not in stored.read_text()
    fresh = app_test(s=stored.stem).run()
    assert not fresh.exception
    assert [h.value for h in fresh.header] == [CONCEPT_HEADERS["output-size"]]
    assert fresh.number_input(key="calc_in").value == 57
    assert fresh.query_params["preset"] == "mini" and "s" not in fresh.query_params
    unknown = app_test(s="abcdefghijkl").run()
    assert not unknown.exception
    assert any("does not know that short link" in w.value for w in unknown.warning)


def test_a_configured_public_address_is_the_one_students_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_server(
        monkeypatch,
        GOOGLENET_LINKS_DIR=str(tmp_path / "links"),
        GOOGLENET_PUBLIC_URL="http://192.168.1.20:8501/",
    )
    at = app_test("pages/shapes.py", preset="mini").run()
    at.button(key="sidebar_share").click().run()
    assert not at.exception
    (link,) = [c.value for c in at.code if "?s=" in c.value]
    # AppTest has no browser address (st.context.url), so no page: the root, configured.
    assert link.startswith("http://192.168.1.20:8501/"), link
    assert not any("Only this computer" in w.value for w in at.warning)


def test_back_in_the_browser_returns_to_the_previous_design_and_view() -> None:
    """Streamlit reruns the page with the history entry's URL; the page follows it."""
    at = app_test("pages/architect.py").run()
    at.selectbox(key="arch_preset_0").set_value("mini").run()
    assert at.query_params["preset"] == "mini"
    at.query_params.clear()
    at.query_params["preset"] = "paper"  # Back: the entry before the edit
    at.run()
    assert not at.exception
    assert network_name(at.session_state["config"]) == "paper"
    assert at.query_params["preset"] == "paper"
    home = app_test(block="inception4a").run()
    home.selectbox(key="home_block").set_value("inception4b").run()
    assert home.query_params["block"] == "inception4b"
    home.query_params["block"] = "inception4a"  # Back
    home.run()
    assert home.selectbox(key="home_block").value == "inception4a"
    home.switch_page("pages/shapes.py").run()  # another page: no design in its URL
    assert network_name(home.session_state["config"]) == "paper"


def test_an_edited_design_measures_its_gradients_only_when_asked() -> None:
    """Scrolling past the section must not cost the shared server a backward pass."""
    edited = dataclasses.replace(get_preset("mini"), num_classes=7)
    at = app_test(**{TOKEN_PARAM: encode_token(edited)}).run()
    assert not at.exception
    assert not any("home_flow" in c.proto.id for c in at.get("plotly_chart"))
    at.button(key="flow_measure").click().run()
    assert any("home_flow" in c.proto.id for c in at.get("plotly_chart"))
    presented = app_test(present="1", concept="gradients", **{TOKEN_PARAM: encode_token(edited)})
    assert any("home_flow" in c.proto.id for c in presented.run().get("plotly_chart"))


def test_the_sidebar_toggle_turns_presentation_mode_on_and_off_on_any_page() -> None:
    at = app_test("pages/shapes.py").run()
    at.toggle(key="present_toggle_False").set_value(True).run()
    assert at.query_params["present"] == "1"
    at.switch_page("app.py").run()  # the mode stays on as the session moves between pages
    assert [h.value for h in at.header] == [CONCEPT_HEADERS["inception"]]
    at.toggle(key="present_toggle_True").set_value(False).run()
    assert "present" not in at.query_params and len(at.header) == len(CONCEPT_HEADERS)


def test_the_shapes_page_presents_its_stage_table_and_charts_in_large_type() -> None:
    at = app_test("pages/shapes.py", present="1").run()
    assert not at.exception
    (stages,) = at.table
    assert list(stages.value.columns) == [
        "stage",
        "output (C × H × W)",
        "params",
        "MACs",
        "what it does",
    ]
    assert stages.value.iloc[0]["params"] == "9,472"  # conv1 of the paper network
    for chart in at.get("plotly_chart"):
        assert min(_font_sizes(json.loads(chart.proto.spec))) >= PROJECTOR_FONT


def test_clicking_the_selected_concept_again_stays_on_it() -> None:
    at = app_test(present="1", concept="deploy").run()
    at.segmented_control(key="concept").set_value(None).run()  # the selected pill, clicked
    assert [h.value for h in at.header] == [CONCEPT_HEADERS["deploy"]]
    at.segmented_control(key="concept").set_value("gap").run()
    at.segmented_control(key="concept").set_value(None).run()
    assert [h.value for h in at.header] == [CONCEPT_HEADERS["gap"]]
    assert at.query_params["concept"] == "gap"


def test_a_design_too_big_for_the_servers_memory_is_not_measured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLENET_MEMORY_MB", "64")  # less than this process already holds
    at = app_test(present="1", concept="gradients", preset="torchvision").run()
    assert not at.exception
    assert any("Not measured here" in i.value for i in at.info)
    assert not at.get("plotly_chart")
