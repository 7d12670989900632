"""What a server measures about its host once and shares between its visitors.

A figure that depends on the machine is measured on the machine, never taken from
a constant calibrated on another one (two 2-core hosts differed by 20-25 % in what
``import torch`` alone costs). Each probe here runs once per server process, one at
a time however many sessions ask together (thirty tabs opening a cold server at once
ran thirty probes side by side, and the server was OOM-killed), and callers that
arrive during it take its result:

- :func:`process_baseline`: the peak memory of a training process that trains almost
  nothing (the interpreter, torch, a first step, evaluation and the exit), measured on
  a real worker; the memory check adds the run's own weights, activations and data to
  it (:mod:`.budgets`);
- :func:`machine_rate` / :func:`host_rate`: the training rate behind the time estimate;
- :class:`FlowMeasurements`: gradient-flow measurements for the Concepts page, one at
  a time per server and remembered per design.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from .._io import first_line
from ..network.config import GoogLeNetConfig
from ..network.presets import get_preset
from ..training.config import TrainConfig
from ..training.estimate import probe_macs_per_s
from ..training.flow import StageFlow, gradient_flow
from ..training.plan import Choices, TrainPlan, plan_training
from .budgets import run_memory
from .worker import OverLimit, measured_peak

log = logging.getLogger(__name__)

#: How long a measured rate is trusted: a shared host's load changes, and one unlucky
#: probe should not set every estimate for the life of a server.
RATE_TTL_S = 600.0
#: How long "a training process alone does not fit", or a failed probe, is trusted before
#: measuring again.
BASELINE_RETRY_S = 600.0

_rates: dict[tuple[str, str, str, int], tuple[float, float]] = {}  # key -> (rate, measured at)
_rates_lock = threading.Lock()
_probe_lock = threading.Lock()


def machine_rate(config: GoogLeNetConfig, train_config: TrainConfig) -> float:
    """:func:`probe_macs_per_s`, remembered per network and device for ``RATE_TTL_S``."""
    key = (config.to_json(), train_config.device, train_config.precision, train_config.batch_size)
    with _probe_lock:  # one probe at a time: later callers wait and take its result
        now = time.monotonic()
        with _rates_lock:
            cached = _rates.get(key)
            if cached is not None and now - cached[1] < RATE_TTL_S:
                return cached[0]
        rate = probe_macs_per_s(config, train_config)
        with _rates_lock:
            _rates[key] = (rate, time.monotonic())
            for stale in [k for k, (_, at) in _rates.items() if now - at >= RATE_TTL_S]:
                del _rates[stale]
    return rate


def host_rate(train_config: TrainConfig) -> float:
    """This host's training rate measured once on the mini preset (batch 32, its 32 px).

    What a server shows before any run: the probe trains a tiny network for about a
    second, whatever network the page holds (a paper network at 1024 px would take
    gigabytes and minutes to probe). Larger networks keep a CPU busier per MAC than
    mini's small convolutions, so estimates from this rate err on the long side.
    """
    probe = dataclasses.replace(train_config, batch_size=32)
    return machine_rate(get_preset("mini"), probe)


# ---- the process baseline ------------------------------------------------------------------


def baseline_plan() -> TrainPlan:
    """The run the baseline is measured on: mini on 16 digits at 16 px, one epoch of two
    steps; its own weights, activations and images are a few megabytes."""
    choices = Choices(input_size=16, batch_size=8, subset=16, epochs=1, log_every=1)
    return plan_training(get_preset("mini"), "digits", choices)


def measure_process_baseline(
    *,
    limit: int | None = None,
    threads: int = 1,
    env: dict[str, str] | None = None,
    nice: int = 0,
) -> int:
    """The process baseline in bytes, measured now (a few seconds): a real worker's peak
    RSS on :func:`baseline_plan`, less what the cost formulas give that run's own weights,
    activations and images, so that the prediction of that very run is its measurement.

    ``limit`` (bytes; None for none) stops the worker there and raises :class:`OverLimit`;
    ``env`` adds to the worker's environment (a test makes ``import torch`` heavier).
    """
    if limit is not None and limit <= 0:
        raise OverLimit("no memory is left for a training process")
    plan = baseline_plan()
    root = tempfile.mkdtemp(prefix="googlenet-baseline-")
    try:
        peak = measured_peak(
            plan.config, plan.train_config, root, limit=limit or 0, threads=threads, env=env,
            nice=nice,
        )  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    own = run_memory(plan.config, plan.train_config, process=0).total
    return max(peak - own, peak // 2)


@dataclasses.dataclass(frozen=True)
class Baseline:
    """What the server knows of its process baseline."""

    value: int | None  # bytes; None: not measured (see ``over_limit`` and ``problem``)
    limit: int | None  # the memory the measurement was allowed (None: no limit)
    at: float  # time.monotonic() when measured
    over_limit: bool = False  # a training process alone went over ``limit``: stopped there
    problem: str = ""  # the probe itself failed: why, in one line

    def allows_retry(self, limit: int | None) -> bool:
        """Whether asking again with ``limit`` may give another answer."""
        if self.value is not None:
            return False
        if time.monotonic() - self.at >= BASELINE_RETRY_S:
            return True
        return self.over_limit and _more(limit, self.limit)


def _more(limit: int | None, than: int | None) -> bool:
    """Whether ``limit`` allows more memory than ``than`` (None: unlimited)."""
    if than is None:
        return False
    return limit is None or limit > than


_baseline: Baseline | None = None
_baseline_lock = threading.Lock()


def process_baseline(limit: int | None = None, threads: int = 1) -> Baseline:
    """This host's process baseline, measured once per process (a few seconds).

    ``limit`` is what a job may take now: a probe that would go over it is stopped there
    (no training process fits here: asked again with a larger limit, or after
    ``BASELINE_RETRY_S``); with no room at all nothing is started. A probe that fails
    says why, and is tried again after ``BASELINE_RETRY_S``. One measurement at a time;
    callers during it wait for it and take its answer.
    """
    global _baseline
    if limit is not None and limit <= 0:  # nothing measured, nothing remembered
        return Baseline(None, limit, time.monotonic(), over_limit=True)
    with _baseline_lock:
        known = _baseline
        if known is not None and not known.allows_retry(limit):
            return known
        try:
            value = measure_process_baseline(limit=limit, threads=threads, nice=5)
            known = Baseline(value, limit, time.monotonic())
        except OverLimit:
            known = Baseline(None, limit, time.monotonic(), over_limit=True)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            log.exception("the process baseline could not be measured")
            problem = first_line(exc, 200)
            known = Baseline(None, limit, time.monotonic(), problem=problem)
        _baseline = known
        return known


def start_process_baseline(limit: Callable[[], int], threads: int = 1) -> threading.Thread:
    """Measure the baseline in the background now, so the first Train page finds it ready."""

    def measure() -> None:
        process_baseline(limit(), threads)  # failures are remembered with their reason

    thread = threading.Thread(target=measure, name="process-baseline", daemon=True)
    thread.start()
    return thread


# ---- gradient flow -------------------------------------------------------------------------


class FlowMeasurements:
    """Gradient-flow measurements, one at a time in this server, the last few remembered.

    Each adds up to a few hundred megabytes to the server process for a second or two
    (:func:`googlenet_core.network.costs.flow_bytes`): two at once would add both.
    """

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._measuring = threading.Lock()  # one measurement at a time
        self._lock = threading.Lock()  # the results: a remembered one never waits
        self._results: OrderedDict[tuple[GoogLeNetConfig, int], list[StageFlow]] = OrderedDict()

    def measure(self, config: GoogLeNetConfig, batch: int) -> list[StageFlow]:
        """The gradient flow of ``config`` on ``batch`` digits (aux weights 0.3, as the paper)."""
        key = (config, batch)
        found = self._remembered(key)
        if found is not None:
            return found
        with self._measuring:
            found = self._remembered(key)  # measured while this caller waited
            if found is not None:
                return found
            rows = gradient_flow(config, batch=batch)
        with self._lock:
            self._results[key] = rows
            while len(self._results) > self.keep:
                self._results.popitem(last=False)
        return rows

    def known(self, config: GoogLeNetConfig, batch: int) -> bool:
        with self._lock:
            return (config, batch) in self._results

    def _remembered(self, key: tuple[GoogLeNetConfig, int]) -> list[StageFlow] | None:
        with self._lock:
            if key not in self._results:
                return None
            self._results.move_to_end(key)
            return self._results[key]
