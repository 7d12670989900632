"""Predicted peak memory of a training job against the peak RSS of a real one.

Each configuration is planned like the CLI plans it (the bundled digits, upscaled to the
side; one epoch of a small subset), then trained by a fresh worker process, the
dashboard's own path (``python -m googlenet_core.service.worker``), and its peak RSS
read with ``os.wait4`` when it exits (:func:`googlenet_core.service.worker.measured_peak`).
The process baseline is measured first, as a server measures it
(:func:`googlenet_core.service.probes.measure_process_baseline`); the table prints the
prediction (:func:`googlenet_core.service.budgets.run_memory`), the measurement and their
ratio; the target is a ratio between 0.9 (at most 10 % under) and ~1.4. Runs go to a
temporary folder. ``--heavier-torch MB`` makes every process of the measurement start
that much heavier (a ``sitecustomize`` that holds the memory to the end), as on a host
where ``import torch`` costs more: the baseline must follow. The paper's network at
64 px cannot hold its aux heads (their 5x5 pool needs 79 px), so it is measured without
them, and with them at 80 px.

    python benchmarks/bench_memory_estimate.py [--quick] [--heavier-torch 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from googlenet_core.network.presets import get_preset  # noqa: E402
from googlenet_core.service.budgets import run_memory  # noqa: E402
from googlenet_core.service.probes import measure_process_baseline  # noqa: E402
from googlenet_core.service.worker import measured_peak  # noqa: E402
from googlenet_core.training.plan import Choices, TrainPlan, plan_training  # noqa: E402

# (preset, side, batch, subset, aux weight, optimizer, aux heads built)
Case = tuple[str, int, int, int, float, str, bool]
CASES: list[Case] = [
    ("mini", 32, 16, 64, 0.3, "adamw", True),
    ("mini", 32, 64, 128, 0.3, "adamw", True),
    ("mini", 32, 256, 512, 0.3, "adamw", True),
    ("mini", 32, 256, 512, 0.0, "sgd", True),
    ("mini", 32, 512, 1024, 0.3, "adamw", True),
    ("paper", 64, 16, 32, 0.0, "adamw", False),
    ("paper", 80, 8, 32, 0.3, "adamw", True),
    ("paper", 112, 2, 16, 0.3, "adamw", True),
    ("paper", 112, 8, 32, 0.0, "adamw", True),
    ("paper", 112, 16, 32, 0.3, "sgd", True),
    ("paper", 224, 2, 16, 0.3, "adamw", True),
    ("paper", 224, 8, 16, 0.0, "adamw", True),
    ("paper", 224, 16, 16, 0.3, "adamw", True),
    ("paper", 224, 32, 32, 0.3, "adamw", True),
    ("torchvision", 112, 64, 128, 0.3, "adamw", True),
]
QUICK = [CASES[0], CASES[2], CASES[7]]


def plan(case: Case) -> TrainPlan:
    preset, side, batch, subset, weight, optimizer, aux = case
    network = dataclasses.replace(get_preset(preset), aux_logits=aux, input_size=max(side, 80))
    choices = Choices(
        input_size=side,
        batch_size=batch,
        subset=subset,
        epochs=1,
        aux_weight1=weight,
        aux_weight2=weight,
        optimizer=optimizer,
        device="cpu",
    )
    return plan_training(network, "digits", choices)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="three configurations only")
    parser.add_argument("--heavier-torch", type=int, default=0, metavar="MB",
                        help="simulate a host where every process starts MB heavier")  # fmt: skip
    args = parser.parse_args()
    cases = QUICK if args.quick else CASES
    with tempfile.TemporaryDirectory() as site:
        env = _heavier(Path(site), args.heavier_torch) if args.heavier_torch else None
        return _measure(cases, env)


def _heavier(folder: Path, megabytes: int) -> dict[str, str]:
    (folder / "sitecustomize.py").write_text(
        "import ctypes\n_libc = ctypes.CDLL(None)\n_libc.malloc.restype = ctypes.c_void_p\n"
        f"_size = {megabytes} * 2**20\nctypes.memset(_libc.malloc(_size), 1, _size)\n"
    )
    return {"PYTHONPATH": str(folder)}


def _measure(cases: list[Case], env: dict[str, str] | None) -> int:
    started = time.perf_counter()
    baseline = measure_process_baseline(threads=2, env=env)
    print(f"process baseline measured here: {baseline / 2**20:.0f} MiB "
          f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
    print(f"{'network':>8} {'side':>4} {'batch':>5} {'subset':>6} {'aux w':>5} {'optim':>5} "
          f"{'predicted':>9} {'measured':>8} {'ratio':>5} {'time':>5}")  # fmt: skip
    ratios = []
    with tempfile.TemporaryDirectory() as root:
        for case in cases:
            chosen = plan(case)
            predicted = run_memory(chosen.config, chosen.train_config, process=baseline)
            started = time.perf_counter()
            measured = measured_peak(chosen.config, chosen.train_config, root, env=env)
            seconds = time.perf_counter() - started
            ratio = predicted.total / measured
            ratios.append(ratio)
            preset, side, batch, subset, weight, optimizer, aux = case
            name = preset if aux else f"{preset}-0"
            print(f"{name:>8} {side:>4} {batch:>5} {subset:>6} {weight:>5} {optimizer:>5} "
                  f"{predicted.total / 2**20:>5.0f} MiB {measured / 2**20:>4.0f} MiB "
                  f"{ratio:>5.2f} {seconds:>4.0f}s", flush=True)  # fmt: skip
            print(f"{'':>10}{predicted.sentence()}", flush=True)
    print(f"predicted / measured: {min(ratios):.2f} to {max(ratios):.2f} (target 0.90 to ~1.40)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
