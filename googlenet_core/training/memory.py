"""How much memory a training job will take, before anything is allocated.

So the dashboard can refuse a job, or propose a smaller batch, that would not fit the
host (Community Cloud: 690 MB to 2.7 GB for the whole app). :func:`predict_memory` adds
up, from the configs alone, what a training process holds at its peak: the process, the
weights with their gradients and optimiser state, the activations autograd keeps for one
batch (from :func:`..network.analysis.analyze`'s shapes), and the images. It is
calibrated against the peak RSS of real workers (:func:`.worker.measured_peak`,
``benchmarks/bench_memory_estimate.py``): 1.04 to 1.21 times what was measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from .._host import Figure, memory_limit, resident_bytes
from ..data import DatasetError
from ..data.datasets import NATIVE_SIDES, split_sizes
from ..data.folders import Limits, count_images
from ..data.transforms import RESIDENT_BYTES
from ..network.analysis import Analysis, analyze
from ..network.config import GoogLeNetConfig
from .config import TrainConfig

#: The batch sizes a run may use (the Train page's slider).
BATCH_SIZES = (2, 4, 8, 16, 32, 64, 128, 256, 512)
FLOAT = 4  # bytes: training runs in fp32 on a CPU, the hosts this estimate is for
GB = 1e9

#: The process itself: the peak RSS of a worker training a network of a few kilobytes,
#: on torch's CUDA build (``bench_memory_estimate.py``). ~580 MB imported, ~170 MB more
#: once the first convolution has run (oneDNN's kernels, thread pools), and the exit,
#: whose teardown of torch touches ~130 MB more (``import torch`` alone: 519 MB, 646 MB at
#: exit). Small jobs peak at that exit, ~1.0 GB; large ones while training, over ~760 MB
#: of it, so counting all of it errs on the safe side by up to ~240 MB. The CPU build
#: Community Cloud installs imports 432 MB less (requirements.txt): assumed, not measured.
PROCESS_BYTES_CUDA_BUILD = 955 * 2**20
PROCESS_BYTES_CPU_BUILD = PROCESS_BYTES_CUDA_BUILD - 432 * 2**20

#: A training step's peak per byte of saved activations (:func:`saved_values`): backward
#: allocates each layer's input gradient while the saved tensors of the layers before it
#: are alive, and glibc keeps some freed blocks. The fitted slope was 0.94 (the paper's
#: network at 224 px) to 1.2 (torchvision's at 112 px) over ``PROCESS_BYTES``' ~760 MB.
BACKWARD_FACTOR = 1.1

#: Evaluation runs without autograd at a batch of up to 256: about three of its largest
#: tensors alive at once (:meth:`Analysis.activation_bytes`), which the measurements of
#: the paper's network at 224 px (where evaluation is the peak) bear out.
EVAL_FACTOR = 1.0


@dataclass(frozen=True)
class MemoryEstimate:
    """A training process's peak memory in bytes, by what holds it."""

    process: int  # the interpreter and torch, before any tensor of the run
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
        state = {"adamw": "AdamW state", "sgd": "SGD momentum"}[self.optimizer_name]
        weights = self.parameters + self.gradients + self.optimizer
        text = (
            f"about {_size(self.total)}: {_size(self.process)} PyTorch, "
            f"{_size(weights)} weights + gradients + {state}, "
            f"{_size(self.activations)} activations for a batch of {self.batch_size} "
            f"at {self.input_size} px"
        )
        if self.data >= 0.05 * GB:
            text += f", {_size(self.data)} images"
        return text


def _size(value: float) -> str:
    """'1.4 GB' from a tenth of a gigabyte up, '12 MB' below (not '0.0 GB')."""
    return f"{value / GB:.1f} GB" if value >= 0.1 * GB else f"{value / 1e6:.0f} MB"


def process_bytes() -> int:
    """The baseline of a training process with the torch build installed here."""
    return PROCESS_BYTES_CUDA_BUILD if torch.version.cuda else PROCESS_BYTES_CPU_BUILD


