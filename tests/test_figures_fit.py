"""Figures fit a projector's 1280 px and a phone's 350 px: nothing cut, nothing on top.

Plotly never wraps or shrinks text: a label wider than its box or the figure is
cut, a legend above the plot runs into the title. These checks need no browser:
they read the layout for what made text collide (legends above the plot, titles
of several lines, tick labels between side-by-side subplots) and estimate text
widths at a phone's plot width; the renders at 1150, 900, 560 and 350 px were
checked in Chromium when the figures were laid out.
"""

from __future__ import annotations

import re
from typing import Any

import plotly.graph_objects as go
import pytest
from tiny import tiny_config, tiny_data, tiny_train_config

from googlenet_core import analyze, get_preset, naive_vs_reduced
from googlenet_core.figures.confusion import (
    COUNT_SIZE,
    PHONE,
    SMALLEST_COUNT,
    WIDE,
    confusion_figure,
)
from googlenet_core.figures.lessons import deploy_figure
from googlenet_core.figures.network import inception_block_figure, network_figure
from googlenet_core.figures.prediction import heads_figure
from googlenet_core.figures.projector import PROJECTOR_FONT, for_projector
from googlenet_core.figures.style import (
    FONT_SIZE,
    LEGEND_CHAR,
    TEXT_CHARS,
    TICK_STANDOFF,
    format_count,
    title_height,
    wrap,
)
from googlenet_core.figures.training import (
    accuracy_figure,
    early_gradient_figure,
    grad_norm_figure,
    gradient_ratio_figure,
    loss_figure,
    throughput_figure,
)
from googlenet_core.inference.predictor import HeadPrediction, ImageResult
from googlenet_core.training.compare import gradient_ratios
from googlenet_core.training.confusion import Confusion
from googlenet_core.training.events import Event
from googlenet_core.training.train import train

#: Plot width on a 390 px phone: Streamlit's padding and the figure's margins taken off.
PHONE_PLOT = 310
#: Characters of a one-line title that fit a phone at the title size.
TITLE_FIT = 32


def _width(line: str, size: float) -> float:
    """Pixel width of one line of plotly text by Arial's metrics (bold parts 10 % wider)."""

    def plain(text: str) -> float:
        # Arial: digits 0.556 em, capitals wider, most lower-case letters 0.5 em or less.
        return size * sum(
            0.28 if c == " " else 0.34 if c in "()[],.:;·/|-" else 0.5 if c.islower() else 0.6
            for c in re.sub(r"<[^>]+>", "", text)
        )

    bold = re.findall(r"<b>(.*?)</b>", line)
    return plain(re.sub(r"<b>.*?</b>", "", line)) + 1.1 * sum(plain(part) for part in bold)


def _lines(text: str) -> list[str]:
    return text.split("<br>")


def _check_title(fig: go.Figure) -> None:
    title = fig.layout.title
    # One line: plotly.js draws the lines of a top-anchored title upwards, off the figure.
    assert "<br>" not in title.text and len(title.text) <= TITLE_FIT, title.text
    assert (title.yref, title.y, title.yanchor) == ("container", 1.0, "top")
    subtitle = title.subtitle.text or ""
    assert all(len(line) <= TEXT_CHARS for line in _lines(subtitle)), subtitle
    assert fig.layout.margin.t >= title_height(title.text, subtitle)


def _check_legend_below(fig: go.Figure) -> None:
    legend = fig.layout.legend
    assert (legend.orientation, legend.yref, legend.y, legend.yanchor) == (
        "h",
        "container",
        0,
        "bottom",
    )
    names = [t.name for t in fig.data if t.name and t.showlegend is not False]  # listed
    assert all(len(line) <= 30 for name in names for line in _lines(name)), names
    # One width per entry, wide enough for its longest line (plotly.js measures short).
    if names:
        assert legend.entrywidth >= max(
            _width(line, FONT_SIZE) for name in names for line in _lines(name)
        )


