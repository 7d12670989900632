"""Why the network decided as it did, for one image: Grad-CAM and branch feature maps.

Two views for the lecture on a single image:

- :func:`grad_cam`: Grad-CAM (Selvaraju et al., 2017, https://arxiv.org/abs/1610.02391)
  of a head's top class at a chosen stage: the stage's activations weighted by
  the spatially averaged gradient of the class score, ReLU, upsampled.
- :func:`branch_feature_maps`: the four branch outputs of an Inception block
  before concatenation (1x1, 3x3, 5x5, pool projection), the multi-scale idea
  of section 4 of the paper made visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..i18n import _
from ..network.config import GoogLeNetConfig, InceptionSpec, spatial_sides
from .predictor import Predictor


@dataclass(frozen=True, eq=False)
class GradCam:
    """Where the chosen stage's evidence for one class lies, at input resolution."""

    stage: str
    head: str
    class_index: int
    label: str
    heatmap: np.ndarray  # S x S float32 in 0..1 (all zeros: no positive evidence)
    stage_side: int  # the stage's own spatial side before upsampling (7 at 5b, 224 px)


#: The smallest map a Grad-CAM opens on: inception5b's at 224 px, the paper's own last map.
#: Smaller maps upsample to a few flat blocks (2x2 on 16 px digits: one red square).
MIN_CAM_SIDE = 7


def cam_stages(config: GoogLeNetConfig) -> list[str]:
    """Stages Grad-CAM can look at: every stem conv and Inception block, input to output."""
    return [stage.name for stage in config.stages() if stage.kind in ("conv", "inception")]


def cam_stage_sides(config: GoogLeNetConfig, input_size: int) -> dict[str, int]:
    """Each Grad-CAM stage's map side for ``input_size`` images (0 where the map vanishes)."""
    sides = spatial_sides(config, input_size)
    return {name: sides.get(name, 0) for name in cam_stages(config)}


def default_cam_stage(config: GoogLeNetConfig, input_size: int) -> str:
    """The stage Grad-CAM opens on: the deepest with a map of at least :data:`MIN_CAM_SIDE`.

    Deeper stages see more of the image's meaning, but only a map this large shows where;
    when none is, the largest map (the deepest of equals).
    """
    sides = cam_stage_sides(config, input_size)
    large = [name for name, side in sides.items() if side >= MIN_CAM_SIDE]
    if large:
        return large[-1]
    return max(reversed(sides), key=lambda name: sides[name])


def grad_cam(
    predictor: Predictor,
    model_input: Tensor,
    stage: str,
    *,
    head: str = "main",
    class_index: int | None = None,
) -> GradCam:
    """Grad-CAM of ``head``'s top class (or ``class_index``) at ``stage`` for one image."""
    model = predictor.model
    if stage not in cam_stages(predictor.config):
        raise ValueError(
            _("{stage!r} is not a conv or Inception stage of this network").format(stage=stage)
        )
    if head not in predictor.heads:
        raise ValueError(
            _("this network has no {head} head (it has {heads})").format(
                head=head, heads=", ".join(predictor.heads)
            )
        )
    captured: dict[str, Tensor] = {}

    def keep(_module: torch.nn.Module, _inputs: Any, output: Tensor) -> None:
        captured["activation"] = output

    x = model_input.detach().unsqueeze(0).clone().requires_grad_(True)
    with predictor.lock:
        handle = getattr(model, stage).register_forward_hook(keep)
        try:
            with torch.enable_grad():
                outputs = model.forward_heads(x)
                logits = predictor.head_logits(outputs, head)
                target = int(logits[0].argmax()) if class_index is None else int(class_index)
                if not 0 <= target < logits.shape[1]:
                    raise ValueError(
                        _("class index {index} is outside 0..{last}").format(
                            index=target, last=logits.shape[1] - 1
                        )
                    )
                activation = captured["activation"]
                (gradient,) = torch.autograd.grad(logits[0, target], activation, allow_unused=True)
        finally:
            handle.remove()
    if gradient is None:
        raise ValueError(
            _("the {head} head does not see {stage}: it branches off before it").format(
                head=head, stage=stage
            )
        )
    weights = gradient.mean(dim=(2, 3), keepdim=True)  # one weight per channel
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True)).detach()
    side = model_input.shape[-1]
    cam = F.interpolate(cam, size=(side, side), mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    heatmap = (cam / peak if peak > 0 else torch.zeros_like(cam)).numpy().astype(np.float32)
    return GradCam(
        stage=stage,
        head=head,
        class_index=target,
        label=predictor.class_names[target],
        heatmap=heatmap,
        stage_side=int(activation.shape[-1]),
    )


# ---- feature maps by branch --------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BranchMaps:
    """One branch of an Inception block: its most active channels for one image."""

    block: str
    branch: str  # the paper's names: "1x1", "3x3", "5x5", "pool"
    description: str  # e.g. "1x1 reduce to 96, then 3x3 to 128" (English: no page shows it)
    channels: int  # the branch's output channels
    channel_indices: tuple[int, ...]  # the channels shown, most active first
    maps: np.ndarray  # k x h x w float32, each channel's ReLU output
    mean_activation: float  # over every channel and position of the branch


def inception_blocks(config: GoogLeNetConfig) -> list[str]:
    return [block.name for block in config.blocks]


def branch_feature_maps(
    predictor: Predictor, model_input: Tensor, block: str, *, per_branch: int = 6
) -> list[BranchMaps]:
    """The four branch outputs of ``block`` for one image, before concatenation."""
    model = predictor.model
    specs = {b.name: b for b in predictor.config.blocks}
    if block not in specs:
        raise ValueError(
            _("{block!r} is not an Inception block of this network").format(block=block)
        )
    trunk = list(model.trunk_names)
    previous = trunk[trunk.index(block) - 1]  # a block is never first: the stem comes before
    x = model_input.detach().unsqueeze(0)
    with predictor.lock, torch.inference_mode():
        block_input = model.features(x, upto=previous)
        outputs = getattr(model, block).branches(block_input)
    spec = specs[block]
    result = []
    for (branch, description), out in zip(_branch_labels(spec), outputs, strict=True):
        maps = out[0].float()  # C x h x w
        strength = maps.mean(dim=(1, 2))
        order = torch.argsort(strength, descending=True)[: max(1, per_branch)]
        result.append(
            BranchMaps(
                block=block,
                branch=branch,
                description=description,
                channels=int(maps.shape[0]),
                channel_indices=tuple(int(i) for i in order),
                maps=maps[order].numpy().astype(np.float32),
                mean_activation=float(maps.mean()),
            )
        )
    return result


def _branch_labels(spec: InceptionSpec) -> list[tuple[str, str]]:
    # Named by the paper's branches; torchvision builds the "5x5" one with a 3x3 kernel
    # (https://github.com/pytorch/vision/issues/906), and the description says so.
    k = spec.branch3_kernel
    built = "" if k == 5 else f" (built {k}x{k}, as torchvision does)"
    return [
        ("1x1", f"1x1 conv to {spec.ch1x1}"),
        ("3x3", f"1x1 reduce to {spec.ch3x3red}, then 3x3 to {spec.ch3x3}"),
        ("5x5", f"1x1 reduce to {spec.ch5x5red}, then {k}x{k} to {spec.ch5x5}{built}"),
        ("pool", f"3x3 max-pool, then 1x1 projection to {spec.pool_proj}"),
    ]
