"""Shared test fixtures: the repository on ``sys.path``, AppTest helpers, a live server, Chromium.

AppTest modules build their app with :func:`app_test` (``from conftest import app_test``).

Browser tests (``@pytest.mark.browser``) use three fixtures and three helpers:

* ``streamlit_server``: ``streamlit run app.py`` on a free loopback port, the
  repository root as working directory, one for the whole session; the base URL
  (``http://127.0.0.1:PORT``) once ``/_stcore/health`` answers. ``fresh_streamlit_server``:
  a server nobody has visited yet (the session's, when its first user asks for it).
* ``browser`` (session) / ``browser_page`` (function): Debian's Chromium driven
  by Playwright's sync API (no browser can be downloaded here); the tests are
  skipped with a clear message when no Chromium is installed.
* ``wait_for_app_idle(page)`` waits until Streamlit has finished rerunning;
  ``assert_no_exception(page)`` fails when an exception block is on the page;
  ``screenshot(page, name)`` saves the whole page.

Screenshots go under :data:`SCREENSHOT_DIR` (``test-output/screenshots/``, git-ignored).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# Pages import ``pages._common`` and ``googlenet_core`` from the repository root, which
# neither ``pytest`` (it adds ``tests/``) nor AppTest (it adds the page's folder) puts
# on sys.path.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The tests read the app's English. The command line follows the terminal's locale, so on
# a machine set to Chinese its messages would be Chinese: the tests of languages set theirs.
os.environ["LANGUAGE"] = "en"

SCREENSHOT_DIR = ROOT / "test-output" / "screenshots"
SERVER_START_TIMEOUT_S = 60.0
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    # A camera for st.camera_input: Chromium's test pattern, granted without a prompt.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
#: AppTest's default 3 s per run is too short on a busy 2-core machine for a first import.
APPTEST_TIMEOUT_S = 60.0


def new_server(monkeypatch: pytest.MonkeyPatch, **environ: str) -> None:
    """A deployment with these settings (``GOOGLENET_RUNS_DIR=...``): the environment set,
    and the dashboard's one server object made anew, from it, by the next page run."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    from pages.common import server

    server.clear()


def app_test(path: str = "app.py", **query: str) -> Any:
    """An AppTest of the app opened at ``app.py`` or ``pages/<page>.py``, with URL parameters.

    Call ``.run()`` on it. The page runs from an empty session, as in a new browser tab
    opening a link to it: always through ``app.py`` (Streamlit's pages-directory app
    resolves every page from the main script), so the shared frame is there too.
    """
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APPTEST_TIMEOUT_S)
    at.query_params.update(query)
    if path != "app.py":
        at.switch_page(path)
    return at


@pytest.fixture(scope="session")
def torchvision_googlenet() -> Any:
    """torchvision's own googlenet, random weights and BN statistics, eval mode; built once.

    Shared by every test that needs the reference network at 224 px: treat it as
    read-only (``copy.deepcopy`` it to train or change it).
    """
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    # Random BN statistics, so that a load that skipped buffers could not pass.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="session")
def torchvision_weights_file(
    tmp_path_factory: pytest.TempPathFactory, torchvision_googlenet: Any
) -> Path:
    """That network's state dict saved the way torchvision's weights files are."""
    path = tmp_path_factory.mktemp("tv") / "googlenet_state_dict.pth"
    torch.save(torchvision_googlenet.state_dict(), path)
    return path


# One CPU thread for torch in the tests and in every process they start (the Streamlit
# server, the CLI, torchrun's workers). The tests' networks are tiny and gain nothing
# from a second thread, while torch's spinning threads lose much on a shared CPU: with
# the machine busy, a run that takes 5 s on one thread took minutes on two.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def serve_app(log_dir: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``streamlit run app.py`` on a free loopback port; yields its base URL once healthy."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    stdout_path, stderr_path = log_dir / "stdout.log", log_dir / "stderr.log"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, stdout=stdout, stderr=stderr, env=full_env)
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while not _healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    why = (
                        f"exited with code {process.returncode}"
                        if process.poll() is not None
                        else f"not healthy after {SERVER_START_TIMEOUT_S:.0f} s"
                    )
                    pytest.fail(
                        f"streamlit run app.py {why}.\nstderr:\n"
                        + stderr_path.read_text(errors="replace")[-4000:]
                    )
                time.sleep(0.3)
            yield url
        finally:
            # A test server holds nothing worth a graceful shutdown (Streamlit takes ~4 s).
            process.terminate()
            try:
                process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


