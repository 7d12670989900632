"""Classes from the camera and image files, trained in seconds, in a real Chromium.

A student at a 1280 x 720 projector names three classes on the Train page, adds photos to
each from files and one from the camera (Chromium's fake camera: a real ``getUserMedia``
stream), reloads (nothing is lost), starts from a finished digits run with the trunk
frozen, and gets the run's per-class accuracy and a confusion matrix whose wrong cells
show the images behind them. The run computes the frozen stages' features once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    assert_no_exception,
    screenshot,
    serve_app,
    text_problems,
    wait_for_app_idle,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from googlenet_core.data.samples import digit_samples
from googlenet_core.network.presets import get_preset
from googlenet_core.training.confusion import read_confusion
from googlenet_core.training.plan import Choices, plan_training
from googlenet_core.training.runs import Run, list_runs
from googlenet_core.training.train import train

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CLASSES = {"zero": "0", "one": "1", "seven": "7"}


def _settle(page: Any, timeout_s: float = 90) -> None:
    wait_for_app_idle(page, timeout_s=timeout_s)
    assert_no_exception(page)


def _main(page: Any) -> str:
    return str(page.locator('[data-testid="stMain"]').inner_text())


@contextlib.contextmanager
def _projector(browser: Any, tmp_path: Path, **options: Any) -> Iterator[tuple[str, Any]]:
    """A fresh server on this test's run store and data cache, and a fresh 1280 x 720 page."""
    env = {
        "GOOGLENET_RUNS_DIR": str(tmp_path / "runs"),
        "GOOGLENET_DATA_DIR": str(tmp_path / "data"),
    }
    with serve_app(tmp_path, env=env) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 720}, **options)
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            yield url, page
        finally:
            context.close()


