"""Training beside other busy processes: the thread choice of ``googlenet_core.service.host``.

The same short run (the mini preset on the bundled digits, the CLI's plan) on a quiet
machine and with one and two busy-looping processes beside it, each with

- ``chosen``: what the CLI and the dashboard's jobs use now (:func:`training_threads`:
  the CPUs of the affinity mask and cgroup quota, fewer where others keep some busy);
- ``torch default``: ``--threads`` set to torch's own default, one thread per core
  (what ran before, and what made one busy process cost 3.4x and a loaded host 51x).

Targets (issue 10): with one busy process at most 1.5x the quiet time, with two at
most 2x. Each run is a fresh ``python -m googlenet_core train`` process; the figure is
its wall time (loading, training, validation, checkpoints). Runs go to a temporary
folder.

    python benchmarks/bench_contention.py [--repeats 1] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

BUSY = "while True: pass"


def timed_run(threads: int | None, out: str, epochs: int) -> float:
    command = [sys.executable, "-m", "googlenet_core", "train", "--preset", "mini"]
    command += ["--dataset", "digits", "--epochs", str(epochs), "--out", out, "--quiet"]
    if threads is not None:
        command += ["--threads", str(threads)]
    env = {k: v for k, v in os.environ.items() if k != "GOOGLENET_THREADS"}
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    default = torch.get_num_threads()
    print(f"{os.cpu_count()} CPUs; torch's default: {default} threads; load average "
          f"{os.getloadavg()[0]:.2f} before")  # fmt: skip
    times: dict[tuple[int, str], float] = {}
    with tempfile.TemporaryDirectory() as out:
        for busy in (0, 1, 2):
            loops = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
            try:
                time.sleep(0.5 if busy else 0)
                for policy, threads in (("chosen", None), ("torch default", default)):
                    runs = [timed_run(threads, out, args.epochs) for _ in range(args.repeats)]
                    times[busy, policy] = min(runs)
                    print(f"{busy} busy process(es), {policy:>13}: "
                          + ", ".join(f"{t:.1f} s" for t in runs), flush=True)  # fmt: skip
            finally:
                for loop in loops:
                    loop.kill()
                    loop.wait()
    quiet = times[0, "chosen"]
    print("\nratio to the quiet run with the chosen threads (target: 1 busy <= 1.5, 2 busy <= 2):")
    for policy in ("chosen", "torch default"):
        print(f"  {policy:>13}: " + ", ".join(
            f"{b} busy {times[b, policy] / quiet:.2f}x" for b in (0, 1, 2)))  # fmt: skip
    one, two = times[1, "chosen"] / quiet, times[2, "chosen"] / quiet
    print(f"targets: 1 busy {one:.2f}x ({'met' if one <= 1.5 else 'missed'}), "
          f"2 busy {two:.2f}x ({'met' if two <= 2 else 'missed'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