class _SharedServer:
    """The session's server, started on first use; remembers whether anyone has used it."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.stack = contextlib.ExitStack()
        self.url: str | None = None
        self.used = False

    def start(self) -> str:
        if self.url is None:
            self.url = self.stack.enter_context(serve_app(self.factory.mktemp("streamlit-server")))
        return self.url


@pytest.fixture(scope="session")
def _shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_SharedServer]:
    shared = _SharedServer(tmp_path_factory)
    with shared.stack:
        yield shared


@pytest.fixture
def streamlit_server(_shared_server: _SharedServer) -> str:
    """Base URL of ``streamlit run app.py``, one server for the browser tests of the session."""
    url = _shared_server.start()
    _shared_server.used = True
    return url


@pytest.fixture
def fresh_streamlit_server(_shared_server: _SharedServer, tmp_path: Path) -> Iterator[str]:
    """A server no browser has visited yet: the session's while unused, else a new one."""
    if not _shared_server.used:
        url = _shared_server.start()
        _shared_server.used = True
        yield url
        return
    with serve_app(tmp_path) as url:
        yield url


def chromium_path() -> str | None:
    """Debian's Chromium (``apt-get install chromium``), or None when it is missing."""
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium for the session (skips the test when none is installed)."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium installed (`apt-get install chromium`, or `make chromium`)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)"
    )
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def browser_page(browser: Any) -> Iterator[Any]:
    """A fresh page (own cookies and session) at a projector-like 1600 x 1000 viewport."""
    yield from _fresh_page(browser, 1600, 1000)


@pytest.fixture
def projector_page(browser: Any) -> Iterator[Any]:
    """A fresh page at 1280 x 720, a typical lecture-room projector."""
    yield from _fresh_page(browser, 1280, 720)


def _fresh_page(browser: Any, width: int, height: int) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


def wait_for_app_idle(page: Any, timeout_s: float = 30.0) -> None:
    """Wait until Streamlit is connected, has finished rerunning and has drawn the page.

    Uses the state attributes Streamlit puts on its root element (as its own
    end-to-end tests do): connected, script ``notRunning``, and no element still
    marked stale from the previous run, for half a second in a row. Call it after
    ``goto`` and after every interaction that triggers a rerun.
    """
    app = '[data-testid="stApp"]'
    page.wait_for_selector(
        f'{app}[data-test-connection-state="CONNECTED"]', timeout=timeout_s * 1000
    )
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        idle = page.locator(f'{app}[data-test-script-state="notRunning"]').count() == 1
        stale = page.locator('[data-stale="true"]').count() > 0
        if not idle or stale:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.5:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the app was still running after {timeout_s:.0f} s")


def download(page: Any, label: str) -> Any:
    """Click a download button and take the file. Its data is made on the server when
    clicked (a deferred download). On a host busy with other work a click can land while
    the page is drawn again and be lost; and twice in four full runs of the suite, with
    the other worker training, the page kept the button disabled for over 90 s before
    any click (its widgets greyed out, as while it reconnects or a request for the file
    is pending). So a second try follows, after a reload when the button is still
    disabled: the URL holds the design, as a user's refresh would."""
    wait_for_app_idle(page)
    button = page.get_by_role("button", name=label)
    for attempt in range(2):
        try:
            with page.expect_download(timeout=30_000) as info:
                button.click(timeout=30_000)
            return info.value
        except Exception as exc:  # playwright's TimeoutError (it may not be installed)
            if attempt or type(exc).__name__ != "TimeoutError":
                raise
            if button.is_disabled():
                page.reload()
            wait_for_app_idle(page)
    raise AssertionError("unreachable")


def assert_no_exception(page: Any) -> None:
    """Fail with the exception's text when Streamlit shows an exception block."""
    blocks = page.locator('[data-testid="stException"]')
    if blocks.count():
        raise AssertionError("Streamlit shows an exception:\n" + blocks.first.inner_text())


def screenshot(page: Any, name: str) -> Path | None:
    """Save a screenshot of the whole page as ``test-output/screenshots/<name>.png``, when
    ``SCREENSHOTS=1`` asks for them (``make screenshots``); None otherwise.

    Streamlit scrolls inside its own container, so Playwright's ``full_page``
    alone stops at the viewport: the viewport is stretched to the content's
    height for the shot and restored after.
    """
    if os.environ.get("SCREENSHOTS") != "1":
        return None  # a few seconds each, for pictures nobody looks at in a routine run
    path = SCREENSHOT_DIR / f"{name}.png"  # a name may hold a folder: "zh/concepts"
    path.parent.mkdir(parents=True, exist_ok=True)
    viewport = page.viewport_size
    measure = """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stSidebarContent"]']
        .map((s) => document.querySelector(s))
        .filter(Boolean)
        .map((el) => el.scrollHeight))"""
    try:
        height = 0
        for _ in range(4):  # charts and tables may grow the page once they are drawn
            new_height = max(viewport["height"], int(page.evaluate(measure)))
            if new_height == height:
                break
            height = new_height
            page.set_viewport_size({"width": viewport["width"], "height": height})
            wait_for_app_idle(page)
            page.wait_for_timeout(400)  # let charts re-layout to the new size
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(viewport)
    return path


