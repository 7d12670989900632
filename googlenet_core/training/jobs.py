"""A process-wide registry of background jobs: a bounded number run, the rest queue.

The dashboard keeps one :class:`JobRegistry` per server process (Streamlit's
``st.cache_resource``); every browser session submits to it. Each job has a
daemon thread that never touches the UI: it only appends events to its job,
under the registry's lock, and a page polls :meth:`Job.snapshot`. For training
(:func:`submit_training`) that thread only watches a child process
(:mod:`.worker`), which does the work.

A job has a public ``id`` (its run folder's name) and a secret ``token``. The
token is what a page keeps in its URL: it finds the job again after a refresh
(:meth:`JobRegistry.find`), and it is the only thing that can cancel it, so a
job is cancelled by the session that started it and no other.

By default one job runs at a time on a CPU host (two would only share the same
cores and both finish later) and one per GPU on a GPU host;
``$GOOGLENET_MAX_JOBS`` or the constructor changes that.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .._host import int_setting
from .events import EndEvent, Event
from .plan import TrainPlan
from .runs import Run
from .status import FINISHED, OUTCOMES, Outcome, State
from .worker import Child, run_child, spawn

log = logging.getLogger(__name__)

MAX_JOBS_ENV = "GOOGLENET_MAX_JOBS"
KEEP_FINISHED = 50  # finished jobs remembered (their events) before the oldest are dropped


def default_max_running() -> int:
    """``$GOOGLENET_MAX_JOBS``, else one per CUDA GPU, else 1."""
    value = int_setting(MAX_JOBS_ENV, 1)
    if value is not None:
        return value
    return max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1


class JobContext:
    """What a job's work function gets: the stop flag and a way to report events."""

    def __init__(self, job: Job, registry: JobRegistry) -> None:
        self._job = job
        self._registry = registry

    @property
    def stop(self) -> threading.Event:
        return self._job.stop

    def emit(self, event: Event) -> None:
        self._registry._append(self._job, event)


#: The work: runs in the job's thread, returns (its outcome, a message).
Work = Callable[[JobContext], tuple[Outcome, str]]