def _choose(page: Any, label: str, option: str) -> None:
    """Pick the first option containing ``option``, typed into the select box's search.

    Three tries: on a server starved by the other test worker, a rerun can redraw the
    list under the click (Playwright: "element was detached from the DOM")."""
    field = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).locator("input")
    for attempt in range(3):
        try:
            field.click()
            field.fill(option)
            page.get_by_role("option", name=option).first.click(timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
            _settle(page)
    _settle(page)


def test_classes_from_the_camera_and_files_train_from_a_frozen_start(
    browser: Any, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    # The start: mini trained on the digits, as `python -m googlenet_core train` would.
    plan = plan_training(get_preset("mini"), "digits", Choices(device="cpu"))
    base = Run.create(plan.config, plan.train_config, runs)
    assert train(plan.config, plan.train_config, run=base).status == "completed"
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, image in digit_samples(6):
        (photos / name).write_bytes(image)

    with _projector(browser, tmp_path, permissions=["camera"]) as (url, page):
        page.goto(f"{url}/train?preset=mini")
        _settle(page)
        _choose(page, "Dataset", "Your photos")
        assert "Name a class, then add photos" in _main(page)
        for name, digit in CLASSES.items():
            page.get_by_label("New class").fill(name)
            page.get_by_role("button", name="Add class").click()
            _settle(page)
            files = sorted(str(p) for p in photos.glob(f"digit-{digit}-*"))
            assert len(files) == 6
            uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
            uploader.set_input_files(files)
            # The files reach the server before its rerun starts: wait for the count.
            expect(page.get_by_text(f"{name}: 6 photos")).to_be_visible(timeout=60_000)
            _settle(page)
        # A class name twice is refused, with a sentence.
        page.get_by_label("New class").fill("Seven")
        page.get_by_role("button", name="Add class").click()
        _settle(page)
        expect(page.get_by_text("There is already a class called Seven")).to_be_visible()
        # One more "seven" from the camera (the fake device's test pattern).
        page.get_by_role("button", name="Take Photo").click()
        _settle(page)
        text = _main(page)
        assert "zero: 6 photos" in text and "seven: 7 photos" in text, text
        assert "Ready: 3 classes, 19 photos" in text

        page.reload()  # nothing is lost: the photos are on the server, for this browser
        _settle(page)
        _choose(page, "Dataset", "Your photos")
        assert "seven: 7 photos" in _main(page)
        _choose(page, "Start from", "Run ")
        freeze = page.locator('[data-testid="stSelectbox"]').filter(has_text="Freeze")
        assert freeze.locator("input").input_value() == "the trunk: only the heads train"
        assert "once per image" in _main(page)  # why augmentation is proposed off
        page.get_by_role("button", name="Start training").click()
        _settle(page)

        def finished() -> list[Any]:
            return [s for s in list_runs(runs) if s.id != base.id and s.status == "completed"]

        for _ in range(240):
            if finished():
                break
            page.wait_for_timeout(500)
        (run,) = finished()
        events = (run.path / "metrics.jsonl").read_text()
        assert "computed once for 19 images" in events
        confusion = read_confusion(run.path)
        assert confusion is not None and confusion.classes == ("one", "seven", "zero")
        assert sum(map(sum, confusion.matrix)) >= 3  # one in five held out, per class

        page.reload()
        _settle(page)
        _choose(page, "Download from run", "upload")  # the photos run, not the start
        expect(page.get_by_text("Per class: accuracy and what went wrong")).to_be_visible()
        titles = page.locator(".js-plotly-plot .gtitle").all_text_contents()
        assert "Confusion matrix" in titles, titles
        screenshot(page, "train-collect")
        assert not text_problems(page, sideways_tables=False)
        # The same page in Chinese, on a projector and on a phone: nothing cut or outside.
        page.locator('[data-testid="stSidebar"]').get_by_role("radio", name="中文").click()
        _settle(page)
        _choose(page, "数据集", "你的照片")
        page.wait_for_timeout(1500)  # the camera's preview starts and takes its size
        text = _main(page)
        assert "seven：7 张照片" in text and "混淆矩阵" in str(
            page.locator(".js-plotly-plot .gtitle").all_text_contents()
        )
        assert not text_problems(page, sideways_tables=False)
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()  # as a phone opens it: the camera's preview sized at mount
        _settle(page)
        _choose(page, "数据集", "你的照片")
        page.wait_for_timeout(500)  # the charts lay themselves out again
        page.wait_for_timeout(1500)  # the camera's preview starts and takes its size
        assert not text_problems(page, sideways_tables=False)
        screenshot(page, "zh/train-collect-phone")

        # Predict uses the result: the photos run answers with its own classes.
        page.set_viewport_size({"width": 1280, "height": 720})
        page.goto(f"{url}/predict?preset=mini&lang=en")
        _settle(page)
        page.get_by_text("A training run", exact=True).click()
        _settle(page)
        _choose(page, "Run", "upload")
        page.get_by_role("button", name="Load the run's best checkpoint").click()
        _settle(page)
        seven = sorted(photos.glob("digit-7-*"))[-1]
        page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
            str(seven)
        )
        top = page.locator(".js-plotly-plot .gtitle").filter(has_text="Top 3 · digit-7")
        expect(top.first).to_be_visible(timeout=90_000)  # its own 3 classes
        _settle(page, 120)
        heads = " ".join(page.locator(".js-plotly-plot").all_text_contents())
        assert "seven" in heads and "zero" in heads, heads


def test_a_torchvision_weights_file_uploaded_on_the_train_page_starts_a_frozen_run(
    browser: Any, tmp_path: Path, torchvision_weights_file: Path
) -> None:
    """The offline path to ImageNet weights: the .pth torchvision downloads, uploaded here,
    checked against the design at once; a file that is not one is refused with a sentence."""
    runs = tmp_path / "runs"
    junk = tmp_path / "googlenet-junk.pth"
    junk.write_bytes(b"PK\x03\x04 this is no checkpoint")
    with _projector(browser, tmp_path) as (url, page):
        page.goto(f"{url}/train?preset=torchvision")
        _settle(page)
        _choose(page, "Start from", "A weights file")
        uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Weights file")
        uploader.locator('input[type="file"]').set_input_files(str(junk))
        _settle(page)
        # The upload reaches the server before its rerun starts: wait for the verdict.
        refused = page.get_by_text("These weights cannot start this network")
        expect(refused).to_be_visible(timeout=90_000)
        uploader.locator('input[type="file"]').set_input_files(str(torchvision_weights_file))
        fits = page.get_by_text("These weights fit this network's trunk (")
        expect(fits).to_be_visible(timeout=90_000)  # 52 MB up, then checked
        _settle(page)
        page.get_by_role("button", name="Start training").click()
        _settle(page)
        for _ in range(480):
            done = [s for s in list_runs(runs) if s.status not in ("queued", "running")]
            if done:
                break
            page.wait_for_timeout(500)
        (run,) = done
        assert run.status == "completed", run.message
        events = (run.path / "metrics.jsonl").read_text()
        assert "googlenet_state_dict" in events and "computed once for" in events
        assert "Rebuilt for this task's classes: aux1, aux2, fc" in events
        assert read_confusion(run.path) is not None
