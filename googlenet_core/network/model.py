"""The GoogLeNet ``nn.Module`` built from a :class:`GoogLeNetConfig`.

Module names and nesting follow ``torchvision.models.googlenet`` (``conv1.conv``,
``conv1.bn``, ``inception3a.branch2.1.conv``, ``aux1.fc1`` ...), so torchvision's
state_dict loads with ``strict=True`` into the ``"torchvision"`` preset.

One return type per call: ``model(x)`` is always the main logits;
``model.forward_heads(x)`` is always ``Heads(logits, aux1, aux2)`` named by
position (``aux1`` nearest the input), in train and eval mode alike. torchvision
returns ``(logits, aux_logits2, aux_logits1)`` in training and a bare tensor in
eval (its ``GoogLeNetOutputs`` / ``eager_outputs``), which is how hand-written
training loops end up unpacking ``logits, aux2, aux1`` and swapping the heads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import (
    AuxSpec,
    ConvSpec,
    GoogLeNetConfig,
    InceptionSpec,
    PoolSpec,
    aux_pooled_side,
    spatial_sides,
)

HeadName = Literal["main", "aux1", "aux2"]
#: The heads by position: the classifier, then the aux heads from the input side. Events,
#: metrics, figures and the dashboard use these names; ``Heads.logits`` is "main".
HEAD_NAMES: tuple[HeadName, ...] = ("main", "aux1", "aux2")


class Heads(NamedTuple):
    """The network's outputs in structural order; an absent head is None."""

    logits: Tensor  # the main classifier ("main"); named like torchvision's GoogLeNetOutputs
    aux1: Tensor | None  # the head nearer the input (after 4a in the paper)
    aux2: Tensor | None  # the later head (after 4d in the paper)

    def named(self) -> list[tuple[HeadName, Tensor]]:
        """``(name, logits)`` of every head present, main first."""
        return [(name, t) for name, t in zip(HEAD_NAMES, self, strict=True) if t is not None]


