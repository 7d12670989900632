"""What the host can spare: memory for a training job, and for a gradient measurement.

One server serves a whole class on a host with a fixed memory limit (Community Cloud:
690 MB to 2.7 GB for the server and its jobs together), so nothing big starts before
its peak is predicted and compared with what is left. The prediction itself, what a
design costs, is :mod:`googlenet_core.network.costs`'s; this module adds what only a
server knows:

- :func:`job_budget`: the host's limit (:func:`.host.memory_limit`) less this server
  process and some headroom, shared by the jobs that may run at once;
- :func:`check_fit`: a run (with its uploaded zip) against that budget, with the
  largest smaller batch that fits; the process's own baseline comes from the probe
  on this host (:func:`.probes.process_baseline`), never from a constant;
- :func:`flow_budget`: what one gradient measurement may add to the server process.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..data import DatasetError
from ..data.datasets import NATIVE_SIDES, resident_bytes, split_sizes
from ..data.folders import count_images
from ..i18n import _
from ..network.config import GoogLeNetConfig
from ..network.costs import GB, MemoryEstimate, largest_batch, size_words, training_memory
from ..training.config import TrainConfig
from ..training.features import planned_feature_bytes
from .host import Figure, memory_limit
from .host import resident_bytes as process_resident_bytes

#: The batch sizes a run may use (the Train page's slider, and the smaller batch proposed).
BATCH_SIZES = (2, 4, 8, 16, 32, 64, 128, 256, 512)
#: Kept free beside the server and its jobs: page reruns, a prediction, Python's own slack.
HEADROOM_BYTES = 128 * 2**20
#: Most memory one gradient measurement may add to the server process, which serves a
#: whole class (it also stays within what the host has left, :func:`flow_budget`).
FLOW_MAX_BYTES = 256 * 2**20


def job_budget(max_running: int = 1) -> Figure:
    """Bytes one training job may take now: the host's limit less this (server) process
    and some headroom, shared by the jobs that may run at once."""
    limit = memory_limit()
    server = process_resident_bytes()
    budget = (limit.value - server - HEADROOM_BYTES) // max(1, max_running)
    figures = {"limit": limit.value / GB, "source": limit.source, "server": server / GB}
    if max_running > 1:
        source = _(
            "{limit:.1f} GB ({source}) less {server:.1f} GB for the server, shared by {jobs} "
            "jobs at once"
        ).format(jobs=max_running, **figures)
    else:
        source = _("{limit:.1f} GB ({source}) less {server:.1f} GB for the server").format(
            **figures
        )
    return Figure(max(0, budget), source)


def flow_budget() -> int:
    """Bytes a gradient measurement may take now: :data:`FLOW_MAX_BYTES`, or less where the
    host's limit, less this process and the headroom kept beside it, leaves less."""
    left = memory_limit().value - process_resident_bytes() - HEADROOM_BYTES
    return max(0, min(FLOW_MAX_BYTES, left))


def upload_figures(archive: bytes | None) -> tuple[int | None, int]:
    """(images, bytes) of an uploaded zip: images from its listing, bytes held whole."""
    if archive is None:
        return None, 0
    try:
        images: int | None = count_images(archive=archive)
    except DatasetError:
        images = None  # refused later, with its own sentence, when the run reads it
    return images, len(archive)


def run_memory(
    config: GoogLeNetConfig,
    train_config: TrainConfig,
    *,
    process: int,
    images: int | None = None,
    archive_bytes: int = 0,
) -> MemoryEstimate:
    """The peak memory of a training process for this network and recipe.

    ``process`` is the process baseline measured on this host
    (:func:`.probes.process_baseline`); ``images`` the number of images of a folder or
    zip (from its listing; the built-in and downloadable sets know theirs);
    ``archive_bytes`` an uploaded zip, which the training process holds whole while it
    decodes it.
    """
    name = train_config.dataset
    data = resident_bytes(
        name,
        train_config.subset,
        train_config.val_fraction,
        config.in_channels,
        config.input_size,
        images,
    )
    if images is None and name in NATIVE_SIDES:
        images = sum(split_sizes(name, train_config.subset, train_config.val_fraction))
    # A frozen trunk's features, computed once per image and held for the run (features.py);
    # too many to hold, and the frozen stages run on every step instead.
    step = train_config.step(config)
    features = planned_feature_bytes(config, train_config, images)
    if step.features_once and images and not features:
        step = dataclasses.replace(step, features_once=False)
    data += features
    return training_memory(
        config,
        step,
        process=process,
        data=data + archive_bytes,
        val_images=_val_images(train_config),
    )


def _val_images(train_config: TrainConfig) -> int | None:
    """The validation images a run will hold; None where unknown until read (a folder)."""
    if train_config.dataset not in NATIVE_SIDES:
        return None
    return split_sizes(train_config.dataset, train_config.subset, train_config.val_fraction)[1]


@dataclass(frozen=True)
class Fit:
    """A run's predicted peak against what a job may take here."""

    estimate: MemoryEstimate | None  # None: no process baseline (over the budget, or failed)
    budget: Figure
    smaller_batch: int | None  # when it does not fit: the largest smaller batch that does
    problem: str = ""  # why the process baseline could not be measured, if it failed

    @property
    def fits(self) -> bool:
        return self.estimate is not None and self.estimate.total <= self.budget.value

    def refusal(self) -> str:
        """Why it does not fit, and what would."""
        if self.estimate is None and self.problem:
            return _(
                "the memory a training process needs could not be measured on this server "
                "({problem}); try again in a few minutes"
            ).format(problem=self.problem)
        if self.estimate is None:
            return _(
                "a training process alone needs more than the {size} a job may take on this "
                "server (measured here; {source}). Train on the command line or a larger host"
            ).format(size=size_words(self.budget.value), source=self.budget.source)
        figures = {
            "needs": self.estimate.sentence(),
            "allowed": self.budget.value / GB,
            "source": self.budget.source,
        }
        if self.smaller_batch is not None:
            return _(
                "this run needs {needs}; a job on this server may take {allowed:.1f} GB "
                "({source}). A batch of {batch} fits"
            ).format(batch=self.smaller_batch, **figures)
        return _(
            "this run needs {needs}; a job on this server may take {allowed:.1f} GB ({source}). "
            "No batch size fits: choose a smaller input side or network (mini)"
        ).format(**figures)


def check_fit(
    config: GoogLeNetConfig,
    train_config: TrainConfig,
    budget: Figure,
    archive: bytes | None = None,
    *,
    process: int | None,
    problem: str = "",
) -> Fit:
    """This run (with its uploaded zip, if any) against ``budget``.

    ``process`` is the process baseline measured on this host: None where the probe found
    that a training process alone does not fit, or failed (``problem`` says why).
    """
    if process is None:
        return Fit(None, budget, None, problem)
    images, held = upload_figures(archive)
    estimate = run_memory(config, train_config, process=process, images=images, archive_bytes=held)
    smaller = None
    if estimate.total > budget.value:
        choices = tuple(b for b in BATCH_SIZES if b < train_config.batch_size)
        smaller = largest_batch(
            config, train_config.step(config), budget.value, choices,
            process=process, data=estimate.data, val_images=_val_images(train_config),
        )  # fmt: skip
    return Fit(estimate, budget, smaller)
