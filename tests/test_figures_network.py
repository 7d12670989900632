"""The network's figures say what the config and the calculator say (googlenet_core.figures)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from googlenet_core import analyze, get_preset, naive_vs_reduced
from googlenet_core.figures.network import (
    cost_figure,
    inception_block_figure,
    naive_vs_reduced_frame,
    network_figure,
    output_size_latex,
    paper_table_style,
    shapes_figure,
)
from googlenet_core.figures.style import (
    AUX_COLOR,
    FONT_SIZE,
    HIGHLIGHT,
    MAIN_COLOR,
    format_count,
)
from googlenet_core.network.config import conv_out
from googlenet_core.network.editing import remove_block
from googlenet_core.network.paper import compare


def _texts(fig) -> list[str]:  # type: ignore[no-untyped-def]
    return [a.text for a in fig.layout.annotations if a.text]


@pytest.mark.parametrize(
    ("value", "text"),
    [(9472, "9.5 K"), (6_998_552, "7.00 M"), (1_586_000_000, "1.59 G"), (512, "512"), (0, "0")],
)
def test_format_count(value: int, text: str) -> None:
    assert format_count(value) == text


def test_inception_block_figure_shows_the_branches_and_the_cost() -> None:
    paper = get_preset("paper")
    spec = paper.blocks[0]  # inception3a: 64 | 96 -> 128 | 16 -> 32 | pool -> 32
    costs = naive_vs_reduced(192, spec, 28, batch_norm=False)
    reduced = inception_block_figure(spec, 192, 28, reduced=True, cost=costs["reduced"])
    naive = inception_block_figure(spec, 192, 28, reduced=False, cost=costs["naive"])
    reduced_texts, naive_texts = " ".join(_texts(reduced)), " ".join(_texts(naive))
    assert "<b>96</b><br>(reduce)" in reduced_texts and "<b>16</b><br>(reduce)" in reduced_texts
    assert "64 + 128 + 32 + 32 = 256 × 28 × 28" in reduced_texts
    assert "reduce" not in naive_texts
    # The naive pooling branch passes all 192 input channels through.
    assert "64 + 128 + 32 + 192 = 416 × 28 × 28" in naive_texts
    assert reduced.layout.title.text == "inception3a, with 1×1 reductions"
    assert "163.7 K parameters, 128.05 M MACs" in reduced.layout.title.subtitle.text
    assert format_count(costs["naive"].params) in naive.layout.title.subtitle.text
    assert reduced.layout.font.size == FONT_SIZE


def test_inception_block_figure_labels_torchvisions_3x3_branch() -> None:
    spec = get_preset("torchvision").blocks[0]  # branch3_kernel = 3 (torchvision issue #906)
    cost = naive_vs_reduced(192, spec, 28)["reduced"]
    texts = " ".join(_texts(inception_block_figure(spec, 192, 28, True, cost)))
    assert "5×5" not in texts and texts.count("3×3 conv") == 2


def test_naive_vs_reduced_frame_ratios() -> None:
    spec = get_preset("paper").blocks[0]
    frame = naive_vs_reduced_frame(naive_vs_reduced(192, spec, 28))
    assert frame.loc["parameters", "naive ÷ reduced"] == pytest.approx(2.37, abs=0.01)
    assert frame.loc["output depth", "with 1×1 reductions"] == 256


@pytest.mark.parametrize(
    ("args", "floor_or_ceil"),
    [((224, 7, 2, 3, False), r"\rfloor"), ((112, 3, 2, 0, True), r"\rceil")],
)
def test_output_size_latex_fills_in_the_numbers(
    args: tuple[int, int, int, int, bool], floor_or_ceil: str
) -> None:
    size, kernel, stride, padding, _ = args
    latex = output_size_latex(*args)
    assert rf"\frac{{{size} - {kernel} + 2 \cdot {padding}}}{{{stride}}}" in latex
    assert floor_or_ceil in latex
    assert conv_out(*args) in (112, 56)


def test_shapes_figure_follows_the_trunk() -> None:
    analysis = analyze(get_preset("paper"))
    fig = shapes_figure(analysis)
    depth, side = fig.data
    trunk = [row for row in analysis.rows if not row.is_aux]
    assert list(side.x) == ["input", *(row.name for row in trunk)]
    assert list(side.y[:4]) == [224, 112, 56, 56]
    assert side.y[-1] == 1 and depth.y[-1] == 1000
    assert "aux1" not in side.x
    assert fig.layout.yaxis.title.text == "spatial side (pixels)"


def test_cost_figure_colours_aux_heads_and_matches_the_calculator() -> None:
    analysis = analyze(get_preset("paper"))
    fig = cost_figure(analysis)
    params, macs = fig.data
    assert "maxpool1" not in params.x  # stages without parameters or MACs are left out
    by_name = dict(zip(params.x, params.y, strict=True))
    assert by_name["inception3a"] == analysis.row("inception3a").params
    assert dict(zip(macs.x, macs.y, strict=True))["conv3"] == analysis.row("conv3").macs
    colours = dict(zip(params.x, params.marker.color, strict=True))
    assert colours["aux1"] == AUX_COLOR and colours["inception4a"] == MAIN_COLOR
    assert "orange" in fig.layout.title.subtitle.text


def _boxes(fig) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Every box of the network diagram, by its first line (the name) -> its height."""
    return {
        text.split("<br>")[0]: y
        for trace in fig.data
        if trace.type == "bar"
        for text, y in zip(trace.text, trace.y, strict=True)
    }


