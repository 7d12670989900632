"""Training: a frozen config, the auxiliary-loss formula, and a loop that knows nothing of the UI.

The paper (section 5) adds the auxiliary classifiers' losses "with a discount
weight (the losses of the auxiliary classifiers were weighted by 0.3)"; the
seeds write it ``loss = main + 0.3 * aux1 + 0.3 * aux2``. :func:`aux_loss` is that
formula as a pure function with its breakdown, and a head whose weight is 0 is
not computed into the graph at all (it receives no gradient; its accuracy is
still measured on the validation set, as an untrained baseline).

:func:`train` follows minGPT's ``Trainer``: it emits plain-dict events to
callbacks (one per logged step, one per epoch, start/end) and checks a stop flag
every batch. The epoch events carry the gradient norm of every stage, so the
vanishing-gradient argument for the auxiliary heads can be watched: with
weights 0/0 the early blocks receive only what survives the whole trunk.

Faults are outcomes, not exceptions: a non-finite loss ends the run as
``diverged`` before the bad step is applied (the last good checkpoint stays),
running out of memory as ``failed`` with a suggestion, a stop request as
``cancelled`` within one batch.

Under ``torchrun`` the same function trains with DistributedDataParallel
(gloo on CPU, NCCL on GPU); rank 0 alone writes the run directory.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .analysis import analyze
from .checkpoints import Preprocessing
from .config import GoogLeNetConfig
from .data import (
    DATASETS,
    DOWNLOADABLE,
    DatasetError,
    ImageSet,
    ProgressFn,
    TrainingData,
    batch_indices,
    iterate_batches,
    load_dataset,
    model_batch,
    split_sizes,
)
from .model import GoogLeNet, Heads, build_model

if TYPE_CHECKING:
    from .runs import Run

log = logging.getLogger(__name__)

Event = dict[str, Any]
Callback = Callable[[Event], None]
Status = Literal["completed", "cancelled", "diverged", "failed"]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("onecycle", "cosine", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
MAX_LR = 1e6  # high enough to demonstrate divergence on purpose


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run except the network itself.

    Make variations with ``dataclasses.replace``; every instance is validated.
    """

    dataset: str = "digits"  # one of data.DATASETS
    data_path: str | None = None  # the folder ('folder') or the zip's file name ('upload')
    subset: int | None = None  # at most this many training images (None: all)
    batch_size: int = 64  # per process under torchrun
    epochs: int = 3
    optimizer: str = "adamw"  # 'sgd' (Nesterov momentum) or 'adamw'
    lr: float = 0.003  # peak learning rate
    schedule: str = "onecycle"  # 'onecycle' (warm-up then anneal), 'cosine' or 'constant'
    weight_decay: float = 5e-4
    momentum: float = 0.9  # SGD only
    aux_weight1: float = 0.3  # w1, the head nearer the input (0.3 in the paper)
    aux_weight2: float = 0.3  # w2, the later head
    augment: bool = True  # random shifts/rotations/scales (and flips where they keep the class)
    seed: int = 0
    device: str = "auto"  # 'auto': CUDA, then Apple MPS, then CPU
    precision: str = "auto"  # 'auto': bf16 autocast on CUDA, fp32 elsewhere
    val_fraction: float = 0.2  # held out where a data set has no official test split
    log_every: int | None = None  # steps between step events (None: about 20 per epoch)

    def __post_init__(self) -> None:
        _choice("dataset", self.dataset, DATASETS)
        if self.dataset == "folder" and not self.data_path:
            raise ValueError("training: dataset 'folder' needs data_path, the folder of classes")
        if self.data_path is not None and not isinstance(self.data_path, str):
            raise ValueError("training: data_path must be text")
        if self.subset is not None:
            _int("subset", self.subset, 8, 10_000_000)
        _int("batch_size", self.batch_size, 1, 4096)
        _int("epochs", self.epochs, 1, 1000)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _float("lr", self.lr, 1e-8, MAX_LR, low_open=False)
        _choice("schedule", self.schedule, SCHEDULES)
        _float("weight_decay", self.weight_decay, 0.0, 1.0)
        _float("momentum", self.momentum, 0.0, 0.999)
        _float("aux_weight1", self.aux_weight1, 0.0, 1.0)
        _float("aux_weight2", self.aux_weight2, 0.0, 1.0)
        if not isinstance(self.augment, bool):
            raise ValueError("training: augment must be true or false")
        _int("seed", self.seed, 0, 2**31 - 1)
        _choice("device", self.device, DEVICES)
        _choice("precision", self.precision, PRECISIONS)
        _float("val_fraction", self.val_fraction, 0.05, 0.5)
        if self.log_every is not None:
            _int("log_every", self.log_every, 1, 100_000)

    @property
    def aux_weights(self) -> tuple[float, float]:
        return (self.aux_weight1, self.aux_weight2)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Rebuild a config; unknown keys are a ValueError, never ignored."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a training config must be a JSON object, got {type(data).__name__}")
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            raise ValueError(f"training: unknown key(s) {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str | bytes) -> TrainConfig:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None


def _choice(name: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"training: {name} must be one of {', '.join(allowed)}; got {value!r}")


def _int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(
            f"training: {name} must be a whole number from {lo} to {hi}; got {value!r}"
        )


def _float(name: str, value: object, lo: float, hi: float, *, low_open: bool = False) -> None:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and lo <= value <= hi
    )
    if not ok:
        raise ValueError(f"training: {name} must be a number from {lo:g} to {hi:g}; got {value!r}")


