"""Every data-driven figure under random data, drawn by plotly.js in Chromium.

The page-level browser tests draw each figure with the data one run happens to give,
so a layout that breaks for some values passes or fails by the floats of a training
run: CI once failed on a loss curve whose autorange ended just under 0.8 (its label
hung into the first step's). Here seeded random runs, predictions and confusion
matrices go through the figures at the widths the pages draw them (a 1280 px window's
column, a phone's, and the whole screen in presentation mode), in English and Chinese,
and the suite's own :func:`conftest.text_problems` looks for text cut, outside its
figure or on top of other text. The seeds are fixed: a failure reproduces.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import pytest
from conftest import text_problems

from googlenet_core import get_preset
from googlenet_core.figures.confusion import PHONE, WIDE, confusion_figure
from googlenet_core.figures.prediction import heads_figure
from googlenet_core.figures.projector import for_projector
from googlenet_core.figures.training import (
    accuracy_figure,
    early_gradient_figure,
    grad_norm_figure,
    gradient_ratio_figure,
    loss_figure,
    throughput_figure,
)
from googlenet_core.i18n import use_language
from googlenet_core.inference.predictor import HeadPrediction, ImageResult
from googlenet_core.training.compare import GradientRatio
from googlenet_core.training.confusion import Confusion
from googlenet_core.training.events import EpochEvent, Event, HeadScore, StepEvent

pytestmark = pytest.mark.browser

#: Widths a figure is drawn at, in pixels: a chart in the Train page's column and its
#: expander in a 1280 px window, a 390 px phone's column. Presentation mode (the sidebar
#: folded away, projector type) is drawn at :data:`PRESENTATION` and never on a phone.
COLUMN, PHONE_COLUMN, PRESENTATION = (700, 791), 350, 1150
STAGES = ("conv1", "conv2", "conv3", "inception3a", "inception3b", "inception4a")
STAGES += ("inception4b", "inception4c", "inception4d", "inception4e", "inception5a")
STAGES += ("inception5b", "aux1", "aux2", "fc")
#: Class names as users give them: ImageNet's, digits, Chinese, and text plotly could
#: read as markup.
WORDS = ("great white shark", "man-eater", "Galeocerdo cuvieri", "electric ray", "stingray")
WORDS += ("zero", "seven", "7", "猫咪", "手写数字", "IMG_2024", "<b>x</b>", "a & b")


@pytest.fixture(scope="module")
def plot_page(browser: Any) -> Iterator[Any]:
    """One page with plotly.js loaded (the copy plotly's Python package ships: no network)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    empty = go.Figure()
    page.set_content(pio.to_html(empty, include_plotlyjs=True, div_id="f", full_html=True))
    page.wait_for_function("() => window.Plotly !== undefined")
    try:
        yield page
    finally:
        context.close()


def _problems(page: Any, fig: go.Figure, width: int) -> list[str]:
    """What :func:`text_problems` finds in ``fig`` drawn ``width`` px wide, at its height."""
    spec = json.loads(pio.to_json(fig))
    page.evaluate(
        """([width, spec]) => {
            const div = document.getElementById('f');
            div.style.width = width + 'px';
            div.style.height = spec.layout.height + 'px';
            return Plotly.newPlot(div, spec.data, spec.layout, {responsive: false});
        }""",
        [width, spec],
    )
    return text_problems(page, sideways_tables=False)


def _check(page: Any, fig: go.Figure, widths: tuple[int, ...], case: str) -> None:
    """``fig`` at each of ``widths``, and in presentation mode on a whole screen."""
    for width in widths:
        assert not _problems(page, fig, width), (case, width, _problems(page, fig, width))
    presented = for_projector(fig)
    assert not _problems(page, presented, PRESENTATION), (case, "presentation")


def _runs(rng: random.Random) -> dict[str, list[Event]]:
    """1 to 3 runs of 1 to 30 epochs, losses anywhere from 0.001 to about 10, accuracies
    that wander, gradient norms from 1e-12 (a frozen head) to 10, speeds to 1e5 images/s."""
    runs: dict[str, list[Event]] = {}
    for r in range(rng.choice((1, 2, 3))):
        epochs, per_epoch = rng.randint(1, 30), rng.choice((1, 3, 50))
        low = rng.choice((0.001, 0.1, 0.8, 2.0)) * rng.uniform(0.5, 1.5)
        high = low + rng.choice((0.01, 0.5, 2.0, 5.0)) * rng.uniform(0.5, 1.5)
        speed = 10 ** rng.uniform(0, 5)
        events: list[Event] = []
        step = 0
        for epoch in range(1, epochs + 1):
            for _ in range(per_epoch):
                step += 1
                loss = high - (high - low) * step / (epochs * per_epoch)
                aux = loss * rng.uniform(0.8, 1.3) if r % 2 == 0 else None
                rate = speed * rng.uniform(0.7, 1.3)
                events.append(StepEvent(step, epoch, loss, loss * 0.7, aux, aux, 0.01, rate))
            acc = min(1.0, max(0.0, 0.5 + 0.5 * epoch / epochs - rng.uniform(0, 0.3)))
            scores = tuple(
                HeadScore(head, rng.uniform(0, 3), min(1.0, max(0.0, acc + rng.uniform(-0.2, 0.1))))
                for head in ("main", "aux1", "aux2")
            )
            norms = {stage: 10 ** rng.uniform(-12 if r else -4, 1) for stage in STAGES}
            events.append(EpochEvent(epoch, step, loss, acc, scores, norms, 1.0, epoch, acc))
        label = f"mini-{rng.randint(8, 64)}px digits w0.{rng.randint(0, 9)}/0.3 (…{r:04x})"
        runs[label] = events
    return runs


def _name(rng: random.Random) -> str:
    return ", ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))


def _prediction(rng: random.Random) -> ImageResult:
    """1 to 3 heads of a top-1 to top-5, near-certain or spread out, trained or not."""
    k = rng.choice((1, 3, 5))
    heads = []
    for head in ("main", "aux1", "aux2")[: rng.choice((1, 2, 3))]:
        probs = sorted((rng.random() ** rng.choice((1, 10)) for _ in range(k)), reverse=True)
        total = sum(probs) / rng.uniform(0.5, 1.0) or 1.0
        probs = [p / total for p in probs]
        if rng.random() < 0.3:
            probs[0] = rng.choice((1.0, 0.995))
        names = tuple(_name(rng) for _ in range(k))
        trained = rng.random() < 0.7
        heads.append(HeadPrediction(head, tuple(range(k)), names, tuple(probs), trained))
    name = rng.choice(("IMG_20240512_142233_holiday.jpg", "照片.jpg"))
    return ImageResult(name, heads=tuple(heads))


def _confusion(rng: random.Random) -> Confusion:
    """2 to 20 classes (the collected photos' most) of 4 to 1000 validation images each."""
    n = rng.choice((2, 3, 5, 10, 20))
    per_class = rng.choice((4, 20, 80, 1000) if n <= 10 else (4, 20))
    named = rng.random() < 0.5
    classes = tuple(f"{_name(rng)}{i}" if named else str(i) for i in range(n))
    rows = []
    for true in range(n):
        right, row = rng.uniform(0.3, 1.0), [0] * n
        for _ in range(per_class):
            row[true if rng.random() < right else rng.randrange(n)] += 1
        rows.append(tuple(row))
    return Confusion(classes, tuple(rows), rng.choice((None, 3)), ())


def _ratios(rng: random.Random) -> list[GradientRatio]:
    epochs = rng.randint(1, 12)
    return [
        GradientRatio(epoch, stage, 10 ** rng.uniform(-3, 1), 10 ** rng.uniform(-3, 1))
        for epoch in range(1, epochs + 1)
        for stage in STAGES[:12]
    ]


@pytest.mark.parametrize(("seed", "language"), [(1, "en"), (2, "en"), (3, "zh")])
def test_training_figures_hold_their_text_whatever_the_runs(
    plot_page: Any, seed: int, language: str
) -> None:
    rng = random.Random(seed)
    with use_language(language):
        for case in range(4):
            runs = _runs(rng)
            figures = {
                "loss": loss_figure(runs),
                "accuracy": accuracy_figure(runs),
                "throughput": throughput_figure(runs),
                "conv1": early_gradient_figure(runs, "conv1"),
                "gradients": grad_norm_figure(runs),
            }
            for name, fig in figures.items():
                _check(plot_page, fig, (*COLUMN, PHONE_COLUMN), f"{name} #{case}")


@pytest.mark.parametrize(("seed", "language"), [(4, "en"), (5, "zh")])
def test_predictions_matrices_and_ratios_hold_their_text(
    plot_page: Any, seed: int, language: str
) -> None:
    rng = random.Random(seed)
    mini = get_preset("mini")
    aux_after = {"aux1": "inception4a", "aux2": "inception4d"}
    with use_language(language):
        for case in range(6):
            heads = heads_figure(_prediction(rng), mini)
            _check(plot_page, heads, (*COLUMN, PHONE_COLUMN), f"heads #{case}")
            confusion = _confusion(rng)
            _check(plot_page, confusion_figure(confusion), COLUMN, f"confusion #{case}")
            phone = confusion_figure(confusion, width=PHONE)  # what the page draws on a phone
            assert not _problems(plot_page, phone, PHONE), ("confusion on a phone", case)
            ratio = gradient_ratio_figure(_ratios(rng), aux_after)
            _check(plot_page, ratio, (*COLUMN, PHONE_COLUMN), f"ratio #{case}")
    assert WIDE in COLUMN  # the width the matrix sizes its counts for is one drawn here


def test_the_first_x_label_never_meets_the_lowest_y_label(plot_page: Any) -> None:
    """The loss curve that failed CI, across the band where its autorange ends just under
    a tick: that tick's label sat half under the axis, into "1" at step 1."""

    def run(last: float) -> dict[str, list[Event]]:
        losses = (1.84, 1.5, last)  # autorange ends under 0.8 for a last loss of 0.842-0.854
        steps = [StepEvent(i + 1, 1, v, v, None, None, 0.01, 1.0) for i, v in enumerate(losses)]
        return {"run": list(steps)}

    crossed = 0
    for projector in (False, True):
        fig = for_projector(loss_figure(run(0.85))) if projector else loss_figure(run(0.85))
        for width in (PRESENTATION,) if projector else (*COLUMN, PHONE_COLUMN):
            for last in [0.80 + 0.004 * i for i in range(18)]:  # 0.80 .. 0.868
                fig.data[0].y = (1.84, 1.5, last)
                assert not _problems(plot_page, fig, width), (width, last, projector)
                bottom = plot_page.evaluate("() => f._fullLayout.yaxis.range[0]")
                crossed += 0.79 < bottom < 0.8
    assert crossed >= 4  # the band was crossed: the lowest tick sat at the very bottom
