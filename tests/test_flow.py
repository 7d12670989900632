"""Gradient flow: the norm each weighted loss sends to each trunk stage, checked by hand."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from googlenet_core import build_model, get_preset
from googlenet_core.data.digits import load_digits
from googlenet_core.data.transforms import convert_channels, to_unit
from googlenet_core.network.costs import flow_batch, flow_bytes
from googlenet_core.service.budgets import FLOW_MAX_BYTES
from googlenet_core.training.flow import gradient_flow


def test_each_aux_loss_reaches_only_the_stages_before_its_head() -> None:
    config = get_preset("mini")
    rows = gradient_flow(config)
    stages = [r.stage for r in rows]
    model = build_model(config)
    assert stages == [s for s in model.trunk_names if list(getattr(model, s).parameters())]
    heads = {h.name: stages.index(h.after) for h in config.active_aux_heads}
    for i, row in enumerate(rows):
        assert row.main > 0
        assert (row.aux1 > 0) == (i <= heads["aux1"]), row
        assert (row.aux2 > 0) == (i <= heads["aux2"]), row
        if i > heads["aux2"]:
            assert row.total == row.main


def test_weights_zero_leave_only_the_main_loss_and_the_total_matches_autograd() -> None:
    config = get_preset("mini")
    silent = gradient_flow(config, w1=0.0, w2=0.0)
    assert all(r.aux1 == r.aux2 == 0 and r.total == r.main and r.gain == 1 for r in silent)
    rows = gradient_flow(config, w1=0.3, w2=0.3)
    assert rows == gradient_flow(config, w1=0.3, w2=0.3)  # same seed, same numbers
    # The total, by a plain backward of the summed loss on the same batch and weights.
    images, labels = load_digits()
    picks = [int((labels == d % 10).nonzero()[0][d // 10]) for d in range(8)]
    x = to_unit(convert_channels(torch.from_numpy(images[picks].copy()).unsqueeze(1), 1), 32)
    target = torch.as_tensor(labels[picks]) % config.num_classes
    model = build_model(config, seed=0).train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        heads = model.forward_heads(x)
    loss = sum(
        w * F.cross_entropy(logits, target)
        for logits, w in ((heads.logits, 1.0), (heads.aux1, 0.3), (heads.aux2, 0.3))
    )
    loss.backward()
    for row in rows:
        grads = [p.grad.flatten() for p in getattr(model, row.stage).parameters()]
        expected = float(torch.cat(grads).norm())
        assert abs(row.total - expected) <= 1e-4 * expected, row


def test_the_batch_follows_the_memory_the_server_allows() -> None:
    assert flow_batch(get_preset("mini"), FLOW_MAX_BYTES) == 8
    assert (
        flow_batch(get_preset("paper"), FLOW_MAX_BYTES) == 2
    )  # 224 px: 8 images would add ~440 MB
    big = dataclasses.replace(get_preset("paper"), input_size=448)
    with pytest.raises(ValueError, match="the Train page measures the same gradients"):
        flow_batch(big, FLOW_MAX_BYTES)
    assert flow_bytes(get_preset("paper"), 8) > 4 * flow_bytes(get_preset("mini"), 8)


def test_a_single_class_has_no_gradient_and_no_infinite_gain() -> None:
    rows = gradient_flow(dataclasses.replace(get_preset("mini"), num_classes=1))
    assert all(r.main == r.total == 0 and r.gain == 1 for r in rows)