def computes_aux(config: GoogLeNetConfig, train_config: TrainConfig) -> bool:
    """Whether a step runs the aux heads: only when one is in the loss (weight > 0).

    The trainer freezes a weight-0 head and, with no head in the loss, runs the main
    path alone (:class:`.distributed.HeadsForward`); with one head in, both run.
    """
    weights = dict(zip(("aux1", "aux2"), train_config.aux_weights, strict=True))
    return any(weights[h.name] > 0 for h in config.active_aux_heads)


def saved_values(analysis: Analysis, with_aux: bool) -> int:
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
        if layer.is_aux and not with_aux:
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
        if row.kind == "inception":
            values += math.prod(row.out_shape)  # torch.cat copies the four branches: new tensor
    return values


def training_activations(config: GoogLeNetConfig, train_config: TrainConfig) -> int:
    """Bytes of one training step's activations at its peak; linear in the batch."""
    per_image = saved_values(analyze(config), computes_aux(config, train_config)) * FLOAT
    return round(BACKWARD_FACTOR * per_image * train_config.batch_size)


def evaluation_batch(config: GoogLeNetConfig, train_config: TrainConfig) -> int:
    """The trainer's evaluation batch: large for speed, never costlier than a training step.

    Up to 256 images (or twice the training batch) make small networks evaluate fast;
    at 224 px the paper's network would need 1.6 GB for 256, more than its training
    at a batch of 2 (0.1 GB), so the batch is cut to what a training step holds, and
    never below the training batch.
    """
    wanted = max(256, 2 * train_config.batch_size)
    per_image = analyze(config).activation_bytes(1, FLOAT)
    room = training_activations(config, train_config) // max(per_image, 1)
    return max(train_config.batch_size, min(wanted, room))


def evaluation_activations(config: GoogLeNetConfig, train_config: TrainConfig) -> int:
    """Bytes evaluation needs after each epoch, at its batch (:meth:`Trainer._epoch`)."""
    counts = _split_counts(train_config, None)
    batch = evaluation_batch(config, train_config)
    if counts is not None:
        batch = min(batch, counts[1])
    return round(EVAL_FACTOR * analyze(config).activation_bytes(batch, FLOAT))


def _split_counts(train_config: TrainConfig, images: int | None) -> tuple[int, int] | None:
    """(training, validation) images the run will hold; None where unknown until read."""
    if train_config.dataset in NATIVE_SIDES:
        return split_sizes(train_config.dataset, train_config.subset, train_config.val_fraction)
    return None if images is None else (images, 0)  # a folder or zip is decoded whole


def data_bytes(config: GoogLeNetConfig, train_config: TrainConfig, images: int | None) -> int:
    """The images in memory (see :func:`..data.datasets.load_dataset`); 0 when unknown.

    A split is kept as [0, 1] floats at the input side when they fit ``RESIDENT_BYTES``,
    else as its native uint8 images (a folder or zip: floats, up to its reader's cap).
    """
    counts = _split_counts(train_config, images)
    if counts is None:
        return 0
    floats = config.in_channels * config.input_size**2 * FLOAT
    name = train_config.dataset
    if name not in NATIVE_SIDES:
        return min(counts[0] * floats, Limits().max_resident_bytes)
    native = config.in_channels * NATIVE_SIDES[name] ** 2
    held = sum(n * floats if n * floats <= RESIDENT_BYTES else n * native for n in counts)
    if name != "digits":  # a downloaded set is read whole before its subset is cut
        held += sum(split_sizes(name, None)) * native
    return held


