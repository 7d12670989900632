"""A training run as a job: its run folder made, its child process started and watched.

:func:`submit_runs` is what the Train page's Start and Compare buttons do: it checks
the queue's caps and the runs' predicted memory (:mod:`.budgets`) before anything is
written, makes a run folder per plan (status ``queued``, with who sees it,
:mod:`.access`), and queues their jobs in the registry (:mod:`.jobs`) all together or
not at all. A job's thread only starts the training process (:mod:`.worker`), relays
its events, stops it on cancel or at the time limit, and records how it ended when
the process could not say it itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Sequence

from .._io import duration
from ..i18n import _, active_language, use_language
from ..training.events import EndEvent
from ..training.plan import TrainPlan
from ..training.runs import Run
from ..training.status import Outcome
from .access import ACCESS_FILE, Access
from .budgets import check_fit, job_budget
from .host import Figure
from .jobs import Job, JobContext, JobRegistry, QueueFull, Submission, job_time_limit
from .probes import process_baseline
from .settings import current
from .worker import Child, run_child, spawn

log = logging.getLogger(__name__)


class TooBig(ValueError):
    """A run refused because its predicted peak memory exceeds what a job may take here."""


def submit_runs(
    registry: JobRegistry,
    plans: Sequence[TrainPlan],
    *,
    owner: str,
    access: Access | None = None,
    runs_dir: str | os.PathLike[str] | None = None,
    archive: bytes | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    time_limit: float | None = None,
    memory_budget: Figure | None = None,
    process_bytes: int | None = None,
) -> list[Job]:
    """Create a run folder (status 'queued') per plan and queue their training, all or none.

    Each plan is :func:`googlenet_core.training.plan.plan_training`'s answer: its run
    folder records exactly its network and recipe. A job's id is its run's name, so the
    runs list and the jobs agree. A job's thread only starts the child (:mod:`.worker`),
    relays its events and signals it on cancel: the training, its memory and its
    threads are the child's, so a crash or an out-of-memory kill ends that run as
    ``failed`` and nothing else. An uploaded zip's bytes (``archive``) go to each child
    through a pipe and are released here once sent: nothing is extracted to disk.

    ``access`` (who sees the runs, :mod:`.access`) is written into each run folder,
    private to ``owner`` unless it says otherwise; a child still running after
    ``time_limit`` seconds (default :func:`job_time_limit`) is stopped as if cancelled,
    keeping its last checkpoint, and its message says why. A run whose predicted peak
    memory (:func:`.budgets.check_fit`, with the process baseline measured here unless
    ``process_bytes`` gives it) exceeds ``memory_budget`` (default
    :func:`.budgets.job_budget`) is refused with :class:`TooBig`, and a full queue with
    :class:`QueueFull`, before any run folder exists.
    """
    settings = current()  # the store and the download cache, unless given
    runs_dir = settings.runs_dir if runs_dir is None else runs_dir
    cache_dir = settings.data_dir if cache_dir is None else cache_dir
    refused = registry.room(owner, len(plans))
    if refused:  # before the run folders exist (checked again, under the lock, below)
        raise QueueFull(refused)
    budget = memory_budget or job_budget(registry.max_running)
    problem = ""
    if process_bytes is None:
        baseline = process_baseline(budget.value)
        process_bytes, problem = baseline.value, baseline.problem
    for plan in plans:
        fit = check_fit(
            plan.config, plan.train_config, budget, archive, process=process_bytes, problem=problem
        )
        if not fit.fits:  # predicted from the analysis: nothing was allocated
            raise TooBig(fit.refusal())
    access = access or Access(owner, "private")
    limit = job_time_limit() if time_limit is None else time_limit
    runs: list[Run] = []
    try:
        submissions = []
        for plan in plans:
            run = Run.create(
                plan.config,
                plan.train_config,
                runs_dir,
                status="queued",
                message=_("waiting"),
                files={ACCESS_FILE: access.to_json()},
            )
            runs.append(run)
            submissions.append(
                _training(run, plan, archive, cache_dir, threads, limit, active_language())
            )
        return registry.submit_all(submissions, owner=owner)
    except (ValueError, OSError):  # refused (a cap reached meanwhile): leave no run behind
        for run in runs:
            shutil.rmtree(run.path, ignore_errors=True)
        raise


def _training(
    run: Run,
    plan: TrainPlan,
    archive: bytes | None,
    cache_dir: str | os.PathLike[str] | None,
    threads: int | None,
    limit: float,
    language: str,
) -> Submission:
    """The job that trains ``run`` in a child process, and what to do if it is cancelled
    while it waits. Everything it says, it says in ``language``, the submitter's: the
    job's thread is the registry's, and the child a process of its own."""
    upload = [archive]

    def work(ctx: JobContext) -> tuple[Outcome, str]:
        with use_language(language):
            return supervise(ctx)

    def supervise(ctx: JobContext) -> tuple[Outcome, str]:
        data, upload[0] = upload[0], None
        try:
            child = spawn(
                run.path,
                archive=data,
                class_names=plan.class_names,
                cache_dir=cache_dir,
                threads=threads,
                language=language,
            )
        except OSError as exc:
            message = _("could not start the training process: {error}").format(error=exc)
            return _ended_without_outcome(run, ctx, message)
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
                message = _(
                    "stopped at this server's limit of {duration} per job ({message})"
                ).format(duration=duration(limit), message=message)
                _record(run, status, message)
            elif not run.status().finished:  # the child could not write it (a full disk)
                _record(run, status, message)
            return status, message
        if (ctx.stop.is_set() or timed_out.is_set()) and code in (0, -signal.SIGTERM):
            # Stopped while it was still starting (importing torch, reading the data: seconds
            # on a busy host), before its handler for SIGTERM could report an outcome.
            if timed_out.is_set():
                message = _(
                    "stopped at this server's limit of {duration} per job (before training began)"
                ).format(duration=duration(limit))
            else:
                message = _("cancelled before training began")
            return _ended_without_outcome(run, ctx, message, "cancelled")
        return _ended_without_outcome(run, ctx, child.why_it_ended(code))

    def cancelled_while_queued() -> None:
        upload[0] = None
        with use_language(language):
            run.set_status("cancelled", _("cancelled before it started"))

    return Submission(work, run.id, run.id, cancelled_while_queued)


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
