"""The training engine: the loss formula, config validation, events, faults, reproducibility."""

from __future__ import annotations

import dataclasses
import json
import math
import threading

import pytest
import torch
from tiny import tiny_config, tiny_data, tiny_train_config

from googlenet_core import build_model, get_preset
from googlenet_core.data.digits import load_digits
from googlenet_core.data.transforms import to_unit
from googlenet_core.inference.checkpoints import load_checkpoint
from googlenet_core.network.costs import training_seconds
from googlenet_core.network.model import Heads
from googlenet_core.training import trainer as trainer_module
from googlenet_core.training.config import TrainConfig, check_compatible
from googlenet_core.training.distributed import (
    is_out_of_memory,
    resolve_device,
    resolve_precision,
)
from googlenet_core.training.estimate import probe_macs_per_s, time_estimate
from googlenet_core.training.events import (
    EndEvent,
    EpochEvent,
    Event,
    StartEvent,
    StepEvent,
    epochs_of,
    steps_of,
)
from googlenet_core.training.loss import aux_loss
from googlenet_core.training.measure import stage_names
from googlenet_core.training.plan import TrainPlan
from googlenet_core.training.runs import Run
from googlenet_core.training.train import train

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
    assert heads.aux1 is not None and heads.aux1.grad is None  # not in the graph at all
    assert heads.aux2 is not None and heads.aux2.grad is not None
    assert heads.logits.grad is not None


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
        ("aux_weight1", 1.5, "training: aux_weight1 must be between 0.0 and 1.0, got 1.5"),
        ("aux_weight2", -0.1, "aux_weight2 must be between"),
        ("batch_size", 0, "training: batch_size must be between 1 and 4096, got 0"),
        ("epochs", 2.5, "epochs must be a whole number between 1 and 1000, got 2.5"),
        ("lr", float("nan"), "lr must be a number between"),
        ("optimizer", "adam", "optimizer must be one of sgd, adamw, got 'adam'"),
        ("dataset", "imagenet", "dataset must be one of digits,"),
        ("device", "tpu", "device must be one of"),
        ("augment", "yes", "augment must be true or false, got 'yes'"),
        ("subset", 3, "subset must be between 8 and"),
    ],
)
def test_train_config_refuses_bad_values_with_a_sentence(field, value, words) -> None:
    with pytest.raises(ValueError) as info:
        TrainConfig(**{field: value})
    assert words in str(info.value)


def test_train_config_round_trips_json_and_refuses_unknown_keys() -> None:
    config = TrainConfig(aux_weight1=0.0, aux_weight2=0.5, epochs=4, subset=100)
    assert TrainConfig.from_json(config.to_json()) == config
    data = json.loads(config.to_json())
    data["momentun"] = 0.9
    with pytest.raises(ValueError, match="training: unknown key.*momentun"):
        TrainConfig.from_dict(data)
    with pytest.raises(ValueError, match="not valid JSON"):
        TrainConfig.from_json("{")
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


def test_stage_names_are_the_stem_blocks_and_heads() -> None:
    names = stage_names(build_model(get_preset("mini")))
    assert names[0] == "conv1" and "inception3a" in names and names[-1] == "fc"
    assert {"aux1", "aux2"} <= set(names) and "maxpool1" not in names


# ---- a run ---------------------------------------------------------------------------------


def test_a_tiny_run_emits_every_documented_field(tmp_path) -> None:
    events: list[Event] = []
    run = Run.create(tiny_config(), tiny_train_config(epochs=2), tmp_path)
    result = train(
        tiny_config(), tiny_train_config(epochs=2), data=tiny_data(), callbacks=[events.append],
        run=run,
    )  # fmt: skip
    assert result.status == "completed", result.message
    assert isinstance(events[0], StartEvent) and isinstance(events[-1], EndEvent)
    assert len(epochs_of(events)) == 2
    start = events[0]
    assert [(h.name, h.after, h.weight, h.in_loss) for h in start.aux_heads] == [
        ("aux1", "inception3a", 0.3, True),
        ("aux2", "inception4a", 0.3, True),
    ]
    assert start.train_images == 64 and start.val_images == 64
    assert start.model_config == tiny_config() and start.train_config == tiny_train_config(epochs=2)
    step = steps_of(events)[0]
    assert step.loss_aux1 is not None and step.loss_aux2 is not None
    assert step.images_per_s > 0 and step.lr > 0
    assert math.isclose(
        step.loss, step.loss_main + 0.3 * step.loss_aux1 + 0.3 * step.loss_aux2, rel_tol=1e-4
    )
    epoch = epochs_of(events)[0]
    assert [s.head for s in epoch.val] == ["main", "aux1", "aux2"]
    for score in epoch.val:
        assert 0.0 <= score.acc <= 1.0 and score.loss > 0, score
    assert epoch.val_acc == epoch.val[0].acc and epoch.best_val_acc >= epoch.val_acc
    assert list(epoch.grad_norms) == stage_names(build_model(tiny_config()))
    assert all(v > 0 for v in epoch.grad_norms.values())
    assert run.status().status == "completed"
    assert run.checkpoint("best") is not None and run.checkpoint("last") is not None
    assert run.events() == events  # the record is exactly what the callbacks saw


