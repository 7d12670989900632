"""Time from the landing page to each concept on a 1280x720 projector, against the 30 s target.

A lecturer opens the dashboard, picks a concept in "Present one concept on a projector"
(one click) and waits for its main visual. This script starts ``streamlit run app.py``
on a free port (a cold server: nothing imported, nothing cached), opens it in Chromium
at 1280x720, and times, for each of the seven concepts, the page load plus the click
until the visual is drawn; then the same again on the now-warm server. With ``--busy``
every core also runs a CPU-bound process throughout (a lecture host doing something
else, or another app on the same machine).

    python benchmarks/bench_lecture.py [--busy] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pages.common.concepts import CONCEPTS  # noqa: E402

TARGET_S = 30.0
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _burn(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "GOOGLENET_RUNS_DIR": str(folder / "runs")}
    env["GOOGLENET_LINKS_DIR"] = str(folder / "links")
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    command += ["--server.port", str(port), "--server.headless", "true"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            return server, url
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start within 60 s")


def _idle(page) -> None:  # type: ignore[no-untyped-def]
    app = '[data-testid="stApp"]'
    page.wait_for_selector(f'{app}[data-test-connection-state="CONNECTED"]', timeout=120_000)
    page.wait_for_selector(f'{app}[data-test-script-state="notRunning"]', timeout=120_000)


def _time_concepts(page, url: str) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    times = []
    for slug, label in ((c.slug, c.title) for c in CONCEPTS):
        start = time.perf_counter()
        page.goto(url)
        _idle(page)
        picker = page.locator(".st-key-present_pick")
        picker.get_by_role("radio", name=label, exact=True).click(timeout=120_000)
        page.locator(f".st-key-visual_{slug}").wait_for(state="visible", timeout=120_000)
        _idle(page)
        times.append((slug, time.perf_counter() - start))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--busy", action="store_true", help="a CPU-bound process on every core")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    stop = multiprocessing.Event()
    burners = [
        multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
        for _ in range(os.cpu_count() or 1)
        if args.busy
    ]
    for burner in burners:
        burner.start()
    with tempfile.TemporaryDirectory() as folder:
        server, url = _serve(Path(folder))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                cold = _time_concepts(page, url)
                warm = _time_concepts(page, url)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
            stop.set()
    load = f"{len(burners)} CPU-bound processes beside it" if burners else "an idle machine"
    print(
        f"landing page -> concept on screen, 1280x720, one click; {load}; target {TARGET_S:.0f} s"
    )
    print(f"{'concept':<14}{'cold server':>14}{'warm':>10}")
    for (slug, first), (_, second) in zip(cold, warm, strict=True):
        print(f"{slug:<14}{first:>12.1f} s{second:>8.1f} s")
    worst = max(t for _, t in cold + warm)
    print(
        f"median warm {statistics.median(t for _, t in warm):.1f} s; worst {worst:.1f} s "
        f"({TARGET_S / worst:.0f}x under the target)"
    )
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
