"""Chinese in a real Chromium: a Chinese browser gets Chinese, with real glyphs, and keeps it.

The rendering checks of every page in both languages and at three sizes are in
``test_browser_present.py``; here, what only a browser can tell: the language chosen
from the browser's own locale on a first visit, characters drawn from a CJK font (not
the missing-glyph box: ``make test`` installs ``fonts-noto-cjk``), and a shared link
opening in its sender's language in a browser set to English.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import assert_no_exception, screenshot, wait_for_app_idle
from playwright.sync_api import expect

from googlenet_core.i18n import _, use_language

pytestmark = pytest.mark.browser

#: Draws two different characters in the page's own font and compares the pixels: two
#: missing glyphs are the same box, two real ones are not (and neither is blank).
_GLYPHS_DIFFER = r"""([a, b]) => {
  const font = getComputedStyle(document.querySelector('[data-testid="stSidebar"]')).fontFamily;
  const draw = (ch) => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 48;
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, 48, 48);
    ctx.fillStyle = '#000'; ctx.font = `32px ${font}`; ctx.textBaseline = 'top';
    ctx.fillText(ch, 4, 4);
    return Array.from(ctx.getImageData(0, 0, 48, 48).data);
  };
  const p = draw(a), q = draw(b);
  const inked = (d) => d.some((v, i) => i % 4 === 0 && v < 128);
  return {differ: p.some((v, i) => v !== q[i]), inked: inked(p) && inked(q), font};
}"""


def _context(browser: Any, locale: str) -> Any:
    return browser.new_context(viewport={"width": 1280, "height": 720}, locale=locale)


def test_a_chinese_browser_gets_chinese_on_its_first_visit(
    streamlit_server: str, browser: Any
) -> None:
    context = _context(browser, "zh-CN")  # no cookie, no ?lang: only the browser's locale
    try:
        page = context.new_page()
        page.goto(streamlit_server)
        wait_for_app_idle(page, timeout_s=90)
        assert_no_exception(page)
        sidebar = page.locator('[data-testid="stSidebar"]')
        expect(sidebar.get_by_text("参数量", exact=True)).to_be_visible()
        expect(sidebar.get_by_role("link", name="概念")).to_be_visible()
        assert "lang=zh" in page.url  # a link copied from the address bar keeps it
        glyphs = page.evaluate(_GLYPHS_DIFFER, ["汇", "聚"])
        assert glyphs["inked"] and glyphs["differ"], f"no CJK glyphs in {glyphs['font']}"
        screenshot(page, "zh/first-visit")
    finally:
        context.close()


def test_a_link_opens_in_its_senders_language_and_the_switch_goes_back(
    streamlit_server: str, browser: Any
) -> None:
    context = _context(browser, "en-US")  # a student whose browser is set to English
    try:
        page = context.new_page()
        page.goto(f"{streamlit_server}/shapes?preset=mini&lang=zh")
        wait_for_app_idle(page, timeout_s=90)
        sidebar = page.locator('[data-testid="stSidebar"]')
        expect(sidebar.get_by_text("参数量", exact=True)).to_be_visible()
        sidebar.get_by_role("radio", name="English").click()  # the switch, in the sidebar
        wait_for_app_idle(page)
        expect(sidebar.get_by_text("Parameters", exact=True)).to_be_visible()
        assert "lang=en" in page.url and "preset=mini" in page.url  # the design stays
        sidebar.get_by_role("radio", name="中文").click()
        wait_for_app_idle(page)
        expect(sidebar.get_by_text("参数量", exact=True)).to_be_visible()
        assert "lang=zh" in page.url and "preset=mini" in page.url
    finally:
        context.close()


def test_a_switch_on_a_presentation_screen_keeps_every_choice(
    streamlit_server: str, browser: Any
) -> None:
    """A segmented control holds its *shown* label in the browser: switched to another
    language, the choice must survive (pages/common/language.py puts it back)."""
    context = _context(browser, "en-US")
    try:
        page = context.new_page()
        page.goto(f"{streamlit_server}/?present=1&concept=paper&preset=mini&compare=design")
        wait_for_app_idle(page, timeout_s=90)
        source = page.locator(".st-key-home_compare_source")
        chosen = source.get_by_role("radio", name="the current design", exact=True)
        expect(chosen).to_be_checked()
        page.locator(".st-key-present_controls").get_by_role("radio", name="中文").click()
        wait_for_app_idle(page)
        assert_no_exception(page)
        with use_language("zh"):
            shown = _("the current design")
        expect(source.get_by_role("radio", name=shown, exact=True)).to_be_checked()
        assert "compare=design" in page.url and "lang=zh" in page.url
        screenshot(page, "zh/present-paper-current-design")
        page.locator(".st-key-present_controls").get_by_role("radio", name="English").click()
        wait_for_app_idle(page)
        expect(chosen).to_be_checked()
        assert "compare=design" in page.url and "lang=en" in page.url
    finally:
        context.close()


def test_two_browsers_in_two_languages_arrive_together(streamlit_server: str, browser: Any) -> None:
    """One server, two visitors at the same moment, one reading Chinese and one English:
    both pages are requested before either is waited for, so the server runs them at once."""
    contexts = [_context(browser, "zh-CN"), _context(browser, "en-US")]
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages:
            page.goto(f"{streamlit_server}/shapes?preset=mini", wait_until="commit")
        for page in pages:
            wait_for_app_idle(page, timeout_s=90)
            assert_no_exception(page)
        zh, en = (page.locator('[data-testid="stSidebar"]') for page in pages)
        expect(zh.get_by_text("参数量", exact=True)).to_be_visible()
        expect(en.get_by_text("Parameters", exact=True)).to_be_visible()
        assert zh.get_by_text("Parameters", exact=True).count() == 0
        assert en.get_by_text("参数量", exact=True).count() == 0
    finally:
        for context in contexts:
            context.close()
