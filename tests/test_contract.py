"""The calculator is checked against the real thing.

For every preset and for randomly perturbed valid configs, ``analyze`` must give
exactly the parameter count of the built ``nn.Module``, for every stage and
every named layer the output shape a forward hook sees, and exactly half the
FLOPs PyTorch's own ``FlopCounterMode`` counts (FLOPs = 2 x MACs for convolutions
and linear layers). Models are built on the meta device: shapes, counts and
FLOPs without allocating a single weight, so a 224 px network costs nothing.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from googlenet_core import (
    CHANNEL_FIELDS,
    GoogLeNetConfig,
    analyze,
    build_model,
    get_preset,
    list_presets,
    minimum_input_size,
)


def perturbed(seed: int) -> GoogLeNetConfig:
    """A random valid variation: widths, input size 32-224, aux on/off, BN, kernels."""
    rng = random.Random(seed)
    base = get_preset(rng.choice(["paper", "torchvision", "mini"]))
    blocks = tuple(
        dataclasses.replace(
            block,
            branch3_kernel=rng.choice([3, 5]),
            **{
                f: max(1, getattr(block, f) // rng.choice([4, 8, 16]) + rng.randint(0, 3))
                for f in CHANNEL_FIELDS
            },
        )
        for block in base.blocks
    )
    config = dataclasses.replace(
        base,
        blocks=blocks,
        aux_logits=rng.random() < 0.6,
        batch_norm=rng.random() < 0.5,
        in_channels=rng.choice([1, 3]),
        num_classes=rng.randint(2, 50),
        transform_input=False,
    )
    smallest = minimum_input_size(config) or 32
    return dataclasses.replace(config, input_size=rng.randint(max(32, smallest), 224))


CASES = [pytest.param(get_preset(name), id=name) for name in list_presets()]
CASES += [pytest.param(perturbed(seed), id=f"random-{seed}") for seed in range(10)]


def _on_meta(config: GoogLeNetConfig) -> nn.Module:
    with torch.device("meta"):
        return build_model(config).eval()


@pytest.mark.parametrize("config", CASES)
def test_calculator_matches_the_model(config: GoogLeNetConfig) -> None:
    model = _on_meta(config)
    result = analyze(config)

    assert result.total_params == sum(p.numel() for p in model.parameters())
    aux_modules = [model.get_submodule(h.name) for h in config.active_aux_heads]
    aux_params = sum(p.numel() for m in aux_modules for p in m.parameters())
    assert result.params_without_aux == result.total_params - aux_params

    seen: dict[str, tuple[int, ...]] = {}

    def record(name: str):  # noqa: ANN202 - a forward hook factory
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            seen[name] = tuple(output.shape[1:])

        return hook

    names = [row.name for row in result.rows] + [
        layer.name for layer in result.layers if _is_module(model, layer.name)
    ]
    handles = [model.get_submodule(n).register_forward_hook(record(n)) for n in names]
    side = config.input_size
    batch = 2
    x = torch.empty(batch, config.in_channels, side, side, device="meta")
    with FlopCounterMode(display=False) as flops:
        heads = model.forward_heads(x)
    for handle in handles:
        handle.remove()

    assert flops.get_total_flops() == 2 * batch * result.total_macs  # FLOPs = 2 x MACs
    for row in result.rows:
        assert seen[row.name] == row.out_shape, row.name
        # Per-stage parameters too, so a wrong row cannot hide behind a right total.
        assert row.params == sum(p.numel() for p in model.get_submodule(row.name).parameters())
    for layer in result.layers:
        if layer.name in seen:
            assert seen[layer.name] == layer.out_shape, layer.name
    assert heads.logits.shape == (batch, config.num_classes)
    assert (heads.aux1 is not None) == (config.aux_logits and len(config.aux_heads) >= 1)


def _is_module(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True


@pytest.mark.parametrize("name", list_presets())
def test_the_main_head_alone_costs_macs_without_aux(name: str) -> None:
    """Deployment: ``model(x)`` skips the aux heads, and so does ``macs_without_aux``."""
    config = get_preset(name)
    side = config.input_size
    with FlopCounterMode(display=False) as flops:
        _on_meta(config)(torch.empty(1, config.in_channels, side, side, device="meta"))
    assert flops.get_total_flops() == 2 * analyze(config).macs_without_aux
