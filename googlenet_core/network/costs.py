"""What a design costs: multiply-accumulates, seconds at a measured rate, and peak memory.

One home for every cost formula, beside the model and the analysis it reads (nanoGPT
keeps its FLOP estimate beside its model the same way). Whoever asks what a design
costs asks here:

- **training** (the planner, the time estimate, the server's memory check, the
  trainer's evaluation batch): :data:`TRAIN_FORWARDS` forward passes per image,
  :func:`training_seconds` at a rate the caller measured, and the peak memory of a
  training process, :func:`training_memory`;
- **evaluation**: one forward pass per image, its batch bounded by a training step's
  memory (:func:`evaluation_batch`);
- **prediction**: the largest batch a forward pass may take within a memory budget
  (:func:`prediction_batch`);
- **measuring gradient flow** (the Concepts page): what one measurement adds
  (:func:`flow_bytes`, :func:`flow_batch`).

Nothing here measures anything or knows the host. A figure that depends on the
machine is the caller's measurement, passed in: the training rate
(:func:`googlenet_core.training.estimate.probe_macs_per_s`) and the process's own
baseline, the interpreter and torch after a first training step
(:mod:`googlenet_core.service.probes`, measured on each host, never a constant of
one machine). How a recipe trains, in the terms a cost depends on, is a
:class:`Step` (:meth:`googlenet_core.training.config.TrainConfig.step` makes one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..i18n import _
from .analysis import Analysis, analyze
from .config import GoogLeNetConfig

FLOAT = 4  # bytes: training runs in fp32 on a CPU, the hosts these estimates are for
GB = 1e9

#: A training step costs about three forward passes: the forward, and a backward that
#: computes gradients for the activations and for the weights. Evaluation costs one.
TRAIN_FORWARDS = 3

#: A training step's peak per byte of saved activations (:func:`saved_values`): backward
#: allocates each layer's input gradient while the saved tensors of the layers before it
#: are alive, and glibc keeps some freed blocks. Fitted over the process baseline against
#: real workers: 0.94 (the paper's network at 224 px) to 1.2 (torchvision's at 112 px).
BACKWARD_FACTOR = 1.1

#: Evaluation runs without autograd at a batch of up to 256: about three of its largest
#: tensors alive at once (:meth:`Analysis.activation_bytes`), which the measurements of
#: the paper's network at 224 px (where evaluation is the peak) bear out.
EVAL_FACTOR = 1.0

#: Memory the forward pass of one prediction batch may take: 32 photos at 224 px fit in a
#: tenth of it; a 1024 px network gets one image at a time.
PREDICT_MEMORY_BYTES = 384 * 2**20

#: Images in a gradient-flow measurement, the most that fit the memory allowed: 8 for mini,
#: 2 for the paper's 224 px network.
FLOW_BATCHES = (8, 4, 2)
#: Images the frozen stages of a transfer run take at once while their features are computed.
EXTRACT_BATCH = 32
#: The flow prediction's margin over what was measured (allocator slack, temporaries).
FLOW_MARGIN = 1.15


@dataclass(frozen=True)
class Step:
    """One training step of a recipe, in the terms its cost depends on."""

    batch_size: int
    trained_aux: tuple[str, ...]  # aux heads in the loss: run, with gradients and optimiser state
    optimizer_states: int  # tensors kept per trainable weight: AdamW 2, SGD momentum 1, else 0
    optimizer: str  # "adamw" or "sgd", for the sentence
    # Stages kept as trained (a transfer run): no gradient, no optimiser state, nothing saved
    # for backward. ``features_once``: their features are computed once per image, before
    # the epochs, a batch of EXTRACT_BATCH at a time (googlenet_core/training/features.py).
    frozen: tuple[str, ...] = ()
    features_once: bool = False

    @property
    def runs_aux(self) -> bool:
        """Whether a step computes the aux heads: when one is in the loss, both run."""
        return bool(self.trained_aux)


# ---- compute -------------------------------------------------------------------------------


def training_macs(config: GoogLeNetConfig, images: int) -> int:
    """Multiply-accumulates to train on ``images`` images once (one epoch of them)."""
    return TRAIN_FORWARDS * analyze(config).total_macs * images


def training_seconds(
    config: GoogLeNetConfig,
    epochs: int,
    train_images: int,
    val_images: int,
    macs_per_s: float,
    frozen: tuple[str, ...] = (),
    features_once: bool = False,
) -> float:
    """Training (three forward passes per image) plus validation (one), every epoch.

    ``frozen`` stages only ever run forward (no backward): once per image before the
    epochs when ``features_once`` (their features are kept), else on every step.
    """
    analysis = analyze(config)
    front = sum(r.macs for r in analysis.rows if r.name in frozen)
    rest = analysis.total_macs - front
    images = train_images + val_images
    if features_once:
        macs = images * front + epochs * (TRAIN_FORWARDS * rest * train_images + rest * val_images)
    else:
        per_epoch = TRAIN_FORWARDS * rest * train_images + front * train_images
        macs = epochs * (per_epoch + analysis.total_macs * val_images)
    return macs / macs_per_s


# ---- memory --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryEstimate:
    """A training process's peak memory in bytes, by what holds it."""

    process: int  # the interpreter and torch after a first step, measured on the host
    parameters: int  # the weights (aux heads included when the network builds them)
    gradients: int  # one per trainable weight (a weight-0 aux head is frozen: none)
    optimizer: int  # AdamW: two moments per weight; SGD with momentum: one buffer
    activations: int  # the larger of a training step's saved tensors and evaluation's
    data: int  # the data set held in memory (0 when it cannot be known beforehand)
    batch_size: int
    input_size: int
    optimizer_name: str

    @property
    def total(self) -> int:
        weights = self.parameters + self.gradients + self.optimizer
        return self.process + weights + self.activations + self.data

    def sentence(self) -> str:
        """'about 1.4 GB: 0.3 GB PyTorch, 0.1 GB weights + gradients + AdamW state, ...'."""
        state = {"adamw": _("AdamW state"), "sgd": _("SGD momentum")}[self.optimizer_name]
        weights = self.parameters + self.gradients + self.optimizer
        if self.data >= 0.05 * GB:
            message = _(
                "about {total}: {process} PyTorch, {weights} weights + gradients + {state}, "
                "{activations} activations for a batch of {batch} at {side} px, {data} images"
            )
        else:
            message = _(
                "about {total}: {process} PyTorch, {weights} weights + gradients + {state}, "
                "{activations} activations for a batch of {batch} at {side} px"
            )
        return message.format(
            total=size_words(self.total),
            process=size_words(self.process),
            weights=size_words(weights),
            state=state,
            activations=size_words(self.activations),
            batch=self.batch_size,
            side=self.input_size,
            data=size_words(self.data),
        )