#: Text the page draws where it cannot be read: plotly text outside its figure or on top of
#: other text of the same figure (rotated tick labels excepted: their boxes are diagonal),
#: HTML text cut by its box (an ellipsis or hidden overflow), any content wider or taller
#: than a box that hides its overflow, and, optionally, tables and data frames that only
#: show all their columns by scrolling sideways.
_TEXT_PROBLEMS = """(sideways) => {
  const out = [];
  const seen = (r) => r.width > 1 && r.height > 1;
  document.querySelectorAll('.js-plotly-plot').forEach((plot, n) => {
    const fig = plot.getBoundingClientRect();
    const boxes = [];
    plot.querySelectorAll('.main-svg text').forEach((t) => {
      const r = t.getBoundingClientRect();
      const text = t.textContent.trim();
      if (!seen(r) || !text) return;
      if (r.left < fig.left - 1 || r.right > fig.right + 1 || r.top < fig.top - 1 ||
          r.bottom > fig.bottom + 1) out.push(`figure ${n}: "${text}" is outside the figure`);
      const turned = /rotate/.test(t.getAttribute('transform') || '');
      if (!turned) boxes.push([text, r]);
    });
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const [a, p] = boxes[i], [b, q] = boxes[j];
      const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (w > 3 && h > 3) out.push(`figure ${n}: "${a}" overlaps "${b}"`);
    }
  });
  const main = document.querySelector('[data-testid="stMain"]');
  document.querySelectorAll('[data-testid="stMain"] *').forEach((el) => {
    if (![...el.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim())) return;
    // The text's own box or one of its three nearest ancestors may be the one that cuts
    // it (a metric's label ends in an ellipsis on its wrapper, not on the paragraph).
    for (let box = el, up = 0; box && box !== main && up < 4; box = box.parentElement, up++) {
      const s = getComputedStyle(box);
      const cut = s.overflowX === 'hidden' || s.textOverflow === 'ellipsis';
      if (cut && box.clientWidth > 1 && box.scrollWidth > box.clientWidth + 1) {
        out.push(`"${el.textContent.trim().slice(0, 60)}" is cut ` +
                 `(${box.scrollWidth} > ${box.clientWidth} px)`);
        break;
      }
    }
  });
  // Any box that hides what it holds: content wider (or taller) than a box whose overflow
  // is hidden or clipped, which no reader can scroll to (Table 1's ops columns were).
  // Plotly's own layers are its business; a collapsed sidebar is not on screen.
  document.querySelectorAll('[data-testid="stMain"] *').forEach((el) => {
    if (el.closest('.js-plotly-plot') || !el.textContent.trim()) return;
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return;
    const s = getComputedStyle(el);
    const hides = (o) => o === 'hidden' || o === 'clip';
    const what = el.textContent.trim().slice(0, 40);
    if (hides(s.overflowX) && el.scrollWidth > el.clientWidth + 2 && s.textOverflow !== 'ellipsis')
      out.push(`"${what}" is clipped: ${el.scrollWidth} px wide in ${el.clientWidth}`);
    if (hides(s.overflowY) && el.scrollHeight > el.clientHeight + 4)
      out.push(`"${what}" is clipped: ${el.scrollHeight} px tall in ${el.clientHeight}`);
    // A table that only shows all its columns by scrolling sideways, on a wide screen.
    if (sideways && el.matches('[data-testid="stTable"] *') && el.querySelector('table') &&
        el.scrollWidth > el.clientWidth + 2)
      out.push(`a table scrolls sideways (${el.scrollWidth} > ${el.clientWidth} px)`);
  });
  const tables = document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller');
  if (sideways) tables.forEach((s, n) => {
    if (s.scrollWidth > s.clientWidth + 2)
      out.push(`table ${n} scrolls sideways (${s.scrollWidth} > ${s.clientWidth} px)`);
  });
  return out;
}"""


def text_problems(page: Any, sideways_tables: bool = True) -> list[str]:
    """Every piece of text the page draws clipped or overlapped (see ``_TEXT_PROBLEMS``)."""
    problems: list[str] = page.evaluate(_TEXT_PROBLEMS, sideways_tables)
    return problems
