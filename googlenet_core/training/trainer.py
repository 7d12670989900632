"""The training loop: a :class:`Trainer` that knows nothing of the UI, and :func:`train`.

Follows minGPT's ``Trainer``: it emits typed events (:mod:`.events`) to
callbacks (one per logged step, one per epoch, start/end) and checks a stop
flag every batch. The epoch events carry the gradient norm of every stage, so
the vanishing-gradient argument for the auxiliary heads can be watched: with
weights 0/0 the early blocks receive only what survives the whole trunk.

Faults are outcomes, not exceptions: a non-finite loss (or weights) ends the
run as ``diverged`` before the bad step is saved (the last good checkpoint
stays), running out of memory as ``failed`` with a suggestion, a stop request
as ``cancelled`` within one batch.

Under ``torchrun`` the same code trains with DistributedDataParallel (see
:mod:`.distributed`); rank 0 alone writes the run directory.

Names: ``config`` is the network (:class:`GoogLeNetConfig`), ``train_config`` the
recipe (:class:`TrainConfig`), as everywhere in the package.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._io import first_line
from ..data.batches import batch_indices, model_batch
from ..data.datasets import TrainingData, load_dataset
from ..data.downloads import DOWNLOADABLE
from ..network.analysis import analyze
from ..network.config import GoogLeNetConfig
from ..network.model import Heads, build_model
from .config import TrainConfig, check_compatible
from .distributed import (
    Distributed,
    HeadsForward,
    distributed_from_env,
    is_out_of_memory,
    resolve_device,
    resolve_precision,
    uses_channels_last,
)
from .evaluation import evaluate
from .events import (
    AuxHead,
    DownloadEvent,
    EndEvent,
    EpochEvent,
    Event,
    NoteEvent,
    StartEvent,
    StepEvent,
)
from .loss import LossBreakdown, aux_loss
from .runs import Run
from .status import Outcome

log = logging.getLogger(__name__)

Callback = Callable[[Event], None]


@dataclass
class TrainResult:
    status: Outcome
    message: str
    best_val_acc: float | None = None
    best_epoch: int | None = None
    epochs_completed: int = 0
    steps: int = 0
    train_seconds: float = 0.0  # optimisation only: no evaluation, no checkpoints
    elapsed_seconds: float = 0.0
    run_path: Path | None = None  # the run folder, when a run was given
    history: list[EpochEvent] = field(default_factory=list)


class _Stop(Exception):
    """Internal: unwinds the loop with an outcome."""

    def __init__(self, status: Outcome, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def stage_names(model: nn.Module) -> list[str]:
    """Top-level modules that hold parameters, in forward order (stem, blocks, heads, fc)."""
    return [
        name
        for name, module in model.named_children()
        if next(module.parameters(), None) is not None
    ]


# ---- the entry point -----------------------------------------------------------------------


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
) -> TrainResult:
    """Train a fresh network; return how it ended. Never raises for a bad run.

    ``config`` must already have one output per class of the data (the plan of
    :func:`.plan.plan_training` settles it). ``data`` skips loading (tests,
    benchmarks); ``archive`` is an uploaded zip's bytes for ``dataset='upload'``
    and ``class_names`` the planned classes of a folder or zip. ``run`` (rank 0
    only) receives every event, the status and the checkpoints. ``stop`` is
    checked before every batch.
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
            )
        )
        if main_run is not None:
            main_run.set_status(result.status, result.message, best_val_acc=result.best_val_acc)
        return result

    if main_run is not None:
        main_run.set_status("running", "loading data")
    try:
        check_compatible(config, train_config)
        device = dist.device_for(resolve_device(train_config.device))
        if data is None:
            data = _load(config, train_config, archive, class_names, cache_dir, emit)
        if len(data.class_names) != config.num_classes:
            raise ValueError(
                f"the network has {config.num_classes} outputs for {len(data.class_names)} "
                "classes of data; plan the run with plan_training, which settles both"
            )
    except (ValueError, OSError) as exc:
        return finish(TrainResult("failed", str(exc)))
    trainer: Trainer | None = None
    try:
        trainer = Trainer(
            config, train_config, data, device=device, dist=dist, emit=emit, stop=stop, run=run
        )
        return finish(trainer.fit(), trainer)
    except _Stop as outcome:
        assert trainer is not None
        return finish(trainer.result(outcome.status, outcome.message), trainer)
    except RuntimeError as exc:  # torch.OutOfMemoryError is one
        if is_out_of_memory(exc):
            message = (
                f"out of memory on {device.type} with batch size {train_config.batch_size} at "
                f"{config.input_size} px: try a smaller batch size or a smaller input size"
            )
        else:
            log.exception("training failed")
            message = f"training failed: {first_line(exc, 300)}"
        return finish(_failed(trainer, message), trainer)
    except (ValueError, OSError) as exc:
        return finish(_failed(trainer, str(exc)), trainer)
    finally:
        if trainer is not None:
            trainer.close()