class BasicConv2d(nn.Module):
    """conv -> BN -> ReLU (torchvision), or conv with bias -> ReLU (the paper)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        batch_norm: bool,
        bn_eps: float,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, bias=not batch_norm
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=bn_eps) if batch_norm else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True)


class Inception(nn.Module):
    """Four branches on the same input, concatenated along channels."""

    def __init__(
        self, in_channels: int, spec: InceptionSpec, batch_norm: bool, bn_eps: float
    ) -> None:
        super().__init__()

        def conv(cin: int, cout: int, **kw: int) -> BasicConv2d:
            return BasicConv2d(cin, cout, batch_norm, bn_eps, **kw)

        k = spec.branch3_kernel
        self.branch1 = conv(in_channels, spec.ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv(in_channels, spec.ch3x3red, kernel_size=1),
            conv(spec.ch3x3red, spec.ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            conv(in_channels, spec.ch5x5red, kernel_size=1),
            conv(spec.ch5x5red, spec.ch5x5, kernel_size=k, padding=k // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv(in_channels, spec.pool_proj, kernel_size=1),
        )

    def branches(self, x: Tensor) -> list[Tensor]:
        """The four branch outputs before concatenation (1x1, 3x3, 5x5, pool)."""
        return [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(self.branches(x), 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: pool -> 1x1 conv -> FC + ReLU -> dropout -> FC."""

    def __init__(
        self,
        in_channels: int,
        side: int,
        spec: AuxSpec,
        num_classes: int,
        batch_norm: bool,
        bn_eps: float,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.conv = BasicConv2d(in_channels, spec.conv_channels, batch_norm, bn_eps, kernel_size=1)
        self.fc1 = nn.Linear(spec.conv_channels * side * side, spec.fc_channels)
        self.fc2 = nn.Linear(spec.fc_channels, num_classes)
        self.dropout = nn.Dropout(p=spec.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.pool(x))

    def pool(self, x: Tensor) -> Tensor:
        """The head's first step, without weights: what a frozen trunk's cache keeps."""
        if self.spec.pool == "adaptive":
            return F.adaptive_avg_pool2d(x, (self.spec.pool_size, self.spec.pool_size))
        return F.avg_pool2d(x, self.spec.pool_size, stride=self.spec.pool_stride)

    def classify(self, x: Tensor) -> Tensor:
        """The rest of the head, from :meth:`pool`'s output."""
        x = self.conv(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x), inplace=True)
        x = self.dropout(x)
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """A GoogLeNet whose every stage comes from the config's table."""

    def __init__(self, config: GoogLeNetConfig, seed: int | None = None) -> None:
        super().__init__()
        self.config = config
        batch_norm, bn_eps = config.batch_norm, config.bn_eps
        sides = spatial_sides(config, config.input_size)
        # Forward order, aux heads excluded: names of the modules applied one after another.
        self._trunk: list[str] = []
        self._aux_after: dict[str, str] = {}  # block name -> head name
        heads: dict[str, InceptionAux] = {}
        for stage in config.stages():
            spec = stage.spec
            if isinstance(spec, ConvSpec):
                module: nn.Module = BasicConv2d(
                    stage.in_channels,
                    spec.out_channels,
                    batch_norm,
                    bn_eps,
                    kernel_size=spec.kernel_size,
                    stride=spec.stride,
                    padding=spec.padding,
                )
            elif isinstance(spec, PoolSpec):
                module = nn.MaxPool2d(
                    spec.kernel_size, spec.stride, spec.padding, ceil_mode=spec.ceil_mode
                )
            elif isinstance(spec, InceptionSpec):
                module = Inception(stage.in_channels, spec, batch_norm, bn_eps)
            elif isinstance(spec, AuxSpec):
                # fc1's input depends on the pooled side: 4x4 at 224 px in both presets.
                side = aux_pooled_side(spec, sides[spec.after])
                heads[stage.name] = InceptionAux(
                    stage.in_channels, side, spec, config.num_classes, batch_norm, bn_eps
                )
                self._aux_after[spec.after] = stage.name
                continue
            else:  # the classifier
                # Registered after the trunk, as torchvision does, so state_dict keys come in
                # the same order (aux1, aux2, fc last).
                for name, head in heads.items():
                    self.add_module(name, head)
                self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
                self.dropout = nn.Dropout(p=config.dropout)
                self.fc = nn.Linear(stage.in_channels, config.num_classes)
                continue
            self.add_module(stage.name, module)
            self._trunk.append(stage.name)
        self._init_weights(None if seed is None else torch.Generator().manual_seed(seed))

    def _init_weights(self, generator: torch.Generator | None) -> None:
        # With BatchNorm, torchvision's init: truncated normal (std 0.01) for conv and linear
        # weights, BN weight 1, bias 0. Without (the paper preset), std 0.01 shrinks the signal
        # ~3x per layer: 22 layers in, every image gives the same logits and no gradient
        # reaches the stem (measured: stuck at one class on the digits). The 2014 Caffe model
        # used Xavier with 0.2 biases; He et al.'s init (2015, arXiv:1502.01852) keeps the
        # variance through ReLU layers, so the network learns from the first step.
        # The classifiers (fc, each aux head's fc2) start small either way: near-uniform scores.
        classifiers = {id(self.fc)} | {
            id(m.fc2) for m in self.modules() if isinstance(m, InceptionAux)
        }
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                if m.weight.is_meta:
                    continue  # no values to draw: the weights will be loaded, not trained
                if self.config.batch_norm or id(m) in classifiers:
                    nn.init.trunc_normal_(
                        m.weight, mean=0.0, std=0.01, a=-2, b=2, generator=generator
                    )
                else:
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=generator)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _transform_input(self, x: Tensor) -> Tensor:
        # torchvision's ImageNet weights were trained on inputs scaled to [-1, 1]; with
        # transform_input the usual ImageNet mean/std normalisation is converted to that.
        if not self.config.transform_input:
            return x
        x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
        x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
        x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
        return torch.cat((x_ch0, x_ch1, x_ch2), 1)

    def forward_heads(self, x: Tensor) -> Heads:
        """All heads, in structural order, in train and eval mode alike."""
        x = self._transform_input(x)
        aux: dict[str, Tensor] = {}
        for name in self._trunk:
            x = getattr(self, name)(x)
            if name in self._aux_after:
                head = self._aux_after[name]
                aux[head] = getattr(self, head)(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        logits = self.fc(x)
        return Heads(logits, aux.get("aux1"), aux.get("aux2"))

    def features(self, x: Tensor, upto: str) -> Tensor:
        """The output of trunk stage ``upto`` (e.g. for Grad-CAM or feature maps)."""
        if upto not in self._trunk:
            raise ValueError(f"{upto!r} is not a stage of this network")
        x = self._transform_input(x)
        for name in self._trunk:
            x = getattr(self, name)(x)
            if name == upto:
                break
        return x

    def forward(self, x: Tensor) -> Tensor:
        """The main classifier's logits, N x num_classes. Aux heads are skipped."""
        x = self._transform_input(x)
        for name in self._trunk:
            x = getattr(self, name)(x)
        x = self.avgpool(x)  # N x C x 1 x 1
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        return self.fc(x)

    @property
    def trunk_names(self) -> tuple[str, ...]:
        return tuple(self._trunk)

    # -- a network cut in two: what a frozen trunk computes once, and the rest ---------------
    def prefix_stop(self, frozen: Sequence[str]) -> int:
        """How many trunk modules a cut after the ``frozen`` stages keeps in front: up to
        the last of them, and the weightless modules (max pools) right after it."""
        if not frozen:
            return 0
        stop = max(self._trunk.index(name) for name in frozen) + 1
        while (
            stop < len(self._trunk)
            and next(getattr(self, self._trunk[stop]).parameters(), None) is None
        ):
            stop += 1
        return stop

    def forward_prefix(self, x: Tensor, stop: int) -> dict[str, Tensor]:
        """The first ``stop`` trunk modules: ``{"x": their output}`` (pooled to one vector per
        image where the whole trunk is in front) and, per aux head attached in front, its
        pooled input (:meth:`InceptionAux.pool`), as :meth:`forward_rest` takes them."""
        x = self._transform_input(x)
        out: dict[str, Tensor] = {}
        for name in self._trunk[:stop]:
            x = getattr(self, name)(x)
            if name in self._aux_after:
                head = self._aux_after[name]
                out[head] = getattr(self, head).pool(x)
        if stop == len(self._trunk):
            x = torch.flatten(self.avgpool(x), 1)
        out["x"] = x
        return out

    def forward_rest(self, features: Mapping[str, Tensor], stop: int, with_aux: bool) -> Heads:
        """Every head from :meth:`forward_prefix`'s output: ``forward_heads`` (``with_aux``)
        or the main head alone, computed from the cut on."""
        x = features["x"]
        aux: dict[str, Tensor] = {}
        if with_aux:
            for name in self._trunk[:stop]:
                if name in self._aux_after:
                    head = self._aux_after[name]
                    aux[head] = getattr(self, head).classify(features[head])
        for name in self._trunk[stop:]:
            x = getattr(self, name)(x)
            if with_aux and name in self._aux_after:
                head = self._aux_after[name]
                aux[head] = getattr(self, head)(x)
        if stop < len(self._trunk):
            x = torch.flatten(self.avgpool(x), 1)
        x = self.dropout(x)
        return Heads(self.fc(x), aux.get("aux1"), aux.get("aux2"))


def build_model(config: GoogLeNetConfig, seed: int | None = None) -> GoogLeNet:
    """A freshly initialised network for ``config``.

    With ``seed`` the initial weights come from their own generator, so the
    same seed gives the same network whatever else the process draws at the
    same time (another session's job, a probe); without, torch's global RNG.
    """
    return GoogLeNet(config, seed)
