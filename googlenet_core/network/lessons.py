"""The numbers behind the Concepts page's arguments, computed from any design.

- :func:`.analysis.branch_costs` (re-exported here): one Inception block branch by
  branch, as built and naive (no 1x1 reductions): which branch they save the most on.
- :func:`naive_network`: the whole network with every block naive. The pooling branch
  then passes its whole input depth through, so depth and cost grow block after block
  (the paper's section 4: "an inevitable increase in the number of outputs from stage
  to stage").
- :func:`head_costs`: the classifier on global average pooling vs a fully-connected
  layer on the flattened last feature map (the paper's section 5).

Counts follow :func:`.analysis.naive_vs_reduced`: weights plus one bias (or BN's two
values) per output channel; MACs for one image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .analysis import BranchCost, branch_costs, naive_vs_reduced
from .config import GoogLeNetConfig, spatial_sides

__all__ = [
    "BranchCost",
    "HeadCosts",
    "LayerGeometry",
    "NetworkStep",
    "branch_costs",
    "head_costs",
    "layer_geometry",
    "naive_network",
]


@dataclass(frozen=True)
class NetworkStep:
    """One block of the network as built and of the same network with every block naive."""

    block: str
    side: int
    in_channels: int
    out_channels: int
    macs: int
    naive_in_channels: int
    naive_out_channels: int
    naive_macs: int


def naive_network(config: GoogLeNetConfig) -> tuple[NetworkStep, ...]:
    """Every block in order, built vs naive; a naive block feeds its depth to the next.

    The stem and the classifier are left out: they are the same in both networks
    but for the classifier's input depth.
    """
    sides = spatial_sides(config, config.input_size)
    inputs = config.block_in_channels()
    naive_in = inputs[config.blocks[0].name]
    steps = []
    for spec in config.blocks:
        side = sides[spec.name]
        built = naive_vs_reduced(inputs[spec.name], spec, side, config.batch_norm)["reduced"]
        naive = naive_vs_reduced(naive_in, spec, side, config.batch_norm)["naive"]
        steps.append(
            NetworkStep(
                spec.name,
                side,
                inputs[spec.name],
                built.out_channels,
                built.macs,
                naive_in,
                naive.out_channels,
                naive.macs,
            )
        )
        naive_in = naive.out_channels
    return tuple(steps)


@dataclass(frozen=True)
class HeadCosts:
    """The classifier on the last feature map: fully connected on it, or after GAP."""

    channels: int
    side: int
    classes: int

    @property
    def fc_weights(self) -> int:
        return self.channels * self.side * self.side * self.classes

    @property
    def gap_weights(self) -> int:
        return self.channels * self.classes

    @property
    def biases(self) -> int:
        return self.classes

    @property
    def ratio(self) -> float:
        return (self.fc_weights + self.biases) / (self.gap_weights + self.biases)


def head_costs(config: GoogLeNetConfig) -> HeadCosts:
    """The last block's output (depth, side) into the design's number of classes."""
    side = spatial_sides(config, config.input_size)[config.blocks[-1].name]
    return HeadCosts(config.feature_channels, side, config.num_classes)


@dataclass(frozen=True)
class LayerGeometry:
    """What the output-size formula needs for one conv or pool of the built network."""

    name: str  # module path, as in the analysis: "inception3a.branch4.0"
    kind: str  # "conv", "maxpool", "avgpool"
    in_side: int
    kernel: int
    stride: int
    padding: int
    ceil_mode: bool
    out_side: int  # what the analysis says the layer gives


def layer_geometry(config: GoogLeNetConfig) -> tuple[LayerGeometry, ...]:
    """Every conv and fixed-window pool of the network, read from the model itself.

    The model is built on PyTorch's meta device: its modules' kernel, stride, padding
    and ceil mode, with no memory for weights, whatever the design's size. Adaptive
    pools (their window follows the input) and linear layers are left out.
    """
    from torch import device, nn

    from .analysis import analyze
    from .model import build_model

    with device("meta"):
        model = build_model(config)
    found = []
    for layer in analyze(config).layers:
        try:
            module = model.get_submodule(layer.name)
        except AttributeError:  # an aux head's pool is a function call in its forward
            window = re.fullmatch(r"(\d+)x\d+/(\d+)", layer.kernel)
            if window:  # a fixed window (the paper's 5x5/3), no padding, floor
                kernel, stride = int(window[1]), int(window[2])
                found.append(
                    LayerGeometry(
                        layer.name, layer.kind, layer.in_shape[-1], kernel, stride, 0, False,
                        layer.out_shape[-1],
                    )
                )  # fmt: skip
            continue
        module = getattr(module, "conv", module)  # a conv + BN + ReLU unit: its conv
        if not isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            continue
        kernel, stride, padding = (
            _first(getattr(module, a)) for a in ("kernel_size", "stride", "padding")
        )
        found.append(
            LayerGeometry(
                layer.name,
                layer.kind,
                layer.in_shape[-1],
                kernel,
                stride,
                padding,
                bool(getattr(module, "ceil_mode", False)),
                layer.out_shape[-1],
            )
        )
    return tuple(found)


def _first(value: object) -> int:
    """A square kernel's, stride's or padding's one number (PyTorch keeps pairs or ints)."""
    if isinstance(value, tuple):
        return int(value[0])
    return int(value)  # type: ignore[call-overload]