def _failed(trainer: Trainer | None, message: str) -> TrainResult:
    return trainer.result("failed", message) if trainer is not None else TrainResult("failed", message)


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
        emit(NoteEvent(f"reading {train_config.dataset} (downloading if not cached)"))
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
    ) -> None:
        self.config = config
        self.train_config = train_config
        self.device = device
        self.dist = dist
        self.emit = emit
        self.stop = stop
        self.run = run if dist.is_main else None
        self.process_group = _join_process_group(dist, device)
        torch.manual_seed(train_config.seed)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest kernels once
        self.channels_last = uses_channels_last(device)
        self.autocast = resolve_precision(train_config.precision, device)

        model = build_model(config).to(device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        weights = dict(zip(("aux1", "aux2"), train_config.aux_weights, strict=True))
        self.aux_heads = tuple(
            AuxHead(h.name, h.after, weights[h.name], weights[h.name] > 0)
            for h in config.active_aux_heads
        )
        for head in self.aux_heads:
            if not head.in_loss:
                # Weight 0: the head takes no part in the loss; freezing it keeps
                # DistributedDataParallel from waiting for gradients that never come.
                getattr(model, head.name).requires_grad_(False)
        self.model = model
        self.stages = stage_names(model)
        net: nn.Module = HeadsForward(model, with_aux=any(h.in_loss for h in self.aux_heads))
        if dist.active:
            ids = [device.index] if device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        self.net = net
        self.optimizer = self._optimizer([p for p in model.parameters() if p.requires_grad])

        self.data = data.to(device)
        self.preprocessing = data.preprocessing
        per_rank = len(data.train) // dist.world_size
        self.steps_per_epoch = len(
            batch_indices(per_rank, train_config.batch_size, None, avoid_singleton=True)
        )
        self.total_steps = self.steps_per_epoch * train_config.epochs
        self.scheduler = self._scheduler()
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
        return TrainResult(
            status=status,
            message=message,
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
        """Every epoch; the outcome. Raises _Stop (cancel, divergence) and torch's errors."""
        train_config, data = self.train_config, self.data
        analysis = analyze(self.config)
        self.emit(
            StartEvent(
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
            )
        )
        if self.run is not None:
            self.run.set_status("running", f"epoch 1 of {train_config.epochs}")
        for epoch in range(1, train_config.epochs + 1):
            self._epoch(epoch)
        return self.result("completed", self._summary())

    def _optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        c = self.train_config
        # No weight decay on BatchNorm scales/shifts and biases (1-D tensors).
        decay = [p for p in params if p.ndim > 1]
        rest = [p for p in params if p.ndim <= 1]
        groups = [
            {"params": decay, "weight_decay": c.weight_decay},
            {"params": rest, "weight_decay": 0.0},
        ]
        # Fused kernels update every tensor in one call: the per-parameter loop of the
        # default implementation cost ~20 ms a step for mini on a 2-core CPU, fused ~3 ms.
        fused = self.device.type in ("cpu", "cuda")
        if c.optimizer == "sgd":
            return torch.optim.SGD(
                groups, lr=c.lr, momentum=c.momentum, nesterov=c.momentum > 0, fused=fused
            )
        return torch.optim.AdamW(groups, lr=c.lr, fused=fused)

    def _scheduler(self) -> torch.optim.lr_scheduler.LRScheduler:
        c, total = self.train_config, self.total_steps
        if c.schedule == "onecycle" and total >= 3:
            return torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer,
                max_lr=c.lr,
                total_steps=total + 1,  # one spare: the scheduler steps after the last batch too
                # A quarter of the run warming up, at least two steps (PyTorch needs them).
                pct_start=max(0.25, 2 / total),
                div_factor=10.0,  # start at lr/10: BN nets tolerate a short warm-up
                final_div_factor=100.0,
                cycle_momentum=c.optimizer == "sgd",
            )
        if c.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(total, 1))
        return torch.optim.lr_scheduler.ConstantLR(self.optimizer, factor=1.0, total_iters=0)

    # -- one epoch ------------------------------------------------------------------------
    def _epoch(self, epoch: int) -> None:
        train_config, data, dist = self.train_config, self.data, self.dist
        self.net.train()
        batches = batch_indices(
            len(data.train),
            train_config.batch_size,
            self.shuffle_gen,
            rank=dist.rank,
            world_size=dist.world_size,
        )
        stage_of = self._stage_params()
        stage_index = torch.tensor([s for s, _ in stage_of], device=self.device)
        grad_sum = torch.zeros(len(self.stages), device=self.device)
        window = _Window(self.device)
        epoch_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        seen = 0
        check_every = 1 if self.device.type == "cpu" else self.log_every
        epoch_start = time.perf_counter()
        for i, index in enumerate(batches):
            self._check_stop()
            tick = time.perf_counter()
            x, y = model_batch(
                data.train,
                index,
                self.preprocessing,
                generator=self.augment_gen if train_config.augment else None,
                hflip=data.hflip,
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
            _accumulate_grad_norms(grad_sum, stage_of, stage_index)
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
        grad_norms = (grad_sum / max(len(batches), 1)).tolist()
        train_loss, train_acc = self._reduce_train(epoch_loss, correct, seen)
        evaluation = evaluate(
            self.model,
            data.val,
            self.preprocessing,
            batch_size=max(256, 2 * train_config.batch_size),
            channels_last=self.channels_last,
            autocast=self.autocast,
            dist=dist,
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
            grad_norms=dict(zip(self.stages, (round(g, 6) for g in grad_norms), strict=True)),
            epoch_seconds=round(epoch_seconds, 3),
            train_seconds=round(self.train_seconds, 3),
            best_val_acc=self.best_val_acc,
        )
        self.history.append(event)
        self.emit(event)
        if self.run is not None:
            self._save(event, improved)
            left = train_config.epochs - epoch
            note = f"epoch {epoch + 1} of {train_config.epochs}" if left else "finishing"
            self.run.set_status("running", note, best_val_acc=self.best_val_acc)

    def _autocast(self) -> Any:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast)

    def _stage_params(self) -> list[tuple[int, Tensor]]:
        out: list[tuple[int, Tensor]] = []
        for s, name in enumerate(self.stages):
            for p in getattr(self.model, name).parameters():
                if p.requires_grad:
                    out.append((s, p))
        return out

    def _check_stop(self) -> None:
        requested = self.stop is not None and self.stop.is_set()
        if self.dist.active:
            flag = torch.tensor([1.0 if requested else 0.0], device=self.device)
            requested = bool(self.dist.all_reduce(flag).item() > 0)
        if requested:
            raise _Stop(
                "cancelled",
                f"cancelled at step {self.step} (epoch {self.epochs_completed + 1}); "
                + self._kept("the last checkpoint is from epoch"),
            )

    def _kept(self, prefix: str) -> str:
        if self.epochs_completed:
            return f"{prefix} {self.epochs_completed}"
        return "no epoch had finished, so there is no checkpoint"

    def _check_finite(self, loss: Tensor) -> None:
        value = self.dist.all_reduce(loss.detach().float().reshape(1))  # NaN anywhere: NaN
        if not math.isfinite(float(value.item())):
            raise _Stop(
                "diverged",
                f"the loss became {float(value.item())} at step {self.step}: the learning "
                f"rate {self.train_config.lr:g} is probably too high; "
                + self._kept("the last good checkpoint is kept, from epoch"),
            )

    def _check_weights_finite(self) -> None:
        # A finite loss can still come with a non-finite gradient at the last step of an
        # epoch; the weights it produced must not become a checkpoint that cannot load.
        norms = torch._foreach_norm([p.detach() for p in self.model.parameters()])
        finite = self.dist.all_reduce(torch.isfinite(torch.stack(norms)).all().float().reshape(1))
        if float(finite.item()) < self.dist.world_size:
            raise _Stop(
                "diverged",
                f"the weights became non-finite at step {self.step}: the learning rate "
                f"{self.train_config.lr:g} is probably too high; "
                + self._kept("the last good checkpoint is kept, from epoch"),
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

    def _summary(self) -> str:
        acc = self.best_val_acc if self.best_val_acc is not None else float("nan")
        return (
            f"{self.epochs_completed} epoch(s), best validation accuracy {acc:.2%} "
            f"(epoch {self.best_epoch}), {self.train_seconds:.1f} s of training"
        )


def _join_process_group(dist: Distributed, device: torch.device) -> bool:
    """Join torchrun's process group when this process is one of several; True if it did."""
    if not dist.active or torch.distributed.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


def _accumulate_grad_norms(
    grad_sum: Tensor, stage_of: list[tuple[int, Tensor]], index: Tensor
) -> None:
    """Add each stage's gradient norm (all its tensors as one vector) to ``grad_sum``."""
    grads = [p.grad for _, p in stage_of]
    if any(g is None for g in grads):  # a parameter the forward did not use
        pairs = [(s, p.grad) for s, p in stage_of if p.grad is not None]
        if not pairs:
            return
        grads = [g for _, g in pairs]
        index = torch.tensor([s for s, _ in pairs], device=grad_sum.device)
    norms = torch._foreach_norm([g for g in grads if g is not None])  # one fused call
    squares = torch.zeros_like(grad_sum).index_add_(0, index, torch.stack(norms).float().square())
    grad_sum += squares.sqrt()


class _Window:
    """Losses and throughput since the last step event, kept on the device until read."""

    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(4, device=device)
        self.has = [False, False]  # aux1, aux2 computed in this window
        self.images = 0
        self.batches = 0
        self.since = time.perf_counter()

    def add(self, loss: LossBreakdown, images: int) -> None:
        zero = loss.main.new_zeros(())
        parts = [loss.total, loss.main, loss.aux1 if loss.aux1 is not None else zero]
        parts.append(loss.aux2 if loss.aux2 is not None else zero)
        self.sums += torch.stack([p.detach().float() for p in parts])
        self.has = [loss.aux1 is not None, loss.aux2 is not None]
        self.images += images
        self.batches += 1

    def event(self, step: int, epoch: int, lr: float, world_size: int) -> StepEvent:
        now = time.perf_counter()
        means = (self.sums / max(self.batches, 1)).tolist()
        rate = self.images * world_size / max(now - self.since, 1e-9)
        event = StepEvent(
            step=step,
            epoch=epoch,
            loss=round(means[0], 6),
            loss_main=round(means[1], 6),
            loss_aux1=round(means[2], 6) if self.has[0] else None,
            loss_aux2=round(means[3], 6) if self.has[1] else None,
            lr=lr,
            images_per_s=round(rate, 1),
        )
        self.sums.zero_()
        self.images = 0
        self.batches = 0
        self.since = now
        return event