def check_compatible(model_config: GoogLeNetConfig, config: TrainConfig) -> None:
    """Refuse, up front, a pairing that cannot train (a ValueError with the reason)."""
    if model_config.batch_norm and config.batch_size < 2:
        raise ValueError(
            "batch size 1 cannot train a network with BatchNorm: the statistics of a single "
            "image normalise every activation to zero. Use a batch of 2 or more"
        )
    if model_config.in_channels not in (1, 3):
        raise ValueError(
            f"the network takes {model_config.in_channels} input channels; images give 1 or 3"
        )
    # The input size was already validated against the network by GoogLeNetConfig.


# ---- the loss ------------------------------------------------------------------------------


class LossBreakdown(NamedTuple):
    """``total = main + w1 * aux1 + w2 * aux2``; an aux term is None when not computed."""

    total: Tensor
    main: Tensor
    aux1: Tensor | None
    aux2: Tensor | None


def aux_loss(heads: Heads, target: Tensor, w1: float, w2: float) -> LossBreakdown:
    """The paper's weighted sum of the three cross-entropies, with its parts.

    A head that is absent (None) or weighted 0 is skipped: its cross-entropy is
    not computed, so it adds nothing to the autograd graph.
    """
    main = F.cross_entropy(heads.logits, target)
    total = main
    parts: list[Tensor | None] = []
    for logits, weight in ((heads.aux1, w1), (heads.aux2, w2)):
        if logits is None or weight == 0:
            parts.append(None)
            continue
        term = F.cross_entropy(logits, target)
        total = total + weight * term
        parts.append(term)
    return LossBreakdown(total, main, parts[0], parts[1])


# ---- recipes and devices -------------------------------------------------------------------

# Tuned on this project's 2-core CPU (benchmarks/bench_time_to_accuracy.py). For mini on
# the digits at the recipe's 16 px (below), two one-cycle epochs reach 98.2-98.8% held out
# over seeds 0-4 in ~11-13 s; one epoch stops below 98% whatever the batch or rate, a peak
# rate of 0.005 dips to 97.7% on some seeds, and batch 128 needs a third epoch. Augmentation
# costs a two-epoch run accuracy on these clean 8x8 digits, so it is off here (longer runs
# on the dashboard can turn it on).
_QUICK_RECIPES: dict[tuple[str, str], dict[str, Any]] = {
    ("mini", "digits"): {
        "epochs": 2,
        "batch_size": 64,
        "optimizer": "adamw",
        "lr": 0.003,
        "schedule": "onecycle",
        "weight_decay": 5e-4,
        "augment": False,
    },
}
_GENERIC_RECIPE: dict[str, Any] = {"epochs": 3, "optimizer": "adamw", "lr": 0.003}

