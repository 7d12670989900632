"""The job registry: a bounded number of jobs at once, a queue, owner-only cancel, reattach."""

from __future__ import annotations

import threading

import pytest
import torch
from tiny import tiny_config, tiny_train_config

from googlenet_core.service.host import Figure
from googlenet_core.service.jobs import (
    JobContext,
    JobRegistry,
    QueueFull,
    default_max_running,
)
from googlenet_core.service.settings import problems
from googlenet_core.service.training_jobs import submit_runs
from googlenet_core.training.events import EndEvent, EpochEvent, NoteEvent, StartEvent
from googlenet_core.training.plan import Choices, TrainPlan, plan_training
from googlenet_core.training.runs import Run
from googlenet_core.training.status import Outcome

WAIT = 60.0  # seconds; generous for a busy shared machine
ME = "a-browser"  # an owner id (pages use access.owner_id of the browser's secret)


def _submit(registry, plan, **options):
    """One run, as the page's Start button submits it (an A/B pair is two). These tests are
    about the queue and the worker: room enough and a stated process baseline, so no probe
    runs and a small test host refuses nothing (tests/test_memory.py checks the fit)."""
    options.setdefault("memory_budget", Figure(64 * 2**30, "a test host"))
    options.setdefault("process_bytes", 2**30)
    return submit_runs(registry, [plan], **options)[0]


def _blocking(release: threading.Event, started: list[str], name: str):
    def work(ctx: JobContext) -> tuple[Outcome, str]:
        started.append(name)
        ctx.emit(NoteEvent(f"{name} started"))
        while not release.wait(0.01):
            if ctx.stop.is_set():
                return "cancelled", f"{name} stopped"
        return "completed", f"{name} done"

    return work


def test_two_jobs_run_at_once_and_a_third_waits_its_turn() -> None:
    registry = JobRegistry(max_running=2)
    release = threading.Event()
    started: list[str] = []
    jobs = [registry.submit(_blocking(release, started, n), owner=ME, label=n) for n in "abc"]
    assert [j.state for j in jobs] == ["running", "running", "queued"]
    assert registry.position(jobs[2]) == 1 and registry.position(jobs[0]) is None
    assert registry.counts() == (2, 1)
    snapshot = registry.snapshot(jobs[2])
    assert snapshot.position == 1 and snapshot.state == "queued" and not snapshot.events
    release.set()
    for job in jobs:
        assert registry.wait(job, WAIT)
    assert [j.state for j in jobs] == ["completed"] * 3
    assert sorted(started[:2]) == ["a", "b"] and started[2] == "c"
    (note,) = registry.snapshot(jobs[2]).events
    assert isinstance(note, NoteEvent) and note.message == "c started"


def test_only_the_owner_cancels_and_a_running_job_stops() -> None:
    registry = JobRegistry(max_running=1)
    release = threading.Event()
    job = registry.submit(_blocking(release, [], "a"), owner=ME)
    with pytest.raises(PermissionError, match="only the browser that started this job"):
        registry.cancel(job.id, "someone-else")
    assert job.state == "running"
    assert registry.cancel(job.id, job.owner)
    assert registry.wait(job, WAIT)
    assert job.state == "cancelled" and job.message == "a stopped"
    assert registry.cancel(job.id, job.owner) is False  # already over
    with pytest.raises(KeyError):
        registry.cancel("no-such-job", job.owner)


def test_a_queued_job_is_cancelled_without_ever_running() -> None:
    registry = JobRegistry(max_running=1)
    release = threading.Event()
    started: list[str] = []
    first = registry.submit(_blocking(release, started, "first"), owner=ME)
    called: list[bool] = []
    second = registry.submit(
        _blocking(release, started, "second"),
        owner=ME,
        on_cancel_queued=lambda: called.append(True),
    )
    assert registry.cancel(second.id, second.owner)
    assert second.state == "cancelled" and called == [True]
    release.set()
    assert registry.wait(first, WAIT)
    assert started == ["first"] and registry.counts() == (0, 0)


