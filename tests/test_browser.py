"""End to end in a real Chromium: `streamlit run app.py`, every page, one edit, screenshots.

Screenshots of every page land in ``test-output/screenshots/`` (the README shows them).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_no_exception, download, screenshot, wait_for_app_idle
from playwright.sync_api import expect

from googlenet_core import analyze, build_model, get_preset
from googlenet_core.figures.style import format_count
from googlenet_core.network.codegen import pytorch_source
from googlenet_core.network.editing import apply_edits, blocks_frame
from pages.common import PAGES

pytestmark = pytest.mark.browser

#: (URL path, heading, screenshot name) of the design pages.
DESIGN_PAGES = [
    ("", "GoogLeNet: going deeper with convolutions", "concepts"),
    ("architect", "Architect", "architect"),
    ("shapes", "Shapes & parameters", "shapes"),
]
HEADINGS = {
    "pages/architect.py": "Architect",
    "pages/shapes.py": "Shapes & parameters",
    "pages/train.py": "Train",
    "pages/predict.py": "Predict",
}


def _open(page: Any, url: str) -> None:
    page.goto(url)
    wait_for_app_idle(page, timeout_s=90)  # the first visit imports torch on a busy machine
    assert_no_exception(page)


def _sidebar(page: Any) -> Any:
    return page.locator('[data-testid="stSidebar"]')


def _metric(page: Any, label: str) -> Any:
    """The sidebar metric's value, as a locator that assertions can wait on."""
    metric = _sidebar(page).locator('[data-testid="stMetric"]').filter(has_text=label)
    return metric.locator('[data-testid="stMetricValue"]')


def _navigation(page: Any) -> list[str]:
    """The sidebar's page links, once all of them are drawn."""
    links = _sidebar(page).locator('[data-testid="stPageLink"]')
    expect(links).to_have_count(len(PAGES))
    return [text.split("\n")[-1].strip() for text in links.all_inner_texts()]


def _heading(page: Any) -> str:
    return str(page.locator("h1").first.inner_text().strip())


def _edit_cell(page: Any, grid: Any, column: int, row: int, value: str) -> None:
    """Type ``value`` into a cell of a data editor, moving there with the keyboard.

    The grid draws its cells on a canvas; its accessibility cells
    (``glide-cell-<column>-<row>``) say which one is selected, so the test waits
    for the right cell instead of clicking at a pixel offset.
    """
    first = grid.get_by_test_id("glide-cell-0-0")
    first.wait_for(state="attached")
    first.focus()
    for _ in range(column):
        page.keyboard.press("ArrowRight")
    for _ in range(row):
        page.keyboard.press("ArrowDown")
    expect(grid.get_by_test_id(f"glide-cell-{column}-{row}")).to_have_attribute(
        "aria-selected", "true"
    )
    page.keyboard.press("Enter")
    editor = page.locator("input.gdg-input, textarea.gdg-input").first
    expect(editor).to_be_editable()
    editor.fill(value)
    editor.press("Enter")


def test_every_page_opens_by_deep_link_on_a_fresh_server(
    fresh_streamlit_server: str, browser: Any
) -> None:
    """A link straight to any page works on a server nobody has visited yet.

    Streamlit's pages-directory app needs no first visit to app.py: every page
    draws the shared frame itself. Nobody opens the root here, so each link is
    what a fresh server's first visitor would see.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 720})  # a projector
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        for script, heading in HEADINGS.items():
            path = script.removeprefix("pages/").removesuffix(".py")
            _open(page, f"{fresh_streamlit_server}/{path}?preset=mini")
            assert _heading(page) == heading, script
            assert _navigation(page) == [label for _, label, _ in PAGES], script
            expect(_metric(page, "Input")).to_have_text("1 × 32 × 32")
            expect(_sidebar(page)).to_contain_text("Current network: mini")
            assert "preset=mini" in page.url
    finally:
        context.close()


def test_every_page_renders_and_an_edit_changes_the_totals(
    streamlit_server: str, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    for path, heading, name in DESIGN_PAGES:
        _open(page, f"{streamlit_server}/{path}")
        assert _heading(page) == heading
        assert "preset=paper" in page.url
        screenshot(page, name)

    _open(page, f"{streamlit_server}/architect")
    paper = get_preset("paper")
    expect(_metric(page, "Parameters")).to_have_text(
        format_count(analyze(paper).params_without_aux)
    )

    # 1. A network setting: 10 classes instead of 1000.
    classes = page.get_by_label("Classes")
    classes.fill("10")
    classes.press("Enter")
    wait_for_app_idle(page)
    assert_no_exception(page)
    ten_classes = apply_edits(paper, num_classes=10)
    expect(_metric(page, "Parameters")).to_have_text(
        format_count(analyze(ten_classes).params_without_aux)
    )
    assert "net=v1." in page.url  # the custom design is in the link now

    # 2. A cell of the Inception table: inception3a's #1x1 from 64 to 96.
    grid = page.locator('[data-testid="stDataFrame"]').first
    _edit_cell(page, grid, column=1, row=0, value="96")
    wait_for_app_idle(page)
    assert_no_exception(page)
    frame = blocks_frame(ten_classes)
    frame.at[0, "ch1x1"] = 96
    edited = apply_edits(ten_classes, frame)
    expect(_metric(page, "Parameters")).to_have_text(
        format_count(analyze(edited).params_without_aux)
    )

    # 3. An input too small for the network: refused, the last valid network stays.
    size = page.get_by_label("Input size (pixels)")
    size.fill("20")
    size.press("Enter")
    wait_for_app_idle(page)
    assert_no_exception(page)
    error = page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    assert "input_size 20 is too small" in error
    expect(_sidebar(page)).to_contain_text("Last edit refused")
    expect(_metric(page, "Input")).to_have_text("3 × 224 × 224")
    screenshot(page, "architect-refused")

    # 3b. A fractional channel count reaches the validation as typed (no silent 2.5 -> 2).
    _edit_cell(page, grid, column=1, row=0, value="2.5")
    wait_for_app_idle(page)
    assert_no_exception(page)
    expect(page.locator('[data-testid="stAlertContentError"]').first).to_contain_text(
        "inception3a: ch1x1 must be a whole number between 1 and 2048, got 2.5"
    )

    # 3c. The design as plain PyTorch code: the edited network, buildable without the project.
    source = download(page, "Download as plain PyTorch code (.py)")
    code = tmp_path / source.suggested_filename
    source.save_as(code)
    assert code.read_text() == pytorch_source(edited)
    count = (
        "import importlib.util, sys\n"
        "sys.modules['googlenet_core'] = None\n"
        f"spec = importlib.util.spec_from_file_location('net', {str(code)!r})\n"
        "net = importlib.util.module_from_spec(spec); spec.loader.exec_module(net)\n"
        "print(sum(p.numel() for p in net.GoogLeNet(num_classes=10).parameters()))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", count], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) == sum(p.numel() for p in build_model(edited).parameters())

    # 4. The other pages show the edited network.
    _sidebar(page).locator('[data-testid="stPageLink"]', has_text="Shapes & parameters").click()
    wait_for_app_idle(page)
    assert_no_exception(page)
    assert _heading(page) == "Shapes & parameters"
    totals = page.locator('[data-testid="stMain"] [data-testid="stMetricValue"]')
    expect(totals.first).to_have_text(f"{analyze(edited).total_params:,}")
    assert "net=v1." in page.url
