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
from tiny import tiny_config, tiny_data, tiny_train_config

from googlenet_core.inference.checkpoints import load_checkpoint
from googlenet_core.service.retention import sweep_temporary
from googlenet_core.training.config import TrainConfig
from googlenet_core.training.events import EpochEvent, NoteEvent, StartEvent, event_to_dict
from googlenet_core.training.runs import (
    FOREIGN_SILENCE_S,
    Run,
    RunFormatError,
    list_runs,
    open_run,
    run_label,
    runs_frame,
)
from googlenet_core.training.train import train

ROOT = Path(__file__).resolve().parents[1]


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
    assert events[0]["type"] == "start" and events[-1]["type"] == "end"
    assert {e["v"] for e in events} == {1}  # every line carries the schema version
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
    assert summaries[0].network == "custom"
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


def test_every_list_names_a_run_the_same_way(tmp_path) -> None:
    run = Run.create(tiny_config(), TrainConfig(aux_weight1=0.3, aux_weight2=0.0), tmp_path)
    summary = run.summary()
    tail = run.id[-4:]
    assert summary.label == f"{summary.network} digits w0.3/0 (…{tail})"
    assert run_label(run.id, summary.aux_weights) == f"w0.3/0 (…{tail})"  # runs compared
    assert run_label(run.id, None) == run.id
    assert summary.description == f"{summary.label} · queued"


_WRITER = textwrap.dedent(
    """
    import sys, torch
    from googlenet_core._io import atomic_torch_save
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
        from googlenet_core.training.config import TrainConfig
        from googlenet_core.training.runs import Run
        from tiny import tiny_config
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
    # Written on another host, a dead pid proves nothing: it stays as recorded while its
    # files change, and is taken for gone after ten minutes of silence (a container
    # restarted under a new hostname).
    data = json.loads((run.path / "status.json").read_text())
    (run.path / "status.json").write_text(json.dumps({**data, "host": "another-machine"}))
    assert run.status().status == "running"
    old = time.time() - FOREIGN_SILENCE_S - 60
    for name in ("status.json", "metrics.jsonl"):
        if (run.path / name).exists():
            os.utime(run.path / name, (old, old))
    assert run.status().status == "interrupted"
    # A reused pid (this process's, alive) with another start time: not the writer.
    (run.path / "status.json").write_text(
        json.dumps({**data, "pid": os.getpid(), "process": "another-boot:12345"})
    )
    assert run.status().status == "interrupted"
    alive = Run.create(tiny_config(), TrainConfig(), tmp_path, status="running")
    assert alive.status().status == "running"  # this very process: alive


def test_temporary_files_of_killed_saves_are_swept_only_when_the_writer_is_gone(
    tmp_path,
) -> None:
    running = Run.create(tiny_config(), TrainConfig(), tmp_path, status="running")
    done = Run.create(tiny_config(), TrainConfig(), tmp_path, status="running")
    done.set_status("completed", "done")
    for run in (running, done):
        (run.path / ".last.pt.abc123.tmp").write_bytes(b"x" * 1000)
    assert sweep_temporary(tmp_path) == (1, 1000)
    assert not (done.path / ".last.pt.abc123.tmp").exists()
    assert (running.path / ".last.pt.abc123.tmp").exists()  # a save may be in progress


def test_metrics_are_appended_not_rewritten(tmp_path) -> None:
    run = Run.create(tiny_config(), tiny_train_config(), tmp_path)
    run.record(NoteEvent("first"))
    run.flush()
    path = run.path / "metrics.jsonl"
    before, inode = path.read_bytes(), path.stat().st_ino
    for i in range(50):
        run.record(NoteEvent(f"note {i}"))
    run.flush()
    after = path.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == 51
    assert path.stat().st_ino == inode  # the same file, appended to (os.replace makes a new one)
    assert [e.message for e in run.events()][-1] == "note 49"  # type: ignore[union-attr]


def test_a_torn_last_line_is_skipped(finished_run, tmp_path) -> None:
    copy = Run.create(tiny_config(), tiny_train_config(), tmp_path)
    text = (finished_run.path / "metrics.jsonl").read_text()
    (copy.path / "metrics.jsonl").write_text(text + '{"v": 1, "type": "step", "st')
    assert copy.events() == finished_run.events()


def _v0_lines(run: Run) -> str:
    """The run's events as the unversioned flat dicts written before the schema had a version."""
    lines = []
    for event in run.events():
        data = event_to_dict(event)
        del data["v"]
        if isinstance(event, StartEvent):
            heads = data.pop("aux_heads")
            data["aux_present"] = {h: any(x["name"] == h for x in heads) for h in ("aux1", "aux2")}
            data["aux_in_loss"] = {x["name"]: x["in_loss"] for x in heads}
            data["aux_weights"] = {x["name"]: x["weight"] for x in heads}
        if isinstance(event, EpochEvent):
            for score in data.pop("val"):
                suffix = "" if score["head"] == "main" else f"_{score['head']}"
                data[f"val_loss{suffix}"] = score["loss"]
                data[f"val_acc{suffix}"] = score["acc"]
        lines.append(json.dumps(data))
    return "\n".join(lines) + "\n"


def test_an_unversioned_metrics_file_still_reads(finished_run, tmp_path) -> None:
    old = Run.create(tiny_config(), tiny_train_config(), tmp_path)
    (old.path / "metrics.jsonl").write_text(_v0_lines(finished_run))
    assert old.events() == finished_run.events()
    assert list(old.epochs_frame()["val_acc_aux1"]) == list(
        finished_run.epochs_frame()["val_acc_aux1"]
    )


def test_a_newer_metrics_file_is_refused_with_a_sentence(tmp_path) -> None:
    run = Run.create(tiny_config(), tiny_train_config(), tmp_path)
    (run.path / "metrics.jsonl").write_text(
        '{"v": 9, "type": "note", "message": "from the future"}\n'
    )
    with pytest.raises(RunFormatError, match="schema version 9, written by a newer googlenet_core"):
        run.events()
    (summary,) = list_runs(tmp_path)  # the list still shows the run, and why it has no curves
    assert "newer googlenet_core" in summary.message and summary.epochs_done == 0
