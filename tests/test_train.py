"""The training engine: the loss formula, config validation, events, faults, reproducibility."""

from __future__ import annotations

import dataclasses
import json
import math
import threading

import pytest
import torch

from googlenet_core import build_model, get_preset
from googlenet_core.config import AuxSpec, ConvSpec, GoogLeNetConfig, InceptionSpec, PoolSpec
from googlenet_core.data import load_dataset
from googlenet_core.digits import load_digits
from googlenet_core.model import Heads
from googlenet_core.runs import Run
from googlenet_core.train import (
    TrainConfig,
    aux_loss,
    check_compatible,
    estimate_seconds,
    is_out_of_memory,
    probe_macs_per_s,
    quick_recipe,
    resolve_device,
    resolve_precision,
    stage_names,
    train,
)

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def tiny_config(**changes) -> GoogLeNetConfig:
    """A three-block GoogLeNet with both aux heads, 16 px grayscale: ~5k parameters."""
    config = GoogLeNetConfig(
        stem=(ConvSpec("conv1", 8, 3, padding=1),),
        blocks=(
            InceptionSpec("inception3a", 4, 4, 8, 2, 4, 4),
            InceptionSpec("inception4a", 8, 4, 8, 2, 4, 4),
            InceptionSpec("inception5a", 8, 4, 8, 2, 4, 4),
        ),
        pools=(PoolSpec("maxpool1", after="conv1"), PoolSpec("maxpool3", after="inception3a")),
        aux_heads=(
            AuxSpec("aux1", "inception3a", "adaptive", 2, conv_channels=8, fc_channels=16),
            AuxSpec("aux2", "inception4a", "adaptive", 2, conv_channels=8, fc_channels=16),
        ),
        in_channels=1,
        input_size=16,
        num_classes=10,
    )
    return dataclasses.replace(config, **changes) if changes else config


def tiny_train_config(**changes) -> TrainConfig:
    base = dict(subset=64, batch_size=16, epochs=1, device="cpu", log_every=1, lr=0.01)
    base.update(changes)
    return TrainConfig(**base)


_DATA_CACHE: dict[tuple[int, int, int], object] = {}


def tiny_data(subset: int = 64, input_size: int = 16, in_channels: int = 1):
    key = (subset, input_size, in_channels)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load_dataset(
            "digits", input_size=input_size, in_channels=in_channels, subset=subset
        )
    return _DATA_CACHE[key]


# ---- the loss ------------------------------------------------------------------------------


def _heads(n: int = 6, classes: int = 4, seed: int = 0) -> tuple[Heads, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits, aux1, aux2 = (torch.randn(n, classes, generator=g, requires_grad=True) for _ in "abc")
    target = torch.randint(0, classes, (n,), generator=g)
    return Heads(logits, aux1, aux2), target


def test_aux_loss_is_the_papers_weighted_sum() -> None:
    heads, target = _heads()
    out = aux_loss(heads, target, 0.3, 0.7)
    ce = torch.nn.functional.cross_entropy
    assert torch.allclose(out.main, ce(heads.logits, target))
    assert out.aux1 is not None and torch.allclose(out.aux1, ce(heads.aux1, target))
    assert out.aux2 is not None and torch.allclose(out.aux2, ce(heads.aux2, target))
    assert torch.allclose(out.total, out.main + 0.3 * out.aux1 + 0.7 * out.aux2)


def test_aux_loss_skips_a_zero_weight_head_entirely() -> None:
    heads, target = _heads()
    out = aux_loss(heads, target, 0.0, 0.3)
    assert out.aux1 is None and out.aux2 is not None
    out.total.backward()
    assert heads.aux1.grad is None  # not in the graph at all
    assert heads.aux2.grad is not None and heads.logits.grad is not None


def test_aux_loss_without_aux_heads_is_the_main_loss() -> None:
    heads, target = _heads()
    main_only = Heads(heads.logits, None, None)
    out = aux_loss(main_only, target, 0.3, 0.3)
    assert out.aux1 is None and out.aux2 is None
    assert torch.equal(out.total, out.main)
    both_zero = aux_loss(heads, target, 0.0, 0.0)
    assert torch.equal(both_zero.total, both_zero.main)


# ---- configs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("aux_weight1", 1.5, "aux_weight1 must be a number from 0 to 1"),
        ("aux_weight2", -0.1, "aux_weight2"),
        ("batch_size", 0, "batch_size must be a whole number from 1"),
        ("epochs", 2.5, "epochs"),
        ("lr", float("nan"), "lr"),
        ("optimizer", "adam", "optimizer must be one of sgd, adamw"),
        ("dataset", "imagenet", "dataset must be one of"),
        ("device", "tpu", "device"),
        ("augment", "yes", "augment must be true or false"),
        ("subset", 3, "subset"),
    ],
)
def test_train_config_refuses_bad_values_with_a_sentence(field, value, words) -> None:
    with pytest.raises(ValueError, match=words):
        TrainConfig(**{field: value})


