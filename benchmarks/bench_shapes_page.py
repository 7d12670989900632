"""How long the Shapes & parameters page takes to rerun, against the 0.3 s target.

Editing a value must feel instant, so the page computes shapes with the
analytic calculator and caches its tables and figures per config; it never
builds a torch model. This script measures, with Streamlit's AppTest:

* a plain rerun (same network, cache hit), median of N after a warm-up;
* a rerun after an edit (a network the page has not seen: cache miss);

and prints each against the 0.3 s target, plus, for reference, the time
``build_model`` takes for the same network: the cost the page avoids.

    python benchmarks/bench_shapes_page.py [--reruns 20] [--preset paper]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from googlenet_core import build_model, get_preset, list_presets  # noqa: E402

TARGET_S = 0.3


def _timed(action) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reruns", type=int, default=20)
    parser.add_argument("--preset", choices=list_presets(), default="paper")
    args = parser.parse_args()

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["preset"] = args.preset
    at.switch_page("pages/shapes.py")
    first = _timed(at.run)
    if at.exception:
        print(f"the page raised: {at.exception[0].value}", file=sys.stderr)
        return 1
    for _ in range(3):  # warm-up: imports, caches, bytecode
        at.run()
    same = [_timed(at.run) for _ in range(args.reruns)]

    config = get_preset(args.preset)
    edited = []
    for index in range(max(5, args.reruns // 2)):
        # An edit the page has not seen: another class count each time (a cache miss).
        # "config" is the session key pages/common keeps the current network in.
        at.session_state["config"] = dataclasses.replace(config, num_classes=11 + index)
        edited.append(_timed(at.run))
    if at.exception:
        print(f"the page raised: {at.exception[0].value}", file=sys.stderr)
        return 1

    build_model(config)  # warm-up
    builds = [_timed(lambda: build_model(config)) for _ in range(5)]

    rerun, after_edit, build = (statistics.median(t) for t in (same, edited, builds))
    print(f"Shapes page, preset {args.preset!r}, AppTest (includes AppTest's own overhead)")
    print(f"  first run (empty session):              {first:7.3f} s")
    print(
        f"  rerun, same network  (median of {len(same):>2}):   {rerun:7.3f} s"
        f"   target {TARGET_S:.3f} s   ratio {rerun / TARGET_S:.2f}"
    )
    print(
        f"  rerun after an edit  (median of {len(edited):>2}):   {after_edit:7.3f} s"
        f"   target {TARGET_S:.3f} s   ratio {after_edit / TARGET_S:.2f}"
    )
    print(
        f"  reference: build_model for this network: {build:7.3f} s"
        f"   (rerun after an edit / build = {after_edit / build:.2f})"
    )
    return 0 if max(rerun, after_edit) < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