def test_a_page_reload_finds_its_browsers_jobs_and_no_others() -> None:
    registry = JobRegistry(max_running=1)
    release = threading.Event()
    job = registry.submit(_blocking(release, [], "a"), owner=ME)
    other = registry.submit(_blocking(release, [], "b"), owner="someone-else")
    # A new session of the same browser (after a refresh) has only its owner id (a cookie).
    assert registry.owned_by(ME) == [job]
    assert registry.owned_by("someone-else") == [other]
    assert registry.owned_by("nobody") == [] and registry.owned_by("") == []
    assert registry.get(job.id) is job
    release.set()
    assert registry.wait(other, WAIT)
    assert registry.owned_by(ME) == [job]  # finished jobs can still be looked at


def test_queue_caps_per_browser_and_in_total_refuse_with_a_sentence() -> None:
    registry = JobRegistry(max_running=1, per_owner=2, max_queued=3)
    release = threading.Event()
    mine = [registry.submit(_blocking(release, [], n), owner=ME) for n in "ab"]
    assert registry.room(ME) is not None and registry.room("other") is None
    with pytest.raises(QueueFull, match="at most 2 per browser"):
        registry.submit(_blocking(release, [], "c"), owner=ME)
    assert "at most 2 per browser" in (registry.room("other", 3) or "")
    for name in "xy":  # a runs; b, x and y wait
        registry.submit(_blocking(release, [], name), owner=name)
    with pytest.raises(QueueFull, match="the queue is full"):
        registry.submit(_blocking(release, [], "z"), owner="z")
    registry.cancel(mine[1].id, ME)  # a cancelled job frees its owner's place and the queue's
    assert registry.room(ME) is None
    release.set()
    for job in registry.owned_by(ME):
        assert registry.wait(job, WAIT)


def test_caps_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("GOOGLENET_JOBS_PER_BROWSER", "5")
    monkeypatch.setenv("GOOGLENET_MAX_QUEUED", "7")
    registry = JobRegistry(max_running=1)
    assert (registry.per_owner, registry.max_queued) == (5, 7)
    monkeypatch.setenv("GOOGLENET_MAX_QUEUED", "0")  # not allowed: the default, and said
    assert JobRegistry(max_running=1).max_queued == 20
    assert problems()[0].startswith("GOOGLENET_MAX_QUEUED must be at least 1, got 0")


def test_a_crashing_job_fails_without_taking_the_registry_down() -> None:
    registry = JobRegistry(max_running=1)

    def broken(ctx: JobContext) -> tuple[Outcome, str]:
        raise RuntimeError("boom")

    job = registry.submit(broken, owner=ME)
    after = registry.submit(lambda ctx: ("completed", "fine"), owner=ME)
    assert registry.wait(after, WAIT)
    assert job.state == "failed" and "RuntimeError: boom" in job.message
    assert after.state == "completed"


def test_the_limit_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("GOOGLENET_MAX_JOBS", "3")
    assert default_max_running() == 3 and JobRegistry().max_running == 3
    monkeypatch.setenv("GOOGLENET_MAX_JOBS", "zero")
    assert "GOOGLENET_MAX_JOBS must be a whole number, got 'zero'" in problems()[0]
    monkeypatch.delenv("GOOGLENET_MAX_JOBS")
    if not torch.cuda.is_available():
        assert default_max_running() == 1  # one per CPU host


def test_a_training_job_writes_its_run_and_reports_events(tmp_path) -> None:
    registry = JobRegistry(max_running=1)
    plan = TrainPlan(tiny_config(), tiny_train_config(epochs=1))
    job = _submit(registry, plan, owner=ME, runs_dir=tmp_path)
    assert registry.wait(job, WAIT)
    assert job.state == "completed", job.message
    events = registry.snapshot(job).events
    assert isinstance(events[0], StartEvent) and isinstance(events[-1], EndEvent)
    assert any(isinstance(e, EpochEvent) for e in events)
    run = Run(tmp_path / job.id)
    assert run.status().status == "completed" and run.checkpoint("best") is not None