def test_train_config_round_trips_json_and_refuses_unknown_keys() -> None:
    config = TrainConfig(aux_weight1=0.0, aux_weight2=0.5, epochs=4, subset=100)
    assert TrainConfig.from_json(config.to_json()) == config
    data = json.loads(config.to_json())
    data["momentun"] = 0.9
    with pytest.raises(ValueError, match="unknown key"):
        TrainConfig.from_dict(data)
    with pytest.raises(ValueError, match="needs data_path"):
        TrainConfig(dataset="folder")


def test_batch_size_one_with_batchnorm_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="batch size 1 cannot train a network with BatchNorm"):
        check_compatible(tiny_config(), TrainConfig(batch_size=1))
    check_compatible(tiny_config(batch_norm=False), TrainConfig(batch_size=1))  # no BN: fine
    result = train(tiny_config(), tiny_train_config(batch_size=1), data=tiny_data())
    assert result.status == "failed" and "batch size 1" in result.message


def test_an_input_too_small_for_the_network_is_refused_by_validation() -> None:
    with pytest.raises(ValueError, match="input_size 6 is too small.*smallest input"):
        tiny_config(input_size=6)


def test_device_and_precision_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(ValueError, match="no usable CUDA GPU"):
            resolve_device("cuda")
    assert resolve_precision("auto", torch.device("cpu")) is None  # fp32 on the CPU
    assert resolve_precision("bf16", torch.device("cpu")) == torch.bfloat16


def test_quick_recipe_is_tuned_for_mini_on_digits() -> None:
    recipe = quick_recipe("mini", "digits")
    TrainConfig(**recipe)  # a valid config
    assert recipe != quick_recipe("torchvision", "cifar10")


def test_stage_names_are_the_stem_blocks_and_heads() -> None:
    names = stage_names(build_model(get_preset("mini")))
    assert names[0] == "conv1" and "inception3a" in names and names[-1] == "fc"
    assert {"aux1", "aux2"} <= set(names) and "maxpool1" not in names


# ---- a run ---------------------------------------------------------------------------------


def test_a_tiny_run_emits_every_documented_field(tmp_path) -> None:
    events: list[dict] = []
    run = Run.create(tiny_config(), tiny_train_config(epochs=2), tmp_path)
    result = train(
        tiny_config(), tiny_train_config(epochs=2), data=tiny_data(), callbacks=[events.append],
        run=run,
    )  # fmt: skip
    assert result.status == "completed", result.message
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 2
    start = events[0]
    assert start["aux_in_loss"] == {"aux1": True, "aux2": True}
    assert start["train_images"] == 64 and start["val_images"] == 64
    step = next(e for e in events if e["type"] == "step")
    for key in ("step", "epoch", "loss", "loss_main", "loss_aux1", "loss_aux2", "lr"):
        assert isinstance(step[key], (int, float)), key
    assert step["images_per_s"] > 0
    assert math.isclose(
        step["loss"], step["loss_main"] + 0.3 * step["loss_aux1"] + 0.3 * step["loss_aux2"],
        rel_tol=1e-4,
    )  # fmt: skip
    epoch = next(e for e in events if e["type"] == "epoch")
    for key in ("val_loss", "val_acc", "val_loss_aux1", "val_acc_aux1", "val_acc_aux2"):
        assert 0 <= epoch[key] <= 100, key
    assert list(epoch["grad_norms"]) == stage_names(build_model(tiny_config()))
    assert all(v > 0 for v in epoch["grad_norms"].values())
    assert run.status().status == "completed"
    assert run.checkpoint("best") is not None and run.checkpoint("last") is not None
    assert [e["type"] for e in run.events()] == [e for e in kinds if e != "download"]


def test_zero_aux_weights_leave_the_heads_out_but_still_measure_them() -> None:
    events: list[dict] = []
    config = tiny_train_config(aux_weight1=0.0, aux_weight2=0.0)
    result = train(tiny_config(), config, data=tiny_data(), callbacks=[events.append])
    assert result.status == "completed"
    start = events[0]
    assert start["aux_in_loss"] == {"aux1": False, "aux2": False}
    step = next(e for e in events if e["type"] == "step")
    assert step["loss_aux1"] is None and step["loss_aux2"] is None
    assert step["loss"] == pytest.approx(step["loss_main"])
    epoch = next(e for e in events if e["type"] == "epoch")
    assert epoch["grad_norms"]["aux1"] == 0 and epoch["grad_norms"]["aux2"] == 0
    assert epoch["val_acc_aux1"] is not None  # measured, though the head is untrained