def test_zero_aux_weights_leave_the_heads_out_but_still_measure_them() -> None:
    events: list[Event] = []
    config = tiny_train_config(aux_weight1=0.0, aux_weight2=0.0)
    result = train(tiny_config(), config, data=tiny_data(), callbacks=[events.append])
    assert result.status == "completed"
    start = events[0]
    assert isinstance(start, StartEvent)
    assert [h.in_loss for h in start.aux_heads] == [False, False]
    step = steps_of(events)[0]
    assert step.loss_aux1 is None and step.loss_aux2 is None
    assert step.loss == pytest.approx(step.loss_main)
    epoch = epochs_of(events)[0]
    assert epoch.grad_norms["aux1"] == 0 and epoch.grad_norms["aux2"] == 0
    aux1 = epoch.score("aux1")
    assert aux1 is not None and 0.0 <= aux1.acc <= 0.5  # measured, though untrained


def test_same_seed_same_losses_on_cpu() -> None:
    def losses(seed: int) -> list[float]:
        events: list[Event] = []
        train(
            tiny_config(), tiny_train_config(seed=seed), data=tiny_data(),
            callbacks=[events.append],
        )  # fmt: skip
        return [e.loss for e in steps_of(events)]

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
    assert isinstance(run.events()[-1], EndEvent)


def test_non_finite_weights_from_a_finite_loss_are_never_saved(tmp_path, monkeypatch) -> None:
    """A step can turn the weights to NaN although the loss that produced it was finite."""
    built: list[torch.nn.Module] = []

    def keep(config, seed=None):  # the trainer's model, so the callback below can reach it
        built.append(build_model(config, seed=seed))
        return built[-1]

    def poison(event: Event) -> None:
        # Late in epoch 2, as a NaN gradient would: every loss so far was finite.
        if isinstance(event, StepEvent) and event.epoch == 2:
            with torch.no_grad():
                next(built[0].parameters()).fill_(float("nan"))

    monkeypatch.setattr(trainer_module, "build_model", keep)
    config = tiny_train_config(epochs=2, log_every=4)  # one step event, the epoch's last
    run = Run.create(tiny_config(), config, tmp_path)
    result = train(tiny_config(), config, data=tiny_data(), run=run, callbacks=[poison])
    assert result.status == "diverged", result.message
    assert "weights became non-finite" in result.message and result.epochs_completed == 1
    last = run.checkpoint("last")
    assert last is not None and load_checkpoint(last).metrics["epoch"] == 1  # epoch 1's weights


def test_cancel_stops_within_one_batch(tmp_path) -> None:
    stop = threading.Event()
    steps: list[int] = []

    def on_event(event: Event) -> None:
        if isinstance(event, StepEvent):
            steps.append(event.step)
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


def test_a_network_whose_outputs_do_not_match_the_classes_is_refused() -> None:
    """The plan settles the outputs before a run; the trainer never changes them silently."""
    result = train(tiny_config(num_classes=3), tiny_train_config(), data=tiny_data())
    assert result.status == "failed"
    assert "3 outputs for 10 classes" in result.message and "plan_training" in result.message


