"""The one object a dashboard process shares between all its browsers.

A Streamlit server is one process serving every tab; the pages make one
:class:`Server` and cache it (``st.cache_resource``), so there is one job queue,
one run store, one set of probes and one gradient measurement at a time, however
many students arrive together. Everything a page asks of the server goes through
it: the settings (:mod:`.settings`), the jobs (:mod:`.jobs`), what a job may take
(:mod:`.budgets`, with the process baseline measured here, :mod:`.probes`), the
threads a job gets (:mod:`.host`), retention (:mod:`.retention`).

Making it sweeps the temporary files that saves killed before this server started
(a crash, a restart), sets torch's threads in this process once, and starts
measuring the process baseline in the background, so the first Train page finds it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .._io import atomic_write_bytes
from ..data.collected import Collection, prune_collections
from ..i18n import active_language
from ..network.config import GoogLeNetConfig
from ..training.estimate import TimeEstimate, time_estimate
from ..training.flow import StageFlow
from ..training.plan import TrainPlan
from ..training.runs import list_runs, open_run
from .access import Viewer
from .budgets import Fit, check_fit, flow_budget, job_budget
from .host import Figure, lan_address, training_threads
from .jobs import Job, JobRegistry
from .links import LinkStore, RoomAddress, room_address
from .probes import FlowMeasurements, host_rate, process_baseline, start_process_baseline
from .retention import prune, sweep_temporary
from .settings import Settings
from .training_jobs import submit_runs

#: A finished job stays among a browser's live jobs this long (then: the runs list).
RECENT_S = 600.0
#: The threads a new job gets are measured again after this long: the load changes.
THREADS_TTL_S = 60.0
#: Retention is applied at most this often.
PRUNE_EVERY_S = 600.0
COLLECTIONS = "classes"  # under the data cache: one folder of collected photos per browser
WEIGHTS = "weights"  # under the data cache: uploaded weights files to start runs from
KEEP_WEIGHTS = 8  # the most recently used (the same file uploaded twice is kept once) ...
WEIGHTS_MAX_BYTES = 1024 * 2**20  # ... within this; a queued or running run's is always kept


@dataclass(frozen=True)
class Queue:
    """How the job queue stands, and its caps, for the page's one sentence about it."""

    running: int
    queued: int
    max_running: int
    per_browser: int
    max_queued: int
    job_seconds: float


