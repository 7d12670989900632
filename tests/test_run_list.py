"""The Train page's run list: the run "Download from run" offers (the most accurate finished
one, not the latest), and the columns on screen first at 1280 px."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import app_test, new_server

from googlenet_core import get_preset
from googlenet_core.training.compare import best_finished
from googlenet_core.training.config import TrainConfig
from googlenet_core.training.runs import Run, RunSummary

PAGE = "pages/train.py"


def _summary(run_id: str, acc: float | None, status: str = "completed") -> RunSummary:
    return RunSummary(
        id=run_id, path=Path(run_id), status=status, message="", updated="",  # type: ignore[arg-type]
        network="mini", dataset="digits", aux_weight1=0.3, aux_weight2=0.3,
        epochs=1, epochs_done=1, best_val_acc=acc, has_checkpoint=True,
    )  # fmt: skip


def test_best_finished_is_the_most_accurate_and_the_newest_of_equals() -> None:
    runs = [  # newest first, as list_runs gives them
        _summary("r5", 0.99, status="running"),  # not finished: its accuracy may still move
        _summary("r4", 0.80),
        _summary("r3", 0.90),
        _summary("r2", 0.90),
        _summary("r1", None, status="failed"),
    ]
    assert best_finished(runs) == "r3"
    no_checkpoint = dataclasses.replace(runs[2], has_checkpoint=False)
    assert best_finished([runs[0], runs[1], no_checkpoint, runs[3]]) == "r2"
    assert best_finished([runs[0], runs[4]]) is None


def _finished_run(root: Path, order: int, acc: float) -> str:
    """A completed command-line run (seen by everyone) with a checkpoint file; ``order``
    sets its place in the store, newest last."""
    run = Run.create(get_preset("mini"), TrainConfig(), root, status="queued")
    run.set_status("completed", "done", best_val_acc=acc)
    (run.path / "best.pt").write_bytes(b"a checkpoint")
    run_id = f"2025010{order}-000000-mini-digits-w0.3-0.3-abcd"
    run.path.rename(root / run_id)
    return run_id


def test_download_offers_the_best_finished_run_and_keeps_a_pick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "runs"
    new_server(monkeypatch, GOOGLENET_RUNS_DIR=str(root))
    best = _finished_run(root, 1, 0.9)
    later = _finished_run(root, 2, 0.5)
    at = app_test(PAGE, preset="mini").run()
    download = at.selectbox(key="train_download_run")
    assert download.value == best  # not the later, less accurate one
    # A run that finishes less accurate leaves the offer; a more accurate one takes it.
    _finished_run(root, 3, 0.7)
    assert at.run().selectbox(key="train_download_run").value == best
    better = _finished_run(root, 4, 0.95)
    assert at.run().selectbox(key="train_download_run").value == better
    # The visitor's own pick stays when a better run finishes.
    at.selectbox(key="train_download_run").set_value(later).run()
    _finished_run(root, 5, 0.99)
    assert at.run().selectbox(key="train_download_run").value == later
    assert not at.exception


def test_the_runs_table_shows_what_a_student_looks_for_first() -> None:
    """At 1280 px the first columns are on screen: the run, its status, its accuracy and
    its epochs; every column of the table is still there, further right."""
    from googlenet_core.training.runs import runs_frame
    from pages.common.run_store import RUNS_COLUMNS

    assert RUNS_COLUMNS[:4] == ("id", "status", "best_val_acc", "epochs_done")
    assert set(RUNS_COLUMNS) == {*runs_frame([]).columns, "seen by"}
