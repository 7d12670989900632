"""Where a run trains: the device, the precision, and its place in a ``torchrun`` job.

Under ``torchrun`` the same training code runs data-parallel with
DistributedDataParallel (gloo on CPU, NCCL on GPU); rank 0 alone writes the
run directory and reports progress.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..i18n import _
from ..network.model import GoogLeNet, Heads


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then the CPU; a named device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(_("device 'cuda' was asked for, but this machine has no usable CUDA GPU"))
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError(_("device 'mps' was asked for, but Apple's MPS backend is not available"))
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


def uses_channels_last(device: torch.device) -> bool:
    # channels_last: faster convolutions and pools with cuDNN and oneDNN (about 1.5x for
    # mini on this project's 2-core CPU); Apple's MPS gains nothing from it.
    return device.type in ("cuda", "cpu")


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError MPS and the CPU allocator raise."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


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

    def device_for(self, device: torch.device) -> torch.device:
        """This rank's GPU under torchrun (one per process), else ``device`` itself."""
        if self.active and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def join_process_group(self, device: torch.device) -> bool:
        """Join torchrun's process group when this process is one of several; True if it did."""
        if not self.active or torch.distributed.is_initialized():
            return False
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        return True

    def all_reduce(self, tensor: Tensor) -> Tensor:
        """Sum ``tensor`` over every rank in place (a no-op alone)."""
        if self.active:
            torch.distributed.all_reduce(tensor)
        return tensor


def distributed_from_env() -> Distributed:
    """Read ``torchrun``'s RANK / LOCAL_RANK / WORLD_SIZE (absent: a single process)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ValueError(_("RANK, LOCAL_RANK and WORLD_SIZE must be whole numbers")) from None
    return Distributed(rank, local, world)


class HeadsForward(nn.Module):
    """``forward`` returning all heads, so DistributedDataParallel's hooks see them.

    With no aux head in the loss it runs the main path only (``model(x)``),
    skipping the heads' compute. Given features computed once in front of a cut
    (:mod:`.features`: a dict) instead of images, it runs the network from the
    cut after ``stop`` trunk modules on.
    """

    def __init__(self, model: GoogLeNet, with_aux: bool, stop: int = 0) -> None:
        super().__init__()
        self.model = model
        self.with_aux = with_aux
        self.stop = stop

    def forward(self, x: Tensor | dict[str, Tensor]) -> Heads:
        if isinstance(x, dict):
            return self.model.forward_rest(x, self.stop, self.with_aux)
        if self.with_aux:
            heads: Heads = self.model.forward_heads(x)
            return heads
        return Heads(self.model(x), None, None)