def test_same_seed_same_losses_on_cpu() -> None:
    def losses(seed: int) -> list[float]:
        events: list[dict] = []
        train(
            tiny_config(), tiny_train_config(seed=seed), data=tiny_data(),
            callbacks=[events.append],
        )  # fmt: skip
        return [e["loss"] for e in events if e["type"] == "step"]

    first, again, other = losses(7), losses(7), losses(8)
    assert len(first) == 4
    assert first == again
    assert first != other


def test_divergence_is_an_outcome_and_writes_no_bad_checkpoint(tmp_path) -> None:
    config = tiny_train_config(lr=1e6, optimizer="sgd", schedule="constant", epochs=2)
    run = Run.create(tiny_config(), config, tmp_path)
    result = train(tiny_config(), config, data=tiny_data(), run=run)
    assert result.status == "diverged"
    assert "learning rate 1e+06 is probably too high" in result.message
    assert run.status().status == "diverged"
    assert run.checkpoint("last") is None  # the non-finite model was never saved
    assert run.events()[-1]["type"] == "end"


def test_cancel_stops_within_one_batch(tmp_path) -> None:
    stop = threading.Event()
    steps: list[int] = []

    def on_event(event: dict) -> None:
        if event["type"] == "step":
            steps.append(event["step"])
            stop.set()  # as a Cancel button would, from another thread

    run = Run.create(tiny_config(), tiny_train_config(epochs=3), tmp_path)
    result = train(
        tiny_config(), tiny_train_config(epochs=3), data=tiny_data(), callbacks=[on_event],
        stop=stop, run=run,
    )  # fmt: skip
    assert result.status == "cancelled"
    assert steps == [1] and result.steps == 1
    assert run.status().status == "cancelled"


def test_out_of_memory_errors_are_recognised() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    cpu = "DefaultCPUAllocator: can't allocate memory: you tried to allocate 10 bytes"
    assert is_out_of_memory(RuntimeError(cpu))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_a_dataset_that_cannot_be_read_fails_with_its_message(tmp_path) -> None:
    config = TrainConfig(dataset="folder", data_path=str(tmp_path / "missing"), device="cpu")
    result = train(tiny_config(), config)
    assert result.status == "failed" and "is not a folder" in result.message


def test_the_classifier_follows_the_data_sets_classes() -> None:
    events: list[dict] = []
    result = train(
        tiny_config(num_classes=3), tiny_train_config(), data=tiny_data(),
        callbacks=[events.append],
    )  # fmt: skip
    assert result.status == "completed"
    assert any("set to the data set's 10 classes" in e.get("message", "") for e in events)


def test_estimate_is_macs_over_the_probed_rate() -> None:
    rate = probe_macs_per_s(tiny_config(), TrainConfig(device="cpu"))
    assert rate > 0
    one = estimate_seconds(tiny_config(), TrainConfig(epochs=1), rate, 1000, 200)
    three = estimate_seconds(tiny_config(), TrainConfig(epochs=3), rate, 1000, 200)
    assert three == pytest.approx(3 * one)
    macs = 88_112  # analyze(tiny_config()).total_macs
    assert one == pytest.approx((3 * macs * 1000 + macs * 200) / rate, rel=1e-3)


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 9])
def test_one_cycle_schedule_handles_very_short_runs(steps) -> None:
    data = tiny_data(subset=16 * steps)
    config = tiny_train_config(subset=16 * steps, schedule="onecycle")
    events: list[dict] = []
    result = train(tiny_config(), config, data=data, callbacks=[events.append])
    assert result.status == "completed", result.message
    lrs = [e["lr"] for e in events if e["type"] == "step"]
    assert len(lrs) == steps and all(0 < lr <= config.lr for lr in lrs)


def test_a_set_kept_at_native_size_trains_exactly_like_a_resized_one() -> None:
    """Large sets stay uint8 at their own size and are resized per batch: same numbers."""
    resident = tiny_data()
    assert resident.train.images.dtype == torch.float32  # resized once, at 16 px
    images, _ = load_digits()
    native = dataclasses.replace(
        resident,
        train=dataclasses.replace(resident.train, images=_native_like(resident.train, images)),
        val=dataclasses.replace(resident.val, images=_native_like(resident.val, images)),
    )
    assert native.train.images.dtype == torch.uint8 and native.train.images.shape[-1] == 8

    def losses(data) -> list[float]:
        events: list[dict] = []
        train(tiny_config(), tiny_train_config(augment=True), data=data, callbacks=[events.append])
        return [e["loss"] for e in events if e["type"] == "step"]

    assert losses(native) == losses(resident)


def _native_like(split, images) -> torch.Tensor:
    """The 8x8 uint8 originals of the digits in ``split`` (found by their resized pixels)."""
    from googlenet_core.data import to_unit

    originals = torch.from_numpy(images.copy()).unsqueeze(1)
    resized = to_unit(originals, 16)
    flat = resized.flatten(1)
    picks = [int((flat == x.flatten()).all(dim=1).nonzero()[0]) for x in split.images]
    return originals[picks]