def test_wrap_breaks_at_spaces_only() -> None:
    assert wrap("no 1×1 reductions: 5.86 M parameters, 287.01 M MACs") == (
        "no 1×1 reductions: 5.86 M parameters,<br>287.01 M MACs"
    )
    assert wrap("IMG_20240512_142233.jpg", 10) == "IMG_20240512_142233.jpg"


@pytest.mark.parametrize("preset", ["paper", "torchvision", "mini"])
def test_network_diagram_boxes_hold_their_text_on_a_phone(preset: str) -> None:
    fig = network_figure(analyze(get_preset(preset)))
    _check_title(fig)
    _check_legend_below(fig)
    low, high = fig.layout.xaxis.range
    per_unit = PHONE_PLOT / (high - low)
    bars = [trace for trace in fig.data if trace.type == "bar"]
    assert len(bars) == (2 if get_preset(preset).aux_logits else 1)
    for bar in bars:
        assert bar.textposition == "inside"
        for text, base, width in zip(bar.text, bar.base, bar.x, strict=True):
            assert low <= base and base + width <= high, text  # the box is inside the plot
            for line in _lines(text):
                assert _width(line, FONT_SIZE) <= width * per_unit, (text, width * per_unit)
    # Nothing is drawn left of the boxes: the shape labels that lost their digits are inside.
    assert not [t for t in fig.data if t.type == "scatter" and t.mode == "text"]


@pytest.mark.parametrize("reduced", [True, False])
@pytest.mark.parametrize("block", ["inception3a", "inception5b"])
def test_inception_block_text_stays_in_its_boxes_on_a_phone(block: str, reduced: bool) -> None:
    config = get_preset("paper")
    spec = next(b for b in config.blocks if b.name == block)
    in_channels = config.block_in_channels()[block]
    side = 28 if block == "inception3a" else 7
    cost = naive_vs_reduced(in_channels, spec, side)["reduced" if reduced else "naive"]
    fig = inception_block_figure(spec, in_channels, side, reduced, cost)
    _check_title(fig)
    low, high = fig.layout.xaxis.range
    per_unit = PHONE_PLOT / (high - low)
    boxes = [s for s in fig.layout.shapes if s.type == "rect"]
    labels = [a for a in fig.layout.annotations if a.text]
    assert len(labels) == len(boxes)
    for label in labels:
        box = next(b for b in boxes if b.x0 < label.x < b.x1 and b.y0 < label.y < b.y1)
        assert low <= box.x0 and box.x1 <= high
        for line in _lines(label.text):
            assert _width(line, FONT_SIZE) <= (box.x1 - box.x0) * per_unit, label.text


def _result(heads: int, names: tuple[str, ...]) -> ImageResult:
    probs = tuple(0.5**i for i in range(1, len(names) + 1))
    index = tuple(range(len(names)))
    predictions = tuple(
        HeadPrediction(head, index, names, probs, trained=head == "main")
        for head in ("main", "aux1", "aux2")[:heads]
    )
    return ImageResult("IMG_20240512_142233_holiday_photo_of_a_shark.jpg", heads=predictions)


def test_heads_are_stacked_with_their_titles_and_names_inside_the_figure() -> None:
    imagenet = (
        "great white shark, white shark, man-eater",
        "tiger shark, Galeocerdo cuvieri",
        "hammerhead, hammerhead shark",
        "electric ray, crampfish, numbfish, torpedo",
        "stingray",
    )
    fig = heads_figure(_result(3, imagenet), get_preset("torchvision"))
    _check_title(fig)
    # One column: side by side, the class names of one head ran into the next one.
    for suffix in ("", "2", "3"):
        assert tuple(fig.layout[f"xaxis{suffix}"].domain) == (0.0, 1.0)
        assert fig.layout[f"yaxis{suffix}"].showticklabels is False
    # Head titles start at the left edge ("ain head (after inception5b)" was cut there).
    titles = list(fig.layout.annotations)
    assert [(a.x, a.xanchor, a.xref) for a in titles] == [(0.0, "left", "paper")] * 3
    assert all(_width(a.text, FONT_SIZE) <= PHONE_PLOT for a in titles)
    names = [t for t in fig.data if t.type == "scatter"]
    assert len(names) == 3
    for trace in names:
        assert set(trace.x) == {0.0} and trace.textposition == "top right"
        assert all(_width(text, FONT_SIZE) <= PHONE_PLOT for text in trace.text), trace.text


