"""How much faster is the analytic calculator than torchinfo's summary?

Both answer the same question for the "torchvision" preset at 224 px: every
layer's output shape and parameter count. torchinfo (what users reach for today,
tutorials use it or its predecessor torchsummary) builds the model and runs a forward
pass; ``analyze`` walks the config. Timed in one run, median of repeats, with
the parameter totals compared.

    python benchmarks/bench_analyze.py          # needs: pip install torchinfo==1.8.0
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torchinfo import summary  # noqa: E402

from googlenet_core import analyze, build_model, get_preset  # noqa: E402


def median_seconds(fn, repeats: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    # Without aux heads: torchinfo only sees modules that run in its eval forward pass.
    config = dataclasses.replace(get_preset("torchvision"), aux_logits=False)
    uncached = analyze.__wrapped__  # time the real computation, not the lru_cache

    prebuilt = build_model(config)

    def with_torchinfo() -> int:  # the baseline: summary of an already-built model
        stats = summary(prebuilt, input_size=(1, 3, 224, 224), verbose=0, device="cpu")
        return int(stats.total_params)

    def build_and_torchinfo() -> int:  # what a user without a model in hand pays
        stats = summary(build_model(config), input_size=(1, 3, 224, 224), verbose=0, device="cpu")
        return int(stats.total_params)

    def with_analyze() -> int:
        return uncached(config).total_params

    ours, theirs = with_analyze(), with_torchinfo()  # warm-up and the correctness check
    t_info = median_seconds(with_torchinfo, 5)
    t_build = median_seconds(build_and_torchinfo, 3)
    t_ours = median_seconds(with_analyze, 200)
    print("preset: torchvision (no aux heads), 224 px, CPU threads:", torch.get_num_threads())
    print(f"parameters  analyze: {ours:,}   torchinfo: {theirs:,}   identical: {ours == theirs}")
    print(f"torchinfo.summary on the built model: {t_info * 1e3:9.2f} ms   (baseline)")
    print(f"  model build + torchinfo.summary:    {t_build * 1e3:9.2f} ms")
    print(f"googlenet_core.analyze (uncached):    {t_ours * 1e3:9.3f} ms")
    print(f"speed-up vs torchinfo: {t_info / t_ours:,.0f}x   (target: >= 100x)")
    print(f"speed-up vs build + torchinfo: {t_build / t_ours:,.0f}x")
    if ours != theirs:
        raise SystemExit("parameter counts differ")


if __name__ == "__main__":
    main()
