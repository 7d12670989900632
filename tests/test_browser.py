"""End to end in a real Chromium: `streamlit run app.py`, every page, one edit, screenshots.

Screenshots of every page land in ``test-output/screenshots/`` (the README shows them).
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import assert_no_exception, screenshot, wait_for_app_idle

from googlenet_core import analyze, get_preset
from googlenet_core.editing import apply_edits, blocks_frame
from googlenet_core.figures import format_count

pytestmark = pytest.mark.browser

#: (URL path, heading, screenshot name) of every page in the navigation.
PAGES = [
    ("", "GoogLeNet: going deeper with convolutions", "concepts"),
    ("architect", "Architect", "architect"),
    ("shapes", "Shapes & parameters", "shapes"),
]
#: This issue's pages, first in the navigation.
NAVIGATION = ["Concepts", "Architect", "Shapes & parameters", "Train", "Predict"]


def _open(page: Any, url: str) -> None:
    page.goto(url)
    wait_for_app_idle(page, timeout_s=90)  # the first visit imports torch on a busy machine
    assert_no_exception(page)


def _sidebar_metrics(page: Any) -> dict[str, str]:
    metrics = page.locator('[data-testid="stSidebar"] [data-testid="stMetric"]')
    return {
        metric.locator('[data-testid="stMetricLabel"]').inner_text().strip(): metric.locator(
            '[data-testid="stMetricValue"]'
        )
        .inner_text()
        .strip()
        for metric in metrics.all()
    }


def _navigation(page: Any) -> list[str]:
    links = page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
    return [text.strip() for text in links.all_inner_texts()]


def _heading(page: Any) -> str:
    return str(page.locator("h1").first.inner_text().strip())


def test_a_shared_link_to_a_page_opens_inside_the_frame(
    streamlit_server: str, browser_page: Any
) -> None:
    """A link straight to a page works even as a fresh server's first visit."""
    _open(browser_page, f"{streamlit_server}/shapes?preset=mini")
    assert _heading(browser_page) == "Shapes & parameters"
    navigation = [item.split("\n")[-1] for item in _navigation(browser_page)]
    assert navigation[: len(NAVIGATION)] == NAVIGATION  # later issues append their pages
    assert "common" not in navigation  # Streamlit's pages/-folder mode did not take over
    assert "mini" in browser_page.locator('[data-testid="stSidebar"]').inner_text()
    # The sidebar summary is filled after the page body; give the rerun time to reach it.
    sidebar = browser_page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("1 × 32 × 32").wait_for(timeout=30_000)
    assert _sidebar_metrics(browser_page)["Input"] == "1 × 32 × 32"


def test_every_page_renders_and_an_edit_changes_the_totals(
    streamlit_server: str, browser_page: Any
) -> None:
    page = browser_page
    for path, heading, name in PAGES:
        _open(page, f"{streamlit_server}/{path}")
        assert _heading(page) == heading
        assert "preset=paper" in page.url
        screenshot(page, name)

    _open(page, f"{streamlit_server}/architect")
    paper = get_preset("paper")
    assert _sidebar_metrics(page)["Parameters"] == format_count(analyze(paper).params_without_aux)

    # 1. A network setting: 10 classes instead of 1000.
    classes = page.get_by_label("Classes")
    classes.fill("10")
    classes.press("Enter")
    wait_for_app_idle(page)
    assert_no_exception(page)
    ten_classes = apply_edits(paper, num_classes=10)
    assert _sidebar_metrics(page)["Parameters"] == format_count(
        analyze(ten_classes).params_without_aux
    )
    assert "net=v1." in page.url  # the custom design is in the link now

    # 2. A cell of the Inception table: inception3a's #1x1 from 64 to 96.
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    row_height = box["height"] / (len(paper.blocks) + 1)  # header + one row per block
    page.mouse.click(box["x"] + 20, box["y"] + 1.5 * row_height)  # inception3a's name
    page.keyboard.press("ArrowRight")  # -> its #1x1 cell
    page.keyboard.press("Enter")  # open the cell editor
    cell = page.locator("input.gdg-input, textarea.gdg-input").first
    cell.fill("96")
    cell.press("Enter")
    wait_for_app_idle(page)
    assert_no_exception(page)
    frame = blocks_frame(ten_classes)
    frame.at[0, "ch1x1"] = 96
    edited = apply_edits(ten_classes, frame)
    assert _sidebar_metrics(page)["Parameters"] == format_count(analyze(edited).params_without_aux)

    # 3. An input too small for the network: refused, the last valid network stays.
    size = page.get_by_label("Input size (pixels)")
    size.fill("20")
    size.press("Enter")
    wait_for_app_idle(page)
    assert_no_exception(page)
    error = page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    assert "input_size 20 is too small" in error
    assert "Last edit refused" in page.locator('[data-testid="stSidebar"]').inner_text()
    assert _sidebar_metrics(page)["Input"] == "3 × 224 × 224"
    screenshot(page, "architect-refused")

    # 4. The other pages show the edited network.
    page.locator('[data-testid="stSidebarNavLink"]', has_text="Shapes & parameters").click()
    wait_for_app_idle(page)
    assert_no_exception(page)
    assert _heading(page) == "Shapes & parameters"
    totals = page.locator('[data-testid="stMain"] [data-testid="stMetricValue"]').all_inner_texts()
    assert f"{analyze(edited).total_params:,}" in totals
    assert "net=v1." in page.url
