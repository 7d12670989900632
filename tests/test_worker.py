"""Training jobs run in child processes: real children, real signals, the server carries on."""

from __future__ import annotations

import io
import json
import os
import signal
import time
import zipfile
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from tiny import tiny_config, tiny_train_config

import googlenet_core.training.train as train_module
from googlenet_core.data.digits import load_digits
from googlenet_core.i18n import use_language
from googlenet_core.service.host import Figure, available_cpus
from googlenet_core.service.jobs import JobRegistry
from googlenet_core.service.training_jobs import submit_runs
from googlenet_core.service.worker import JOB_FILE
from googlenet_core.training.events import EndEvent, StepEvent
from googlenet_core.training.plan import Choices, TrainPlan, plan_training
from googlenet_core.training.runs import Run

WAIT = 120.0


def _submit(registry, plan, **options):
    """One run, as the page's Start button submits it (an A/B pair is two). These tests are
    about the queue and the worker: room enough and a stated process baseline, so no probe
    runs and a small test host refuses nothing (tests/test_memory.py checks the fit)."""
    options.setdefault("memory_budget", Figure(64 * 2**30, "a test host"))
    options.setdefault("process_bytes", 2**30)
    return submit_runs(registry, [plan], **options)[0]


def _until(predicate, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _long_plan() -> TrainPlan:
    return TrainPlan(tiny_config(), tiny_train_config(epochs=200, subset=256))


def _child_pid(run: Run) -> int | None:
    status = json.loads((run.path / "status.json").read_text())
    pid = status.get("pid")
    return pid if status.get("status") == "running" and pid != os.getpid() else None


def test_the_job_trains_in_another_process_with_the_chosen_threads(tmp_path) -> None:
    registry = JobRegistry(max_running=1)
    job = _submit(
        registry, TrainPlan(tiny_config(), tiny_train_config()), owner="me", runs_dir=tmp_path
    )
    run = Run(tmp_path / job.id)
    pids: set[int] = set()
    _until(lambda: bool(_child_pid(run) and pids.add(_child_pid(run)) is None) or job.done)
    assert registry.wait(job, WAIT) and job.state == "completed", job.message
    assert pids and os.getpid() not in pids  # the run's writer was another process
    chosen = json.loads((run.path / JOB_FILE).read_text())["threads"]
    assert 1 <= chosen <= max(1, available_cpus().value - 1)  # one CPU left to the server
    assert isinstance(registry.snapshot(job).events[-1], EndEvent)  # relayed to the live view


def test_a_run_started_in_chinese_says_everything_in_chinese(tmp_path) -> None:
    """The submitter's language goes with the job: its thread's notes, the child's end
    message and the model card. A run started in English beside it stays English."""
    registry = JobRegistry(max_running=1)
    plan = TrainPlan(tiny_config(), tiny_train_config())
    with use_language("zh"):
        chinese = _submit(registry, plan, owner="me", runs_dir=tmp_path)
    english = _submit(registry, plan, owner="me", runs_dir=tmp_path)
    for job in (chinese, english):
        assert registry.wait(job, WAIT) and job.state == "completed", job.message
    zh_card = (tmp_path / chinese.id / "MODEL_CARD.md").read_text()
    en_card = (tmp_path / english.id / "MODEL_CARD.md").read_text()
    assert zh_card.startswith("# 模型卡片") and "## 数据" in zh_card
    assert en_card.startswith("# Model card") and "## Data" in en_card
    assert json.loads((tmp_path / chinese.id / JOB_FILE).read_text())["language"] == "zh"
    assert any("\u4e00" <= c <= "\u9fff" for c in chinese.message), chinese.message
    assert not any("\u4e00" <= c <= "\u9fff" for c in english.message), english.message


def test_cancel_signals_the_child_and_it_stops_within_a_batch(tmp_path) -> None:
    registry = JobRegistry(max_running=1)
    job = _submit(registry, _long_plan(), owner="me", runs_dir=tmp_path)
    _until(lambda: any(isinstance(e, StepEvent) for e in registry.snapshot(job).events))
    assert registry.cancel(job.id, job.owner)
    assert registry.wait(job, WAIT)
    assert job.state == "cancelled", job.message
    assert Run(tmp_path / job.id).status().status == "cancelled"


def test_a_server_stop_interrupts_a_run_it_never_cancels_it(tmp_path) -> None:
    """The server stopping (SIGTERM to its process group, as systemd or Ctrl-C do) is not
    the owner's Cancel: the run ends interrupted, saying when and why, its checkpoint kept."""
    registry = JobRegistry(max_running=1)
    job = _submit(registry, _long_plan(), owner="me", runs_dir=tmp_path)
    run = Run(tmp_path / job.id)
    _until(lambda: any(isinstance(e, StepEvent) for e in registry.snapshot(job).events))
    pid = _child_pid(run)
    assert pid is not None
    os.kill(pid, signal.SIGTERM)  # not through Cancel: no cancel mark in the run folder
    assert registry.wait(job, WAIT)
    assert job.state == "interrupted", job.message
    assert "the server stopped (SIGTERM) at " in job.message and " UTC" in job.message
    status = run.status()
    assert (status.status, status.message) == ("interrupted", job.message)
    assert job.message.startswith("interrupted at step ")


def test_a_killed_child_fails_its_run_and_the_next_job_still_runs(tmp_path) -> None:
    """An out-of-memory kill looks like this: SIGKILL, no last word from the child."""
    registry = JobRegistry(max_running=1)
    doomed = _submit(registry, _long_plan(), owner="me", runs_dir=tmp_path)
    after = _submit(
        registry, TrainPlan(tiny_config(), tiny_train_config()), owner="me", runs_dir=tmp_path
    )
    run = Run(tmp_path / doomed.id)
    _until(lambda: any(isinstance(e, StepEvent) for e in registry.snapshot(doomed).events))
    pid = _child_pid(run)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert registry.wait(doomed, WAIT)
    assert doomed.state == "failed"
    assert "killed by SIGKILL" in doomed.message and "out of memory" in doomed.message
    status = run.status()
    assert status.status == "failed" and "SIGKILL" in status.message
    assert run.checkpoint("best") is None or run.checkpoint("best").is_file()
    assert registry.wait(after, WAIT) and after.state == "completed", after.message


def test_an_uploaded_zip_reaches_the_child_through_its_stdin(tmp_path) -> None:
    images, labels = load_digits()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for digit in "01":
            for i in np.flatnonzero(labels == int(digit))[:12]:
                png = io.BytesIO()
                Image.fromarray((images[i] * 255 / 16).astype(np.uint8)).save(png, "PNG")
                archive.writestr(f"{digit}/{i}.png", png.getvalue())
    plan = plan_training(
        tiny_config(), "upload", Choices(epochs=1, batch_size=8), archive=buffer.getvalue(),
        data_path="digits.zip",
    )  # fmt: skip
    registry = JobRegistry(max_running=1)
    job = _submit(registry, plan, owner="me", runs_dir=tmp_path, archive=buffer.getvalue())
    assert registry.wait(job, WAIT) and job.state == "completed", job.message
    assert not any(p.suffix == ".zip" for p in (tmp_path / job.id).iterdir())  # never on disk


def test_a_seeded_run_gives_the_same_losses_whatever_the_server_does_meanwhile(tmp_path) -> None:
    registry = JobRegistry(max_running=1)
    plan = TrainPlan(tiny_config(), tiny_train_config(seed=7))
    losses = []
    for _ in range(2):
        job = _submit(registry, plan, owner="me", runs_dir=tmp_path)
        while not job.done:  # another session using torch's global RNG in the server
            torch.manual_seed(int(time.time_ns() % 1000))
            torch.rand(1000)
            time.sleep(0.01)
        steps = [e for e in registry.snapshot(job).events if isinstance(e, StepEvent)]
        losses.append([s.loss for s in steps])
    assert losses[0] and losses[0] == losses[1]


@pytest.mark.parametrize(
    "error",
    [zipfile.BadZipFile("Bad CRC-32 for file '1/a.png'"), zlib.error("invalid stored block"),
     NotImplementedError("That compression method is not supported"), KeyError("labels")],
)  # fmt: skip
def test_any_exception_while_reading_the_data_fails_the_run_with_a_sentence(
    tmp_path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(train_module, "load_dataset", broken)
    run = Run.create(tiny_config(), tiny_train_config(), tmp_path)
    result = train_module.train(tiny_config(), tiny_train_config(), run=run)
    assert result.status == "failed" and type(error).__name__ in result.message
    status = run.status()
    assert status.status == "failed" and "could not read the data" in status.message


def test_a_job_past_the_time_limit_is_stopped_and_says_why(tmp_path) -> None:
    registry = JobRegistry(max_running=1)
    job = _submit(registry, _long_plan(), owner="me", runs_dir=tmp_path, time_limit=3.0)
    assert registry.wait(job, WAIT)
    assert job.state == "cancelled", job.message
    # "(cancelled at step N ...)", or "(before training began)" on a host so busy that the
    # child was still importing torch 3 s after it started.
    assert job.message.startswith("stopped at this server's limit of 3 s per job ("), job.message
    status = Run(tmp_path / job.id).status()
    assert (status.status, status.message) == ("cancelled", job.message)


def test_a_job_writes_its_run_where_the_settings_say_and_downloads_there(
    tmp_path, monkeypatch
) -> None:
    """A run submitted without folders goes to GOOGLENET_RUNS_DIR, and its process is told
    GOOGLENET_DATA_DIR as its download cache (what a server's jobs did before they were
    given their folders by the server)."""
    monkeypatch.setenv("GOOGLENET_RUNS_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("GOOGLENET_DATA_DIR", str(tmp_path / "cache"))
    registry = JobRegistry(max_running=1)
    job = _submit(registry, TrainPlan(tiny_config(), tiny_train_config(epochs=1)), owner="me")
    assert registry.wait(job, 120) and job.state == "completed", job.message
    folder = tmp_path / "store" / job.id
    assert json.loads((folder / JOB_FILE).read_text())["cache_dir"] == str(tmp_path / "cache")