def test_classes_whose_names_agree_up_to_the_cut_keep_a_row_each() -> None:
    """Rows are ranks: two names cut to the same text once shared one row, bars and text
    drawn on top of each other (found by drawing random predictions in Chromium)."""
    names = ("handwritten digit photos - seven", "handwritten digit photos - zero", "seven")
    fig = heads_figure(_result(2, names), get_preset("mini"))
    for trace in fig.data:
        assert list(trace.y) == ["0", "1", "2"]  # one row per class, most probable first
    text = [t for t in fig.data if t.type == "scatter"][0].text
    assert text[0].split("  ")[0] == text[1].split("  ")[0]  # the same text, two rows


def _confusion(n: int, per_class: int, name: str = "{}") -> Confusion:
    """``n`` classes of ``per_class`` images, 70 % right, the rest on the next class."""
    right = per_class * 7 // 10
    rows = [[0] * n for _ in range(n)]
    for t in range(n):
        rows[t][t], rows[t][(t + 1) % n] = right, per_class - right
    return Confusion(tuple(name.format(i) for i in range(n)), tuple(map(tuple, rows)), 3, ())


@pytest.mark.parametrize(
    ("n", "per_class", "name"),
    [(10, 80, "{}"), (10, 1000, "{}"), (3, 80, "crampfish, numbfish {}"), (20, 20, "class {}")],
)
def test_confusion_counts_fit_their_cells_or_are_left_to_the_table(
    n: int, per_class: int, name: str
) -> None:
    """A count is drawn only at a size where its digits fit the cell at the narrowest width
    the figure is drawn at; the column names stand upright only where they fit."""
    confusion = _confusion(n, per_class, name)
    digits = len(str(max(max(row) for row in confusion.matrix)))
    for width in (WIDE, PHONE):
        fig = confusion_figure(confusion, width=width)
        row_names = max(len(c) for c in fig.layout.yaxis.ticktext) * LEGEND_CHAR  # as cut
        (heatmap,) = fig.data
        size = heatmap.textfont.size
        drawn = any(t for row in heatmap.text for t in row)
        cell = (width - row_names - 2 * FONT_SIZE - 60) / n
        if drawn:
            assert SMALLEST_COUNT <= size <= COUNT_SIZE and 0.6 * size * digits <= cell - 4
        else:  # too small to read: the cells keep their colour, the table has the counts
            assert 0.6 * SMALLEST_COUNT * digits > cell - 4
        upright = max(len(c) for c in fig.layout.xaxis.ticktext) * LEGEND_CHAR + 8 <= cell
        assert fig.layout.xaxis.tickangle == (0 if upright else -45 if cell >= 30.6 else -90)
    # The digits' 10 classes (80 images each): the body size on a projector, 14 px on a phone.
    if (n, per_class) == (10, 80):
        assert confusion_figure(confusion).data[0].textfont.size == COUNT_SIZE
        assert confusion_figure(confusion, width=PHONE).data[0].textfont.size == 14
    if n == 20:  # 20 classes on a phone: no count fits a 10 px column
        text = confusion_figure(confusion, width=PHONE).data[0].text
        assert not any(t for row in text for t in row)


@pytest.fixture(scope="module")
def runs() -> dict[str, list[Event]]:
    out = {}
    for label, w in (("mini-32px digits w0.3/0.3 (…1a2b)", 0.3), ("w 0/0 · …9f3c", 0.0)):
        events: list[Event] = []
        config = tiny_train_config(epochs=2, aux_weight1=w, aux_weight2=w)
        train(tiny_config(), config, data=tiny_data(), callbacks=[events.append])
        out[label] = events
    return out


