"""The training loop: a :class:`Trainer` that knows nothing of the UI.

Follows minGPT's ``Trainer``: everything a run needs is built in the
constructor, :meth:`Trainer.fit` runs the epochs, emits typed events
(:mod:`.events`) to a callback (one per logged step, one per epoch, start) and
checks a stop flag every batch. The epoch events carry the gradient norm of
every stage (:mod:`.measure`), so the vanishing-gradient argument for the
auxiliary heads can be watched.

A stop request, a non-finite loss and non-finite weights unwind the loop as
:class:`Stop` with an outcome (``cancelled``, ``diverged``) before a bad step is
saved; :func:`.train.train` turns every way a run can end into a result.

Under ``torchrun`` the same code trains with DistributedDataParallel (see
:mod:`.distributed`); rank 0 alone writes the run directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._io import atomic_write_text
from ..data.batches import batch_indices, model_batch
from ..data.datasets import TrainingData
from ..i18n import _
from ..network.analysis import analyze
from ..network.config import GoogLeNetConfig
from ..network.costs import EXTRACT_BATCH, evaluation_batch
from ..network.model import Heads, build_model
from .card import CARD, model_card
from .config import TrainConfig
from .confusion import write_confusion
from .distributed import (
    Distributed,
    HeadsForward,
    resolve_precision,
    uses_channels_last,
)
from .evaluation import evaluate, recalibrate_batchnorm
from .events import (
    AuxHead,
    EpochEvent,
    Event,
    NoteEvent,
    StartEvent,
)
from .features import (
    Extraction,
    FeatureStore,
    FeatureTable,
    extract_splits,
    extracted,
    not_kept,
    prefix_key,
)
from .loss import aux_loss
from .measure import StageGradients, StepWindow, stage_names
from .optim import build_optimizer, build_scheduler
from .runs import Run
from .status import Outcome
from .transfer import StartReport, keep_frozen_as_trained, start_from

log = logging.getLogger(__name__)

Callback = Callable[[Event], None]


#: A best accuracy within this of chance (1 / classes) is reported as chance level.
CHANCE_MARGIN = 0.02


def weights_fingerprint(model: nn.Module) -> str:
    """A short digest of every parameter and buffer: equal fingerprints, equal weights."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class TrainResult:
    status: Outcome
    message: str
    at_chance: bool = False  # ended no better than guessing (the message says why)
    best_val_acc: float | None = None
    best_epoch: int | None = None
    epochs_completed: int = 0
    steps: int = 0
    train_seconds: float = 0.0  # optimisation only: no evaluation, no checkpoints
    elapsed_seconds: float = 0.0
    run_path: Path | None = None  # the run folder, when a run was given
    history: list[EpochEvent] = field(default_factory=list)


class StopRequest(threading.Event):
    """A stop flag that says who stopped the run: its owner (``set``: cancelled) or
    something else (:meth:`interrupt`: the server stopping; the run is interrupted)."""

    def __init__(self) -> None:
        super().__init__()
        self.why: str | None = None

    def interrupt(self, why: str) -> None:
        """Stop because of ``why`` ("the server stopped (SIGTERM) at 09:41:02 UTC")."""
        if self.why is None:
            self.why = why
        self.set()


