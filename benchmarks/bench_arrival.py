"""A class arriving at once: 30 new sessions on every page and presentation screen.

The moment a lecturer says "open this link" is the moment 30 browsers open it. This
starts a real ``streamlit run app.py`` (its run store, data cache and links in a
temporary folder) and measures, with headless tabs speaking Streamlit's websocket
protocol (:mod:`st_client`: server time only, nothing rendered):

- **cold**: the first page of a server just started (from ``streamlit run`` to the
  page's script finished, the health check included), once for the landing page and
  once, on another fresh server, for a bookmarked presentation screen;
- **the class**: on a warm server (a lecturer opened each page once before class),
  ``--sessions`` new sessions (each its own browser: its own cookie) connect within
  ``--window`` seconds and each loads one view, taken in turn from :data:`VIEWS` (every
  page as a student first sees it, and every presentation screen), a new session's first
  run as a browser makes it. A session's figure runs from its request to the end of its
  page's script.

With ``--busy``, a CPU-bound process runs on every core throughout (another course's
job on a shared school server).

Target (issue 22): every session of the class within 2 s; a cold first page within 5 s.
``--repeats`` classes arrive one after another (each a new set of sessions), and every
figure is printed; the targets are checked on the worst session of all.

    python benchmarks/bench_arrival.py [--sessions 30] [--window 3] [--repeats 2]
        [--busy] [--json PATH]

The tabs run in this process, on the same cores as the server: like a browser on the
server's machine, they take some CPU from it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.synchronize
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_class import Server, free_port  # noqa: E402
from st_client import StreamlitTab  # noqa: E402

from pages.common.concepts import CONCEPTS  # noqa: E402

#: (url_pathname, query): every page as a student first opens it, and every presentation
#: screen of the Concepts page.
VIEWS: tuple[tuple[str, str], ...] = (
    ("", ""),
    ("architect", ""),
    ("shapes", ""),
    ("train", ""),
    ("predict", ""),
    *(("", f"present=1&concept={c.slug}") for c in CONCEPTS),
)
SESSION_TARGET_S = 2.0
COLD_TARGET_S = 5.0


def _burn(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _name(view: tuple[str, str]) -> str:
    page, query = view
    return f"/{page}" + (f"?{query}" if query else "")


async def _visit(base: str, view: tuple[str, str], delay: float) -> tuple[str, float, int]:
    """One new browser: wait ``delay`` s, connect, load the view; (view, seconds, errors)."""
    await asyncio.sleep(delay)
    cookie = f"googlenet_owner={secrets.token_urlsafe(24)}"
    tab = StreamlitTab(base, view[0], view[1], cookie=cookie)
    await tab.connect()
    try:
        seconds = await tab.load(timeout=180)
    finally:
        await tab.close()
    return _name(view), seconds, len(tab.seen.exceptions)


async def _class(
    base: str, sessions: int, window: float, seed: int
) -> list[tuple[str, float, int]]:
    rng = random.Random(seed)
    visits = [_visit(base, VIEWS[i % len(VIEWS)], rng.uniform(0, window)) for i in range(sessions)]
    return list(await asyncio.gather(*visits))


def _cold(folder: Path, view: tuple[str, str]) -> float:
    """Seconds from ``streamlit run`` to the first page's script finished."""
    folder.mkdir(parents=True)
    server = Server(folder, free_port())
    try:
        server.wait_healthy(120)
        base = f"ws://127.0.0.1:{server.port}"
        asyncio.run(_visit(base, view, 0.0))
        return time.monotonic() - server.started
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--window", type=float, default=3.0, help="seconds the class arrives over")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--busy", action="store_true", help="a CPU-bound process on every core")
    args = parser.parse_args()
    stop = multiprocessing.Event()
    burners = [
        multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
        for _ in range(os.cpu_count() or 1 if args.busy else 0)
    ]
    for burner in burners:
        burner.start()
    folder = Path(tempfile.mkdtemp(prefix="bench-arrival-"))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    result: dict[str, object] = {
        "sessions": args.sessions, "window_s": args.window, "busy": args.busy,
    }  # fmt: skip
    try:
        cold = {
            "landing": _cold(folder / "cold-landing", VIEWS[0]),
            "bookmarked screen": _cold(folder / "cold-screen", ("", "present=1&concept=gradients")),
        }
        for what, seconds in cold.items():
            print(f"cold server, first page ({what}): {seconds:.1f} s", flush=True)
        result["cold_s"] = cold

        (folder / "class").mkdir()
        server = Server(folder / "class", free_port())
        try:
            server.wait_healthy(120)
            base = f"ws://127.0.0.1:{server.port}"
            for view in VIEWS:  # the lecturer's rehearsal: every view once
                asyncio.run(_visit(base, view, 0.0))
            classes = []
            for repeat in range(args.repeats):
                time.sleep(2.0)
                started = time.perf_counter()
                visits = asyncio.run(_class(base, args.sessions, args.window, seed=repeat))
                wall = time.perf_counter() - started
                times = sorted(seconds for _, seconds, _ in visits)
                errors = sum(e for _, _, e in visits)
                worst = max(visits, key=lambda v: v[1])
                print(
                    f"class {repeat + 1}: {args.sessions} sessions over {args.window:.0f} s: "
                    f"median {statistics.median(times):.2f} s, worst {times[-1]:.2f} s "
                    f"({worst[0]}), all done {wall:.1f} s after the first arrived; "
                    f"{errors} exceptions",
                    flush=True,
                )
                classes.append(
                    {"median_s": statistics.median(times), "worst_s": times[-1], "wall_s": wall,
                     "exceptions": errors, "by_view": sorted(visits, key=lambda v: -v[1])}
                )  # fmt: skip
            result["classes"] = classes
            problems = server.problems()
        finally:
            server.stop()
    finally:
        stop.set()
        shutil.rmtree(folder, ignore_errors=True)
    worst = max(c["worst_s"] for c in classes)  # type: ignore[type-var]
    cold_worst = max(cold.values())
    errors = sum(int(c["exceptions"]) for c in classes)  # type: ignore[call-overload]
    ok = worst <= SESSION_TARGET_S and cold_worst <= COLD_TARGET_S and not errors
    print(
        f"worst session {worst:.2f} s (target {SESSION_TARGET_S:.0f} s, "
        f"{worst / SESSION_TARGET_S:.2f}x of it); worst cold first page {cold_worst:.1f} s "
        f"(target {COLD_TARGET_S:.0f} s): {'PASS' if ok else 'FAIL'}"
    )
    for line in problems[:5]:
        print(f"server log: {line}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
