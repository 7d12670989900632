"""The Concepts page: Inception diagram, output-size calculator, aux heads, paper vs arithmetic."""

from __future__ import annotations

import dataclasses
import json

from conftest import app_test

from googlenet_core import get_preset, naive_vs_reduced
from googlenet_core.figures.style import format_count
from googlenet_core.network.editing import TOKEN_PARAM, encode_token
from googlenet_core.network.lessons import head_costs

PAGE = "app.py"


def _figure_title(at) -> str:  # type: ignore[no-untyped-def]
    """The first figure's title and subtitle, as one line."""
    title = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["title"]
    return f"{title['text']}: {title.get('subtitle', {}).get('text', '')}".replace("<br>", " ")


def test_renders_every_section_from_an_empty_session() -> None:
    at = app_test(PAGE).run()
    assert not at.exception
    assert [h.value for h in at.header] == [
        "1 · The Inception block",
        "2 · What the 1×1 reductions save",
        "3 · How big is the output?",
        "4 · Auxiliary classifiers",
        "5 · Gradient flow: what the auxiliary heads add",
        "6 · Deployment without the auxiliary heads",
        "7 · Global average pooling instead of a big classifier",
        "8 · The paper vs arithmetic",
    ]
    assert at.query_params == {"preset": "paper", "lang": "en"}


def test_the_reduction_toggle_switches_between_the_two_blocks() -> None:
    at = app_test(PAGE).run()
    spec = get_preset("paper").blocks[0]
    costs = naive_vs_reduced(192, spec, 28, batch_norm=False)
    assert f"{format_count(costs['reduced'].params)} parameters" in _figure_title(at)
    table = at.dataframe[0].value
    assert table.loc["parameters", "naive (no 1×1 reductions)"] == costs["naive"].params
    assert table.loc["MACs", "with 1×1 reductions"] == costs["reduced"].macs
    at.toggle(key="home_reduced").set_value(False).run()
    title = _figure_title(at)
    assert "naive: no 1×1 reductions" in title
    assert f"{format_count(costs['naive'].macs)} MACs" in title


def test_choosing_a_block_draws_that_block() -> None:
    at = app_test(PAGE).run()
    at.selectbox[0].set_value("inception5b").run()
    assert _figure_title(at).startswith("inception5b")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    texts = [a["text"] for a in spec["layout"]["annotations"]]
    assert "<b>Filter concatenation</b><br>384 + 384 + 128 + 128 = 1024 × 7 × 7" in texts


def test_the_calculator_applies_the_formula() -> None:
    at = app_test(PAGE).run()
    assert at.latex[0].value.rstrip("$\n ").endswith("= 112")  # conv1: 224, 7, 2, 3
    at.number_input(key="calc_in").set_value(112)
    at.number_input(key="calc_kernel").set_value(3)
    at.number_input(key="calc_padding").set_value(0)
    at.toggle(key="home_ceil").set_value(True).run()
    assert r"\left\lceil" in at.latex[0].value
    assert at.latex[0].value.rstrip("$\n ").endswith("= 56")  # maxpool1 with ceil mode
    at.number_input(key="calc_in").set_value(2).run()  # a 3x3 window in 2 pixels
    assert any("does not fit" in e.value for e in at.error)
    assert not at.exception


def test_aux_section_shows_where_heads_attach_and_the_order_note() -> None:
    at = app_test(PAGE).run()
    assert [s.value for s in at.subheader] == ["aux1: after inception4a", "aux2: after inception4d"]
    assert any(r"w_1 = w_2 = 0.3" in latex.value for latex in at.latex)
    note = at.info[0].value
    assert "aux_logits2, aux_logits1" in note and "Heads(logits, aux1, aux2)" in note


def test_aux_section_without_heads_says_so() -> None:
    no_heads = dataclasses.replace(get_preset("mini"), aux_heads=())
    at = app_test(PAGE, **{TOKEN_PARAM: encode_token(no_heads)}).run()
    assert not at.exception
    assert any("no auxiliary heads" in i.value for i in at.info)
    assert not at.subheader