def test_estimate_is_macs_over_the_probed_rate() -> None:
    rate = probe_macs_per_s(tiny_config(), TrainConfig(device="cpu"), min_seconds=0.1)
    assert rate > 0
    one = training_seconds(tiny_config(), 1, 1000, 200, rate)
    three = training_seconds(tiny_config(), 3, 1000, 200, rate)
    assert three == pytest.approx(3 * one)
    macs = 88_112  # analyze(tiny_config()).total_macs
    assert one == pytest.approx((3 * macs * 1000 + macs * 200) / rate, rel=1e-3)
    # A plan's estimate: its own images, or per 1,000 for an upload (counted once read).
    digits = TrainPlan(tiny_config(), TrainConfig(epochs=2, subset=100))
    estimate = time_estimate(digits, rate)
    assert estimate is not None and (estimate.train_images, estimate.val_images) == (100, 64)
    assert estimate.seconds == pytest.approx(training_seconds(tiny_config(), 2, 100, 64, rate))
    upload = time_estimate(TrainPlan(tiny_config(), TrainConfig(dataset="upload")), rate)
    assert upload is not None and upload.per_images and upload.train_images == 1000


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 9])
def test_one_cycle_schedule_handles_very_short_runs(steps) -> None:
    data = tiny_data(subset=16 * steps)
    config = tiny_train_config(subset=16 * steps, schedule="onecycle")
    events: list[Event] = []
    result = train(tiny_config(), config, data=data, callbacks=[events.append])
    assert result.status == "completed", result.message
    lrs = [e.lr for e in steps_of(events)]
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
        events: list[Event] = []
        train(tiny_config(), tiny_train_config(augment=True), data=data, callbacks=[events.append])
        return [e.loss for e in steps_of(events)]

    assert losses(native) == losses(resident)


def _native_like(split, images) -> torch.Tensor:
    """The 8x8 uint8 originals of the digits in ``split`` (found by their resized pixels)."""
    originals = torch.from_numpy(images.copy()).unsqueeze(1)
    resized = to_unit(originals, 16)
    flat = resized.flatten(1)
    picks = [int((flat == x.flatten()).all(dim=1).nonzero()[0]) for x in split.images]
    return originals[picks]


def test_history_holds_the_epoch_events() -> None:
    result = train(tiny_config(), tiny_train_config(epochs=2), data=tiny_data())
    assert [e.epoch for e in result.history] == [1, 2]
    assert all(isinstance(e, EpochEvent) for e in result.history)
    assert result.best_val_acc == max(e.val_acc for e in result.history)


def test_the_best_checkpoint_comes_with_a_model_card(tmp_path) -> None:
    events: list[Event] = []
    config = tiny_train_config(epochs=2, aux_weight2=0.0)
    run = Run.create(tiny_config(), config, tmp_path)
    result = train(tiny_config(), config, data=tiny_data(), callbacks=[events.append], run=run)
    assert result.status == "completed", result.message
    card = (run.path / "MODEL_CARD.md").read_text()
    best = next(e for e in epochs_of(events) if e.epoch == result.best_epoch)
    loaded = load_checkpoint(run.path / "best.pt")
    assert card.startswith(f"# Model card: {run.id}")
    assert f"| main | {best.val_acc:.2%} |" in card
    assert "auxiliary head after inception3a, loss weight 0.3" in card
    assert "auxiliary head after inception4a, not in the loss" in card
    assert f"Resize to {loaded.preprocessing.input_size} x {loaded.preprocessing.input_size}" in (
        card
    )
    assert "10 classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in card
    assert "## Intended use" in card and "UCI" in card  # the data's attribution travels along


def _tensorboard_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in a folder's event files, read from the TFRecord frames directly."""
    import struct

    from tensorboardX.proto.event_pb2 import Event as TBEvent

    found: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at : at + 8])
            record = TBEvent.FromString(data[at + 12 : at + 12 + length])
            at += 12 + length + 4  # length, its crc, the record, its crc
            for value in record.summary.value:
                found.setdefault(value.tag, []).append((record.step, value.simple_value))
    return found


def test_a_run_writes_its_curves_for_tensorboard(tmp_path) -> None:
    events: list[Event] = []
    run = Run.create(tiny_config(), tiny_train_config(epochs=2), tmp_path)
    result = train(
        tiny_config(), tiny_train_config(epochs=2), data=tiny_data(), callbacks=[events.append],
        run=run,
    )  # fmt: skip
    assert result.status == "completed", result.message
    scalars = _tensorboard_scalars(run.path)
    last = epochs_of(events)[-1]
    for head in ("main", "aux1", "aux2"):
        step, value = scalars[f"val_accuracy/{head}"][-1]
        score = last.score(head)
        assert score is not None and step == last.step
        assert math.isclose(value, score.acc, rel_tol=1e-6)
    assert {"loss/total", "loss/main", "loss/aux1", "train/lr", "grad_norm/conv1"} <= set(scalars)
    assert len(scalars["loss/total"]) == len(steps_of(events))
    assert run.summary().status == "completed"  # the event files do not disturb the store