def test_training_legends_sit_under_the_plot_in_entries_that_fit_a_phone(runs: Any) -> None:
    one = dict(list(runs.items())[:1])
    rows = gradient_ratios(*runs.values())
    figures = [
        loss_figure(runs),
        loss_figure(one),
        accuracy_figure(runs),
        grad_norm_figure(runs),
        early_gradient_figure(runs, "conv1"),
        throughput_figure(runs),
        gradient_ratio_figure(rows, {"aux1": "inception3a", "aux2": "inception4a"}),
    ]
    for fig in figures:
        _check_title(fig)
        _check_legend_below(fig)
    # A run's label is wrapped, never cut: every word of it is still in the legend.
    listed = [t for t in figures[0].data if t.showlegend is not False]
    names = [t.name.replace("<br>", " ") for t in listed]
    assert "mini-32px digits w0.3/0.3 (…1a2b)" in names
    # Stage names are tilted or upright as the width needs, never fixed at an angle
    # that overlaps them on a phone.
    for fig in (figures[3], figures[6]):
        assert fig.layout.xaxis.tickangle is None and list(fig.layout.xaxis.autotickangles)
    # The x tick labels stand off their axis, so the corner's two labels never meet
    # (Chromium's check: tests/test_browser.py), and more so in presentation mode.
    for fig in figures:
        assert fig.layout.xaxis.ticklabelstandoff == TICK_STANDOFF >= 4
        big = for_projector(fig).layout.xaxis.ticklabelstandoff
        assert big == round(TICK_STANDOFF * PROJECTOR_FONT / FONT_SIZE) > TICK_STANDOFF


def _smallest_text(fig: go.Figure) -> float:
    """The smallest size any legend, annotation or bar text of ``fig`` can be drawn at.

    Text inside a bar is shrunk to the bar unless ``constraintext`` is "none" (an aux
    head's sliver of the MACs took its label to 1 px), and ``uniformtext`` with a mode
    shrinks every bar's text to the smallest; both count as their floor.
    """
    body = fig.layout.font.size
    sizes = [fig.layout.legend.font.size or body]
    sizes += [a.font.size or body for a in fig.layout.annotations]
    for trace in fig.data:
        if getattr(trace, "text", None) is None:
            continue
        sizes.append(trace.textfont.size or body)
        if trace.textposition in (None, "inside", "auto") and trace.constraintext != "none":
            sizes.append(0)
    if fig.layout.uniformtext.mode in ("hide", "show"):
        sizes.append(fig.layout.uniformtext.minsize or 0)
    return min(sizes)


@pytest.mark.parametrize("preset", ["paper", "mini"])
def test_no_deployment_label_is_drawn_below_the_body_size(preset: str) -> None:
    fig = deploy_figure(analyze(get_preset(preset)))
    assert fig.layout.font.size == FONT_SIZE
    assert _smallest_text(fig) >= FONT_SIZE
    # Each aux head's counts are on the figure, in its legend entry (its own colour).
    shown = " ".join(str(trace.name) for trace in fig.data if trace.showlegend)
    aux = [r for r in analyze(get_preset(preset)).rows if r.is_aux]
    assert aux and all(f"+{format_count(r.params)} parameters" in shown for r in aux)
    assert all(f"+{format_count(r.macs)} MACs" in shown for r in aux)


def test_gradient_ratio_legend_and_labels_are_at_least_the_body_size(runs: Any) -> None:
    rows = gradient_ratios(*runs.values())
    fig = gradient_ratio_figure(rows, {"aux1": "inception3a", "aux2": "inception4a"})
    assert fig.layout.annotations and fig.layout.showlegend
    assert fig.layout.legend.font.size == FONT_SIZE
    assert all(a.font.size == FONT_SIZE for a in fig.layout.annotations)
    assert _smallest_text(fig) >= FONT_SIZE
