"""A process-wide registry of background jobs: a bounded number run, the rest queue.

The dashboard keeps one :class:`JobRegistry` per server process (Streamlit's
``st.cache_resource``); every browser session submits to it. Each job has a
daemon thread that never touches the UI: it only appends events to its job,
under the registry's lock, and a page polls :meth:`Job.snapshot`. For training
(:func:`submit_training`) that thread only watches a child process
(:mod:`.worker`), which does the work.

A job has a public ``id`` (its run folder's name) and an ``owner``: the hash of
the starting browser's secret (:mod:`.access`). A page finds its browser's jobs
again after a refresh with :meth:`JobRegistry.owned_by`, and only the owner can
cancel one; nothing about a job travels in a link.

By default one job runs at a time on a CPU host (two would only share the same
cores and both finish later) and one per GPU on a GPU host;
``$GOOGLENET_MAX_JOBS`` or the constructor changes that. One class shares the
queue, so a browser may have at most ``$GOOGLENET_JOBS_PER_BROWSER`` (3) jobs
waiting or running and the server at most ``$GOOGLENET_MAX_QUEUED`` (20) waiting;
a job running longer than ``$GOOGLENET_JOB_MINUTES`` (30) is stopped like a cancel,
keeping its last checkpoint.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .._host import Figure, int_setting
from .._io import duration
from .access import ACCESS_FILE, Access
from .events import EndEvent, Event
from .memory import check_fit, job_budget
from .plan import TrainPlan
from .runs import Run
from .status import FINISHED, OUTCOMES, Outcome, State
from .worker import Child, run_child, spawn

log = logging.getLogger(__name__)

MAX_JOBS_ENV = "GOOGLENET_MAX_JOBS"
PER_OWNER_ENV = "GOOGLENET_JOBS_PER_BROWSER"
MAX_QUEUED_ENV = "GOOGLENET_MAX_QUEUED"
JOB_MINUTES_ENV = "GOOGLENET_JOB_MINUTES"
PER_OWNER = 3  # an A/B pair and one more; a class of 30 then fills at most 90 slots
MAX_QUEUED = 20  # at the mini recipe's ~20 s a run, the last waits about 7 minutes
JOB_MINUTES = 30
KEEP_FINISHED = 50  # finished jobs remembered (their events) before the oldest are dropped


def default_max_running() -> int:
    """``$GOOGLENET_MAX_JOBS``, else one per CUDA GPU, else 1."""
    value = int_setting(MAX_JOBS_ENV, 1)
    if value is not None:
        return value
    return max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1


def job_time_limit() -> float:
    """Seconds a job may run: ``$GOOGLENET_JOB_MINUTES`` or 30 minutes."""
    minutes = int_setting(JOB_MINUTES_ENV, 1, "whole minutes")
    return 60.0 * (JOB_MINUTES if minutes is None else minutes)


class QueueFull(ValueError):
    """A job refused because a queue cap is reached (the message says which)."""


class TooBig(ValueError):
    """A job refused because its predicted peak memory exceeds what a job may take here."""


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
    owner: str = field(repr=False)  # the starting browser's owner id: finds and cancels it
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

    def __init__(
        self,
        max_running: int | None = None,
        *,
        per_owner: int | None = None,
        max_queued: int | None = None,
    ) -> None:
        if max_running is not None and max_running < 1:
            raise ValueError("max_running must be at least 1")
        self.max_running = max_running or default_max_running()
        self.per_owner = per_owner or int_setting(PER_OWNER_ENV, 1) or PER_OWNER
        self.max_queued = max_queued or int_setting(MAX_QUEUED_ENV, 1) or MAX_QUEUED
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}  # id -> job, in submission order
        self._queue: deque[Job] = deque()

    # -- submitting and finding ------------------------------------------------------------
    def submit(
        self,
        work: Work,
        *,
        owner: str,
        job_id: str | None = None,
        label: str = "",
        on_cancel_queued: Callable[[], None] | None = None,
    ) -> Job:
        """Queue ``work`` for ``owner``; it starts at once if a slot is free.

        Raises :class:`QueueFull` when the owner already has ``per_owner`` jobs waiting
        or running, or the queue holds ``max_queued``.
        """
        job = Job(
            id=job_id or secrets.token_hex(6),
            label=label,
            owner=owner,
            work=work,
            on_cancel_queued=on_cancel_queued,
        )
        with self._lock:
            self._check_room(owner, 1)
            if job.id in self._jobs:
                raise ValueError(f"a job named {job.id!r} already exists")
            self._jobs[job.id] = job
            self._queue.append(job)
            self._start_queued()
            self._forget_old()
        return job

    def room(self, owner: str, wanted: int = 1) -> str | None:
        """Why ``wanted`` more jobs of ``owner`` would be refused now, or None if they fit."""
        with self._lock:
            try:
                self._check_room(owner, wanted)
            except QueueFull as exc:
                return str(exc)
        return None

    def owned_by(self, owner: str) -> list[Job]:
        """The jobs of one browser still remembered, oldest first (a page after a refresh)."""
        if not owner:
            return []
        with self._lock:
            return [j for j in self._jobs.values() if secrets.compare_digest(j.owner, owner)]

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
    def cancel(self, job_id: str, owner: str) -> bool:
        """Ask the job to stop; only its owner may. False if it had already finished.

        A queued job is cancelled on the spot; a running one stops before its
        next batch (its work function sees ``stop`` set).
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise KeyError(f"no job {job_id!r}")
            if not secrets.compare_digest(job.owner, owner or ""):
                raise PermissionError("only the browser that started this job can cancel it")
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

    def _check_room(self, owner: str, wanted: int) -> None:  # lock held
        mine = sum(1 for j in self._jobs.values() if j.owner == owner and not j.done)
        if mine + wanted > self.per_owner:
            raise QueueFull(
                f"you have {mine} run(s) waiting or running and this server takes at most "
                f"{self.per_owner} per browser: wait for one to finish or cancel one"
            )
        if len(self._queue) + wanted > self.max_queued:
            raise QueueFull(
                f"the queue is full ({len(self._queue)} runs waiting, at most "
                f"{self.max_queued}): try again when some have finished"
            )

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
    owner: str,
    access: Access | None = None,
    runs_dir: str | os.PathLike[str] | None = None,
    archive: bytes | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    time_limit: float | None = None,
    memory_budget: Figure | None = None,
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

    ``access`` (who sees the run, :mod:`.access`) is written into the run folder
    with it, private to ``owner`` unless it says otherwise; a child still running
    after ``time_limit`` seconds (default :func:`job_time_limit`) is stopped as if
    cancelled, keeping its last checkpoint, and its message says why. A run whose
    predicted peak memory (:func:`.memory.predict_memory`) exceeds ``memory_budget``
    (default :func:`.memory.job_budget`) is refused with :class:`TooBig` first.
    """
    refused = registry.room(owner)
    if refused:  # before the run folder exists (checked again, under the lock, by submit)
        raise QueueFull(refused)
    budget = memory_budget or job_budget(registry.max_running)
    fit = check_fit(plan.config, plan.train_config, budget, archive)
    if not fit.fits:  # predicted from the analysis: nothing was allocated
        raise TooBig(fit.refusal())
    access = access or Access(owner, "private")
    files = {ACCESS_FILE: access.to_json()}
    limit = job_time_limit() if time_limit is None else time_limit
    run = Run.create(
        plan.config, plan.train_config, runs_dir, status="queued", message="waiting", files=files
    )
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
        timed_out = threading.Event()
        watcher = threading.Thread(
            target=_cancel_on_stop,
            args=(ctx.stop, child, limit, timed_out),
            name=f"stop-{run.id}",
            daemon=True,
        )
        watcher.start()
        end = run_child(child, ctx.emit)
        code = child.wait()
        for leftover in run.path.glob(".*.tmp"):  # a save the child was killed in
            leftover.unlink(missing_ok=True)
        if end is not None:
            status, message = end.status, end.message
            if timed_out.is_set() and status == "cancelled":
                message = f"stopped at this server's limit of {duration(limit)} per job ({message})"
                _record(run, status, message)
            elif not run.status().finished:  # the child could not write it (a full disk)
                _record(run, status, message)
            return status, message
        if ctx.stop.is_set() and code in (0, -signal.SIGTERM):
            return _ended_without_outcome(run, ctx, "cancelled before training began", "cancelled")
        return _ended_without_outcome(run, ctx, child.why_it_ended(code))

    def cancelled_while_queued() -> None:
        upload[0] = None
        run.set_status("cancelled", "cancelled before it started")

    try:
        return registry.submit(
            work, owner=owner, job_id=run.id, label=run.id, on_cancel_queued=cancelled_while_queued
        )
    except ValueError:  # refused (a cap reached meanwhile): leave no queued run behind
        shutil.rmtree(run.path, ignore_errors=True)
        raise


def _record(run: Run, status: Outcome, message: str) -> None:
    try:
        run.set_status(status, message)
    except OSError:  # a full disk: the run reads "interrupted" (its process is gone)
        log.exception("could not record the end of run %s", run.id)


def _cancel_on_stop(
    stop: threading.Event, child: Child, limit: float, timed_out: threading.Event
) -> None:
    deadline = time.monotonic() + limit
    while child.process.poll() is None:
        if stop.wait(0.5):
            child.cancel()
            return
        if time.monotonic() > deadline:
            timed_out.set()
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
