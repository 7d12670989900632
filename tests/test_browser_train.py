"""The Train page in a real Chromium: two runs of mini on the digits with different
auxiliary weights, watched live, overlaid on one chart, and the better checkpoint
downloaded and loaded."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, assert_no_exception, screenshot, wait_for_app_idle

from googlenet_core.inference.checkpoints import load_checkpoint
from googlenet_core.training.runs import list_runs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUN_ID = re.compile(r"\d{8}-\d{6}-mini-16px-digits-w[\d.]+-[\d.]+-[0-9a-f]{4}")


def _set_slider(page: Any, widget_key: str, key: str, presses: int = 1) -> None:
    """Move a slider with the keyboard (its thumb is a hidden range input)."""
    page.locator(f'.st-key-{widget_key} input[type="range"]').focus()
    for _ in range(presses):
        page.keyboard.press(key)
    wait_for_app_idle(page, timeout_s=90)


def _settle(page: Any) -> None:
    wait_for_app_idle(page, timeout_s=90)
    assert_no_exception(page)


def _main_text(page: Any) -> str:
    return str(page.locator('[data-testid="stMain"]').inner_text())


def test_two_aux_settings_live_compared_and_the_better_downloaded(
    streamlit_server: str, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    page.goto(f"{streamlit_server}/train?preset=mini")
    _settle(page)
    assert page.locator("h1").first.inner_text().strip() == "Train"
    assert "Estimated time" in _main_text(page)

    # A tiny run: 32 digits, one epoch, batches of 16.
    page.get_by_text("Train on a subset").click()
    _settle(page)
    subset = page.get_by_label("Training images")
    subset.fill("32")
    subset.press("Enter")
    _settle(page)
    _set_slider(page, "train_epochs", "Home")
    _set_slider(page, "train_batch", "ArrowLeft", presses=2)  # 64 -> 32 -> 16
    start = page.get_by_role("button", name="Start training")
    start.click()
    _settle(page)

    # The same with both auxiliary weights at 0 (it queues behind the first).
    _set_slider(page, "train_w1", "Home")
    _set_slider(page, "train_w2", "Home")
    start.click()
    _settle(page)
    assert "jobs=" in page.url  # the tokens that let a refresh find the runs again

    # Live: the fragment refreshes the rows until both have finished.
    seen_live = False
    deadline = time.monotonic() + 420  # a shared 2-core machine can be very slow
    while time.monotonic() < deadline:
        text = _main_text(page)
        seen_live = seen_live or "Your runs, live" in text
        if text.count("best validation accuracy") >= 2:
            break
        page.wait_for_timeout(1000)
    else:
        raise AssertionError("the two runs did not finish:\n" + _main_text(page)[-2000:])
    _settle(page)
    assert seen_live
    # The live rows read "<run id> — completed".
    mine = sorted(set(re.findall(rf"({RUN_ID.pattern}) — completed", _main_text(page))))
    assert len(mine) == 2, _main_text(page)[:3000]
    assert any("-w0.3-0.3-" in i for i in mine) and any("-w0-0-" in i for i in mine)
    try:
        # A refresh keeps the runs on the page (the URL holds their tokens).
        page.reload()
        _settle(page)
        assert _main_text(page).count("best validation accuracy") >= 2

        # One chart overlays both runs: each run's label is in its legend.
        page.get_by_role("tab", name="Accuracy per head").last.click()
        legend = " ".join(page.locator(".js-plotly-plot .legendtext").all_text_contents())
        assert "w0.3/0.3" in legend and "w0/0" in legend, legend

        # Download the better of the two.
        runs = {r.id: r for r in list_runs(ROOT / "runs") if r.id in mine}
        assert len(runs) == 2
        better = max(runs.values(), key=lambda r: r.best_val_acc or 0.0)
        select = page.locator('[data-testid="stSelectbox"]').filter(has_text="Download from run")
        select.click()
        page.keyboard.type(f"{better.id[-4:]})")  # the options filter as you type
        page.keyboard.press("Enter")
        _settle(page)
        with page.expect_download() as info:
            page.get_by_role("button", name="Best checkpoint (.pt)").click()
        target = tmp_path / "best.pt"
        info.value.save_as(target)
        loaded = load_checkpoint(target)
        assert loaded.metrics["run_id"] == better.id
        assert loaded.class_names == [str(d) for d in range(10)]
        # Trained at the digits recipe's side, and the checkpoint says so.
        assert loaded.config.input_size == loaded.preprocessing.input_size == 16
        screenshot(page, "train-two-runs-compared")
    finally:
        for run_id in mine:  # the server writes to the repository's runs/ (git-ignored)
            shutil.rmtree(ROOT / "runs" / run_id, ignore_errors=True)