def size_words(value: float) -> str:
    """'1.4 GB' from a tenth of a gigabyte up, '12 MB' below (not '0.0 GB')."""
    return f"{value / GB:.1f} GB" if value >= 0.1 * GB else f"{value / 1e6:.0f} MB"


def saved_values(analysis: Analysis, with_aux: bool, frozen: tuple[str, ...] = ()) -> int:
    """Values (4-byte units) autograd keeps for backward, per image.

    Within 2 % of a census of the built model's saved tensors (``saved_tensors_hooks``,
    one count per storage, parameters left out) for mini, paper and torchvision.
    """
    config = analysis.config
    c, side = config.in_channels, config.input_size
    values = 2 * c * side * side  # the batch as resized, then normalised (the first conv's input)
    # conv -> BN -> ReLU(inplace): BN keeps its input (the conv's output) and ReLU its
    # result, a second tensor; without BN the ReLU overwrites the conv's output: one.
    per_conv = 2 if config.batch_norm else 1
    for layer in analysis.layers:
        if (layer.is_aux and not with_aux) or layer.stage in frozen:
            continue
        size = math.prod(layer.out_shape)
        if layer.kind == "conv":
            values += per_conv * size
        elif layer.kind == "maxpool":
            values += 3 * size  # its output and int64 indices (two floats' worth) for backward
        elif layer.kind == "linear":
            values += 3 * size  # output, dropout mask and dropout's result (a few hundred)
        else:
            values += size  # an average pool's output, kept by the conv or linear after it
    for row in analysis.rows:
        if row.kind == "inception" and row.name not in frozen:
            values += math.prod(row.out_shape)  # torch.cat copies the four branches: new tensor
    return values


def forward_bytes(config: GoogLeNetConfig, batch: int = 1) -> int:
    """Bytes ``batch`` images take on their way through without gradients (prediction,
    evaluation): about three of the largest tensors alive at once
    (:meth:`Analysis.activation_bytes`)."""
    return analyze(config).activation_bytes(batch, FLOAT)


def training_activations(config: GoogLeNetConfig, step: Step) -> int:
    """Bytes of one training step's activations at its peak; linear in the batch."""
    per_image = saved_values(analyze(config), step.runs_aux, step.frozen) * FLOAT
    trained = round(BACKWARD_FACTOR * per_image * step.batch_size)
    if step.features_once:  # the frozen stages ran once, without gradients, before the epochs
        return max(trained, round(EVAL_FACTOR * forward_bytes(config, EXTRACT_BATCH)))
    if step.frozen:  # they run on every step, without gradients, beside the part that trains
        return trained + forward_bytes(config, step.batch_size)
    return trained


