"""The built model: torchvision-exact, one return type, heads in structural order."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import torchvision
from torch import nn

from googlenet_core import Heads, analyze, build_model, get_preset
from googlenet_core.training.loss import LossBreakdown, aux_loss


@pytest.fixture(scope="module")
def torchvision_pair(torchvision_googlenet) -> tuple[nn.Module, nn.Module]:
    # Ours on the meta device: every weight comes from torchvision's, so none is initialised.
    with torch.device("meta"):
        ours = build_model(get_preset("torchvision"))
    return torchvision_googlenet, ours


def test_torchvision_state_dict_loads_strictly_with_identical_keys(torchvision_pair) -> None:
    reference, ours = torchvision_pair
    theirs = reference.state_dict()
    assert list(theirs) == list(ours.state_dict())  # same keys, same order
    for key, tensor in ours.state_dict().items():
        assert tensor.shape == theirs[key].shape, key
    result = ours.load_state_dict(theirs, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_torchvision_outputs_are_identical(torchvision_pair) -> None:
    reference, ours = torchvision_pair
    # Copies: training mode below updates BN statistics, and the reference is shared.
    reference = copy.deepcopy(reference).eval()
    ours.load_state_dict(copy.deepcopy(reference.state_dict()), strict=True, assign=True)
    ours.eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=1e-6)
    # In training mode torchvision returns (logits, aux_logits2, aux_logits1): the later
    # head first. Ours names them by position. Same seed -> same dropout masks.
    reference.train()
    ours.train()
    with torch.no_grad():
        torch.manual_seed(1)
        theirs = reference(x)
        torch.manual_seed(1)
        heads = ours.forward_heads(x)
    torch.testing.assert_close(heads.logits, theirs.logits, rtol=0, atol=1e-5)
    assert heads.aux1 is not None and heads.aux2 is not None
    torch.testing.assert_close(heads.aux1, theirs.aux_logits1, rtol=0, atol=1e-5)
    torch.testing.assert_close(heads.aux2, theirs.aux_logits2, rtol=0, atol=1e-5)


def test_parameter_counts_of_torchvision() -> None:
    result = analyze(get_preset("torchvision"))
    assert result.params_without_aux == 6_624_904
    assert result.total_params == 13_004_888
    assert result.macs_without_aux == pytest.approx(1.498e9, rel=1e-3)
    no_aux = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
    assert sum(p.numel() for p in no_aux.parameters()) == 6_624_904


@pytest.mark.parametrize("name", ["paper", "torchvision", "mini"])
def test_heads_are_in_structural_order(name: str) -> None:
    """aux1 reads the block nearer the input (4a), aux2 the later one (4d).

    Proved by recomputing each head from the captured block outputs.
    """
    config = get_preset(name)
    model = build_model(config)
    captured: dict[str, torch.Tensor] = {}
    for head in config.aux_heads:
        block = model.get_submodule(head.after)
        block.register_forward_hook(
            lambda _m, _i, out, after=head.after: captured.__setitem__(after, out)
        )
    model.eval()  # dropout off so the recomputation is exact
    side = config.input_size
    with torch.no_grad():
        heads = model.forward_heads(torch.randn(2, config.in_channels, side, side))
        assert isinstance(heads, Heads)
        first, second = config.aux_heads
        assert [first.after, second.after] == ["inception4a", "inception4d"]
        torch.testing.assert_close(heads.aux1, model.aux1(captured["inception4a"]))
        torch.testing.assert_close(heads.aux2, model.aux2(captured["inception4d"]))
        # Untrained heads answer near 0 (their fc2 starts at std 0.01): compare relatively.
        assert not torch.allclose(heads.aux1, heads.aux2, atol=0)


@pytest.mark.parametrize("train_mode", [True, False])
def test_one_return_type_in_every_mode(train_mode: bool) -> None:
    config = get_preset("mini")
    model = build_model(config).train(train_mode)
    x = torch.randn(3, 1, 32, 32)
    out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (3, 10)
    heads = model.forward_heads(x)
    assert heads.aux1 is not None and heads.aux1.shape == (3, 10)
    without = build_model(dataclasses.replace(config, aux_logits=False)).train(train_mode)
    assert without.forward_heads(x).aux1 is None and without.forward_heads(x).aux2 is None
    assert not any(name.startswith("aux") for name, _ in without.named_parameters())


def test_paper_preset_is_the_2014_network() -> None:
    model = build_model(get_preset("paper"))
    branch3 = model.get_submodule("inception3a.branch3.1.conv")
    assert isinstance(branch3, nn.Conv2d) and branch3.kernel_size == (5, 5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model.get_submodule("conv1.conv").bias is not None
    assert model.dropout.p == 0.4
    for pool in ("maxpool1", "maxpool2", "maxpool3", "maxpool4"):
        assert model.get_submodule(pool).kernel_size == 3
    # Section 5: 4x4x512 after the 5x5/3 pool on 4a, 4x4x528 on 4d -> 128 x 4 x 4 into fc1.
    assert model.aux1.fc1.in_features == 2048 and model.aux2.fc1.in_features == 2048
    assert model.aux1.dropout.p == 0.7


def test_mini_learns_a_fixed_batch_through_every_head() -> None:
    """A few steps of the paper's loss on one batch: every head's loss falls, every head learns."""
    torch.manual_seed(0)
    model = build_model(get_preset("mini")).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x, y = torch.randn(16, 1, 32, 32), torch.arange(16) % 10
    first: LossBreakdown | None = None
    for _ in range(15):
        loss = aux_loss(model.forward_heads(x), y, 0.3, 0.3)
        first = first or loss
        optimizer.zero_grad()
        loss.total.backward()
        optimizer.step()
    assert first.aux1 is not None and first.aux2 is not None
    assert loss.aux1 is not None and loss.aux2 is not None
    assert loss.main < 0.5 * first.main  # the main head memorises the batch
    # The aux heads learn too, more slowly behind their 70 % dropout (section 5).
    assert loss.aux1 < 0.75 * first.aux1 and loss.aux2 < 0.75 * first.aux2


def test_no_stage_can_take_a_name_the_model_itself_uses() -> None:
    """Every public attribute of the built model is a stage or a reserved name, so a design
    whose stage shadows one (``forward``, ``config``, ``training``) is refused when made."""
    from googlenet_core.network.config import reserved_names

    for preset in ("mini", "paper"):
        config = get_preset(preset)
        model = build_model(config)
        stages = {s.name for s in config.stages()}
        public = {n for n in dir(model) if not n.startswith("_")}
        assert public - stages - reserved_names() == set()