def predict_memory(
    config: GoogLeNetConfig,
    train_config: TrainConfig,
    *,
    images: int | None = None,
    archive_bytes: int = 0,
) -> MemoryEstimate:
    """The peak memory of a training process for this network and recipe.

    ``images`` is the number of images of a folder or zip (from its listing); the
    built-in and downloadable sets know theirs. ``archive_bytes``: an uploaded zip,
    which the training process holds whole while it decodes it.
    """
    analysis = analyze(config)
    params = analysis.total_params
    weights = dict(zip(("aux1", "aux2"), train_config.aux_weights, strict=True))
    frozen = sum(r.params for r in analysis.rows if r.is_aux and weights.get(r.name, 0) == 0)
    trainable = params - frozen
    # AdamW keeps exp_avg and exp_avg_sq per weight; SGD one momentum buffer (none at 0).
    states = 2 if train_config.optimizer == "adamw" else int(train_config.momentum > 0)
    activations = max(
        training_activations(config, train_config),
        evaluation_activations(config, train_config),
    )
    return MemoryEstimate(
        process=process_bytes(),
        parameters=params * FLOAT,
        gradients=trainable * FLOAT,
        optimizer=states * trainable * FLOAT,
        activations=activations,
        data=data_bytes(config, train_config, images) + archive_bytes,
        batch_size=train_config.batch_size,
        input_size=config.input_size,
        optimizer_name=train_config.optimizer,
    )


def largest_batch(
    config: GoogLeNetConfig,
    train_config: TrainConfig,
    budget_bytes: int,
    choices: tuple[int, ...] = BATCH_SIZES,
    *,
    images: int | None = None,
    archive_bytes: int = 0,
) -> int | None:
    """The largest batch in ``choices`` whose prediction fits ``budget_bytes``; None if none."""
    fitting = [
        batch
        for batch in choices
        if predict_memory(
            config,
            replace(train_config, batch_size=batch),
            images=images,
            archive_bytes=archive_bytes,
        ).total
        <= budget_bytes
    ]
    return max(fitting) if fitting else None


#: Kept free beside the server and its jobs: page reruns, a prediction, Python's own slack.
HEADROOM_BYTES = 128 * 2**20


def job_budget(max_running: int = 1) -> Figure:
    """Bytes one training job may take now: the host's limit less this (server) process
    and some headroom, shared by the jobs that may run at once."""
    limit = memory_limit()
    server = resident_bytes()
    budget = (limit.value - server - HEADROOM_BYTES) // max(1, max_running)
    source = (
        f"{limit.value / GB:.1f} GB ({limit.source}) less {server / GB:.1f} GB for the server"
        + (f", shared by {max_running} jobs at once" if max_running > 1 else "")
    )
    return Figure(max(0, budget), source)


def upload_figures(archive: bytes | None) -> tuple[int | None, int]:
    """(images, bytes) of an uploaded zip for :func:`predict_memory`; images from its listing."""
    if archive is None:
        return None, 0
    try:
        images: int | None = count_images(archive=archive)
    except DatasetError:
        images = None  # refused later, with its own sentence, when the run reads it
    return images, len(archive)


@dataclass(frozen=True)
class Fit:
    """A run's predicted peak against what a job may take here."""

    estimate: MemoryEstimate
    budget: Figure
    smaller_batch: int | None  # when it does not fit: the largest smaller batch that does

    @property
    def fits(self) -> bool:
        return self.estimate.total <= self.budget.value

    def refusal(self) -> str:
        """Why it does not fit, and what would."""
        sentence = (
            f"this run needs {self.estimate.sentence()}; a job on this server may take "
            f"{self.budget.value / GB:.1f} GB ({self.budget.source})"
        )
        if self.smaller_batch is not None:
            return sentence + f". A batch of {self.smaller_batch} fits"
        return sentence + ". No batch size fits: choose a smaller input side or network (mini)"


def check_fit(
    config: GoogLeNetConfig,
    train_config: TrainConfig,
    budget: Figure,
    archive: bytes | None = None,
) -> Fit:
    """This run (with its uploaded zip, if any) against ``budget``."""
    images, held = upload_figures(archive)
    estimate = predict_memory(config, train_config, images=images, archive_bytes=held)
    smaller = None
    if estimate.total > budget.value:
        choices = tuple(b for b in BATCH_SIZES if b < train_config.batch_size)
        smaller = largest_batch(
            config, train_config, budget.value, choices, images=images, archive_bytes=held
        )
    return Fit(estimate, budget, smaller)
