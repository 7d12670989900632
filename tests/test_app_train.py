"""The Train page under AppTest: settings, a tiny background job, reattach, cancel, runs list."""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

import pytest
import torch
from conftest import app_test
from PIL import Image

from googlenet_core.cli import build_parser
from googlenet_core.cli.train import plan_from_args
from googlenet_core.data.digits import load_digits
from googlenet_core.inference.checkpoints import load_checkpoint
from googlenet_core.training.events import start_of
from googlenet_core.training.runs import RUNS_DIR_ENV, list_runs, open_run

PAGE = "pages/train.py"
WAIT_S = 120.0


@pytest.fixture(autouse=True)
def run_store(monkeypatch, tmp_path):
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    return tmp_path / "runs"


def _tiny_settings(at: Any, subset: int = 16, epochs: int = 1, batch: int = 8) -> Any:
    at.toggle(key="train_use_subset").set_value(True).run()
    at.number_input(key="train_subset").set_value(subset).run()
    at.slider(key="train_epochs").set_value(epochs).run()
    at.select_slider(key="train_batch").set_value(batch).run()
    return at


def _wait_until(at: Any, done, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        at.run()  # AppTest does not poll fragments by itself: rerun as the browser would
        assert not at.exception, at.exception
        if done(at):
            return at
        time.sleep(0.5)
    raise AssertionError("the page did not reach the expected state in time")


def _text(at: Any) -> str:
    main = at.main
    parts = [m.value for m in main.markdown] + [c.value for c in main.caption]
    parts += [s.value for s in main.success] + [i.value for i in main.info]
    return "\n".join(parts)


def test_an_empty_session_shows_the_settings_formula_and_estimate(run_store) -> None:
    at = app_test(PAGE, preset="mini").run()
    assert not at.exception
    assert at.title[0].value == "Train"
    assert at.slider(key="train_w1").value == 0.3 and at.slider(key="train_w2").value == 0.3
    assert r"0.3\,\mathcal{L}_\mathrm{aux1}" in at.latex[0].value
    assert "Estimated time: **about" in _text(at)
    assert f"No runs in `{run_store}` yet" in _text(at)
    at.slider(key="train_w1").set_value(0.0).run()
    assert r"0\,\mathcal{L}_\mathrm{aux1}" in at.latex[0].value
    assert "aux1 has weight 0: its loss is not computed" in _text(at)
    assert "accuracy is still measured" in _text(at)


def test_a_cpu_host_proposes_the_mini_preset() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU host does not need the nudge")
    at = app_test(PAGE, preset="paper").run()
    assert "This machine has no GPU" in at.warning[0].value
    assert at.toggle(key="train_use_subset").value is True  # a small subset is proposed
    at.button(key="train_use_mini").click().run()
    assert not at.exception
    assert "`mini`" in at.main.markdown[0].value and not at.warning


def test_settings_that_cannot_train_are_refused_before_starting() -> None:
    at = app_test(PAGE, preset="mini").run()
    at.select_slider(key="train_batch").set_value(2).run()
    assert not at.error and not at.button(key="train_start").disabled
    at.select_slider(key="train_batch").set_value(4).run()
    at.number_input(key="train_lr").set_value(1e6).run()  # allowed: divergence is a lesson
    assert not at.error
    at.selectbox(key="train_dataset").set_value("upload").run()
    assert at.button(key="train_start").disabled  # no zip yet


def _side(at: Any) -> Any:
    return next(n for n in at.number_input if n.label == "Input side (px)")


def test_mini_trains_the_digits_at_the_recipes_16_px_and_other_data_at_its_own() -> None:
    at = app_test(PAGE, preset="mini").run()
    assert _side(at).value == 16
    assert "the quick recipe for mini on the digits trains at 16 px" in _text(at)
    at.selectbox(key="train_dataset").set_value("fashionmnist").run()
    assert _side(at).value == 32 and "recipe trains" not in _text(at)
    at.selectbox(key="train_dataset").set_value("digits").run()
    assert _side(at).value == 16  # each dataset keeps its own side
    _side(at).set_value(24).run()
    assert not at.exception and not at.error
    assert not at.button(key="train_start").disabled
    custom = app_test(PAGE, preset="paper").run()
    assert _side(custom).value == 224  # no recipe side for the paper's network


def test_a_tiny_run_trains_in_the_background_and_lands_in_the_runs_list(run_store) -> None:
    at = _tiny_settings(app_test(PAGE, preset="mini").run())
    at.button(key="train_start").click().run()
    assert not at.exception
    token = at.query_params["jobs"]
    assert token  # the URL now carries the job's token
    at = _wait_until(at, lambda a: bool(a.success))
    assert "best validation accuracy" in at.success[0].value
    assert len(at.get("plotly_chart")) >= 4  # live curves and the overlay of the runs list
    (run,) = list_runs(run_store)
    assert run.status == "completed" and run.has_checkpoint
    assert run.network == "mini-16px"  # trained at the recipe's side, and it says so
    stored = open_run(run.id, run_store)
    assert stored.model_config().input_size == 16
    assert load_checkpoint(stored.path / "best.pt").config == stored.model_config()
    assert at.multiselect(key="train_compare").value == [run.id]
    assert at.get("download_button")  # checkpoint and metrics CSV
    # A browser refresh: a new session with only the URL finds the same job.
    again = app_test(PAGE, preset="mini", jobs=token).run()
    assert not again.exception
    assert run.id in _text(again) and again.success


def test_only_the_starting_session_can_cancel_and_a_refresh_keeps_that_right(run_store) -> None:
    at = _tiny_settings(app_test(PAGE, preset="mini").run(), subset=512, epochs=5)
    at.button(key="train_start").click().run()
    token = at.query_params["jobs"]
    (run,) = list_runs(run_store)
    stranger = app_test(PAGE, preset="mini").run()
    assert not [b for b in stranger.button if b.key == f"train_cancel_{run.id}"]
    reloaded = app_test(PAGE, preset="mini", jobs=token).run()
    reloaded.button(key=f"train_cancel_{run.id}").click().run()
    reloaded = _wait_until(reloaded, lambda a: "cancelled" in _text(a))
    assert list_runs(run_store)[0].status == "cancelled"


def test_a_stale_token_in_the_link_is_explained() -> None:
    at = app_test(PAGE, preset="mini", jobs="no-such-token").run()
    assert not at.exception
    assert "no longer on the server" in at.info[0].value
    assert "jobs" not in at.query_params


def _zip_of_digits(extra: dict[str, bytes] | None = None) -> bytes:
    images, labels = load_digits()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i in range(40):
            if labels[i] in (0, 1):
                png = io.BytesIO()
                Image.fromarray(images[i]).save(png, format="PNG")
                zf.writestr(f"digits/{labels[i]}/{i:03d}.png", png.getvalue())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_an_uploaded_zip_trains_and_a_bad_one_is_refused_with_the_reason(run_store) -> None:
    at = _tiny_settings(app_test(PAGE, preset="mini").run(), subset=64, batch=4)
    at.toggle(key="train_use_subset").set_value(False).run()
    at.selectbox(key="train_dataset").set_value("upload").run()
    assert at.button(key="train_start").disabled  # no zip yet
    at.file_uploader(key="train_zip").set_value(
        ("zeros-and-ones.zip", _zip_of_digits(), "application/zip")
    )
    at.run()
    # Planned before anything runs: the zip's listing names its classes.
    assert "outputs are set to the 2 classes of the uploaded zip" in _text(at)
    at.button(key="train_start").click().run()
    at = _wait_until(at, lambda a: bool(a.main.success) or bool(a.main.error))
    assert at.main.success, [e.value for e in at.main.error]
    (run,) = list_runs(run_store)
    stored = open_run(run.id, run_store)
    config = stored.train_config()
    assert (config.dataset, config.data_path) == ("upload", "zeros-and-ones.zip")
    start = start_of(stored.events())
    assert start is not None and start.classes == ("0", "1")
    assert stored.model_config().num_classes == 2
    assert load_checkpoint(stored.path / "best.pt").config == stored.model_config()
    bad = _zip_of_digits({"../../escape.png": b"x"})
    at.file_uploader(key="train_zip").set_value(("bad.zip", bad, "application/zip"))
    at.run()
    assert any("points outside the archive" in e.value for e in at.main.error)
    assert at.button(key="train_start").disabled and len(list_runs(run_store)) == 1


@pytest.mark.parametrize(
    ("query", "widgets", "argv"),
    [
        ({"preset": "mini"}, {}, ["--preset", "mini"]),
        ({"preset": "mini"}, {"train_epochs": 3}, ["--preset", "mini", "--epochs", "3"]),
        (
            {"preset": "mini"},
            {"train_w1": 0.0, "train_w2": 0.0, "train_batch": 32},
            ["--preset", "mini", "--aux-weights", "0", "0", "--batch-size", "32"],
        ),
        ({"preset": "paper"}, {}, ["--preset", "paper"]),
        (
            {"preset": "torchvision"},
            {"train_dataset": "cifar10"},
            ["--preset", "torchvision", "--dataset", "cifar10"],
        ),
    ],
    ids=["mini", "mini-epochs", "mini-aux-off", "paper", "torchvision-cifar10"],
)
def test_the_page_and_the_cli_plan_the_same_run(query, widgets, argv) -> None:
    """Same network, data and choices: the same network and TrainConfig, from either door."""
    at = app_test(PAGE, **query).run()
    for key, value in widgets.items():
        widget = next(w for w in at.main.get(_kind(key)) if w.key == key)
        widget.set_value(value).run()
    assert not at.exception and not at.main.error
    page = at.session_state["train_plan"]
    cli = plan_from_args(build_parser().parse_args(["train", *argv]))
    assert page.config == cli.config
    assert page.train_config == cli.train_config


def _kind(key: str) -> str:
    return {
        "train_epochs": "slider",
        "train_w1": "slider",
        "train_w2": "slider",
        "train_batch": "select_slider",
        "train_dataset": "selectbox",
    }[key]