def test_paper_table_flags_the_papers_own_inconsistencies() -> None:
    at = app_test(PAGE).run()
    table = at.table[-1].value
    assert len(table) == 17
    assert "convolution 7x7/2, inception (4c), inception (5a)" in at.main.caption[-1].value


def test_paper_table_can_compare_the_current_design() -> None:
    at = app_test(PAGE, preset="mini").run()
    assert "3 of 17 rows disagree" in at.main.caption[-1].value  # the paper's network by default
    at.segmented_control(key="home_compare_source").set_value("the current design").run()
    assert not at.exception
    assert "3 of 17" not in at.main.caption[-1].value  # mini's numbers differ almost everywhere


def test_a_tampered_link_shows_a_notice_not_a_traceback() -> None:
    at = app_test(PAGE, preset="../../etc/passwd").run()
    assert not at.exception
    assert "could not be read" in at.warning[0].value
    assert at.query_params == {"preset": "paper", "lang": "en"}


def test_global_average_pooling_vs_a_fully_connected_head_follows_the_design() -> None:
    at = app_test().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["FC on the flattened map"] == "50,177,000"
    assert metrics["Average pool, then FC"] == "1,025,000"
    assert metrics["Parameters saved"] == "49× fewer"
    assert "7 × 7 × 1024" in _markdown(at) and "about 0.6%" in _markdown(at)
    mini = app_test(preset="mini").run()  # another last block and input side
    metrics = {m.label: m.value for m in mini.metric}
    head = head_costs(get_preset("mini"))
    assert metrics["Average pool, then FC"] == f"{head.gap_weights + 10:,}"
    assert f"{head.side} × {head.side} × {head.channels}" in _markdown(mini)


def test_naive_vs_reduced_branch_by_branch_and_over_the_whole_network() -> None:
    at = app_test().run()
    assert "save most on the **5×5** branch (120.42 M → 12.44 M MACs)" in _markdown(at)
    branches = next(t.value for t in at.table if "branch" in t.value.columns)
    assert list(branches["branch"]) == ["1×1", "3×3", "5×5", "pool"]
    assert branches.loc[3, "depth out, naive"] == 192  # the pool passes its input through
    chart = next(c for c in at.get("plotly_chart") if "home_naive_network" in c.proto.id)
    assert "Naive blocks: depth and cost" in chart.proto.spec
    assert "**inception5b** would read **4,048** channels instead of 832" in _markdown(at)


def _markdown(at) -> str:  # type: ignore[no-untyped-def]
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def test_the_calculator_fills_in_any_layer_of_the_design() -> None:
    at = app_test().run()
    at.selectbox(key="calc_layer").set_value("maxpool1").run()
    values = [at.number_input(key=k).value for k in ("calc_in", "calc_kernel", "calc_stride")]
    assert values + [at.number_input(key="calc_padding").value] == [112, 3, 2, 0]
    assert at.toggle(key="home_ceil").value is True
    assert "= 56" in at.latex[0].value
    assert "These are **maxpool1**'s numbers" in at.success[0].value
    assert "as the formula says" in at.success[0].value
    # A changed number is the student's own again: no claim about the layer.
    at.number_input(key="calc_padding").set_value(1).run()
    assert not at.success
    at.selectbox(key="calc_layer").set_value("aux1.pool").run()
    assert "= 4" in at.latex[0].value and "aux1.pool" in at.success[0].value


def test_the_count_of_concepts_is_said_as_many_as_there_are() -> None:
    """The README and the page's docstring name as many concepts as the page draws."""
    from pathlib import Path

    from pages.common.concepts import CONCEPTS

    words = {7: "seven", 8: "eight", 9: "nine", 10: "ten"}
    said = words[len(CONCEPTS)]
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text("utf-8")
    assert f"**Concepts** ({said} concepts" in readme
    assert f"through {said} interactive" in (root / "app.py").read_text("utf-8")
