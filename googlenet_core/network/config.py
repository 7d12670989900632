"""A GoogLeNet described as data.

The network of "Going Deeper with Convolutions" (Szegedy et al., 2014, Table 1)
is a stem of plain convolutions, a table of Inception blocks, a few max-pools
between them, two auxiliary classifiers and a linear classifier. This module
holds that description as frozen dataclasses, validated when they are made, and
derives everything else by walking the table once (:func:`_walk`): the input
depth of every block, of each auxiliary head and of the classifier is never
typed, so the 480 / 512 / 528 / 832 / 1024 of the paper cannot disagree.

The model (``model.py``), the calculator (``analysis.py``), the figures and the
dashboard's editable table all read the same objects.
"""

from __future__ import annotations

import dataclasses
import keyword
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, Literal

from torch import nn

from .._checks import (
    JsonRecord,
    check_bool,
    check_float,
    check_int,
    refuse_unknown,
    shown,
)
from ..i18n import N_, _

#: Caps that keep a typed number from building a network that cannot fit in memory.
MAX_CHANNELS = 2048  # any single conv / branch width
MAX_BLOCK_OUT = 4096  # the concatenated output of one Inception block
MAX_BLOCKS = 24
MAX_STEM = 8
MAX_INPUT_SIZE = 1024
MAX_IN_CHANNELS = 4
MAX_CLASSES = 100_000
MAX_KERNEL = 11
# An aux head's hidden fully connected layer is a vector, not a feature map: twice the
# conv cap lets it go past the paper's 1024 (the main classifier reads up to MAX_BLOCK_OUT).
MAX_AUX_FC = 4096

NetworkKind = Literal["conv", "maxpool", "inception", "aux", "classifier"]


MAX_NAME = 64  # characters in a stage name
#: Attributes the built model has besides its stages (a stage of these names would replace
#: them, or fail to build); every public attribute of ``nn.Module`` is refused too.
MODEL_ATTRIBUTES = (
    "config",
    "features",
    "forward_heads",
    "trunk_names",
    "prefix_stop",
    "forward_prefix",
    "forward_rest",
    "avgpool",
    "dropout",
    "fc",
)


@lru_cache(maxsize=1)
def reserved_names() -> frozenset[str]:
    """Names no stage may take: the model's own attributes and ``nn.Module``'s."""
    public = (n for n in dir(nn.Module()) if not n.startswith("_"))  # with "training"
    return frozenset(public) | set(MODEL_ATTRIBUTES)


def _check_name(owner: str, value: object) -> None:
    """Stage names become module attributes and identifiers in generated code: they must be
    (short) identifiers that Python reads as written, not keywords, not taken by the model."""
    if (
        not isinstance(value, str)
        or not value.isidentifier()
        or value.startswith("_")
        or len(value) > MAX_NAME
    ):
        raise ValueError(
            _(
                "{owner}: name must be a Python identifier of at most {limit} characters "
                "such as 'inception3a', got {value}"
            ).format(owner=owner, limit=MAX_NAME, value=shown(value))
        )
    if keyword.iskeyword(value):
        raise ValueError(
            _("{owner}: name {value} is a Python keyword; choose another").format(
                owner=owner, value=shown(value)
            )
        )
    normal = unicodedata.normalize("NFKC", value)
    if normal != value:
        # Python reads identifiers in NFKC form: "ｆｃ" in a generated file is "fc".
        raise ValueError(
            _(
                "{owner}: name {value} has letters that Python reads as {normal}; "
                "write it with those letters"
            ).format(owner=owner, value=shown(value), normal=shown(normal))
        )
    if value in reserved_names():
        raise ValueError(
            _(
                "{owner}: name {value} is taken by the model itself (a method or "
                "attribute of every PyTorch module, or of this network); choose another"
            ).format(owner=owner, value=shown(value))
        )