def test_network_figure_draws_every_stage_and_marks_aux_attachments() -> None:
    config = get_preset("paper")
    fig = network_figure(analyze(config))
    y = _boxes(fig)
    for stage in config.stages():
        if stage.kind != "aux":
            assert f"<b>{stage.name}</b>" in y
    # aux1's box sits at the height of inception4a, the block it reads.
    assert y["<b>aux1</b>"] == y["<b>inception4a</b>"]
    assert y["<b>aux2</b>"] == y["<b>inception4d</b>"]
    labels = next(t for t in fig.data if t.type == "bar").text
    assert labels[0] == "<b>input</b><br>3 × 224 × 224"  # the output shape under the name
    assert "<b>inception5a</b><br>832 × 7 × 7" in labels
    aux = [t for t in fig.data if t.type == "bar"][1].text
    assert aux[0] == "<b>aux1</b><br>→ 1000 classes"
    assert "auxiliary head" in [t.name for t in fig.data]


def test_network_figure_follows_the_heads_when_blocks_move() -> None:
    config = remove_block(get_preset("paper"), "inception4a")  # aux1 moves to inception3b
    y = _boxes(network_figure(analyze(config)))
    assert y["<b>aux1</b>"] == y["<b>inception3b</b>"]
    no_aux = network_figure(analyze(dataclasses.replace(config, aux_logits=False)))
    assert not [text for text in _boxes(no_aux) if "aux" in text]
    assert "auxiliary head" not in [t.name for t in no_aux.data]


def test_paper_table_highlights_exactly_the_disagreeing_cells() -> None:
    frame = compare(get_preset("paper"))
    styled = paper_table_style(frame)
    shown = list(styled.data.columns)
    assert shown == ["layer (paper)", "our stages", "output size", "params K", "ops M"]
    flags = {"output size": "output_differs", "params K": "params_differ", "ops M": "ops_differ"}
    expected = {
        (row, shown.index(column))
        for column, flag in flags.items()
        for row in frame.index[frame[flag]]
    }
    assert expected  # the paper's conv1, 4c and 5a rows disagree with its channel table
    conv1 = styled.data.iloc[0]
    assert conv1["ops M"] == "34.0 → 118.0" and conv1["params K"] == "2.7 → 9.2"
    # The CSS rule with the highlight lists one "#T_<id>_row<r>_col<c>" selector per cell.
    rule = re.search(r"([^}]*)\{[^}]*" + re.escape(HIGHLIGHT.split(";")[0]), styled.to_html())
    assert rule is not None
    cells = {(int(r), int(c)) for r, c in re.findall(r"_row(\d+)_col(\d+)", rule.group(1))}
    assert cells == expected
