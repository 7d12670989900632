"""A student's first visit in a real Chromium: the class code typed then is kept.

A fresh browser (no cookies yet) opens the Train page, types the lecturer's class
code, reloads, and starts a run: the code is still there, and the run is shared with
the class. The first visit is exactly when a student types the code; the cookie that
keeps it used to be lost in that first session.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ROOT, assert_no_exception, wait_for_app_idle
from playwright.sync_api import expect

from googlenet_core.service.access import class_id, read_access
from googlenet_core.training.runs import list_runs

pytestmark = pytest.mark.browser

CODE = "CNN-101 Tuesday"


def _cookies(page: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in page.context.cookies()}


def _eventually(page: Any, check: Any, timeout_s: float = 30.0) -> Any:
    """``check()``'s first true value within ``timeout_s`` (the page keeps running)."""
    for _ in range(int(timeout_s * 4)):
        value = check()
        if value:
            return value
        page.wait_for_timeout(250)
    raise AssertionError(f"not reached within {timeout_s:.0f} s")


def test_a_class_code_typed_on_the_first_visit_survives_a_reload(
    streamlit_server: str, projector_page: Any
) -> None:
    page = projector_page
    assert page.context.cookies() == []  # a student's first visit
    page.goto(f"{streamlit_server}/train?preset=mini")
    wait_for_app_idle(page, timeout_s=90)
    assert_no_exception(page)
    page.get_by_text("Who sees your runs").first.click()
    field = page.get_by_label("Class code")
    field.fill(CODE)
    field.press("Enter")
    wait_for_app_idle(page)
    expect(page.get_by_text("class: CNN-101 Tuesday").first).to_be_visible()
    _eventually(page, lambda: "googlenet_class" in _cookies(page))
    owner = _cookies(page).get("googlenet_owner")
    assert owner, "the owner cookie is set on the first visit"

    page.reload()
    wait_for_app_idle(page, timeout_s=60)
    assert _cookies(page).get("googlenet_owner") == owner  # the same browser
    expect(page.get_by_text("class: CNN-101 Tuesday").first).to_be_visible()

    runs_dir = ROOT / "runs"
    before = {r.id for r in list_runs(runs_dir)}
    page.get_by_role("button", name="Start training").click()
    wait_for_app_idle(page)
    _eventually(page, lambda: [r for r in list_runs(runs_dir) if r.id not in before])
    (new,) = [r for r in list_runs(runs_dir) if r.id not in before]
    access = read_access(new.path)
    assert (access.shared, access.class_id) == ("class", class_id(CODE))
    cancel = page.get_by_role("button", name="Cancel")
    if cancel.count():  # a short run: no need to train it to the end
        cancel.first.click()
        wait_for_app_idle(page)
