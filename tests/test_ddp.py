"""The same ``train`` command under ``torchrun`` with two CPU processes (gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from googlenet_core.training.events import epochs_of, start_of
from googlenet_core.training.runs import list_runs, open_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_torchrun_two_processes_rank_zero_writes_the_run(tmp_path) -> None:
    out = tmp_path / "runs"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "googlenet_core", "train", "--preset", "mini", "--dataset", "digits",
        "--epochs", "1", "--subset", "64", "--batch-size", "16", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # one thread each (conftest)
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list_runs(out)
    assert len(runs) == 1, "rank 1 must not create a run of its own"
    run = runs[0]
    assert run.status == "completed" and run.has_checkpoint
    events = open_run(run.id, out).events()
    start = start_of(events)
    assert start is not None and start.world_size == 2
    # 64 images, 32 per rank, batches of 16: two steps, each counted once.
    assert start.steps_per_epoch == 2
    (epoch,) = epochs_of(events)
    # Validation is split between the ranks and summed: every held-out image counted once.
    assert epoch.step == 2 and 0.0 <= epoch.val_acc <= 1.0
    assert start.val_images == 64
    assert done.stdout.count("completed:") == 1  # rank 0 alone reports
