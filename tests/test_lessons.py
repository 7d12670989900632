"""The Concepts page's arguments computed from a design: branches, a naive network, GAP."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from googlenet_core import build_model, get_preset
from googlenet_core.figures.lessons import aux_heads_figure
from googlenet_core.network.config import conv_out, spatial_sides
from googlenet_core.network.lessons import (
    branch_costs,
    head_costs,
    layer_geometry,
    naive_network,
)


@pytest.mark.parametrize("preset", ["paper", "torchvision", "mini"])
def test_the_branches_add_up_to_the_built_block(preset: str) -> None:
    """Branch by branch, as built: the block's real parameters, and its output depth."""
    config = get_preset(preset)
    model = build_model(config)
    sides = spatial_sides(config, config.input_size)
    inputs = config.block_in_channels()
    for spec in config.blocks:
        branches = branch_costs(inputs[spec.name], spec, sides[spec.name], config.batch_norm)
        block = model.get_submodule(spec.name)
        assert sum(b.params for b in branches) == sum(p.numel() for p in block.parameters())
        assert sum(b.out_channels for b in branches) == spec.out_channels
        assert sum(b.naive_out_channels for b in branches) == (
            spec.ch1x1 + spec.ch3x3 + spec.ch5x5 + inputs[spec.name]
        )


def test_a_naive_network_passes_each_blocks_depth_to_the_next() -> None:
    steps = naive_network(get_preset("paper"))
    assert [s.block for s in steps][0] == "inception3a" and len(steps) == 9
    assert steps[0].naive_in_channels == steps[0].in_channels == 192
    for before, after in zip(steps, steps[1:], strict=False):
        assert after.naive_in_channels == before.naive_out_channels > after.in_channels
    assert steps[-1].naive_out_channels == 4944 and steps[-1].out_channels == 1024
    assert sum(s.naive_macs for s in steps) > 8 * sum(s.macs for s in steps)


def test_the_head_costs_are_the_papers_and_the_built_classifiers() -> None:
    paper = head_costs(get_preset("paper"))
    assert (paper.channels, paper.side, paper.classes) == (1024, 7, 1000)
    assert paper.fc_weights + paper.biases == 50_177_000
    assert paper.gap_weights + paper.biases == 1_025_000
    config = dataclasses.replace(get_preset("mini"), num_classes=10)
    head = head_costs(config)
    fc = build_model(config).fc
    assert isinstance(fc, torch.nn.Linear)
    assert fc.weight.numel() + fc.bias.numel() == head.gap_weights + head.biases
    bigger = head_costs(dataclasses.replace(config, input_size=2 * config.input_size))
    assert bigger.gap_weights == head.gap_weights and bigger.fc_weights > head.fc_weights


def test_the_aux_heads_picture_hangs_each_head_under_its_block() -> None:
    config = get_preset("paper")
    fig = aux_heads_figure(config)
    labels = {a.text: a.x for a in fig.layout.annotations}
    blocks = ["stem", *(b.name.removeprefix("inception") for b in config.blocks), "main"]
    assert [t for t in labels if t in blocks] == blocks  # the trunk, in order
    assert labels["aux1"] == blocks.index("4a") < labels["aux2"] == blocks.index("4d")
    off = aux_heads_figure(dataclasses.replace(config, aux_logits=False))
    assert "aux1" not in {a.text for a in off.layout.annotations}


@pytest.mark.parametrize("preset", ["paper", "torchvision", "mini"])
def test_every_layers_numbers_give_its_output_by_the_formula(preset: str) -> None:
    """The calculator's formula against the real model's kernels, strides and paddings."""
    layers = layer_geometry(get_preset(preset))
    assert len(layers) > 60
    for layer in layers:
        got = conv_out(layer.in_side, layer.kernel, layer.stride, layer.padding, layer.ceil_mode)
        assert got == layer.out_side, layer
    pools = {g.name: g for g in layers if g.kind == "maxpool"}
    assert pools["maxpool1"].ceil_mode or preset == "mini"