@dataclass
class Job:
    id: str  # public: shown in lists, names the run folder
    label: str
    token: str = field(repr=False)  # secret: reattaches a page and cancels
    state: State = "queued"
    message: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    events: list[Event] = field(default_factory=list, repr=False)
    stop: threading.Event = field(default_factory=threading.Event, repr=False)
    work: Work | None = field(default=None, repr=False)  # dropped when the job ends
    on_cancel_queued: Callable[[], None] | None = field(default=None, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.state in FINISHED


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job for display; safe to read without the lock."""

    id: str
    label: str
    state: State
    message: str
    position: int | None  # 1 = next to start; None when not queued
    events: tuple[Event, ...]
    created: float
    started: float | None
    finished: float | None
    cancel_requested: bool

    @property
    def done(self) -> bool:
        return self.state in FINISHED


class JobRegistry:
    """Runs at most ``max_running`` jobs at once; the rest wait in submission order."""

    def __init__(self, max_running: int | None = None) -> None:
        if max_running is not None and max_running < 1:
            raise ValueError("max_running must be at least 1")
        self.max_running = max_running or default_max_running()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}  # id -> job, in submission order
        self._queue: deque[Job] = deque()

    # -- submitting and finding ------------------------------------------------------------
    def submit(
        self,
        work: Work,
        *,
        job_id: str | None = None,
        label: str = "",
        on_cancel_queued: Callable[[], None] | None = None,
    ) -> Job:
        """Queue ``work``; it starts at once if a slot is free. Keep ``job.token`` to cancel."""
        job = Job(
            id=job_id or secrets.token_hex(6),
            label=label,
            token=secrets.token_urlsafe(16),
            work=work,
            on_cancel_queued=on_cancel_queued,
        )
        with self._lock:
            if job.id in self._jobs:
                raise ValueError(f"a job named {job.id!r} already exists")
            self._jobs[job.id] = job
            self._queue.append(job)
            self._start_queued()
            self._forget_old()
        return job

    def find(self, token: str) -> Job | None:
        """The job this token belongs to (a page reattaching after a refresh)."""
        if not token:
            return None
        with self._lock:
            for job in self._jobs.values():
                if secrets.compare_digest(job.token, token):
                    return job
        return None

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[JobSnapshot]:
        with self._lock:
            return [self._snapshot(job) for job in self._jobs.values()]

    def snapshot(self, job: Job) -> JobSnapshot:
        with self._lock:
            return self._snapshot(job)

    def position(self, job: Job) -> int | None:
        """1-based place in the queue, None when the job is not waiting."""
        with self._lock:
            return self._position(job)

    def counts(self) -> tuple[int, int]:
        """(running, queued)."""
        with self._lock:
            running = sum(1 for j in self._jobs.values() if j.state == "running")
            return running, len(self._queue)

    # -- cancelling and waiting ------------------------------------------------------------
    def cancel(self, job_id: str, token: str) -> bool:
        """Ask the job to stop; only its token may. False if it had already finished.

        A queued job is cancelled on the spot; a running one stops before its
        next batch (its work function sees ``stop`` set).
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise KeyError(f"no job {job_id!r}")
            if not secrets.compare_digest(job.token, token or ""):
                raise PermissionError("only the session that started this job can cancel it")
            if job.done:
                return False
            job.stop.set()
            if job.state != "queued":
                return True
            self._queue.remove(job)
            job.state, job.message, job.finished = (
                "cancelled",
                "cancelled before it started",
                time.time(),
            )
            job.work = None
            callback = job.on_cancel_queued
            self._changed.notify_all()
        if callback is not None:
            callback()
        return True

    def wait(self, job: Job, timeout: float | None = None) -> bool:
        """Block until the job has finished (tests, the CLI); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not job.done:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(left)
        return True

    # -- internals (the lock is held where noted) ---------------------------------------------
    def _append(self, job: Job, event: Event) -> None:
        with self._lock:
            job.events.append(event)

    def _snapshot(self, job: Job) -> JobSnapshot:  # lock held
        return JobSnapshot(
            id=job.id,
            label=job.label,
            state=job.state,
            message=job.message,
            position=self._position(job),
            events=tuple(job.events),
            created=job.created,
            started=job.started,
            finished=job.finished,
            cancel_requested=job.stop.is_set(),
        )

    def _position(self, job: Job) -> int | None:  # lock held
        if job.state != "queued":
            return None
        for i, queued in enumerate(self._queue, start=1):
            if queued is job:
                return i
        return None

    def _start_queued(self) -> None:  # lock held
        running = sum(1 for j in self._jobs.values() if j.state == "running")
        while self._queue and running < self.max_running:
            job = self._queue.popleft()
            job.state, job.started = "running", time.time()
            job.thread = threading.Thread(
                target=self._run, args=(job,), name=f"job-{job.id}", daemon=True
            )
            job.thread.start()
            running += 1

    def _run(self, job: Job) -> None:
        work = job.work
        assert work is not None
        state: Outcome
        try:
            state, message = work(JobContext(job, self))
            if state not in OUTCOMES:
                state, message = "failed", f"the job ended in an unknown state {state!r}"
        except Exception as exc:  # noqa: BLE001 - a job's failure must not kill the server
            log.exception("job %s failed", job.id)
            state, message = "failed", f"{type(exc).__name__}: {exc}"
        with self._lock:
            job.state, job.message, job.finished = state, message, time.time()
            job.work = None  # releases what the work held (an uploaded zip's bytes)
            self._start_queued()
            self._changed.notify_all()

    def _forget_old(self) -> None:  # lock held
        finished = [j for j in self._jobs.values() if j.done]
        for job in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job.id]


def submit_training(
    registry: JobRegistry,
    plan: TrainPlan,
    *,
    runs_dir: str | os.PathLike[str] | None = None,
    archive: bytes | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    threads: int | None = None,
) -> Job:
    """Create the run folder (status 'queued') and queue its training in a child process.

    ``plan`` is :func:`.plan.plan_training`'s answer: the run folder records
    exactly its network and recipe. The job's id is the run's name, so the
    runs list and the job agree. The job's thread only starts the child
    (:mod:`.worker`), relays its events and signals it on cancel: the training,
    its memory and its threads are the child's, so a crash or an out-of-memory
    kill ends that run as ``failed`` and nothing else. An uploaded zip's bytes
    (``archive``) go to the child through a pipe and are released here once sent:
    nothing is extracted to disk.
    """
    run = Run.create(plan.config, plan.train_config, runs_dir, status="queued", message="waiting")
    upload = [archive]

    def work(ctx: JobContext) -> tuple[Outcome, str]:
        data, upload[0] = upload[0], None
        try:
            child = spawn(
                run.path,
                archive=data,
                class_names=plan.class_names,
                cache_dir=cache_dir,
                threads=threads,
            )
        except OSError as exc:
            return _ended_without_outcome(run, ctx, f"could not start the training process: {exc}")
        del data
        watcher = threading.Thread(
            target=_cancel_on_stop, args=(ctx.stop, child), name=f"stop-{run.id}", daemon=True
        )
        watcher.start()
        end = run_child(child, ctx.emit)
        code = child.wait()
        for leftover in run.path.glob(".*.tmp"):  # a save the child was killed in
            leftover.unlink(missing_ok=True)
        if end is not None:
            if not run.status().finished:  # the child could not write it (a full disk)
                _record(run, end.status, end.message)
            return end.status, end.message
        if ctx.stop.is_set() and code in (0, -signal.SIGTERM):
            return _ended_without_outcome(run, ctx, "cancelled before training began", "cancelled")
        return _ended_without_outcome(run, ctx, child.why_it_ended(code))

    def cancelled_while_queued() -> None:
        upload[0] = None
        run.set_status("cancelled", "cancelled before it started")

    return registry.submit(
        work, job_id=run.id, label=run.id, on_cancel_queued=cancelled_while_queued
    )


def _record(run: Run, status: Outcome, message: str) -> None:
    try:
        run.set_status(status, message)
    except OSError:  # a full disk: the run reads "interrupted" (its process is gone)
        log.exception("could not record the end of run %s", run.id)


def _cancel_on_stop(stop: threading.Event, child: Child) -> None:
    while child.process.poll() is None:
        if stop.wait(0.5):
            child.cancel()
            return


def _ended_without_outcome(
    run: Run, ctx: JobContext, message: str, status: Outcome = "failed"
) -> tuple[Outcome, str]:
    """Record the end of a child that could not say it itself (killed, crashed, never began)."""
    _record(run, status, message)
    ctx.emit(
        EndEvent(
            status=status,
            message=message,
            best_val_acc=None,
            best_epoch=None,
            epochs_completed=0,
            steps=0,
            train_seconds=0.0,
            elapsed=0.0,
        )
    )
    return status, message
