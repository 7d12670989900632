"""The Shapes & parameters page: totals, stage table, branch layers, charts, CSV."""

from __future__ import annotations

import json

from conftest import app_test

from googlenet_core import analyze, get_preset
from googlenet_core.figures.style import format_count
from googlenet_core.network.editing import TOKEN_PARAM, apply_edits, blocks_frame, encode_token

PAGE = "pages/shapes.py"


def _metrics(at) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m.label: m.value for m in at.main.metric}


def test_renders_totals_table_layers_and_charts_from_an_empty_session() -> None:
    at = app_test(PAGE).run()
    assert not at.exception
    analysis = analyze(get_preset("paper"))
    assert _metrics(at) == {
        "Parameters, all heads": f"{analysis.total_params:,}",
        "Parameters, deployed": f"{analysis.params_without_aux:,}",
        "MACs per image": format_count(analysis.macs_without_aux),
        "MACs in training": format_count(analysis.total_macs),
    }
    stages = at.dataframe[0].value
    assert list(stages["name"]) == [row.name for row in analysis.rows]
    assert stages.loc[stages["name"] == "inception3b", "out_shape"].iloc[0] == "480 x 28 x 28"
    # One expander per Inception block and aux head, holding its layers.
    labels = [e.label for e in at.expander]
    assert len(labels) == 9 + 2 and labels[0].startswith("**inception3a**")
    first_block_layers = at.dataframe[1].value
    assert list(first_block_layers["branch"]) == ["1x1", "3x3", "3x3", "5x5", "5x5", "pool", "pool"]
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert titles == [
        "The network, input at the top",
        "Side shrinks, depth grows",
        "Parameters and MACs per stage",
    ]
    assert {b.key for b in at.download_button} == {"shapes_stages_csv", "shapes_layers_csv"}


def test_an_edited_block_changes_the_totals() -> None:
    paper = get_preset("paper")
    frame = blocks_frame(paper)
    frame.at[4, "ch3x3"] = 512  # inception4c
    edited = apply_edits(paper, frame)
    at = app_test(PAGE, **{TOKEN_PARAM: encode_token(edited)}).run()
    assert not at.exception
    metrics = _metrics(at)
    assert metrics["Parameters, all heads"] == f"{analyze(edited).total_params:,}"
    assert metrics["Parameters, all heads"] != f"{analyze(paper).total_params:,}"
    stages = at.dataframe[0].value
    assert stages.loc[stages["name"] == "inception4c", "out_shape"].iloc[0] == "768 x 14 x 14"


def test_reruns_use_the_cache_and_show_the_same_page() -> None:
    at = app_test(PAGE, preset="mini").run()
    first = at.dataframe[0].value
    at.run()
    assert not at.exception
    assert at.dataframe[0].value.equals(first)
    assert "**mini**" in at.caption[0].value and "10 classes" in at.caption[0].value


def test_without_aux_heads_both_totals_agree() -> None:
    config = apply_edits(get_preset("torchvision"), aux_logits=False)
    at = app_test(PAGE, **{TOKEN_PARAM: encode_token(config)}).run()
    metrics = _metrics(at)
    assert metrics["Parameters, all heads"] == metrics["Parameters, deployed"]
    assert not [e for e in at.expander if e.label.startswith("**aux")]


def test_a_tampered_link_falls_back_to_the_default() -> None:
    at = app_test(PAGE, **{TOKEN_PARAM: "v1.!!"}).run()
    assert not at.exception
    assert "could not be read" in at.warning[0].value
    assert _metrics(at)["Parameters, all heads"] == f"{analyze(get_preset('paper')).total_params:,}"
