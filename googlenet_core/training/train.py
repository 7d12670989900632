"""``train()``: one call from a network and a recipe to how the run ended. Never raises.

It loads the data (with download progress as events), builds a
:class:`.trainer.Trainer`, runs it, and turns every way a run can end into a
:class:`.trainer.TrainResult` and an :class:`.events.EndEvent`: ``completed``;
``cancelled`` within one batch of a stop request; ``diverged`` at the first
non-finite loss or weights (the last good checkpoint is kept); ``failed`` for
data that cannot be read, running out of memory (with a suggestion) or a crash.

Names: ``config`` is the network (:class:`GoogLeNetConfig`), ``train_config`` the
recipe (:class:`TrainConfig`), as everywhere in the package.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from .._io import first_line
from ..data.datasets import TrainingData, load_dataset
from ..data.downloads import DOWNLOADABLE
from ..i18n import _
from ..network.config import GoogLeNetConfig
from .config import TrainConfig, check_compatible
from .distributed import Distributed, distributed_from_env, is_out_of_memory, resolve_device
from .events import DownloadEvent, EndEvent, Event, NoteEvent
from .features import FOLDER as FEATURES_FOLDER
from .runs import Run
from .trainer import Callback, Stop, Trainer, TrainResult

log = logging.getLogger(__name__)


def train(
    config: GoogLeNetConfig,
    train_config: TrainConfig,
    *,
    data: TrainingData | None = None,
    archive: bytes | None = None,
    class_names: tuple[str, ...] | None = None,
    callbacks: Sequence[Callback] = (),
    stop: threading.Event | None = None,
    run: Run | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    distributed: Distributed | None = None,
    cache_features: bool = True,
) -> TrainResult:
    """Train a fresh network; return how it ended. Never raises for a bad run.

    ``config`` must already have one output per class of the data (the plan of
    :func:`.plan.plan_training` settles it). ``data`` skips loading (tests,
    benchmarks); ``archive`` is an uploaded zip's bytes for ``dataset='upload'``
    and ``class_names`` the planned classes of a folder or zip. ``run`` (rank 0
    only) receives every event, the status and the checkpoints. ``stop`` is
    checked before every batch. ``cache_features=False`` runs frozen stages on every
    step instead of once per image (the baseline :mod:`.features` is measured against).
    """
    dist = distributed or distributed_from_env()
    started = time.perf_counter()
    sinks: list[Callback] = list(callbacks) if dist.is_main else []
    main_run = run if dist.is_main else None
    if main_run is not None:
        sinks.insert(0, main_run.record)

    def emit(event: Event) -> None:
        for sink in sinks:
            sink(event)

    def finish(result: TrainResult, trainer: Trainer | None = None) -> TrainResult:
        result.elapsed_seconds = time.perf_counter() - started
        result.history = list(trainer.history) if trainer is not None else []
        result.run_path = run.path if run is not None else None
        emit(
            EndEvent(
                status=result.status,
                message=result.message,
                best_val_acc=result.best_val_acc,
                best_epoch=result.best_epoch,
                epochs_completed=result.epochs_completed,
                steps=result.steps,
                train_seconds=round(result.train_seconds, 3),
                elapsed=round(result.elapsed_seconds, 3),
                at_chance=result.at_chance,
            )
        )
        if main_run is not None:
            try:
                main_run.set_status(result.status, result.message, best_val_acc=result.best_val_acc)
            except OSError:  # a full disk: the job's process records it, or it reads interrupted
                log.exception("could not write the status of %s", main_run.id)
        return result

    if main_run is not None:
        main_run.set_status("running", _("loading data"))
    try:
        check_compatible(config, train_config)
        device = dist.device_for(resolve_device(train_config.device))
        if data is None:
            data = _load(config, train_config, archive, class_names, cache_dir, emit)
        if len(data.class_names) != config.num_classes:
            raise ValueError(
                _(
                    "the network has {outputs} outputs for {classes} classes of data; plan the "
                    "run with plan_training, which settles both"
                ).format(outputs=config.num_classes, classes=len(data.class_names))
            )
    except (ValueError, OSError) as exc:
        return finish(TrainResult("failed", str(exc)))
    except Exception as exc:  # noqa: BLE001 - e.g. zipfile's BadZipFile, zlib.error
        log.exception("reading the data failed")
        message = _("could not read the data: {error}").format(error=_named(exc))
        return finish(TrainResult("failed", message))
    trainer: Trainer | None = None
    threads_before = torch.get_num_threads()
    if train_config.threads is not None and device.type == "cpu":
        torch.set_num_threads(train_config.threads)  # the recipe's: the same result anywhere
    try:
        features = Path(cache_dir) / FEATURES_FOLDER if cache_dir is not None else None
        trainer = Trainer(
            config, train_config, data, device=device, dist=dist, emit=emit, stop=stop, run=run,
            feature_dir=features, cache_features=cache_features,
        )  # fmt: skip
        return finish(trainer.fit(), trainer)
    except Stop as outcome:
        assert trainer is not None
        return finish(trainer.result(outcome.status, outcome.message), trainer)
    except RuntimeError as exc:  # torch.OutOfMemoryError is one
        if is_out_of_memory(exc):
            message = _(
                "out of memory on {device} with batch size {batch} at {side} px: try a smaller "
                "batch size or a smaller input size"
            ).format(device=device.type, batch=train_config.batch_size, side=config.input_size)
        else:
            log.exception("training failed")
            message = _("training failed: {error}").format(error=first_line(exc, 300))
        return finish(_failed(trainer, message), trainer)
    except (ValueError, OSError) as exc:
        return finish(_failed(trainer, str(exc)), trainer)
    except Exception as exc:  # noqa: BLE001 - a run ends with a status, whatever went wrong
        log.exception("training failed")
        message = _("training failed: {error}").format(error=_named(exc))
        return finish(_failed(trainer, message), trainer)
    finally:
        torch.set_num_threads(threads_before)
        if trainer is not None:
            trainer.close()


def _named(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {first_line(exc, 300)}"


def _failed(trainer: Trainer | None, message: str) -> TrainResult:
    return (
        trainer.result("failed", message) if trainer is not None else TrainResult("failed", message)
    )


def _load(
    config: GoogLeNetConfig,
    train_config: TrainConfig,
    archive: bytes | None,
    class_names: tuple[str, ...] | None,
    cache_dir: str | os.PathLike[str] | None,
    emit: Callback,
) -> TrainingData:
    last = [0.0]

    def progress(done: int, total: int | None, what: str) -> None:
        now = time.perf_counter()
        if now - last[0] < 0.25 and done != total and done:
            return  # a download event every quarter second is plenty
        last[0] = now
        emit(DownloadEvent(file=what, done=done, total=total))

    if train_config.dataset in DOWNLOADABLE:
        note = _("reading {dataset} (downloading if not cached)")
        emit(NoteEvent(note.format(dataset=train_config.dataset)))
    return load_dataset(
        train_config.dataset,
        input_size=config.input_size,
        in_channels=config.in_channels,
        subset=train_config.subset,
        val_fraction=train_config.val_fraction,
        path=train_config.data_path if train_config.dataset == "folder" else None,
        archive=archive,
        cache_dir=cache_dir,
        progress=progress,
        class_names=class_names,
    )