# The input side a recipe trains at, where it is not the network's own. The digits are 8x8
# scans: 16 px holds everything they have, and mini trains ~2.7x faster there than at its
# design side of 32 px, to the same held-out accuracy. Its parameters do not change (mini's
# last pool and aux pools are adaptive), so the checkpoint records the side it was trained at.
_RECIPE_INPUT_SIZES: dict[tuple[str, str], int] = {("mini", "digits"): 16}


def quick_recipe(preset: str | None, dataset: str) -> dict[str, Any]:
    """TrainConfig fields for a short run of ``preset`` on ``dataset`` (tuned where known)."""
    return dict(_QUICK_RECIPES.get((preset or "", dataset), _GENERIC_RECIPE))


def recipe_input_size(preset: str | None, dataset: str) -> int | None:
    """The input side the quick recipe trains ``preset`` at on ``dataset``; None: its own."""
    return _RECIPE_INPUT_SIZES.get((preset or "", dataset))


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then the CPU; a named device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but this machine has no usable CUDA GPU")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for, but Apple's MPS backend is not available")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain fp32."""
    if name == "fp32":
        return None
    if name == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


# ---- distributed ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Distributed:
    """This process's place in a ``torchrun`` job (rank 0 of 1 when run alone)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def distributed_from_env() -> Distributed:
    """Read ``torchrun``'s RANK / LOCAL_RANK / WORLD_SIZE (absent: a single process)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ValueError("RANK, LOCAL_RANK and WORLD_SIZE must be whole numbers") from None
    return Distributed(rank, local, world)


# ---- results -------------------------------------------------------------------------------


@dataclass
class TrainResult:
    status: Status
    message: str
    best_val_acc: float | None = None
    best_epoch: int | None = None
    epochs_completed: int = 0
    steps: int = 0
    train_seconds: float = 0.0  # optimisation only: no evaluation, no checkpoints
    elapsed_seconds: float = 0.0
    run_dir: str | None = None
    history: list[Event] = field(default_factory=list)  # the epoch events


class _Stop(Exception):
    """Internal: unwinds the loop with an outcome."""

    def __init__(self, status: Status, message: str) -> None:
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


# ---- the loop ------------------------------------------------------------------------------


def train(
    model_config: GoogLeNetConfig,
    config: TrainConfig,
    *,
    data: TrainingData | None = None,
    archive: bytes | None = None,
    callbacks: Sequence[Callback] = (),
    stop: threading.Event | None = None,
    run: Run | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    distributed: Distributed | None = None,
) -> TrainResult:
    """Train a fresh network; return how it ended. Never raises for a bad run.

    ``data`` skips loading (tests, benchmarks); ``archive`` is an uploaded zip's
    bytes for ``dataset='upload'``. ``run`` (rank 0 only) receives every event,
    the status and the checkpoints. ``stop`` is checked before every batch.
    """
    dist = distributed or distributed_from_env()
    started = time.perf_counter()
    history: list[Event] = []
    sinks: list[Callback] = list(callbacks) if dist.is_main else []
    if run is not None and dist.is_main:
        sinks.insert(0, run.record)

    def emit(event: Event) -> None:
        event.setdefault("time", round(time.time(), 3))
        for sink in sinks:
            sink(event)

    def finish(result: TrainResult) -> TrainResult:
        result.elapsed_seconds = time.perf_counter() - started
        result.history = history
        result.run_dir = str(run.path) if run is not None else None
        emit(
            {
                "type": "end",
                "status": result.status,
                "message": result.message,
                "best_val_acc": result.best_val_acc,
                "best_epoch": result.best_epoch,
                "epochs_completed": result.epochs_completed,
                "steps": result.steps,
                "train_seconds": round(result.train_seconds, 3),
                "elapsed": round(result.elapsed_seconds, 3),
            }
        )
        if run is not None and dist.is_main:
            run.set_status(result.status, result.message, best_val_acc=result.best_val_acc)
        return result

    if run is not None and dist.is_main:
        run.set_status("running", "loading data")
    try:
        check_compatible(model_config, config)
        device = resolve_device(config.device)
        if dist.active and device.type == "cuda":
            device = torch.device("cuda", dist.local_rank)
        if data is None:
            data = _load(model_config, config, archive, cache_dir, emit)
    except (ValueError, OSError) as exc:
        return finish(TrainResult("failed", str(exc)))
    loop = _Loop(model_config, config, data, device, dist, emit, stop, run, history)
    try:
        return finish(loop.run())
    except _Stop as outcome:
        return finish(loop.result(outcome.status, outcome.message))
    except RuntimeError as exc:  # torch.OutOfMemoryError is one
        if is_out_of_memory(exc):
            return finish(loop.result("failed", _oom_message(config, model_config, device)))
        log.exception("training failed")
        return finish(loop.result("failed", f"training failed: {str(exc).splitlines()[0][:300]}"))
    except (ValueError, OSError) as exc:
        return finish(loop.result("failed", str(exc)))
    finally:
        loop.close()


def _load(
    model_config: GoogLeNetConfig,
    config: TrainConfig,
    archive: bytes | None,
    cache_dir: str | os.PathLike[str] | None,
    emit: Callback,
) -> TrainingData:
    last = [0.0]

    def progress(done: int, total: int | None, what: str) -> None:
        now = time.perf_counter()
        if now - last[0] < 0.25 and done != total and done:
            return  # a download event every quarter second is plenty
        last[0] = now
        emit({"type": "download", "file": what, "done": done, "total": total})

    if config.dataset in DOWNLOADABLE:
        emit({"type": "note", "message": f"reading {config.dataset} (downloading if not cached)"})
    return load_dataset(
        config.dataset,
        input_size=model_config.input_size,
        in_channels=model_config.in_channels,
        subset=config.subset,
        val_fraction=config.val_fraction,
        path=config.data_path if config.dataset == "folder" else None,
        archive=archive,
        cache_dir=cache_dir,
        progress=progress,
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError MPS and the CPU allocator raise."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


def _oom_message(config: TrainConfig, model_config: GoogLeNetConfig, device: torch.device) -> str:
    return (
        f"out of memory on {device.type} with batch size {config.batch_size} at "
        f"{model_config.input_size} px: try a smaller batch size or a smaller input size"
    )


class _Loop:
    """One training run's state; :func:`train` is its only user."""

    def __init__(
        self,
        model_config: GoogLeNetConfig,
        config: TrainConfig,
        data: TrainingData,
        device: torch.device,
        dist: Distributed,
        emit: Callback,
        stop: threading.Event | None,
        run: Run | None,
        history: list[Event],
    ) -> None:
        self.config = config
        self.data = data
        self.device = device
        self.dist = dist
        self.emit = emit
        self.stop = stop
        self.run_dir = run if dist.is_main else None
        self.history = history
        self.best_val_acc: float | None = None
        self.best_epoch: int | None = None
        self.epochs_completed = 0
        self.step = 0
        self.train_seconds = 0.0
        self.process_group = False
        if len(data.class_names) != model_config.num_classes:
            emit(
                {
                    "type": "note",
                    "message": f"the network's {model_config.num_classes} outputs were set to "
                    f"the data set's {len(data.class_names)} classes",
                }
            )
            model_config = dataclasses.replace(model_config, num_classes=len(data.class_names))
        self.model_config = model_config

    # -- outcome --------------------------------------------------------------------------
    def result(self, status: Status, message: str) -> TrainResult:
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

    # -- set-up ---------------------------------------------------------------------------
    def run(self) -> TrainResult:
        config, dist, device = self.config, self.dist, self.device
        if dist.active and not torch.distributed.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            if device.type == "cuda":
                torch.cuda.set_device(device)
            torch.distributed.init_process_group(backend=backend)
            self.process_group = True
        torch.manual_seed(config.seed)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest kernels once
        model = build_model(self.model_config)
        # channels_last: faster convolutions and pools with cuDNN and oneDNN (about 1.5x
        # for mini on this project's 2-core CPU); MPS gains nothing from it.
        self.channels_last = device.type in ("cuda", "cpu")
        model = model.to(device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        w1, w2 = config.aux_weights
        heads = {"aux1": w1, "aux2": w2}
        present = {h.name for h in self.model_config.active_aux_heads}
        self.in_loss = {h: h in present and heads[h] > 0 for h in heads}
        for name in present:
            if not self.in_loss[name]:
                # Weight 0: the head takes no part in the loss; freezing it keeps
                # DistributedDataParallel from waiting for gradients that never come.
                getattr(model, name).requires_grad_(False)
        self.model = model
        self.stages = stage_names(model)
        net: nn.Module = _HeadsForward(model, with_aux=any(self.in_loss.values()))
        if dist.active:
            ids = [device.index] if device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        self.net = net
        self.autocast = resolve_precision(config.precision, device)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = self._optimizer(params)
        data = self.data.to(device)
        self.data = data
        per_rank = len(data.train) // dist.world_size
        self.steps_per_epoch = len(
            batch_indices(per_rank, config.batch_size, None, avoid_singleton=True)
        )
        self.total_steps = self.steps_per_epoch * config.epochs
        self.scheduler = self._scheduler()
        self.log_every = config.log_every or max(1, self.steps_per_epoch // 20)
        # Same permutation on every rank; augmentation differs per rank.
        self.shuffle_gen = torch.Generator().manual_seed(config.seed)
        self.augment_gen = torch.Generator().manual_seed(config.seed * 1009 + 17 + dist.rank)
        self.preprocessing = Preprocessing(
            self.model_config.input_size, self.model_config.in_channels, data.mean, data.std
        )
        analysis = analyze(self.model_config)
        self.emit(
            {
                "type": "start",
                "device": str(device),
                "precision": "bf16" if self.autocast == torch.bfloat16 else "fp32",
                "channels_last": self.channels_last,
                "world_size": dist.world_size,
                "dataset": data.name,
                "dataset_description": data.description,
                "val_description": data.val_description,
                "skipped": data.skipped,
                "classes": list(data.class_names),
                "train_images": len(data.train),
                "val_images": len(data.val),
                "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps,
                "epochs": config.epochs,
                "batch_size": config.batch_size,
                "aux_present": {h: h in present for h in heads},
                "aux_in_loss": self.in_loss,
                "aux_weights": {"aux1": w1, "aux2": w2},
                "stages": self.stages,
                "params": analysis.total_params,
                "macs": analysis.total_macs,
                "train_config": config.to_dict(),
                "model_config": self.model_config.to_dict(),
            }
        )
        if self.run_dir is not None:
            self.run_dir.set_status("running", f"epoch 1 of {config.epochs}")
        for epoch in range(1, config.epochs + 1):
            self._epoch(epoch)
        return self.result("completed", self._summary())

    def _optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        c = self.config
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
        c, total = self.config, self.total_steps
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
        config, data, dist = self.config, self.data, self.dist
        self.net.train()
        batches = batch_indices(
            len(data.train),
            config.batch_size,
            self.shuffle_gen,
            rank=dist.rank,
            world_size=dist.world_size,
        )
        n_stages = len(self.stages)
        stage_of = self._stage_index()
        stage_index = torch.tensor([s for s, _ in stage_of], device=self.device)
        grad_sum = torch.zeros(n_stages, device=self.device)
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
                data,
                data.train,
                index,
                generator=self.augment_gen if config.augment else None,
                channels_last=self.channels_last,
            )
            with self._autocast():
                heads: Heads = self.net(x)
                loss = aux_loss(heads, y, *config.aux_weights)
            self.step += 1
            if self.step % check_every == 0 or i == len(batches) - 1:
                self._check_finite(loss.total)
            self.optimizer.zero_grad(set_to_none=True)
            loss.total.backward()
            self._accumulate_grad_norms(grad_sum, stage_of, stage_index)
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
        grad_norms = (grad_sum / max(len(batches), 1)).tolist()
        train_loss, train_acc = self._reduce_train(epoch_loss, correct, seen)
        val = self._evaluate()
        self.epochs_completed = epoch
        event: Event = {
            "type": "epoch",
            "epoch": epoch,
            "step": self.step,
            "train_loss": train_loss,
            "train_acc": train_acc,
            **val,
            "grad_norms": dict(zip(self.stages, (round(g, 6) for g in grad_norms), strict=True)),
            "epoch_seconds": round(epoch_seconds, 3),
            "train_seconds": round(self.train_seconds, 3),
        }
        acc = float(val["val_acc"] or 0.0)  # the main head is always there
        improved = self.best_val_acc is None or acc > self.best_val_acc
        if improved:
            self.best_val_acc, self.best_epoch = acc, epoch
        event["best_val_acc"] = self.best_val_acc
        self.history.append(event)
        self.emit(event)
        if self.run_dir is not None:
            self._save(event, improved)
            left = self.config.epochs - epoch
            note = f"epoch {epoch + 1} of {self.config.epochs}" if left else "finishing"
            self.run_dir.set_status("running", note, best_val_acc=self.best_val_acc)

    def _autocast(self) -> Any:
        if self.autocast is None:
            return _nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast)

    def _stage_index(self) -> list[tuple[int, Tensor]]:
        out: list[tuple[int, Tensor]] = []
        for s, name in enumerate(self.stages):
            for p in getattr(self.model, name).parameters():
                if p.requires_grad:
                    out.append((s, p))
        return out

    def _accumulate_grad_norms(
        self, grad_sum: Tensor, stage_of: list[tuple[int, Tensor]], index: Tensor
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
        squares = torch.zeros_like(grad_sum).index_add_(
            0, index, torch.stack(norms).float().square()
        )
        grad_sum += squares.sqrt()

    def _check_stop(self) -> None:
        requested = self.stop is not None and self.stop.is_set()
        if self.dist.active:
            flag = torch.tensor([1.0 if requested else 0.0], device=self.device)
            torch.distributed.all_reduce(flag)
            requested = bool(flag.item() > 0)
        if requested:
            raise _Stop(
                "cancelled",
                f"cancelled at step {self.step} (epoch {self.epochs_completed + 1}); "
                + (
                    f"the last checkpoint is from epoch {self.epochs_completed}"
                    if self.epochs_completed
                    else "no epoch had finished, so there is no checkpoint"
                ),
            )

    def _check_finite(self, loss: Tensor) -> None:
        value = loss.detach().float().reshape(1)
        if self.dist.active:
            torch.distributed.all_reduce(value)  # NaN anywhere is NaN everywhere
        if not math.isfinite(float(value.item())):
            kept = (
                f"the last good checkpoint (epoch {self.epochs_completed}) is kept"
                if self.epochs_completed
                else "no epoch had finished, so there is no checkpoint"
            )
            raise _Stop(
                "diverged",
                f"the loss became {float(value.item())} at step {self.step}: the learning "
                f"rate {self.config.lr:g} is probably too high; {kept}",
            )

    def _reduce_train(self, loss_sum: Tensor, correct: Tensor, seen: int) -> tuple[float, float]:
        totals = torch.stack(
            [loss_sum.float(), correct.float(), torch.tensor(float(seen), device=loss_sum.device)]
        )
        if self.dist.active:
            totals = totals.to(self.device)
            torch.distributed.all_reduce(totals)
        loss_sum_f, correct_f, seen_f = totals.tolist()
        return round(loss_sum_f / max(seen_f, 1), 6), round(correct_f / max(seen_f, 1), 6)

    @torch.no_grad()
    def _evaluate(self) -> dict[str, float | None]:
        """Loss and accuracy of every head on this rank's share of the validation set."""
        self.model.eval()
        data, dist = self.data, self.dist
        share = data.val
        if dist.active:
            keep = torch.arange(dist.rank, len(share), dist.world_size, device=share.labels.device)
            share = ImageSet(share.images[keep], share.labels[keep])
        # Per head: summed loss, correct predictions; plus the count.
        sums = torch.zeros(7, device=self.device)  # float32: Apple's MPS has no float64
        batch = max(256, 2 * self.config.batch_size)
        for x, y in iterate_batches(data, share, batch, channels_last=self.channels_last):
            with self._autocast():
                heads = self.model.forward_heads(x)
            for h, logits in enumerate(heads):
                if logits is None:
                    continue
                logits = logits.float()
                sums[2 * h] += F.cross_entropy(logits, y, reduction="sum")
                sums[2 * h + 1] += (logits.argmax(1) == y).sum()
            sums[6] += len(y)
        if dist.active:
            torch.distributed.all_reduce(sums)
        self.model.train()
        values = sums.tolist()
        count = max(values[6], 1.0)
        present = {h.name for h in self.model_config.active_aux_heads}
        out: dict[str, float | None] = {}
        for h, suffix in enumerate(("", "_aux1", "_aux2")):
            there = h == 0 or suffix[1:] in present
            out[f"val_loss{suffix}"] = round(values[2 * h] / count, 6) if there else None
            out[f"val_acc{suffix}"] = round(values[2 * h + 1] / count, 6) if there else None
        return out

    def _save(self, event: Event, improved: bool) -> None:
        assert self.run_dir is not None
        metrics = {
            k: event[k]
            for k in ("epoch", "step", "val_acc", "val_loss", "val_acc_aux1", "val_acc_aux2")
        }
        metrics["run_id"] = self.run_dir.id
        for which in ("last", "best") if improved else ("last",):
            self.run_dir.save_checkpoint(
                which, self.model, self.model_config, self.data.class_names, self.preprocessing,
                metrics,
            )  # fmt: skip

    def _summary(self) -> str:
        acc = self.best_val_acc if self.best_val_acc is not None else float("nan")
        return (
            f"{self.epochs_completed} epoch(s), best validation accuracy {acc:.2%} "
            f"(epoch {self.best_epoch}), {self.train_seconds:.1f} s of training"
        )


class _HeadsForward(nn.Module):
    """``forward`` returning all heads, so DistributedDataParallel's hooks see them.

    With no aux head in the loss it runs the main path only (``model(x)``),
    skipping the heads' compute.
    """

    def __init__(self, model: GoogLeNet, with_aux: bool) -> None:
        super().__init__()
        self.model = model
        self.with_aux = with_aux

    def forward(self, x: Tensor) -> Heads:
        if self.with_aux:
            heads: Heads = self.model.forward_heads(x)
            return heads
        return Heads(self.model(x), None, None)


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


class _Window:
    """Losses and throughput since the last step event, kept on the device until read."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
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

    def event(self, step: int, epoch: int, lr: float, world_size: int) -> Event:
        now = time.perf_counter()
        means = (self.sums / max(self.batches, 1)).tolist()
        rate = self.images * world_size / max(now - self.since, 1e-9)
        event: Event = {
            "type": "step",
            "step": step,
            "epoch": epoch,
            "loss": round(means[0], 6),
            "loss_main": round(means[1], 6),
            "loss_aux1": round(means[2], 6) if self.has[0] else None,
            "loss_aux2": round(means[3], 6) if self.has[1] else None,
            "lr": lr,
            "images_per_s": round(rate, 1),
        }
        self.sums.zero_()
        self.images = 0
        self.batches = 0
        self.since = now
        return event


def progress_of(events: Sequence[Mapping[str, Any]]) -> tuple[float, float | None]:
    """(fraction of steps done, estimated seconds left) from a run's events so far."""
    start = next((e for e in events if e.get("type") == "start"), None)
    steps = [e for e in events if e.get("type") == "step"]
    if start is None or not steps or not start.get("total_steps"):
        return 0.0, None
    done = min(steps[-1]["step"] / start["total_steps"], 1.0)
    elapsed = float(steps[-1].get("time", 0)) - float(start.get("time", 0))
    if done <= 0 or elapsed <= 0:
        return done, None
    return done, elapsed * (1 - done) / done


# ---- estimates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    seconds: float  # the whole run: training and per-epoch validation
    macs_per_s: float  # the machine's training rate (forward + backward = 3 x forward MACs)
    train_images: int
    val_images: int


def probe_macs_per_s(
    model_config: GoogLeNetConfig,
    config: TrainConfig,
    probe_batch: int | None = None,
    min_seconds: float = 1.0,
) -> float:
    """This machine's training rate for this network, in forward MACs per second.

    Training steps on random images, at the run's batch size up to 32 (tiny
    batches run below a machine's rate): at least four, and more until
    ``min_seconds`` have passed. The first is warm-up (allocations, kernel
    selection); the fastest of the others is the steady rate: other work on a
    shared machine only ever slows a step down, and a probe that lasts a
    second outlives most of its bursts.
    """
    device = resolve_device(config.device)
    macs = analyze(model_config).total_macs
    model = build_model(model_config).to(device)
    channels_last = device.type in ("cuda", "cpu")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    side, c = model_config.input_size, model_config.in_channels
    # Up to 32 images, but no more than ~2 G forward MACs a step: a 224 px network on
    # a CPU gets 2 images, so the probe stays around a second or two anywhere.
    batch = max(2, probe_batch or min(config.batch_size, 32, int(2e9 // max(macs, 1))))
    x = torch.randn(batch, c, side, side, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, model_config.num_classes, (batch,), device=device)
    dtype = resolve_precision(config.precision, device)
    seconds = math.inf
    started = time.perf_counter()
    step = 0
    while step < 4 or (time.perf_counter() - started < min_seconds and step < 200):
        tick = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype) if dtype else _nullcontext():
            loss = aux_loss(model.forward_heads(x), y, *config.aux_weights).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:
            seconds = min(seconds, time.perf_counter() - tick)
        step += 1
    return 3 * macs * batch / max(seconds, 1e-9)


def estimate_seconds(
    model_config: GoogLeNetConfig,
    config: TrainConfig,
    macs_per_s: float,
    train_images: int,
    val_images: int,
) -> float:
    """Training (3x forward MACs per image) plus validation (1x), every epoch, at this rate."""
    macs = analyze(model_config).total_macs
    return config.epochs * (3 * macs * train_images + macs * val_images) / macs_per_s


def estimate(
    model_config: GoogLeNetConfig,
    config: TrainConfig,
    *,
    train_images: int | None = None,
    val_images: int | None = None,
) -> Estimate:
    """How long a run will take here: the MAC count over a quick throughput probe."""
    check_compatible(model_config, config)
    if train_images is None or val_images is None:
        train_images, val_images = split_sizes(config.dataset, config.subset, config.val_fraction)
    rate = probe_macs_per_s(model_config, config)
    seconds = estimate_seconds(model_config, config, rate, train_images, val_images)
    return Estimate(seconds, rate, train_images, val_images)


__all__ = [
    "DatasetError",
    "Distributed",
    "Estimate",
    "LossBreakdown",
    "ProgressFn",
    "TrainConfig",
    "TrainResult",
    "aux_loss",
    "check_compatible",
    "distributed_from_env",
    "estimate",
    "estimate_seconds",
    "is_out_of_memory",
    "probe_macs_per_s",
    "progress_of",
    "quick_recipe",
    "recipe_input_size",
    "resolve_device",
    "resolve_precision",
    "stage_names",
    "train",
]
