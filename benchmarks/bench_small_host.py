"""A class on a host too small to train beside the server: refused, and the server lives.

A real ``streamlit run app.py`` under a memory cap (a cgroup folder made and capped
beforehand, as root, or ``--memory-mb``, which sets ``GOOGLENET_MEMORY_MB``), and
``--sessions`` headless tabs (:mod:`st_client`, each its own browser) opening the
Train page at ``?preset=mini``. Where the predicted peak of a training process does not
fit beside the server, every tab must show the refusal, and a Start click sent anyway
(a hostile client can send a disabled button's trigger) must create no run. Reported:
page loads (median, worst), the server's RSS, and whether it is still alive.

Community Cloud's smallest tier is 690 MB with PyTorch's CPU build; this machine has
the CUDA build, whose ``import torch`` takes about 432 MB more per process, so the
equivalent cap for the server here is about 690 + 432 = 1,122 MB::

    mkdir /sys/fs/cgroup/memory/small && echo 1122000000 > \\
        /sys/fs/cgroup/memory/small/memory.limit_in_bytes
    python benchmarks/bench_small_host.py --cgroup /sys/fs/cgroup/memory/small
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_class import (  # noqa: E402
    PAGE,
    QUERY,
    START_KEY,
    Server,
    free_port,
    new_cookie,
    page_problems,
    run_ids,
)
from st_client import StreamlitTab  # noqa: E402

from googlenet_core.service.host import MEMORY_ENV, resident_bytes  # noqa: E402

REFUSED = "Too large for this server"


async def the_class(server: Server, runs: Path, sessions: int) -> dict[str, object]:
    base = f"ws://127.0.0.1:{server.port}"
    tabs = [StreamlitTab(base, PAGE, QUERY, new_cookie()) for _ in range(sessions)]

    async def arrive(i: int, tab: StreamlitTab) -> None:
        await asyncio.sleep(i * 10.0 / sessions)
        await tab.connect()
        await tab.load()

    await asyncio.gather(*(arrive(i, t) for i, t in enumerate(tabs)))
    loads = [t.seen.page_loads[0] for t in tabs]
    refused = sum(any(REFUSED in e for e in t.seen.errors) for t in tabs)
    await asyncio.gather(*(t.click(START_KEY, []) for t in tabs[:3]))  # sent anyway
    await asyncio.sleep(2)
    result = {
        "median_s": statistics.median(loads),
        "worst_s": max(loads),
        "refused": refused,
        "runs_made": len(run_ids(runs)),
        "server_mb": resident_bytes(server.pid) / 2**20,
        "alive": server.process.poll() is None,
        "shown": page_problems(tabs)[:2],
    }
    await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--cgroup", type=Path, default=None)
    parser.add_argument("--memory-mb", type=int, default=None)
    args = parser.parse_args()
    if args.cgroup is None and args.memory_mb is None:
        parser.error("give --cgroup (a real cap) or --memory-mb (the app's setting)")
    if args.memory_mb is not None:
        os.environ[MEMORY_ENV] = str(args.memory_mb)
    folder = Path(tempfile.mkdtemp(prefix="bench-small-"))
    server = Server(folder, free_port(), args.cgroup)
    try:
        server.wait_healthy()
        out = asyncio.run(the_class(server, folder / "runs", args.sessions))
    finally:
        server.stop()
        problems = server.problems()
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"{args.sessions} tabs: page loads median {out['median_s']:.2f} s, worst "
        f"{out['worst_s']:.2f} s; {out['refused']} showed the refusal; Start sent anyway by "
        f"3: {out['runs_made']} run(s) made; server {out['server_mb']:.0f} MB, "
        f"{'alive' if out['alive'] else 'DEAD'}"
    )
    print("shown:", " | ".join(str(s)[:240] for s in out["shown"]))  # type: ignore[union-attr]
    print("server log:", "; ".join(problems[:5]) or "no errors, warnings or tracebacks")
    ok = out["alive"] and out["refused"] == args.sessions and out["runs_made"] == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
