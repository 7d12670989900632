"""Shapes, parameters and MACs of every layer, from the config alone.

No torch module is built: each layer's output side comes from the output-size
formula floor((in - k + 2p) / s) + 1 (:func:`.config.conv_out`, rounded up where a
pool uses ``ceil_mode``), and each count from the layer's arithmetic:

* parameters: conv weights ``cin * cout * k * k`` plus a bias (paper) or BN's
  weight and bias (torchvision); linear ``in * out + out``;
* MACs (multiply-accumulates): weights x output positions for convolutions and
  linear layers, the convention of the paper's "ops" column and of torchvision's
  1.5 "GFLOPS" for GoogLeNet. Pooling, BN, ReLU and the concatenation are free.

``tests/test_contract.py`` checks every number here against the built model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any, Literal

import pandas as pd

from ..i18n import N_, _
from .config import (
    AuxSpec,
    ConvSpec,
    GoogLeNetConfig,
    InceptionSpec,
    PoolSpec,
    aux_pooled_side,
    conv_out,
)

Shape = tuple[int, ...]
StageKind = Literal["conv", "maxpool", "inception", "aux", "avgpool", "classifier"]


@dataclass(frozen=True)
class LayerRow:
    """One conv, pool or linear layer inside a stage."""

    stage: str  # the top-level stage it belongs to: "inception3a"
    name: str  # its module path in the built model: "inception3a.branch2.1"
    kind: str  # "conv", "maxpool", "avgpool", "linear"
    branch: str  # "1x1", "3x3", "5x5", "pool", "" outside Inception blocks
    kernel: str  # "3x3/2", "" for linear layers
    in_shape: Shape
    out_shape: Shape
    params: int
    macs: int
    is_aux: bool


@dataclass(frozen=True)
class StageRow:
    """One top-level stage; ``name`` is its attribute in the built model."""

    name: str
    kind: StageKind
    in_shape: Shape
    out_shape: Shape
    params: int
    macs: int
    is_aux: bool  # an auxiliary head: counted in totals only when built
    # What the stage does, as a message and its values; :attr:`detail` says it in the active
    # language when it is read, so the cached analysis holds no language of its own.
    what: tuple[str, tuple[tuple[str, Any], ...]] = field(repr=False)

    @property
    def detail(self) -> str:
        """What the stage does: "7x7/2", "1x1 64 | 96->128 3x3 | 16->32 5x5 | pool->32", ..."""
        message, values = self.what
        return _(message).format(**dict(values)) if values else _(message)

    def record(self) -> dict[str, Any]:
        """The row as a table's record: its fields, ``detail`` (in the active language) last."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "what"}
        record["detail"] = self.detail
        return record


