"""A process-wide registry of background jobs: a bounded number run, the rest queue.

The dashboard keeps one :class:`JobRegistry` per server process (Streamlit's
``st.cache_resource``); every browser session submits to it. Each job has a
daemon thread that never touches the UI: it only appends events to its job,
under the registry's lock, and a page polls :meth:`Job.snapshot`. For training
(:mod:`.training_jobs`) that thread only watches a child process (:mod:`.worker`),
which does the work. Several jobs submitted together (an A/B pair) go in whole or
not at all: :meth:`JobRegistry.submit_all` checks the caps and queues them under
one lock.

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
keeping its last checkpoint (:mod:`.settings`).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ..i18n import _
from ..training.events import Event
from ..training.status import FINISHED, OUTCOMES, Outcome, State
from .settings import current

log = logging.getLogger(__name__)

KEEP_FINISHED = 50  # finished jobs remembered (their events) before the oldest are dropped


def default_max_running() -> int:
    """``$GOOGLENET_MAX_JOBS``, else one per CUDA GPU, else 1."""
    value = current().max_jobs
    if value is not None:
        return value
    return max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1


def job_time_limit() -> float:
    """Seconds a job may run: ``$GOOGLENET_JOB_MINUTES`` or 30 minutes."""
    return current().job_seconds


class QueueFull(ValueError):
    """A job refused because a queue cap is reached (the message says which)."""


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


@dataclass(frozen=True)
class Submission:
    """One job to queue: its work, and optionally its id, label and what to do if it is
    cancelled before it starts."""

    work: Work
    job_id: str | None = None
    label: str = ""
    on_cancel_queued: Callable[[], None] | None = None


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
        settings = current()
        self.max_running = max_running or default_max_running()
        self.per_owner = per_owner or settings.jobs_per_browser
        self.max_queued = max_queued or settings.max_queued
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
        return self.submit_all([Submission(work, job_id, label, on_cancel_queued)], owner=owner)[0]

    def submit_all(self, submissions: Sequence[Submission], *, owner: str) -> list[Job]:
        """Queue several jobs for ``owner`` together: all of them, or none.

        The caps are checked for all of them and the jobs queued under one lock, so a
        cap reached by another browser in between cannot leave half of an A/B pair.
        """
        jobs = [
            Job(
                id=item.job_id or secrets.token_hex(6),
                label=item.label,
                owner=owner,
                work=item.work,
                on_cancel_queued=item.on_cancel_queued,
            )
            for item in submissions
        ]
        if len({job.id for job in jobs}) < len(jobs):
            raise ValueError("two jobs of one submission have the same id")
        with self._lock:
            self._check_room(owner, len(jobs))
            taken = [job.id for job in jobs if job.id in self._jobs]
            if taken:
                raise ValueError(f"a job named {taken[0]!r} already exists")
            for job in jobs:
                self._jobs[job.id] = job
                self._queue.append(job)
            self._start_queued()
            self._forget_old()
        return jobs

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

    def recent(self, owner: str, within_s: float) -> list[Job]:
        """``owner``'s jobs waiting, running, or finished in the last ``within_s`` seconds."""
        now = time.time()
        return [
            job
            for job in self.owned_by(owner)
            if not job.done or (job.finished or now) > now - within_s
        ]

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
                raise PermissionError(_("only the browser that started this job can cancel it"))
            if job.done:
                return False
            job.stop.set()
            if job.state != "queued":
                return True
            self._queue.remove(job)
            job.state, job.message, job.finished = (
                "cancelled",
                _("cancelled before it started"),
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
                _(
                    "you have {mine} run(s) waiting or running and this server takes at most "
                    "{limit} per browser: wait for one to finish or cancel one"
                ).format(mine=mine, limit=self.per_owner)
            )
        if len(self._queue) + wanted > self.max_queued:
            raise QueueFull(
                _(
                    "the queue is full ({waiting} runs waiting, at most {limit}): try again when "
                    "some have finished"
                ).format(waiting=len(self._queue), limit=self.max_queued)
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
