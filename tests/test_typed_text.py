"""Whatever a visitor types is shown as text, never as markdown, wherever it is echoed.

Every text field of every page gets a link written as markdown (a lecturer who hands
out such a class code would hand out the link, in the app's own voice); then every
piece of text the page draws (markdown, captions, alerts, headings, expander and tab
labels) is swept: the payload may appear only inside a code span.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import app_test, new_server

from pages.common import PAGES

PAYLOAD = "[Session expired: log in again](https://evil.example/login)"
_CODE_SPAN = re.compile(r"`[^`]*`")


def _texts(at: Any) -> list[str]:
    """Every text the page drew, as the markdown it was given."""
    found: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title"):
        found += [str(e.value) for e in at.get(kind)]
    for kind in ("header", "subheader"):
        found += [str(e.value) for e in at.get(kind)]
    found += [str(e.label) for e in at.get("expander")]
    found += [str(e.label) for e in at.get("tab")]
    return found


@pytest.mark.parametrize("script", [script for script, _, _ in PAGES])
def test_typed_text_is_never_rendered_as_markdown(script: str, monkeypatch, tmp_path) -> None:
    new_server(monkeypatch, GOOGLENET_RUNS_DIR=str(tmp_path / "runs"))
    at = app_test(script, preset="mini").run()
    fields = [*at.get("text_input"), *at.get("text_area")]
    for field in fields:
        field.set_value(PAYLOAD)
        at.run()
    assert not at.exception
    leaks = [t for t in _texts(at) if "evil.example" in _CODE_SPAN.sub("", t)]
    assert leaks == []
    if script == "pages/train.py":  # the class code field is there, and echoed
        assert fields and any("evil.example" in t for t in _texts(at))
