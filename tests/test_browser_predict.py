"""The Predict page in a real Chromium: upload a checkpoint trained by the planner's
recipe, a folder of odd files and held-out digits, see the top-5 charts (the digits
recognised) and the per-file messages; a malicious checkpoint is refused and the
previous model keeps predicting."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import assert_no_exception, screenshot, text_problems, wait_for_app_idle
from PIL import Image, ImageDraw

from googlenet_core import get_preset
from googlenet_core.data.samples import digit_samples
from googlenet_core.training.plan import Choices, plan_training
from googlenet_core.training.runs import Run
from googlenet_core.training.train import train

pytestmark = pytest.mark.browser


class CreatesFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def _uploader(page: Any, label: str) -> Any:
    return (
        page.locator('[data-testid="stFileUploader"]')
        .filter(has_text=label)
        .locator('input[type="file"]')
    )


def _click(page: Any, locator: Any) -> None:
    locator.click()
    wait_for_app_idle(page, timeout_s=90)
    assert_no_exception(page)


def _chart_titles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator(".js-plotly-plot .gtitle").all_text_contents()]


def test_upload_checkpoint_and_odd_images_then_refuse_a_malicious_checkpoint(
    streamlit_server: str, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    # A model worth looking at: mini trained by the planner's recipe (16 px, about 10 s).
    plan = plan_training(get_preset("mini"), "digits", Choices(device="cpu"))
    run = Run.create(plan.config, plan.train_config, tmp_path / "runs")
    result = train(plan.config, plan.train_config, run=run)
    assert result.status == "completed" and (result.best_val_acc or 0) > 0.9, result
    checkpoint = run.path / "best.pt"
    images = tmp_path / "images"
    images.mkdir()
    samples = digit_samples()[:3]  # from the file's tail: digits the model never saw
    assert [name.split("-")[1] for name, _ in samples] == ["0", "1", "2"]
    for name, data in samples:
        (images / name).write_bytes(data)
    (images / "notes.png").write_text("a text file wearing a .png name")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG")
    (images / "half.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    # A phone photo of a "7" written on paper: the digits model reads it as the data was made.
    paper = Image.new("RGB", (480, 360), (228, 226, 218))
    ImageDraw.Draw(paper).line([(200, 90), (290, 90), (225, 270)], fill=(40, 40, 52), width=14)
    paper.save(images / "paper-photo.jpg", quality=80)

    page.goto(f"{streamlit_server}/predict?preset=mini")
    wait_for_app_idle(page, timeout_s=90)
    assert_no_exception(page)
    assert page.locator("h1").first.inner_text().strip() == "Predict"

    # 1. Model: an uploaded checkpoint in this project's format.
    _click(page, page.get_by_text("Upload a checkpoint", exact=True))
    _uploader(page, "Checkpoint (.pt)").set_input_files(str(checkpoint))
    wait_for_app_idle(page, timeout_s=60)
    _click(page, page.get_by_role("button", name="Load the checkpoint"))
    using = page.locator('[data-testid="stAlertContentSuccess"]').first.inner_text()
    assert "uploaded best.pt" in using and "heads: main, aux1, aux2" in using

    # 2. Images: three digits and two broken files in one upload.
    uploader = _uploader(page, "odd files welcome")
    uploader.set_input_files(sorted(str(p) for p in images.iterdir()))
    wait_for_app_idle(page, timeout_s=120)
    assert_no_exception(page)
    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    assert any("notes.png" in e and "not an image" in e for e in errors), errors
    assert any("half.jpg" in e and "truncated or corrupt" in e for e in errors), errors
    titles = _chart_titles(page)
    top5 = [t for t in titles if t.startswith("Top 5 · digit-")]
    assert len(top5) == 3, titles
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert "4 of 6 images predicted" in main
    assert "found: dark ink on light paper, one mark, cropped to" in main
    assert main.count("the 8 × 8 grid made of it") == 4  # the samples' grids, read as they are
    heads = page.locator(".js-plotly-plot .annotation-text").all_text_contents()
    assert "main head (after inception5b)" in heads and "aux1 (after inception4a)" in heads
    assert any(t.startswith("Top 5 · paper-photo") for t in titles), titles
    # The trained model recognises the first held-out digit, a 0 (Grad-CAM explains it).
    assert "Grad-CAM · main · “0”" in titles, titles
    assert any("its four branches" in t for t in titles)
    screenshot(page, "predict")
    page.set_viewport_size({"width": 1280, "height": 720})  # and on a projector
    wait_for_app_idle(page)
    page.wait_for_timeout(500)  # the charts lay themselves out again
    assert not text_problems(page, sideways_tables=False)
    page.set_viewport_size({"width": 1600, "height": 1000})

    # 3. A checkpoint whose pickle would create a file: refused, nothing runs, and the
    #    previous model still predicts.
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "googlenet_core.checkpoint", "payload": CreatesFile(marker)}, evil)
    _uploader(page, "Checkpoint (.pt)").set_input_files(str(evil))
    wait_for_app_idle(page, timeout_s=60)
    _click(page, page.get_by_role("button", name="Load the checkpoint"))
    error = page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    assert "Could not load evil.pt" in error  # shown as code: the markup is not in the text
    assert "refused without running anything" in error
    assert "The previous model (best.pt) is still in use." in error
    assert not marker.exists()
    assert len([t for t in _chart_titles(page) if t.startswith("Top 5 · digit-")]) == 3
    screenshot(page, "predict-refused")