class Server:
    """One dashboard process's shared state and policies."""

    def __init__(self, settings: Settings | None = None, *, measure_now: bool = True) -> None:
        # A value not allowed keeps its default; the pages show why (``problems``).
        self._settings_given = settings is not None
        self.settings = settings or Settings.read()[0]
        self.runs_dir = self.settings.runs_dir
        sweep_temporary(self.runs_dir)
        self.registry = JobRegistry(
            self.settings.max_jobs,
            per_owner=self.settings.jobs_per_browser,
            max_queued=self.settings.max_queued,
        )
        self.flows = FlowMeasurements()
        self.links = LinkStore(self.settings.links_dir)
        # torch's threads in this process (predictions, the speed probe): as many as a job
        # gets, from the CPUs the container really has, not the host's.
        self.threads = training_threads(leave_one_for_server=True, measure_load=False).value
        torch.set_num_threads(self.threads)
        self._lock = threading.Lock()
        # By language: the figure's source is a sentence a visitor reads.
        self._job_threads: dict[str, tuple[Figure, float]] = {}
        self._pruned_at = -PRUNE_EVERY_S
        if measure_now:
            start_process_baseline(lambda: self.budget().value, self.threads)

    @property
    def problems(self) -> tuple[str, ...]:
        """A sentence for each setting the environment holds that is not allowed, in the
        visitor's language (the values themselves were read once, above)."""
        return () if self._settings_given else Settings.read()[1]

    # -- where links point -------------------------------------------------------------

    def room_address(
        self,
        page_url: str,
        server_address: str | None = None,
        base_path: str = "",
        server_port: int | None = None,
    ) -> RoomAddress:
        """The address a short link gives for a page (:func:`.links.room_address`), the
        operator's ``GOOGLENET_PUBLIC_URL`` first."""
        return room_address(
            page_url, self.settings.public_url, server_address, base_path, server_port
        )

    @functools.cached_property
    def lan_address(self) -> str | None:
        """This host's address on its network, looked up once (:func:`.host.lan_address`)."""
        return lan_address()

    # -- what a job may take ---------------------------------------------------------------
    def budget(self) -> Figure:
        """Bytes one job may take now (:func:`.budgets.job_budget`)."""
        return job_budget(self.registry.max_running)

    def fit(self, plan: TrainPlan, archive: bytes | None = None) -> Fit:
        """The plan's predicted peak against what a job may take now."""
        budget = self.budget()
        baseline = process_baseline(budget.value, self.threads)
        return check_fit(
            plan.config, plan.train_config, budget, archive,
            process=baseline.value, problem=baseline.problem,
        )  # fmt: skip

    def job_threads(self) -> Figure:
        """The threads a new job's process gets (measured again each minute)."""
        language = active_language()
        with self._lock:
            cached = self._job_threads.get(language)
            if cached is not None and time.monotonic() - cached[1] < THREADS_TTL_S:
                return cached[0]
        figure = training_threads(leave_one_for_server=True)
        with self._lock:
            self._job_threads[language] = (figure, time.monotonic())
        return figure

    def time_estimate(self, plan: TrainPlan) -> TimeEstimate | None:
        """How long the plan trains here, at the rate measured once on this host."""
        return time_estimate(plan, host_rate(plan.train_config))

    # -- jobs ------------------------------------------------------------------------------
    def submit(
        self, plans: Sequence[TrainPlan], viewer: Viewer, archive: bytes | None = None
    ) -> list[Job]:
        """Queue the plans' runs for ``viewer`` (one, or an A/B pair), all or none.

        A job's threads are chosen when it starts, from the load then (not now: a run
        queued behind another would keep the count measured beside it).
        """
        for plan in plans:  # an uploaded start, used again: kept longest
            init = plan.train_config.init
            if init and Path(init).parent.parent == self.settings.data_dir / WEIGHTS:
                with contextlib.suppress(OSError):
                    os.utime(Path(init).parent)
        return submit_runs(
            self.registry,
            plans,
            owner=viewer.owner,
            access=viewer.new_run(),
            runs_dir=self.runs_dir,
            archive=archive,
            cache_dir=self.settings.data_dir,
            time_limit=self.settings.job_seconds,
        )

    def recent_jobs(self, viewer: Viewer) -> list[Job]:
        """``viewer``'s jobs: waiting, running, or finished in the last ten minutes."""
        return self.registry.recent(viewer.owner, RECENT_S)

    def queue(self) -> Queue:
        running, queued = self.registry.counts()
        registry = self.registry
        return Queue(
            running,
            queued,
            registry.max_running,
            registry.per_owner,
            registry.max_queued,
            self.settings.job_seconds,
        )

    def prune(self) -> list[str]:
        """Apply the retention limits, at most every ten minutes; the runs removed."""
        with self._lock:
            if time.monotonic() - self._pruned_at < PRUNE_EVERY_S:
                return []
            self._pruned_at = time.monotonic()
        # Photos a browser collected for its classes go as its runs do, when untouched.
        prune_collections(self.collections_dir, self.settings.keep_days)
        return prune(self.runs_dir)

    @property
    def collections_dir(self) -> Path:
        """Where each browser's collected classes are kept (data/collected.py)."""
        return self.settings.data_dir / COLLECTIONS

    def keep_weights(self, data: bytes, name: str) -> Path:
        """A weights file already checked (:func:`.transfer.check_weights_file`) on disk, for
        a run to start from (a worker reads a path), under its digest. Kept: the
        :data:`KEEP_WEIGHTS` most recently used within :data:`WEIGHTS_MAX_BYTES`, and any
        a queued or running run starts from."""
        digest = hashlib.sha256(data).hexdigest()[:16]
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem)[:60].strip("._") or "weights"
        root = self.settings.data_dir / WEIGHTS
        path = root / digest / f"{stem}.pth"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data)
        os.utime(path.parent)
        self._prune_weights(keep=path.parent)
        return path

    def _prune_weights(self, keep: Path) -> None:
        root = self.settings.data_dir / WEIGHTS
        needed = {keep.resolve()}
        for summary in list_runs(self.runs_dir):  # a queued run reads its start when it starts
            if summary.status in ("queued", "running"):
                with contextlib.suppress(OSError, ValueError):
                    init = open_run(summary.id, self.runs_dir).train_config().init
                    if init:
                        needed.add(Path(init).parent.resolve())
        folders = []
        for folder in root.iterdir():
            with contextlib.suppress(OSError):
                size = sum(p.stat().st_size for p in folder.iterdir())
                folders.append((folder.stat().st_mtime, size, folder))
        folders.sort(reverse=True)  # the most recently used first
        count, total = 0, 0
        for _mtime, size, folder in folders:
            count, total = count + 1, total + size
            if folder.resolve() in needed:
                continue
            if count > KEEP_WEIGHTS or total > WEIGHTS_MAX_BYTES:
                shutil.rmtree(folder, ignore_errors=True)
                count, total = count - 1, total - size

    def collection(self, viewer: Viewer) -> Collection:
        """This browser's classes of camera photos and image files."""
        return Collection(self.collections_dir / viewer.owner)

    # -- the Concepts page -----------------------------------------------------------------
    def gradient_flow(self, config: GoogLeNetConfig, batch: int) -> list[StageFlow]:
        """One gradient measurement at a time in this server, the last few remembered."""
        return self.flows.measure(config, batch)

    @staticmethod
    def flow_budget() -> int:
        return flow_budget()
