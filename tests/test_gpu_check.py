"""`make gpu-check` is safe anywhere: without CUDA it says so in one line and succeeds."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import ROOT


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA the check really runs")
def test_the_gpu_check_skips_cleanly_without_cuda() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("SKIP gpu-check: no CUDA device here"), done.stdout