class Stop(Exception):
    """Internal: unwinds the loop with an outcome."""

    def __init__(self, status: Outcome, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ---- the trainer ---------------------------------------------------------------------------


class Trainer:
    """One training run. Everything it needs is built here; :meth:`fit` runs the epochs."""

    def __init__(
        self,
        config: GoogLeNetConfig,
        train_config: TrainConfig,
        data: TrainingData,
        *,
        device: torch.device,
        dist: Distributed,
        emit: Callback,
        stop: threading.Event | None = None,
        run: Run | None = None,
        feature_dir: Path | None = None,
        cache_features: bool = True,
    ) -> None:
        self.config = config
        self.train_config = train_config
        self.device = device
        self.dist = dist
        self.emit = emit
        self.stop = stop
        self.run = run if dist.is_main else None
        self.start: StartEvent | None = None  # set when fit() begins
        self.process_group = dist.join_process_group(device)
        torch.manual_seed(train_config.seed)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest kernels once
        self.channels_last = uses_channels_last(device)
        # Bounded by a training step's memory (network/costs.py).
        self.eval_batch = evaluation_batch(config, train_config.step(config))
        self.autocast = resolve_precision(train_config.precision, device)

        model = build_model(config, seed=train_config.seed)  # its own generator: repeatable
        # Trained weights to start from, and the stages they keep as they are (transfer.py).
        self.start_report: StartReport | None = None
        self.frozen: tuple[str, ...] = ()
        if train_config.init is not None:
            self.start_report = start_from(model, train_config.init, train_config.freeze)
            self.frozen = self.start_report.frozen
        self.init_fingerprint = weights_fingerprint(model)  # what the run starts from
        model = model.to(device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        in_loss = train_config.aux_in_loss(config)  # what a weight of 0 means, said there
        self.aux_heads = tuple(
            AuxHead(h.name, h.after, train_config.aux_weight(h.name), h.name in in_loss)
            for h in config.active_aux_heads
        )
        for head in self.aux_heads:
            if not head.in_loss:
                # Weight 0: the head takes no part in the loss; freezing it keeps
                # DistributedDataParallel from waiting for gradients that never come.
                getattr(model, head.name).requires_grad_(False)
        self.model = model
        self.stages = stage_names(model)
        # Frozen stages in front: their features are computed once per image (features.py)
        # unless augmentation changes the images every step.
        self.cut = model.prefix_stop(self.frozen) if cache_features else 0
        self.feature_store = FeatureStore(feature_dir) if feature_dir is not None else None
        self.tables: tuple[FeatureTable, FeatureTable] | None = None
        self.extraction: tuple[Extraction, Extraction] | None = None
        net: nn.Module = HeadsForward(model, with_aux=bool(in_loss), stop=self.cut)
        if dist.active:
            ids = [device.index] if device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        self.net = net
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(trainable, train_config, device)

        self.data = data.to(device)
        self.preprocessing = data.preprocessing
        per_rank = len(data.train) // dist.world_size
        self.steps_per_epoch = len(
            batch_indices(per_rank, train_config.batch_size, None, avoid_singleton=True)
        )
        self.total_steps = self.steps_per_epoch * train_config.epochs
        self.scheduler = build_scheduler(self.optimizer, train_config, self.total_steps)
        self.log_every = train_config.log_every or max(1, self.steps_per_epoch // 20)
        # Same permutation on every rank; augmentation differs per rank.
        self.shuffle_gen = torch.Generator().manual_seed(train_config.seed)
        self.augment_gen = torch.Generator().manual_seed(train_config.seed * 1009 + 17 + dist.rank)

        self.step = 0
        self.epochs_completed = 0
        self.best_val_acc: float | None = None
        self.best_epoch: int | None = None
        self.train_seconds = 0.0
        self.history: list[EpochEvent] = []

    # -- outcome --------------------------------------------------------------------------
    def result(self, status: Outcome, message: str) -> TrainResult:
        chance = 1 / self.config.num_classes
        at_chance = self.best_val_acc is not None and self.best_val_acc <= chance + CHANCE_MARGIN
        return TrainResult(
            status=status,
            message=message,
            at_chance=at_chance,
            best_val_acc=self.best_val_acc,
            best_epoch=self.best_epoch,
            epochs_completed=self.epochs_completed,
            steps=self.step,
            train_seconds=self.train_seconds,
        )

    def close(self) -> None:
        if self.process_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    # -- the run --------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Every epoch; the outcome. Raises :class:`Stop` (cancel, divergence), torch's errors."""
        train_config, data = self.train_config, self.data
        analysis = analyze(self.config)
        self.start = StartEvent(
            device=str(self.device),
            precision="bf16" if self.autocast == torch.bfloat16 else "fp32",
            channels_last=self.channels_last,
            world_size=self.dist.world_size,
            dataset=data.name,
            dataset_description=data.description,
            val_description=data.val_description,
            skipped=dict(data.skipped),
            classes=tuple(data.class_names),
            train_images=len(data.train),
            val_images=len(data.val),
            steps_per_epoch=self.steps_per_epoch,
            total_steps=self.total_steps,
            epochs=train_config.epochs,
            batch_size=train_config.batch_size,
            aux_heads=self.aux_heads,
            stages=tuple(self.stages),
            params=analysis.total_params,
            macs=analysis.total_macs,
            model_config=self.config,
            train_config=train_config,
            init_fingerprint=self.init_fingerprint,
        )
        self.emit(self.start)
        if self.start_report is not None:
            self.emit(NoteEvent(self.start_report.sentence()))
        if self.cut:
            self._features()
        if self.run is not None:
            self.run.set_status(
                "running",
                _("epoch {epoch} of {epochs}").format(epoch=1, epochs=train_config.epochs),
            )
        for epoch in range(1, train_config.epochs + 1):
            self._epoch(epoch)
        return self.result("completed", self._summary())

    # -- one epoch ------------------------------------------------------------------------
    def _epoch(self, epoch: int) -> None:
        train_config, data, dist = self.train_config, self.data, self.dist
        self.net.train()
        keep_frozen_as_trained(self.model, self.frozen)
        batches = batch_indices(
            len(data.train),
            train_config.batch_size,
            self.shuffle_gen,
            rank=dist.rank,
            world_size=dist.world_size,
        )
        gradients = StageGradients(self.model, self.stages, self.device)
        window = StepWindow(self.device)
        epoch_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        seen = 0
        check_every = 1 if self.device.type == "cpu" else self.log_every
        epoch_start = time.perf_counter()
        for i, index in enumerate(batches):
            self._check_stop()
            tick = time.perf_counter()
            x: Tensor | dict[str, Tensor]
            if self.tables is not None:
                x, y = self.tables[0].batch(index), data.train.labels[index]
            else:
                x, y = model_batch(
                    data.train,
                    index,
                    self.preprocessing,
                    generator=self.augment_gen if train_config.augment else None,
                    hflip=data.hflip,
                    style=data.augment_style,
                    channels_last=self.channels_last,
                )
            with self._autocast():
                heads: Heads = self.net(x)
                loss = aux_loss(heads, y, *train_config.aux_weights)
            self.step += 1
            if self.step % check_every == 0 or i == len(batches) - 1:
                self._check_finite(loss.total)
            self.optimizer.zero_grad(set_to_none=True)
            loss.total.backward()
            gradients.add()
            self.optimizer.step()
            lr = self.optimizer.param_groups[0]["lr"]
            self.scheduler.step()
            window.add(loss, len(y))
            epoch_loss += loss.total.detach().float() * len(y)
            correct += (heads.logits.detach().argmax(1) == y).sum()
            seen += len(y)
            if i == len(batches) - 1 and self.device.type == "cuda":
                torch.cuda.synchronize(self.device)  # count the queued work in this epoch
            self.train_seconds += time.perf_counter() - tick
            if self.step % self.log_every == 0 or i == len(batches) - 1:
                self.emit(window.event(self.step, epoch, lr, dist.world_size))
        epoch_seconds = time.perf_counter() - epoch_start
        self._check_weights_finite()
        train_loss, train_acc = self._reduce_train(epoch_loss, correct, seen)
        recalibrate_batchnorm(
            self.model,
            data.train,
            self.preprocessing,
            batch_size=max(train_config.batch_size, 32),
            channels_last=self.channels_last,
            autocast=self.autocast,
            dist=dist,
            frozen=[getattr(self.model, name) for name in self.frozen],
            features=self.tables[0] if self.tables is not None else None,
            stop=self.cut,
        )
        evaluation = evaluate(
            self.model,
            data.val,
            self.preprocessing,
            batch_size=self.eval_batch,
            channels_last=self.channels_last,
            autocast=self.autocast,
            dist=dist,
            features=self.tables[1] if self.tables is not None else None,
            stop=self.cut,
        )
        self.epochs_completed = epoch
        acc = evaluation.accuracy
        improved = self.best_val_acc is None or acc > self.best_val_acc
        if improved:
            self.best_val_acc, self.best_epoch = acc, epoch
        assert self.best_val_acc is not None
        event = EpochEvent(
            epoch=epoch,
            step=self.step,
            train_loss=train_loss,
            train_acc=train_acc,
            val=evaluation.scores,
            grad_norms=gradients.means(len(batches)),
            epoch_seconds=round(epoch_seconds, 3),
            train_seconds=round(self.train_seconds, 3),
            best_val_acc=self.best_val_acc,
        )
        self.history.append(event)
        self.emit(event)
        if self.run is not None:
            self._save(event, improved)
            if improved:
                write_confusion(self.run.path, data.val, data.class_names, evaluation, epoch)
            left = train_config.epochs - epoch
            if left:
                note = _("epoch {epoch} of {epochs}").format(
                    epoch=epoch + 1, epochs=train_config.epochs
                )
            else:
                note = _("finishing")
            self.run.set_status("running", note, best_val_acc=self.best_val_acc)

    def _features(self) -> None:
        """Compute (or read) every image's features at the cut once; say what it took."""
        data = self.data
        refused = not_kept(
            self.config, self.cut, self.train_config.augment, len(data.train) + len(data.val)
        )
        if refused:
            self.emit(NoteEvent(refused))
            return
        precision = "bf16" if self.autocast == torch.bfloat16 else "fp32"
        key = prefix_key(self.model, self.cut, self.preprocessing, self.device, precision)

        def between(done: int, total: int) -> None:
            self._check_stop()  # a cancel or the time limit, between batches as in training
            if self.run is not None and done % (8 * EXTRACT_BATCH) == 0:
                note = _("computing the frozen stages' features: {done:,} of {total:,} images")
                self.run.set_status("running", note.format(done=done, total=total))

        tables, done = extract_splits(
            self.model, (data.train, data.val), self.preprocessing, self.cut,
            device=self.device, channels_last=self.channels_last, autocast=self.autocast,
            store=self.feature_store if self.dist.is_main else None, key=key, between=between,
        )  # fmt: skip
        self.tables, self.extraction = (tables[0], tables[1]), (done[0], done[1])
        self.emit(NoteEvent(extracted(done, self.model.trunk_names[self.cut - 1])))

    def _autocast(self) -> Any:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast)

    def _check_stop(self) -> None:
        requested = self.stop is not None and self.stop.is_set()
        if self.dist.active:
            flag = torch.tensor([1.0 if requested else 0.0], device=self.device)
            requested = bool(self.dist.all_reduce(flag).item() > 0)
        if requested:
            where = {"step": self.step, "epoch": self.epochs_completed + 1}
            kept = self._kept(good=False)
            why = getattr(self.stop, "why", None)  # a StopRequest says who stopped it
            if why:
                message = _("interrupted at step {step} (epoch {epoch}): {why}; {kept}")
                raise Stop("interrupted", message.format(why=why, kept=kept, **where))
            message = _("cancelled at step {step} (epoch {epoch}); {kept}")
            raise Stop("cancelled", message.format(kept=kept, **where))

    def _kept(self, good: bool) -> str:
        """What is left of the run: its last checkpoint (``good``: after a divergence)."""
        if not self.epochs_completed:
            return _("no epoch had finished, so there is no checkpoint")
        if good:
            kept = _("the last good checkpoint is kept, from epoch {epoch}")
        else:
            kept = _("the last checkpoint is from epoch {epoch}")
        return kept.format(epoch=self.epochs_completed)

    def _check_finite(self, loss: Tensor) -> None:
        value = self.dist.all_reduce(loss.detach().float().reshape(1))  # NaN anywhere: NaN
        if not math.isfinite(float(value.item())):
            message = _(
                "the loss became {value} at step {step}: the learning rate {lr:g} is probably "
                "too high; {kept}"
            )
            raise Stop(
                "diverged",
                message.format(
                    value=float(value.item()),
                    step=self.step,
                    lr=self.train_config.lr,
                    kept=self._kept(good=True),
                ),
            )

    def _check_weights_finite(self) -> None:
        # A finite loss can still come with a non-finite gradient at the last step of an
        # epoch; the weights it produced must not become a checkpoint that cannot load.
        norms = torch._foreach_norm([p.detach() for p in self.model.parameters()])
        finite = self.dist.all_reduce(torch.isfinite(torch.stack(norms)).all().float().reshape(1))
        if float(finite.item()) < self.dist.world_size:
            message = _(
                "the weights became non-finite at step {step}: the learning rate {lr:g} is "
                "probably too high; {kept}"
            )
            raise Stop(
                "diverged",
                message.format(step=self.step, lr=self.train_config.lr, kept=self._kept(good=True)),
            )

    def _reduce_train(self, loss_sum: Tensor, correct: Tensor, seen: int) -> tuple[float, float]:
        totals = torch.stack(
            [loss_sum.float(), correct.float(), torch.tensor(float(seen), device=loss_sum.device)]
        )
        loss_sum_f, correct_f, seen_f = self.dist.all_reduce(totals).tolist()
        return round(loss_sum_f / max(seen_f, 1), 6), round(correct_f / max(seen_f, 1), 6)

    def _save(self, event: EpochEvent, improved: bool) -> None:
        assert self.run is not None
        row = event.row()
        metrics = {k: row.get(k) for k in ("epoch", "step", "val_acc", "val_loss")}
        metrics |= {k: row.get(k) for k in ("val_acc_aux1", "val_acc_aux2")}
        metrics["run_id"] = self.run.id
        for which in ("last", "best") if improved else ("last",):
            self.run.save_checkpoint(
                which, self.model, self.config, self.data.class_names, self.preprocessing, metrics
            )
        if improved and self.start is not None:
            card = model_card(self.run.id, self.start, event, self.preprocessing)
            atomic_write_text(self.run.path / CARD, card)

    def _summary(self) -> str:
        acc = self.best_val_acc if self.best_val_acc is not None else float("nan")
        text = _(
            "{epochs} epoch(s), best validation accuracy {accuracy:.2%} (epoch {best}), "
            "{seconds:.1f} s of training"
        ).format(
            epochs=self.epochs_completed,
            accuracy=acc,
            best=self.best_epoch,
            seconds=self.train_seconds,
        )
        chance = 1 / self.config.num_classes
        if acc <= chance + CHANCE_MARGIN:
            text = _(
                "{summary}. That is chance level ({chance:.0%} for {classes} classes): {steps} "
                "optimiser steps are too few for this network to learn; give it more epochs or "
                "more images (the plan's defaults do)"
            ).format(summary=text, chance=chance, classes=self.config.num_classes, steps=self.step)
        return text