@dataclass(frozen=True)
class Analysis:
    config: GoogLeNetConfig
    rows: tuple[StageRow, ...]
    layers: tuple[LayerRow, ...]

    @property
    def total_params(self) -> int:
        """Every parameter of the built model (aux heads included when it has them)."""
        return sum(r.params for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def params_without_aux(self) -> int:
        """What remains for deployment once the aux heads are dropped."""
        return sum(r.params for r in self.rows if not r.is_aux)

    @property
    def macs_without_aux(self) -> int:
        """One inference of the main head (aux heads are skipped at test time)."""
        return sum(r.macs for r in self.rows if not r.is_aux)

    @property
    def aux_params(self) -> int:
        return self.total_params - self.params_without_aux

    def activation_bytes(self, batch: int = 1, bytes_per_value: int = 4) -> int:
        """Roughly the memory ``batch`` images need on their way through, without gradients.

        Three times the largest tensor along the way: a block's input stays alive
        while its four branch outputs and their concatenation are made.
        """
        side = self.config.input_size
        shapes: list[Shape] = [(self.config.in_channels, side, side)]
        shapes += [layer.out_shape for layer in self.layers]
        return 3 * max(math.prod(shape) for shape in shapes) * bytes_per_value * batch

    def row(self, name: str) -> StageRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame([r.record() for r in self.rows])
        for col in ("in_shape", "out_shape"):
            frame[col] = frame[col].map(format_shape)
        return frame

    def layers_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame([asdict(r) for r in self.layers])
        for col in ("in_shape", "out_shape"):
            frame[col] = frame[col].map(format_shape)
        return frame


def format_shape(shape: Shape) -> str:
    """(480, 28, 28) -> '480 x 28 x 28'."""
    return " x ".join(str(s) for s in shape)


class _Builder:
    def __init__(self, config: GoogLeNetConfig) -> None:
        self.bn = config.batch_norm
        self.layers: list[LayerRow] = []

    def conv(
        self,
        stage: str,
        name: str,
        shape: Shape,
        cout: int,
        k: int,
        s: int = 1,
        p: int = 0,
        branch: str = "",
        aux: bool = False,
    ) -> Shape:
        cin, side = shape[0], shape[1]
        out_side = conv_out(side, k, s, p)
        out = (cout, out_side, out_side)
        weights = cin * cout * k * k
        params = weights + (2 * cout if self.bn else cout)  # BN weight+bias, or conv bias
        macs = weights * out_side * out_side
        kernel = f"{k}x{k}/{s}"
        self.layers.append(
            LayerRow(stage, name, "conv", branch, kernel, shape, out, params, macs, aux)
        )
        return out

    def pool(
        self,
        stage: str,
        name: str,
        shape: Shape,
        k: int,
        s: int,
        p: int = 0,
        ceil: bool = False,
        kind: str = "maxpool",
        branch: str = "",
        aux: bool = False,
    ) -> Shape:
        side = conv_out(shape[1], k, s, p, ceil)
        out = (shape[0], side, side)
        kernel = f"{k}x{k}/{s}"
        self.layers.append(LayerRow(stage, name, kind, branch, kernel, shape, out, 0, 0, aux))
        return out

    def linear(self, stage: str, name: str, cin: int, cout: int, aux: bool = False) -> Shape:
        params = cin * cout + cout
        out = (cout,)
        self.layers.append(
            LayerRow(stage, name, "linear", "", "", (cin,), out, params, cin * cout, aux)
        )
        return out

    def totals(self, stage: str) -> tuple[int, int]:
        mine = [row for row in self.layers if row.stage == stage]
        return sum(r.params for r in mine), sum(r.macs for r in mine)


def inception_layers(b: _Builder, name: str, spec: InceptionSpec, shape: Shape) -> Shape:
    k = spec.branch3_kernel
    b1 = b.conv(name, f"{name}.branch1", shape, spec.ch1x1, 1, branch="1x1")
    red3 = b.conv(name, f"{name}.branch2.0", shape, spec.ch3x3red, 1, branch="3x3")
    b2 = b.conv(name, f"{name}.branch2.1", red3, spec.ch3x3, 3, p=1, branch="3x3")
    red5 = b.conv(name, f"{name}.branch3.0", shape, spec.ch5x5red, 1, branch="5x5")
    b3 = b.conv(name, f"{name}.branch3.1", red5, spec.ch5x5, k, p=k // 2, branch="5x5")
    pooled = b.pool(name, f"{name}.branch4.0", shape, 3, 1, 1, True, branch="pool")
    b4 = b.conv(name, f"{name}.branch4.1", pooled, spec.pool_proj, 1, branch="pool")
    assert b1[1:] == b2[1:] == b3[1:] == b4[1:], "same-padding keeps every branch the same size"
    return (spec.out_channels, shape[1], shape[2])


def aux_layers(b: _Builder, head: AuxSpec, shape: Shape, num_classes: int) -> tuple[Shape, int]:
    name = head.name
    side = aux_pooled_side(head, shape[1])
    if head.pool == "adaptive":
        b.layers.append(
            LayerRow(
                name,
                f"{name}.pool",
                "avgpool",
                "",
                f"adaptive {side}x{side}",
                shape,
                (shape[0], side, side),
                0,
                0,
                True,
            )
        )
        pooled: Shape = (shape[0], side, side)
    else:
        pooled = b.pool(
            name, f"{name}.pool", shape, head.pool_size, head.pool_stride, kind="avgpool", aux=True
        )
    conv = b.conv(name, f"{name}.conv", pooled, head.conv_channels, 1, aux=True)
    flat = conv[0] * conv[1] * conv[2]
    b.linear(name, f"{name}.fc1", flat, head.fc_channels, aux=True)
    out = b.linear(name, f"{name}.fc2", head.fc_channels, num_classes, aux=True)
    return out, side


@lru_cache(maxsize=256)
def analyze(config: GoogLeNetConfig) -> Analysis:
    """Every stage's and layer's shape, parameters and MACs. Cached per config."""
    b = _Builder(config)
    rows: list[StageRow] = []
    shape: Shape = (config.in_channels, config.input_size, config.input_size)
    for stage in config.stages():
        spec = stage.spec
        in_shape = shape
        name = stage.name
        if isinstance(spec, ConvSpec):
            shape = b.conv(
                name, name, shape, spec.out_channels, spec.kernel_size, spec.stride, spec.padding
            )
            what = _what("{k}x{k}/{s}", k=spec.kernel_size, s=spec.stride)
        elif isinstance(spec, PoolSpec):
            shape = b.pool(
                name, name, shape, spec.kernel_size, spec.stride, spec.padding, spec.ceil_mode
            )
            window = N_("{k}x{k}/{s} ceil") if spec.ceil_mode else "{k}x{k}/{s}"
            what = _what(window, k=spec.kernel_size, s=spec.stride)
        elif isinstance(spec, InceptionSpec):
            shape = inception_layers(b, name, spec, shape)
            what = _what(
                N_(
                    "1x1 {ch1x1} | {ch3x3red}->{ch3x3} 3x3 | "
                    "{ch5x5red}->{ch5x5} {k}x{k} | pool->{pool_proj}"
                ),
                ch1x1=spec.ch1x1,
                ch3x3red=spec.ch3x3red,
                ch3x3=spec.ch3x3,
                ch5x5red=spec.ch5x5red,
                ch5x5=spec.ch5x5,
                k=spec.branch3_kernel,
                pool_proj=spec.pool_proj,
            )
        elif isinstance(spec, AuxSpec):
            out, side = aux_layers(b, spec, shape, config.num_classes)
            params, macs = b.totals(name)
            head = {
                "block": spec.after,
                "conv": spec.conv_channels,
                "fc": spec.fc_channels,
                "dropout": spec.dropout,
            }
            if spec.pool == "avg":
                what = _what(
                    N_(
                        "after {block}: avg {size}x{size}/{step}, 1x1 conv {conv}, "
                        "FC {fc}, dropout {dropout}"
                    ),
                    size=spec.pool_size,
                    step=spec.pool_stride,
                    **head,
                )
            else:
                what = _what(
                    N_(
                        "after {block}: adaptive avg -> {side}x{side}, 1x1 conv {conv}, "
                        "FC {fc}, dropout {dropout}"
                    ),
                    side=side,
                    **head,
                )
            rows.append(StageRow(name, "aux", shape, out, params, macs, True, what))
            continue  # the trunk's shape is unchanged
        else:  # global average pool, dropout, linear classifier
            pooled: Shape = (shape[0], 1, 1)
            b.layers.append(
                LayerRow("avgpool", "avgpool", "avgpool", "", "global", shape, pooled, 0, 0, False)
            )
            average = _what(N_("global average pool"))
            rows.append(StageRow("avgpool", "avgpool", shape, pooled, 0, 0, False, average))
            out = b.linear("fc", "fc", shape[0], config.num_classes)
            classifier = _what(
                N_("dropout {dropout}, linear {features}->{classes}"),
                dropout=config.dropout,
                features=shape[0],
                classes=config.num_classes,
            )
            params, macs = b.totals("fc")
            rows.append(
                StageRow(
                    "fc",
                    "classifier",
                    (shape[0],),
                    out,
                    params,
                    macs,
                    False,
                    classifier,
                )
            )
            continue
        params, macs = b.totals(name)
        rows.append(StageRow(name, stage.kind, in_shape, shape, params, macs, False, what))
    return Analysis(config, tuple(rows), tuple(b.layers))


def _what(message: str, **values: Any) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """A stage's :attr:`StageRow.what`: an English message (marked with ``N_`` where it has
    words) and the values it is formatted with when read."""
    return message, tuple(values.items())


@dataclass(frozen=True)
class BlockCost:
    params: int
    macs: int
    out_channels: int


def naive_vs_reduced(
    in_channels: int, spec: InceptionSpec, side: int, batch_norm: bool = False
) -> dict[str, BlockCost]:
    """The paper's central argument (section 4, Figure 2) for one block.

    ``naive``: 1x1, 3x3 and 5x5 convolutions straight on the input plus a 3x3
    max-pool whose output is concatenated unchanged (so the depth grows by the
    input depth). ``reduced``: the Inception module as built, with 1x1
    reductions before the 3x3 and 5x5 and a 1x1 projection after the pool.
    The sums of :func:`branch_costs`.
    """
    branches = branch_costs(in_channels, spec, side, batch_norm)
    return {
        "naive": BlockCost(
            sum(b.naive_params for b in branches),
            sum(b.naive_macs for b in branches),
            sum(b.naive_out_channels for b in branches),
        ),
        "reduced": BlockCost(
            sum(b.params for b in branches),
            sum(b.macs for b in branches),
            sum(b.out_channels for b in branches),
        ),
    }


@dataclass(frozen=True)
class BranchCost:
    branch: str  # "1×1", "3×3", "5×5", "pool"
    params: int  # as built, with the 1x1 reductions
    macs: int
    naive_params: int  # the same branch without them
    naive_macs: int
    out_channels: int
    naive_out_channels: int


def branch_costs(
    in_channels: int, spec: InceptionSpec, side: int, batch_norm: bool = False
) -> tuple[BranchCost, ...]:
    """Each of the four branches of one block, built and naive.

    Weights plus one bias (or BN's two values) per output channel; MACs for one image.
    """
    per_out = 2 if batch_norm else 1
    k = spec.branch3_kernel

    def conv(cin: int, cout: int, kk: int) -> tuple[int, int]:
        return cin * cout * kk * kk + per_out * cout, cin * cout * kk * kk * side * side

    def both(*convs: tuple[int, int]) -> tuple[int, int]:
        return sum(p for p, _ in convs), sum(m for _, m in convs)

    one = conv(in_channels, spec.ch1x1, 1)
    three = both(conv(in_channels, spec.ch3x3red, 1), conv(spec.ch3x3red, spec.ch3x3, 3))
    five = both(conv(in_channels, spec.ch5x5red, 1), conv(spec.ch5x5red, spec.ch5x5, k))
    pool = conv(in_channels, spec.pool_proj, 1)  # the max-pool itself has no weights
    return (
        BranchCost("1×1", *one, *one, spec.ch1x1, spec.ch1x1),
        BranchCost("3×3", *three, *conv(in_channels, spec.ch3x3, 3), spec.ch3x3, spec.ch3x3),
        BranchCost(f"{k}×{k}", *five, *conv(in_channels, spec.ch5x5, k), spec.ch5x5, spec.ch5x5),
        BranchCost("pool", *pool, 0, 0, spec.pool_proj, in_channels),
    )
