"""Training figures: one trace per head and run, stages in forward order, labels for overlays."""

from __future__ import annotations

import pytest
from tiny import tiny_config, tiny_data, tiny_train_config

from googlenet_core.figures.training import (
    accuracy_figure,
    early_gradient_figure,
    grad_norm_figure,
    loss_figure,
    throughput_figure,
)
from googlenet_core.training.events import Event, progress_of
from googlenet_core.training.train import train


@pytest.fixture(scope="module")
def runs() -> dict[str, list[Event]]:
    out = {}
    for label, w in (("w 0.3/0.3", 0.3), ("w 0/0", 0.0)):
        events: list[Event] = []
        config = tiny_train_config(epochs=2, aux_weight1=w, aux_weight2=w)
        result = train(tiny_config(), config, data=tiny_data(), callbacks=[events.append])
        assert result.status == "completed", result.message
        out[label] = events
    return out


def test_one_run_shows_every_term_of_the_loss(runs) -> None:
    figure = loss_figure({"a": runs["w 0.3/0.3"]})
    assert [t.name for t in figure.data] == ["total", "main", "aux1", "aux2"]
    assert "main + w1·aux1 + w2·aux2" in figure.layout.title.subtitle.text
    without = loss_figure({"b": runs["w 0/0"]})
    assert [t.name for t in without.data] == ["total", "main"]  # aux terms were not computed


def _lines(figure) -> list:
    return [t for t in figure.data if t.showlegend is False]


def _legend(figure) -> list[str]:
    return [t.name for t in figure.data if t.showlegend is not False]


def test_overlays_name_each_run(runs) -> None:
    """The legend lists the runs (a click hides all of a run's lines); each line keeps its
    run and head for the hover, and the subtitle says which dash is which head."""
    loss = loss_figure(runs)
    names = [t.name for t in _lines(loss)]
    assert names == ["w 0.3/0.3 · total", "w 0.3/0.3 · main", "w 0/0 · total", "w 0/0 · main"]
    assert _legend(loss) == ["w 0.3/0.3", "w 0/0"]
    for entry in (t for t in loss.data if t.showlegend is not False):
        assert {t.legendgroup for t in _lines(loss) if t.name.startswith(entry.name)} == {
            entry.legendgroup
        }
    assert "each run: total thick, main thin" in loss.layout.title.subtitle.text
    accuracy = accuracy_figure(runs)
    assert len(_lines(accuracy)) == 6  # three heads each: untrained heads are still measured
    assert _legend(accuracy) == ["w 0.3/0.3", "w 0/0"]
    assert list(_lines(accuracy)[0].x) == [1, 2]
    assert accuracy.layout.yaxis.tickformat == ".0%"
    key = accuracy.layout.title.subtitle.text.replace("<br>", " ")
    assert key == "each run: main solid, aux1 dotted, aux2 dashed"
    # One run: the legend is its heads, in their own colours, and no key is needed.
    one = accuracy_figure({"a": runs["w 0.3/0.3"]})
    assert _legend(one) == ["main", "aux1", "aux2"] and not one.layout.title.subtitle.text


def test_gradient_norms_in_forward_order_on_a_log_scale(runs) -> None:
    figure = grad_norm_figure(runs)
    assert figure.layout.yaxis.type == "log"
    stages = list(figure.layout.xaxis.categoryarray)
    assert stages[0] == "conv1" and stages[-1] == "fc" and "inception3a" in stages
    zero_run = dict(zip(figure.data[1].x, figure.data[1].y, strict=True))
    assert zero_run["aux1"] == pytest.approx(1e-12)  # frozen head: no gradient at all
    early = early_gradient_figure(runs, "conv1")
    assert [t.name for t in early.data] == ["w 0.3/0.3", "w 0/0"]


def test_throughput_and_progress(runs) -> None:
    events = runs["w 0.3/0.3"]
    figure = throughput_figure({"a": events})
    assert all(v > 0 for v in figure.data[0].y)
    assert progress_of(events)[0] == 1.0
    assert progress_of(events[:1]) == (0.0, None)  # started, no step yet
    assert progress_of([]) == (0.0, None)
