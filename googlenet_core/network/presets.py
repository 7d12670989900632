"""Named networks: the 2014 paper, torchvision's ``googlenet``, and a CPU-sized mini.

The Inception table of the paper (Table 1 of "Going Deeper with Convolutions",
https://arxiv.org/abs/1409.4842) is written here once, in ``_PAPER_TABLE``;
``paper`` and ``torchvision`` are built from it and differ only where the code
says why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..i18n import N_, _
from .config import AuxSpec, ConvSpec, GoogLeNetConfig, InceptionSpec, PoolSpec

# name, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj   (paper, Table 1)
_PAPER_TABLE: tuple[tuple[str, int, int, int, int, int, int], ...] = (
    ("inception3a", 64, 96, 128, 16, 32, 32),
    ("inception3b", 128, 128, 192, 32, 96, 64),
    ("inception4a", 192, 96, 208, 16, 48, 64),
    ("inception4b", 160, 112, 224, 24, 64, 64),
    ("inception4c", 128, 128, 256, 24, 64, 64),
    ("inception4d", 112, 144, 288, 32, 64, 64),
    ("inception4e", 256, 160, 320, 32, 128, 128),
    ("inception5a", 256, 160, 320, 32, 128, 128),
    ("inception5b", 384, 192, 384, 48, 128, 128),
)

# conv1 7x7/2, then conv2 (the "3x3 reduce" 1x1 of the paper's second row) and conv3.
# LRN after maxpool1 and after conv3 is omitted, as torchvision omits it: the VGG paper
# (Simonyan & Zisserman, 2014, section 4.1, https://arxiv.org/abs/1409.1556) found local
# response normalisation does not improve ILSVRC accuracy, and BN later replaced it.
_STEM = (
    ConvSpec("conv1", 64, kernel_size=7, stride=2, padding=3),  # 112 x 112 x 64
    ConvSpec("conv2", 64, kernel_size=1),  # 56 x 56 x 64
    ConvSpec("conv3", 192, kernel_size=3, padding=1),  # 56 x 56 x 192
)


def _blocks(branch3_kernel: int) -> tuple[InceptionSpec, ...]:
    return tuple(InceptionSpec(*row, branch3_kernel=branch3_kernel) for row in _PAPER_TABLE)


def _pools(last_kernel: int) -> tuple[PoolSpec, ...]:
    # The paper's pools are 3x3/2; with Caffe's ceil rounding they halve 112 -> 56 -> 28 -> 14 -> 7.
    return (
        PoolSpec("maxpool1", after="conv1"),
        PoolSpec("maxpool2", after="conv3"),
        PoolSpec("maxpool3", after="inception3b"),
        PoolSpec("maxpool4", after="inception4e", kernel_size=last_kernel, stride=2),
    )


def paper() -> GoogLeNetConfig:
    """GoogLeNet as the 2014 paper describes it (Table 1 and section 5)."""
    return GoogLeNetConfig(
        stem=_STEM,
        blocks=_blocks(branch3_kernel=5),  # a true 5x5 in branch 3
        pools=_pools(last_kernel=3),
        aux_heads=(
            # Section 5: 5x5/3 average pool -> 4x4x512 (4a) and 4x4x528 (4d), 1x1 conv 128,
            # FC 1024 + ReLU, dropout 70%, linear classifier.
            AuxSpec("aux1", after="inception4a", pool="avg", pool_size=5, pool_stride=3),
            AuxSpec("aux2", after="inception4d", pool="avg", pool_size=5, pool_stride=3),
        ),
        in_channels=3,
        input_size=224,
        num_classes=1000,
        aux_logits=True,
        batch_norm=False,  # 2014: ReLU convolutions with bias; BatchNorm came a year later
        dropout=0.4,  # "dropout (40%)" in Table 1
        # The final 7x7/1 average pool is built as a global average pool: identical at
        # 224 px, and it keeps the classifier's input at 1024 for other input sizes.
    )


def torchvision() -> GoogLeNetConfig:
    """Exactly ``torchvision.models.googlenet``: same modules, keys, shapes and outputs."""
    return GoogLeNetConfig(
        stem=_STEM,
        # torchvision builds branch 3 with a 3x3 kernel: "Here, kernel_size=3 instead of
        # kernel_size=5 is a known bug" (https://github.com/pytorch/vision/issues/906);
        # kept here so its ImageNet weights load.
        blocks=_blocks(branch3_kernel=3),
        pools=_pools(last_kernel=2),  # torchvision's maxpool4 is 2x2/2 (same 7x7 output)
        aux_heads=(
            # torchvision pools the aux input adaptively to 4x4 instead of 5x5/3.
            AuxSpec("aux1", after="inception4a", pool="adaptive", pool_size=4),
            AuxSpec("aux2", after="inception4d", pool="adaptive", pool_size=4),
        ),
        in_channels=3,
        input_size=224,
        num_classes=1000,
        aux_logits=True,
        batch_norm=True,  # BasicConv2d: conv without bias -> BatchNorm(eps=0.001) -> ReLU
        bn_eps=0.001,
        dropout=0.2,  # torchvision's default; its aux heads keep the paper's 0.7
    )


# A width-reduced network for 28-32 px images: every width is a quarter of the paper's
# (rounded, at least 4), so a CPU trains it on small datasets in seconds.
def _quarter(name: str, *widths: int) -> InceptionSpec:
    ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj = (max(4, round(c / 4)) for c in widths)
    return InceptionSpec(name, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)


def mini() -> GoogLeNetConfig:
    """A quarter-width GoogLeNet for 32 px (or 28 px) grayscale or RGB images."""
    return GoogLeNetConfig(
        # One 3x3/1 conv replaces the 7x7/2 stem: at 32 px there is no resolution to spare.
        stem=(ConvSpec("conv1", 32, kernel_size=3, padding=1),),  # 32 x 32 x 32
        blocks=tuple(_quarter(*row) for row in _PAPER_TABLE),
        pools=(
            PoolSpec("maxpool1", after="conv1"),  # 16 x 16
            PoolSpec("maxpool3", after="inception3b"),  # 8 x 8
            PoolSpec("maxpool4", after="inception4e", kernel_size=2),  # 4 x 4
        ),
        aux_heads=(
            # Scaled-down heads on the 8x8 maps of 4a and 4d, pooled to 4x4 as torchvision does.
            AuxSpec("aux1", "inception4a", "adaptive", 4, conv_channels=32, fc_channels=128),
            AuxSpec("aux2", "inception4d", "adaptive", 4, conv_channels=32, fc_channels=128),
        ),
        in_channels=1,
        input_size=32,
        num_classes=10,
        aux_logits=True,
        batch_norm=True,  # BN lets a small network train in a few epochs at a high LR
        bn_eps=0.001,
        dropout=0.2,
    )


class PresetRegistry:
    """Named config factories; registering a name twice is an error, not an overwrite."""

    def __init__(self) -> None:
        self._factories: dict[str, tuple[Callable[[], GoogLeNetConfig], str]] = {}

    def register(self, name: str, factory: Callable[[], GoogLeNetConfig], description: str) -> None:
        """Add preset ``name``; ``description`` is English marked with ``N_`` (it is said in
        the visitor's language by :meth:`description`)."""
        if name in self._factories:
            raise ValueError(f"a preset named {name!r} is already registered")
        self._factories[name] = (factory, description)

    def get(self, name: str) -> GoogLeNetConfig:
        if name not in self._factories:
            raise ValueError(
                _("unknown preset {name!r}; choose one of {names}").format(
                    name=name, names=", ".join(self.names())
                )
            )
        return self._factories[name][0]()

    def names(self) -> list[str]:
        return list(self._factories)

    def description(self, name: str) -> str:
        """The preset's one-line description, in the active language."""
        self.get(name)
        description = self._factories[name][1]
        return _(description)


REGISTRY = PresetRegistry()
REGISTRY.register("paper", paper, N_("The 2014 paper: true 5x5 branch, no BatchNorm, dropout 0.4"))
REGISTRY.register(
    "torchvision",
    torchvision,
    N_("torchvision.models.googlenet exactly (loads its ImageNet weights)"),
)
REGISTRY.register("mini", mini, N_("Quarter width for 32 px images; trains in seconds on a CPU"))


def get_preset(name: str) -> GoogLeNetConfig:
    return REGISTRY.get(name)


def list_presets() -> list[str]:
    return REGISTRY.names()


def matching_preset(config: GoogLeNetConfig) -> str | None:
    """The preset this config equals, or None for a custom design."""
    for name in REGISTRY.names():
        if REGISTRY.get(name) == config:
            return name
    return None


def base_preset(config: GoogLeNetConfig) -> str | None:
    """The preset this config equals apart, perhaps, from its input side; None if custom."""
    for name in REGISTRY.names():
        preset = REGISTRY.get(name)
        if preset.input_size != config.input_size:
            try:
                preset = dataclasses.replace(preset, input_size=config.input_size)
            except ValueError:  # the preset cannot take that side, so it cannot match
                continue
        if preset == config:
            return name
    return None


def network_name(config: GoogLeNetConfig, classes: bool = True) -> str:
    """A short, path-safe name: ``mini``; a preset with what changed, ``paper-79px-10cls``,
    ``mini-noaux``; ``custom`` for an edited design.

    What a plan or a load changes without editing the design is said in the name: another
    input side (``-79px``), another number of classes (``-10cls``; left out with
    ``classes=False``, where the data set's name says it), the aux heads switched off
    (``-noaux``). A network with torchvision's ImageNet input transform (the one its
    ImageNet weights need; no parameters change) is named ``torchvision-imagenet``.
    """
    if config.transform_input:
        plain = dataclasses.replace(config, transform_input=False)
        return f"{network_name(plain, classes)}-imagenet"
    exact = matching_preset(config)
    if exact is not None:
        return exact
    for name in REGISTRY.names():
        preset = REGISTRY.get(name)
        try:
            variant = dataclasses.replace(
                preset,
                input_size=config.input_size,
                num_classes=config.num_classes,
                aux_logits=config.aux_logits,
            )
        except ValueError:  # the preset cannot take these: not a variant of it
            continue
        if variant != config:
            continue
        parts = [name]
        if config.input_size != preset.input_size:
            parts.append(f"{config.input_size}px")
        if classes and config.num_classes != preset.num_classes:
            parts.append(f"{config.num_classes}cls")
        if preset.aux_logits and not config.aux_logits:
            parts.append("noaux")
        return "-".join(parts)
    return "custom"


def with_blocks(config: GoogLeNetConfig, blocks: tuple[InceptionSpec, ...]) -> GoogLeNetConfig:
    """Replace the Inception table, re-anchoring pools and aux heads whose block is gone.

    A pool or head attached to a removed block moves to the nearest earlier
    block that still exists (or is dropped if none does), so deleting a row in
    the editor never leaves a dangling reference.
    """
    old_order = [b.name for b in config.blocks]
    new_names = [b.name for b in blocks]

    def reanchor(after: str) -> str | None:
        if after in new_names or after in [s.name for s in config.stem]:
            return after
        if after not in old_order:
            return None
        for name in reversed(old_order[: old_order.index(after)]):
            if name in new_names:
                return name
        return None

    pools = []
    taken: set[str] = set()
    for pool in config.pools:
        anchor = reanchor(pool.after)
        if anchor is None or anchor in taken or (blocks and anchor == blocks[-1].name):
            continue
        taken.add(anchor)
        pools.append(dataclasses.replace(pool, after=anchor))
    heads: list[AuxSpec] = []
    used: set[str] = set()
    for head in config.aux_heads:
        anchor = reanchor(head.after)
        if anchor is None or anchor not in new_names or anchor in used:
            continue
        used.add(anchor)
        heads.append(dataclasses.replace(head, after=anchor, name=f"aux{len(heads) + 1}"))
    return dataclasses.replace(config, blocks=blocks, pools=tuple(pools), aux_heads=tuple(heads))
