"""The GPU path in one command, for the first machine with CUDA: ``make gpu-check``.

Runs with the torch that machine already has (nothing is downloaded; the package is
read from this checkout), one summary line per check, exit status 1 if any failed:

1. ``train``: mini on the digits with the planner's recipe on CUDA: completes, with
   bf16 autocast and channels_last, above 90 % held out.
2. ``checkpoint``: that run's best checkpoint, saved from CUDA, loads on the CPU and
   gives the CUDA model's outputs (fp32, to 1e-3).
3. ``oom``: torchvision's network at 512 px with batch 2,048 runs out of GPU memory and
   the run ends ``failed`` with the out-of-memory sentence (not a crash); the card is
   usable afterwards.
4. ``throughput``: ``bench_train_throughput.py --device cuda`` (torchvision preset,
   224 px, bf16, channels_last vs torchvision's model in fp32 eager): its summary.
5. ``ddp``: two processes with ``torchrun`` when two GPUs exist, else said so.

Without CUDA it says so and exits 0, so the command is safe anywhere.

    python benchmarks/gpu_check.py [--skip-throughput]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

Check = Callable[[Path], str]  # returns the detail; raises AssertionError on failure


def check_train(work: Path) -> str:
    from googlenet_core import get_preset
    from googlenet_core.training.events import Event, start_of
    from googlenet_core.training.plan import Choices, plan_training
    from googlenet_core.training.runs import Run
    from googlenet_core.training.train import train

    plan = plan_training(get_preset("mini"), "digits", Choices(device="cuda"))
    run = Run.create(plan.config, plan.train_config, work / "runs")
    events: list[Event] = []
    result = train(plan.config, plan.train_config, run=run, callbacks=[events.append])
    start = start_of(events)
    assert result.status == "completed", f"{result.status}: {result.message}"
    assert start is not None and start.device.startswith("cuda"), start
    assert start.precision == "bf16", start.precision
    assert (result.best_val_acc or 0) > 0.9, result.best_val_acc
    (work / "run").write_text(str(run.path))
    return (
        f"{result.best_val_acc:.2%} held out, {result.train_seconds:.1f} s of training, "
        f"{start.device} {start.precision}"
    )


def check_checkpoint(work: Path) -> str:
    from googlenet_core import build_model
    from googlenet_core.inference.checkpoints import load_checkpoint

    run = Path((work / "run").read_text())
    loaded = load_checkpoint(run / "best.pt")  # onto the CPU, strictly
    cpu = loaded.model.eval()
    gpu = build_model(loaded.config).cuda().eval()
    gpu.load_state_dict(cpu.state_dict(), strict=True)
    side = loaded.config.input_size
    x = torch.randn(8, loaded.config.in_channels, side, side)
    with torch.no_grad():
        diff = (cpu(x) - gpu(x.cuda()).cpu()).abs().max().item()
    assert diff < 1e-3, diff
    return f"saved on CUDA, loaded on the CPU; outputs agree to {diff:.1e}"


def check_oom(work: Path) -> str:
    from googlenet_core import get_preset
    from googlenet_core.training.plan import Choices, plan_training
    from googlenet_core.training.train import train

    choices = Choices(device="cuda", input_size=512, batch_size=2048, subset=2048, epochs=1)
    plan = plan_training(get_preset("torchvision"), "digits", choices)
    result = train(plan.config, plan.train_config)
    assert result.status == "failed", f"{result.status}: {result.message}"
    assert "out of memory" in result.message, result.message
    torch.cuda.empty_cache()
    torch.ones(1024, 1024, device="cuda").sum().item()  # the card still works
    return f"failed with: {result.message[:120]}"


def check_throughput(work: Path) -> str:
    script = ROOT / "benchmarks" / "bench_train_throughput.py"
    done = subprocess.run(
        [sys.executable, str(script), "--device", "cuda"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    print("\n".join("    " + line for line in lines[-12:]))
    return lines[-1] if lines else "(no output)"


def check_ddp(work: Path) -> str:
    count = torch.cuda.device_count()
    if count < 2:
        return f"SKIP: {count} GPU here; DDP needs two"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
        + ["-m", "googlenet_core", "train", "--preset", "mini", "--dataset", "digits"]
        + ["--device", "cuda", "--out", str(work / "ddp")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return (done.stdout.strip().splitlines() or ["(no output)"])[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}, CUDA {torch.version.cuda}"
        print(f"SKIP gpu-check: no CUDA device here ({build})")
        return 0
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    checks: list[tuple[str, Check]] = [
        ("train", check_train),
        ("checkpoint", check_checkpoint),
        ("oom", check_oom),
        ("throughput", check_throughput),
        ("ddp", check_ddp),
    ]
    if args.skip_throughput:
        checks = [c for c in checks if c[0] != "throughput"]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, check in checks:
            began = time.perf_counter()
            try:
                detail = check(Path(tmp))
                verdict = "SKIP" if detail.startswith("SKIP") else "PASS"
            except Exception as exc:  # every failure is a line, and the next check still runs
                detail, verdict = f"{type(exc).__name__}: {exc}"[:400], "FAIL"
                failed += 1
            print(f"{verdict} {name} ({time.perf_counter() - began:.0f} s): {detail}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