def test_a_training_job_cancelled_in_the_queue_marks_its_run(tmp_path) -> None:
    registry = JobRegistry(max_running=1)
    release = threading.Event()
    blocker = registry.submit(_blocking(release, [], "blocker"), owner="host")
    plan = TrainPlan(tiny_config(), tiny_train_config())
    job = _submit(registry, plan, owner=ME, runs_dir=tmp_path)
    assert Run(tmp_path / job.id).status().status == "queued"
    registry.cancel(job.id, job.owner)
    assert Run(tmp_path / job.id).status().status == "cancelled"
    release.set()
    assert registry.wait(blocker, WAIT)


def test_a_training_job_is_refused_before_queueing_when_it_cannot_train(tmp_path) -> None:
    """A plan is one that can train: a refused pairing never reaches the queue or the store."""
    registry = JobRegistry(max_running=1)
    with pytest.raises(ValueError, match="batch size 1"):
        plan_training(tiny_config(), "digits", Choices(batch_size=1))
    with pytest.raises(ValueError, match="batch size 1"):
        TrainPlan(tiny_config(), tiny_train_config(batch_size=1))
    assert registry.jobs() == [] and list(tmp_path.iterdir()) == []


def _pair() -> list[TrainPlan]:
    return [
        TrainPlan(tiny_config(), tiny_train_config()),
        TrainPlan(tiny_config(), tiny_train_config(aux_weight1=0.0, aux_weight2=0.0)),
    ]


#: Room enough on any host and a stated process baseline: these tests are about the queue.
ROOMY = {"memory_budget": Figure(64 * 2**30, "a test host"), "process_bytes": 2**30}


def test_an_ab_pair_goes_in_whole_or_not_at_all(tmp_path) -> None:
    """One place left for this browser: a pair is refused whole, and no run folder stays."""
    registry = JobRegistry(max_running=1, per_owner=3)
    release = threading.Event()
    blockers = [registry.submit(_blocking(release, [], f"b{i}"), owner=ME) for i in range(2)]
    with pytest.raises(QueueFull, match="at most 3 per browser"):
        submit_runs(registry, _pair(), owner=ME, runs_dir=tmp_path, **ROOMY)
    assert list(tmp_path.iterdir()) == [] and len(registry.jobs()) == 2
    release.set()
    for job in blockers:
        assert registry.wait(job, WAIT)


def test_two_pairs_arriving_together_for_one_place_leave_no_half_pair(tmp_path) -> None:
    """Two browsers click Compare at once with room for three runs on the server: one pair
    goes in whole, the other is refused whole (before, the second pair's first run could
    take the last place and leave half a pair behind)."""
    registry = JobRegistry(max_running=1, max_queued=3)
    release = threading.Event()
    blocker = registry.submit(_blocking(release, [], "blocker"), owner="host")  # runs
    registry.submit(_blocking(release, [], "waiting"), owner="host")  # one place taken
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def compare(owner: str) -> None:
        start.wait()
        try:
            outcomes[owner] = submit_runs(
                registry, _pair(), owner=owner, runs_dir=tmp_path, **ROOMY
            )
        except QueueFull as exc:
            outcomes[owner] = exc

    browsers = [threading.Thread(target=compare, args=(name,)) for name in ("alice", "bob")]
    for browser in browsers:
        browser.start()
    for browser in browsers:
        browser.join()
    queued = [o for o in outcomes.values() if isinstance(o, list)]
    assert len(queued) == 1 and len(queued[0]) == 2, outcomes
    assert sum(isinstance(o, QueueFull) for o in outcomes.values()) == 1
    assert len(list(tmp_path.iterdir())) == 2  # the refused pair left no folder
    assert registry.counts() == (1, 3)
    for job in queued[0]:
        registry.cancel(job.id, job.owner)
    release.set()
    assert registry.wait(blocker, WAIT)


def test_recent_jobs_are_the_waiting_running_and_just_finished_ones() -> None:
    registry = JobRegistry(max_running=1)
    done = registry.submit(lambda ctx: ("completed", "fine"), owner=ME)
    assert registry.wait(done, WAIT)
    assert registry.recent(ME, 600.0) == [done]
    done.finished = (done.finished or 0) - 601
    assert registry.recent(ME, 600.0) == [] and registry.recent("someone else", 600.0) == []
