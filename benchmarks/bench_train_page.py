"""What watching a run costs it: the digits recipe trained from the Train page vs unwatched.

The Train page refreshes a running job's progress rows and charts from
fragments; each refresh costs CPU on the server (the fragment reruns) and in
the browser (it re-renders), which the training job on the same machine
then does not get. This script starts ``streamlit run app.py`` on a free port,
opens the Train page in headless Chromium, starts the quick recipe (mini on
the built-in digits at 16 px) with the page left open, and reads the run's
optimisation time (``train_seconds`` in its metrics). The baseline is the same
recipe and seed trained by the engine in this process with nothing watching.

    python benchmarks/bench_train_page.py [--repeats 2] [--chromium /usr/bin/chromium]

Prints: watched seconds (measured) / unwatched seconds (baseline) / ratio.
Needs Chromium (``make chromium``) and Playwright (``requirements-dev.txt``).
The browser runs on the same cores here; on a deployment it runs on the
viewer's machine, so this is the worst case.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from googlenet_core import get_preset  # noqa: E402
from googlenet_core.training.events import epochs_of  # noqa: E402
from googlenet_core.training.plan import plan_training  # noqa: E402
from googlenet_core.training.runs import list_runs, open_run  # noqa: E402
from googlenet_core.training.train import train  # noqa: E402

BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"streamlit not healthy after {timeout_s:.0f} s")


def watched(chromium: str, url: str, runs_dir: Path) -> float:
    """Start the recipe from the page, keep the page open until it ends; its train_seconds."""
    from playwright.sync_api import sync_playwright

    before = {r.id for r in list_runs(runs_dir)}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/train?preset=mini")
        page.wait_for_selector("text=Estimated time", timeout=120_000)
        page.get_by_role("button", name="Start training").click()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            # Read the run store, not the page: polling the page would add browser work.
            new = [r for r in list_runs(runs_dir) if r.id not in before]
            if new and new[0].status not in ("queued", "running"):
                break
            time.sleep(2)
        else:
            raise SystemExit("the run did not finish in 10 minutes")
        browser.close()
    (run,) = new
    if run.status != "completed":
        raise SystemExit(f"the run ended {run.status}: {run.message}")
    epochs = epochs_of(open_run(run.id, runs_dir).events())
    return epochs[-1].train_seconds


def unwatched() -> float:
    """The same plan the page submits (mini, the digits), trained in this process."""
    plan = plan_training(get_preset("mini"), "digits")
    result = train(plan.config, plan.train_config)
    if result.status != "completed":
        raise SystemExit(f"baseline run {result.status}: {result.message}")
    return result.train_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    if not os.path.exists(args.chromium):
        raise SystemExit(f"no Chromium at {args.chromium}: run `make chromium` or pass --chromium")
    runs_dir = Path(tempfile.mkdtemp(prefix="bench-train-page-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1",
    ]  # fmt: skip
    env = {**os.environ, "GOOGLENET_RUNS_DIR": str(runs_dir)}
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy(url, server)
        seen = []
        for i in range(args.repeats):
            seen.append(watched(args.chromium, url, runs_dir))
            print(f"  watched in the Train page, run {i + 1}: {seen[-1]:.1f} s of training")
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(runs_dir, ignore_errors=True)
    alone = []
    for i in range(args.repeats):
        alone.append(unwatched())
        print(f"  unwatched (engine in this process), run {i + 1}: {alone[-1]:.1f} s of training")
    measured, baseline = min(seen), min(alone)
    print(
        f"digits recipe, best of {args.repeats}: watched {measured:.1f} s (measured) / unwatched "
        f"{baseline:.1f} s (baseline) / ratio {measured / baseline:.2f}; load average now "
        f"{os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
