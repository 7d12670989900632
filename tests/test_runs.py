"""Run directories: configs, status, metrics, checkpoints, listing; atomic under a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_train import tiny_config, tiny_data, tiny_train_config

from googlenet_core.checkpoints import load_checkpoint
from googlenet_core.runs import (
    RUNS_DIR_ENV,
    Run,
    default_runs_dir,
    list_runs,
    open_run,
    runs_frame,
)
from googlenet_core.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_cpu_thread")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Run:
    root = tmp_path_factory.mktemp("runs")
    config = tiny_train_config(epochs=2, aux_weight1=0.0)
    run = Run.create(tiny_config(), config, root)
    result = train(tiny_config(), config, data=tiny_data(), run=run)
    assert result.status == "completed", result.message
    return run


def test_a_new_run_has_both_configs_and_is_queued(tmp_path) -> None:
    config = TrainConfig(aux_weight1=0.1, aux_weight2=0.0, epochs=5)
    run = Run.create(tiny_config(), config, tmp_path)
    assert run.path.parent == tmp_path and "custom-digits-w0.1-0" in run.id
    assert run.model_config() == tiny_config()
    assert run.train_config() == config
    status = run.status()
    assert status.status == "queued" and not status.finished
    run.set_status("running", "epoch 1 of 5")
    assert run.status().message == "epoch 1 of 5"
    with pytest.raises(ValueError, match="unknown run status"):
        run.set_status("exploded")


def test_a_finished_run_on_disk(finished_run) -> None:
    run = Run(finished_run.path)  # as another process would open it
    assert run.status().status == "completed"
    lines = (run.path / "metrics.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["type"] for e in events][0] == "start" and events[-1]["type"] == "end"
    epochs = run.epochs_frame()
    assert list(epochs["epoch"]) == [1, 2]
    assert {"val_acc", "val_acc_aux1", "val_acc_aux2", "grad_norm.conv1", "grad_norm.fc"} <= set(
        epochs.columns
    )
    steps = run.steps_frame()
    assert len(steps) == 8 and steps["loss_aux1"].isna().all() and steps["loss_aux2"].notna().all()
    csv = pd.read_csv(pd.io.common.BytesIO(run.metrics_csv()))
    assert set(csv["type"]) == {"step", "epoch"} and "grad_norm.inception3a" in csv.columns


def test_checkpoints_load_with_the_recorded_metrics(finished_run) -> None:
    best = finished_run.checkpoint("best")
    last = finished_run.checkpoint("last")
    assert best is not None and last is not None
    loaded = load_checkpoint(best)
    assert loaded.class_names == list("0123456789")
    assert loaded.preprocessing.input_size == 16 and loaded.preprocessing.in_channels == 1
    assert loaded.metrics["run_id"] == finished_run.id
    best_epoch = finished_run.epochs_frame()["val_acc"].idxmax() + 1
    assert loaded.metrics["epoch"] == best_epoch
    assert load_checkpoint(last).metrics["epoch"] == 2


def test_listing_runs_newest_first(finished_run, tmp_path) -> None:
    older = Run.create(tiny_config(), TrainConfig(), tmp_path)
    time.sleep(1.1)  # run names start with the time to the second
    newer = Run.create(tiny_config(), TrainConfig(aux_weight1=0.0), tmp_path)
    (tmp_path / "not-a-run").mkdir()
    summaries = list_runs(tmp_path)
    assert [s.id for s in summaries] == [newer.id, older.id]
    assert summaries[0].label.startswith("custom digits w0/0.3")
    summary = list_runs(finished_run.path.parent)[0]
    assert summary.status == "completed" and summary.epochs_done == 2 and summary.has_checkpoint
    assert summary.best_val_acc == max(finished_run.epochs_frame()["val_acc"])
    frame = runs_frame(summaries)
    assert list(frame["id"]) == [newer.id, older.id] and "best_val_acc" in frame
    assert list_runs(tmp_path / "nowhere") == []


def test_open_run_stays_inside_the_store(finished_run) -> None:
    root = finished_run.path.parent
    assert open_run(finished_run.id, root).path == finished_run.path
    for bad in ("../etc", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="not a run name"):
            open_run(bad, root)
    with pytest.raises(ValueError, match="no run named"):
        open_run("20990101-000000-nothing", root)


def test_the_store_follows_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "elsewhere"))
    assert default_runs_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv(RUNS_DIR_ENV)
    assert default_runs_dir() == Path("runs")


_WRITER = textwrap.dedent(
    """
    import sys, torch
    from googlenet_core.atomic import atomic_torch_save
    path = sys.argv[1]
    print("ready", flush=True)
    i = 0
    while True:  # rewrite the file until killed
        i += 1
        atomic_torch_save({"step": i, "weights": torch.full((4_000_000,), float(i))}, path)
    """
)


@pytest.mark.slow
def test_a_kill_mid_write_leaves_the_previous_file_loadable(tmp_path) -> None:
    target = tmp_path / "last.pt"
    torch.save({"step": 0, "weights": torch.zeros(4_000_000)}, target)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for delay in (0.5, 1.2):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, env=env
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = torch.load(target, weights_only=True)  # never a torn file
        assert torch.all(state["weights"] == float(state["step"]))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "last.pt"]
    assert all(name.startswith(".last.pt.") for name in leftovers)  # temp files only


def test_a_run_whose_process_died_reads_as_interrupted_not_running(tmp_path) -> None:
    # A real process creates a run, marks it running, and is killed before it finishes.
    script = textwrap.dedent(
        """
        import sys, time
        from googlenet_core.runs import Run
        from googlenet_core.train import TrainConfig
        from test_train import tiny_config
        run = Run.create(tiny_config(), TrainConfig(), sys.argv[1], status="running")
        run.set_status("running", "epoch 1 of 3")
        print(run.id, flush=True)
        time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().decode().strip()
    run = open_run(run_id, tmp_path)
    assert run.status().status == "running"  # its process is alive
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    status = run.status()
    assert status.status == "interrupted" and status.finished
    assert status.message.startswith("stopped while running (epoch 1 of 3): the process")
    (summary,) = list_runs(tmp_path)
    assert summary.status == "interrupted"
    # Written on another host, a dead pid proves nothing: it stays as recorded.
    data = json.loads((run.path / "status.json").read_text())
    (run.path / "status.json").write_text(json.dumps({**data, "host": "another-machine"}))
    assert run.status().status == "running"