def evaluation_batch(config: GoogLeNetConfig, step: Step) -> int:
    """The trainer's evaluation batch: large for speed, never costlier than a training step.

    Up to 256 images (or twice the training batch) make small networks evaluate fast;
    at 224 px the paper's network would need 1.6 GB for 256, more than its training
    at a batch of 2 (0.1 GB), so the batch is cut to what a training step holds, and
    never below the training batch.
    """
    wanted = max(256, 2 * step.batch_size)
    room = training_activations(config, step) // max(forward_bytes(config), 1)
    return max(step.batch_size, min(wanted, room))


def evaluation_activations(config: GoogLeNetConfig, step: Step, val_images: int | None) -> int:
    """Bytes evaluation needs after each epoch, at its batch (``None``: images unknown)."""
    batch = evaluation_batch(config, step)
    if val_images is not None:
        batch = min(batch, val_images)
    return round(EVAL_FACTOR * forward_bytes(config, batch))


def training_memory(
    config: GoogLeNetConfig,
    step: Step,
    *,
    process: int,
    data: int = 0,
    val_images: int | None = None,
) -> MemoryEstimate:
    """The peak memory of a process training ``config`` with ``step``.

    ``process`` is the process's own baseline measured on this host; ``data`` the
    bytes the images take in memory (:func:`googlenet_core.data.datasets.resident_bytes`
    plus an upload held whole); ``val_images`` bounds evaluation's batch.
    """
    analysis = analyze(config)
    trained = set(step.trained_aux)
    frozen = sum(r.params for r in analysis.rows if r.is_aux and r.name not in trained)
    frozen += sum(r.params for r in analysis.rows if r.name in step.frozen)
    trainable = analysis.total_params - frozen
    activations = max(
        training_activations(config, step),
        evaluation_activations(config, step, val_images),
    )
    return MemoryEstimate(
        process=process,
        parameters=analysis.total_params * FLOAT,
        gradients=trainable * FLOAT,
        optimizer=step.optimizer_states * trainable * FLOAT,
        activations=activations,
        data=data,
        batch_size=step.batch_size,
        input_size=config.input_size,
        optimizer_name=step.optimizer,
    )


def largest_batch(
    config: GoogLeNetConfig,
    step: Step,
    budget_bytes: int,
    choices: tuple[int, ...],
    *,
    process: int,
    data: int = 0,
    val_images: int | None = None,
) -> int | None:
    """The largest batch in ``choices`` whose peak fits ``budget_bytes``; None if none does."""
    fitting = [
        batch
        for batch in choices
        if training_memory(
            config, replace(step, batch_size=batch), process=process, data=data,
            val_images=val_images,
        ).total
        <= budget_bytes
    ]  # fmt: skip
    return max(fitting) if fitting else None


def prediction_batch(
    config: GoogLeNetConfig, wanted: int, budget: int = PREDICT_MEMORY_BYTES
) -> int:
    """At most ``wanted`` images a prediction forwards at once within ``budget`` bytes (>= 1)."""
    return max(1, min(wanted, budget // max(forward_bytes(config), 1)))


def flow_bytes(config: GoogLeNetConfig, batch: int) -> int:
    """Peak bytes a gradient-flow measurement adds: the activations autograd keeps, the
    weights, and two sets of the trunk's gradients (the running total and the loss being
    added)."""
    analysis = analyze(config)
    activations = saved_values(analysis, with_aux=True) * FLOAT * batch
    weights = (analysis.total_params + 2 * analysis.params_without_aux) * FLOAT
    # Measured peak RSS growth (fresh process): paper 224 px at batch 2 and 8 +171 / +441 MB,
    # torchvision at 2 +194 MB, mini at 8 +34 MB; this gives 207 / 469, 233 and 37 MB.
    return round(FLOW_MARGIN * (BACKWARD_FACTOR * activations + weights)) + 4 * 2**20


def flow_batch(config: GoogLeNetConfig, budget: int) -> int:
    """The largest batch of :data:`FLOW_BATCHES` whose measurement fits ``budget`` bytes.

    Raises ``ValueError`` with a sentence when not even the smallest fits.
    """
    for batch in FLOW_BATCHES:
        if flow_bytes(config, batch) <= budget:
            return batch
    need = flow_bytes(config, FLOW_BATCHES[-1])
    raise ValueError(
        _(
            "measuring this design would take {need:,.0f} MB on the server even with "
            "{images} images, over the {budget:,.0f} MB it allows; the Train page measures "
            "the same gradients during a real run, in a process of its own"
        ).format(need=need / 2**20, images=FLOW_BATCHES[-1], budget=budget / 2**20)
    )