@dataclass(frozen=True)
class ConvSpec:
    """One plain convolution of the stem (conv -> [BN] -> ReLU)."""

    name: str  # module attribute in the built model: "conv1"
    out_channels: int  # filters
    kernel_size: int  # square kernel
    stride: int = 1
    padding: int = 0

    def __post_init__(self) -> None:
        _check_name(_("stem conv"), self.name)
        check_int(self.name, "out_channels", self.out_channels, 1, MAX_CHANNELS)
        check_int(self.name, "kernel_size", self.kernel_size, 1, MAX_KERNEL)
        check_int(self.name, "stride", self.stride, 1, 4)
        check_int(self.name, "padding", self.padding, 0, self.kernel_size // 2)


@dataclass(frozen=True)
class PoolSpec:
    """A max-pool between stages; ``after`` names the stem conv or block it follows."""

    name: str  # module attribute: "maxpool3"
    after: str  # the stage whose output it pools: "inception3b"
    kernel_size: int = 3
    stride: int = 2
    padding: int = 0
    ceil_mode: bool = True  # Caffe's rounding, used by the paper's model and torchvision

    def __post_init__(self) -> None:
        _check_name(_("max-pool"), self.name)
        _check_name(self.name, self.after)
        check_int(self.name, "kernel_size", self.kernel_size, 1, MAX_KERNEL)
        check_int(self.name, "stride", self.stride, 1, MAX_KERNEL)
        check_int(self.name, "padding", self.padding, 0, self.kernel_size // 2)
        check_bool(self.name, "ceil_mode", self.ceil_mode)


@dataclass(frozen=True)
class InceptionSpec:
    """One Inception block: the six numbers of a row of the paper's Table 1."""

    name: str  # stage name, also the module attribute: "inception3a"
    ch1x1: int  # branch 1: 1x1 conv
    ch3x3red: int  # branch 2: 1x1 reduction before the 3x3
    ch3x3: int  # branch 2: 3x3 conv
    ch5x5red: int  # branch 3: 1x1 reduction before the "5x5"
    ch5x5: int  # branch 3: the "5x5" conv
    pool_proj: int  # branch 4: 3x3/1 max-pool then 1x1 projection
    branch3_kernel: int = 5  # 5 in the paper; torchvision builds 3 (its issue #906)

    def __post_init__(self) -> None:
        _check_name(_("Inception block"), self.name)
        for f in CHANNEL_FIELDS:
            check_int(self.name, f, getattr(self, f), 1, MAX_CHANNELS)
        if self.branch3_kernel not in (3, 5):
            raise ValueError(
                _("{block}: branch3_kernel must be 3 or 5, got {value}").format(
                    block=self.name, value=shown(self.branch3_kernel)
                )
            )
        if self.out_channels > MAX_BLOCK_OUT:
            raise ValueError(
                _(
                    "{block}: the four branches add up to {total} channels; "
                    "the cap is {cap} (ch1x1 + ch3x3 + ch5x5 + pool_proj)"
                ).format(block=self.name, total=self.out_channels, cap=MAX_BLOCK_OUT)
            )

    @property
    def out_channels(self) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj


#: The six channel numbers of an Inception block, in the paper's column order.
CHANNEL_FIELDS: tuple[str, ...] = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")


@dataclass(frozen=True)
class AuxSpec:
    """An auxiliary classifier (section 5 of the paper) attached after a block.

    Heads are named by position: ``aux1`` is the one nearer the input.
    """

    name: str  # "aux1" or "aux2"
    after: str  # the block whose output feeds it: "inception4a"
    pool: Literal["avg", "adaptive"] = "avg"  # paper: 5x5/3 average pool; torchvision: adaptive
    pool_size: int = 5  # avg: the kernel; adaptive: the output side (4 -> 4x4)
    pool_stride: int = 3  # avg only
    conv_channels: int = 128  # the 1x1 reduction
    fc_channels: int = 1024  # the hidden fully connected layer
    dropout: float = 0.7

    def __post_init__(self) -> None:
        if self.name not in ("aux1", "aux2"):
            raise ValueError(
                _("auxiliary head: name must be 'aux1' or 'aux2', got {value}").format(
                    value=shown(self.name)
                )
            )
        _check_name(self.name, self.after)
        if self.pool not in ("avg", "adaptive"):
            raise ValueError(
                _("{head}: pool must be 'avg' or 'adaptive', got {value}").format(
                    head=self.name, value=shown(self.pool)
                )
            )
        check_int(self.name, "pool_size", self.pool_size, 1, MAX_KERNEL)
        check_int(self.name, "pool_stride", self.pool_stride, 1, MAX_KERNEL)
        check_int(self.name, "conv_channels", self.conv_channels, 1, MAX_CHANNELS)
        check_int(self.name, "fc_channels", self.fc_channels, 1, MAX_AUX_FC)
        check_float(self.name, "dropout", self.dropout, 0.0, 0.95)


@dataclass(frozen=True)
class Stage:
    """One top-level stage of the network in forward order, with its derived depths."""

    name: str
    kind: NetworkKind
    spec: ConvSpec | PoolSpec | InceptionSpec | AuxSpec | None
    in_channels: int
    out_channels: int


@dataclass(frozen=True)
class GoogLeNetConfig(JsonRecord):
    """Everything that defines a GoogLeNet-style network.

    Make variations with ``dataclasses.replace``; every instance is validated.
    """

    OWNER = N_("network")

    stem: tuple[ConvSpec, ...]  # plain convolutions before the first block
    blocks: tuple[InceptionSpec, ...]  # the Inception table, in forward order
    pools: tuple[PoolSpec, ...]  # max-pools, each placed after a stem conv or block
    aux_heads: tuple[AuxSpec, ...] = ()  # where the auxiliary classifiers attach
    in_channels: int = 3  # 1 grayscale, 3 RGB
    input_size: int = 224  # square input side, pixels
    num_classes: int = 1000
    aux_logits: bool = True  # build the aux heads listed in ``aux_heads``
    batch_norm: bool = True  # BN after every conv (torchvision) or conv bias (paper)
    bn_eps: float = 0.001  # torchvision's BasicConv2d uses 1e-3, not PyTorch's 1e-5
    dropout: float = 0.2  # before the classifier: 0.4 in the paper, 0.2 in torchvision
    transform_input: bool = False  # torchvision: re-normalise ImageNet input for its weights
    _derived: tuple[Stage, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Lists from JSON or the UI become tuples so the config stays hashable.
        for name in ("stem", "blocks", "pools", "aux_heads"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                if not isinstance(value, Sequence) or isinstance(value, str):
                    raise ValueError(f"{name} must be a list, got {type(value).__name__}")
                object.__setattr__(self, name, tuple(value))
        owner = self.owner_label()
        check_int(owner, "in_channels", self.in_channels, 1, MAX_IN_CHANNELS)
        check_int(owner, "input_size", self.input_size, 1, MAX_INPUT_SIZE)
        check_int(owner, "num_classes", self.num_classes, 1, MAX_CLASSES)
        for flag in ("aux_logits", "batch_norm", "transform_input"):
            check_bool(owner, flag, getattr(self, flag))
        check_float(owner, "bn_eps", self.bn_eps, 1e-8, 0.1)
        check_float(owner, "dropout", self.dropout, 0.0, 0.95)
        if self.transform_input and self.in_channels != 3:
            raise ValueError(_("network: transform_input needs in_channels = 3 (RGB)"))
        self._check_structure()
        object.__setattr__(self, "_derived", _walk(self))
        _check_spatial(self)

    def _check_structure(self) -> None:
        kinds = (
            ("stem", self.stem, ConvSpec),
            ("blocks", self.blocks, InceptionSpec),
            ("pools", self.pools, PoolSpec),
            ("aux_heads", self.aux_heads, AuxSpec),
        )
        for label, items, cls in kinds:
            for item in items:
                if not isinstance(item, cls):
                    raise ValueError(f"{label}: every entry must be a {cls.__name__}")
        if not 1 <= len(self.stem) <= MAX_STEM:
            raise ValueError(
                _("stem: needs between 1 and {limit} convolutions").format(limit=MAX_STEM)
            )
        if not 1 <= len(self.blocks) <= MAX_BLOCKS:
            raise ValueError(
                _("blocks: needs between 1 and {limit} Inception blocks").format(limit=MAX_BLOCKS)
            )
        names = [s.name for s in self.stem] + [b.name for b in self.blocks]
        names += [p.name for p in self.pools] + [a.name for a in self.aux_heads]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(
                    _("name {name} is used twice: stage names must differ").format(name=shown(name))
                )
            seen.add(name)
        anchors = [s.name for s in self.stem] + [b.name for b in self.blocks]
        pooled: set[str] = set()
        for pool in self.pools:
            if pool.after not in anchors:
                raise ValueError(
                    _("{stage}: after={after!r} is not a stem conv or block").format(
                        stage=pool.name, after=pool.after
                    )
                )
            if pool.after in pooled:
                raise ValueError(
                    _("{stage}: {after} already has a max-pool after it").format(
                        stage=pool.name, after=pool.after
                    )
                )
            pooled.add(pool.after)
        if pool_after_last := [p for p in self.pools if p.after == self.blocks[-1].name]:
            raise ValueError(
                _(
                    "{stage}: no max-pool after the last block "
                    "(the classifier's global average pool follows it)"
                ).format(stage=pool_after_last[0].name)
            )
        block_names = [b.name for b in self.blocks]
        positions = []
        for head in self.aux_heads:
            if head.after not in block_names:
                raise ValueError(
                    _("{head}: after={after!r} is not an Inception block").format(
                        head=head.name, after=head.after
                    )
                )
            positions.append(block_names.index(head.after))
        if [h.name for h in self.aux_heads] != ["aux1", "aux2"][: len(self.aux_heads)]:
            raise ValueError(_("aux_heads: name them 'aux1' then 'aux2', nearest the input first"))
        if positions != sorted(positions) or len(set(positions)) != len(positions):
            raise ValueError(
                _("aux_heads: aux1 must attach before aux2 (heads are named by position)")
            )

    # ---- derived -------------------------------------------------------------
    def stages(self) -> tuple[Stage, ...]:
        """Every top-level stage in forward order, aux heads after the block they read."""
        return self._derived

    @property
    def active_aux_heads(self) -> tuple[AuxSpec, ...]:
        return self.aux_heads if self.aux_logits else ()

    def block_in_channels(self) -> dict[str, int]:
        return {s.name: s.in_channels for s in self._derived if s.kind == "inception"}

    @property
    def feature_channels(self) -> int:
        """Depth entering the classifier (1024 in the paper)."""
        return self.blocks[-1].out_channels

    # ---- serialisation -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [dataclasses.asdict(item) for item in value]
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GoogLeNetConfig:
        """Rebuild a config; unknown or missing keys are a ValueError, never ignored."""
        if not isinstance(data, Mapping):
            raise ValueError(
                _("a network config must be a JSON object, got {type_name}").format(
                    type_name=type(data).__name__
                )
            )
        refuse_unknown(cls.owner_label(), data, [f.name for f in fields(cls) if f.init])
        kwargs: dict[str, Any] = {}
        item_types: dict[str, type] = {
            "stem": ConvSpec,
            "blocks": InceptionSpec,
            "pools": PoolSpec,
            "aux_heads": AuxSpec,
        }
        for key, value in data.items():
            if key in item_types:
                if not isinstance(value, list):
                    raise ValueError(_("{key} must be a list").format(key=key))
                kwargs[key] = tuple(_item_from_dict(item_types[key], key, v) for v in value)
            else:
                kwargs[key] = value
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a required key is missing
            raise ValueError(_("network config: {error}").format(error=exc)) from None


def _item_from_dict(cls: type, label: str, data: object) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(_("{key}: every entry must be a JSON object").format(key=label))
    owner = _("{key} entry {name}").format(key=label, name=shown(data.get("name", "?")))
    refuse_unknown(owner, data, [f.name for f in fields(cls)])
    try:
        return cls(**data)
    except TypeError as exc:
        raise ValueError(_("{owner}: {error}").format(owner=owner, error=exc)) from None


# ---- the walk ----------------------------------------------------------------
def _walk(config: GoogLeNetConfig) -> tuple[Stage, ...]:
    """Walk the table in forward order, deriving every stage's input depth."""
    pools = {p.after: p for p in config.pools}
    heads = {h.after: h for h in config.active_aux_heads}
    stages: list[Stage] = []
    depth = config.in_channels
    for conv in config.stem:
        stages.append(Stage(conv.name, "conv", conv, depth, conv.out_channels))
        depth = conv.out_channels
        if conv.name in pools:
            stages.append(Stage(pools[conv.name].name, "maxpool", pools[conv.name], depth, depth))
    for block in config.blocks:
        stages.append(Stage(block.name, "inception", block, depth, block.out_channels))
        depth = block.out_channels
        if block.name in heads:
            head = heads[block.name]
            stages.append(Stage(head.name, "aux", head, depth, config.num_classes))
        if block.name in pools:
            stages.append(Stage(pools[block.name].name, "maxpool", pools[block.name], depth, depth))
    stages.append(Stage("fc", "classifier", None, depth, config.num_classes))
    return tuple(stages)


def conv_out(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool = False) -> int:
    """Output side of a conv or pool: floor((in - k + 2p) / s) + 1.

    With ``ceil_mode`` the division rounds up, but, as in PyTorch, a last window
    that would start in the right padding is dropped.
    """
    span = size + 2 * padding - kernel
    if span < 0:
        return 0
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:
            out -= 1
        return out
    return span // stride + 1


def aux_pooled_side(head: AuxSpec, side: int) -> int:
    if head.pool == "adaptive":
        return head.pool_size
    return conv_out(side, head.pool_size, head.pool_stride, 0)


def spatial_sides(config: GoogLeNetConfig, input_size: int) -> dict[str, int]:
    """The output side of every stage for a given input size (0 where it vanishes)."""
    side = input_size
    sides: dict[str, int] = {}
    for stage in config.stages():
        spec = stage.spec
        if isinstance(spec, ConvSpec):
            side = conv_out(side, spec.kernel_size, spec.stride, spec.padding)
        elif isinstance(spec, PoolSpec):
            side = conv_out(side, spec.kernel_size, spec.stride, spec.padding, spec.ceil_mode)
        elif isinstance(spec, AuxSpec):
            sides[stage.name] = 1  # a vector of logits
            continue
        elif stage.kind == "classifier":
            sides[stage.name] = 1
            continue
        sides[stage.name] = side
        if side <= 0:
            break
    return sides


def _spatial_problem(config: GoogLeNetConfig, input_size: int) -> str | None:
    """Why ``input_size`` does not fit the network, or None when it does."""
    sides = spatial_sides(config, input_size)
    side = input_size  # the side entering the current stage
    for stage in config.stages():
        if stage.name not in sides:
            return _empty_map(stage.name)
        if isinstance(stage.spec, AuxSpec):
            head = stage.spec
            if side < head.pool_size:
                if head.pool == "avg":
                    problem = _(
                        "{head} after {block} needs a feature map of at least {size}x{size} "
                        "for its average pool, but gets {side}x{side}"
                    )
                else:
                    problem = _(
                        "{head} after {block} needs a feature map of at least {size}x{size} "
                        "for its adaptive pool, but gets {side}x{side}"
                    )
                return problem.format(
                    head=head.name, block=head.after, size=head.pool_size, side=side
                )
            continue
        if stage.kind == "classifier":
            continue
        side = sides[stage.name]
        if side <= 0:
            return _empty_map(stage.name)
    return None


def _empty_map(stage: str) -> str:
    return _("{stage} would produce an empty (0x0) feature map").format(stage=stage)


def minimum_input_size(config: GoogLeNetConfig) -> int | None:
    """Smallest input side the stem, pools and aux heads accept (None: none up to the cap)."""
    for size in range(1, MAX_INPUT_SIZE + 1):
        if _spatial_problem(config, size) is None:
            return size
    return None


def _check_spatial(config: GoogLeNetConfig) -> None:
    problem = _spatial_problem(config, config.input_size)
    if problem is None:
        return
    smallest = minimum_input_size(config)
    hint = (
        _("the smallest input this network accepts is {side}x{side}").format(side=smallest)
        if smallest
        else _("no input size up to the cap works: remove a pool or stride")
    )
    raise ValueError(
        _("input_size {size} is too small: {problem}; {hint}").format(
            size=config.input_size, problem=problem, hint=hint
        )
    )
