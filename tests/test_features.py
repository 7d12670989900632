"""Features of frozen stages computed once: exact, stored by content, bounded, counted.

Real runs on the bundled digits; the store is a real folder of ``torch.save`` files."""

from __future__ import annotations

import dataclasses
import json
import os
import threading

import pytest
import torch
from tiny import tiny_config, tiny_data, tiny_train_config, trained_tiny_run

from googlenet_core.data.batches import ImageSet
from googlenet_core.network.analysis import analyze
from googlenet_core.network.model import build_model
from googlenet_core.network.presets import get_preset
from googlenet_core.service.budgets import run_memory
from googlenet_core.training import features as features_module
from googlenet_core.training.confusion import CONFUSION, PER_CELL, read_confusion
from googlenet_core.training.distributed import Distributed
from googlenet_core.training.events import NoteEvent
from googlenet_core.training.features import (
    FeatureStore,
    extract,
    image_bytes,
    image_keys,
    prefix_key,
)
from googlenet_core.training.runs import Run
from googlenet_core.training.train import train
from googlenet_core.training.trainer import Trainer
from googlenet_core.training.transfer import trunk_stages


@pytest.fixture(scope="module")
def start(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A tiny network trained on the digits: the weights the transfer runs start from."""
    return trained_tiny_run(tmp_path_factory.mktemp("runs"))


@pytest.mark.parametrize("preset", ["mini", "torchvision", "paper"])
def test_the_network_cut_in_two_gives_exactly_the_whole_network(preset: str) -> None:
    config = get_preset(preset)
    if config.input_size > 96:
        config = dataclasses.replace(config, input_size=96)
    model = build_model(config, seed=0).eval()
    side = config.input_size
    x = torch.randn(3, config.in_channels, side, side, generator=torch.Generator().manual_seed(1))
    stages = trunk_stages(model)
    with torch.no_grad():
        whole = model.forward_heads(x)
        for frozen in (stages[:1], stages[:4], stages):
            stop = model.prefix_stop(frozen)
            # The weightless max pool right after the cut is computed once too.
            assert stop == len(model.trunk_names) or model.trunk_names[stop] in stages
            front = model.forward_prefix(x, stop)
            assert sum(t[0].numel() * 4 for t in front.values()) == image_bytes(config, stop)
            for head, part in zip(whole, model.forward_rest(front, stop, True), strict=True):
                assert head is not None and part is not None
                assert torch.equal(head, part)
            main = model.forward_rest(front, stop, False)
            assert main.aux1 is None and torch.equal(main.logits, whole.logits)


def _trainer(config, train_config, data, **kwargs) -> tuple[Trainer, list]:
    events: list = []
    trainer = Trainer(
        config,
        train_config,
        data,
        device=torch.device("cpu"),
        dist=Distributed(),
        emit=events.append,
        **kwargs,
    )
    return trainer, events


def _notes(events) -> str:
    return " | ".join(e.message for e in events if isinstance(e, NoteEvent))


@pytest.mark.parametrize("freeze", ["trunk", "inception3a"])
def test_a_run_on_cached_features_learns_what_the_whole_network_would(start, freeze) -> None:
    """Same start, same batches: computing the frozen stages once changes no result beyond
    float rounding, whether the whole trunk or only its first stages are frozen."""
    config = tiny_config()
    train_config = tiny_train_config(
        init=str(start.path), freeze=freeze, augment=False, epochs=2, lr=0.01
    )
    data = tiny_data()
    cached, events = _trainer(config, train_config, data)
    a = cached.fit()  # each trainer seeds torch's generator (dropout) when it is made
    every_step, _ = _trainer(config, train_config, data, cache_features=False)
    b = every_step.fit()
    assert cached.tables is not None and every_step.tables is None
    assert "computed once for 128 images" in _notes(events)
    assert a.best_val_acc == pytest.approx(b.best_val_acc, abs=1 / 64)
    for key, tensor in cached.model.state_dict().items():
        torch.testing.assert_close(tensor, every_step.model.state_dict()[key], atol=2e-3, rtol=1e-3)


def test_a_second_run_reads_the_features_and_computes_only_new_images(start, tmp_path) -> None:
    config, data = tiny_config(), tiny_data()
    train_config = tiny_train_config(init=str(start.path), freeze="trunk", augment=False)
    first, events = _trainer(config, train_config, data, feature_dir=tmp_path)
    first.fit()
    assert first.extraction is not None
    assert [e.from_store for e in first.extraction] == [0, 0]
    files = list(tmp_path.glob("*/*.pt"))
    assert len(files) == 2  # the training split's rows, the validation split's
    second, events = _trainer(config, train_config, data, feature_dir=tmp_path)
    second.fit()
    assert second.extraction is not None
    assert [e.from_store for e in second.extraction] == [64, 64]
    assert "(128 read from the cache)" in _notes(events)
    for name, table in second.tables[0].tensors.items():
        torch.testing.assert_close(table, first.tables[0].tensors[name])
    # Eight more images: only they are computed, and stored in a file of their own.
    more = tiny_data(subset=72)
    model, key = second.model, _key(second)
    store = FeatureStore(tmp_path)
    table, done = extract(
        model, more.train, more.preprocessing, second.cut, device=torch.device("cpu"),
        store=store, key=key,
    )  # fmt: skip
    assert (done.images, done.from_store) == (72, 64)
    assert len(list(tmp_path.glob("*/*.pt"))) == 3
    torch.testing.assert_close(table.tensors["x"][:64], first.tables[0].tensors["x"])


def _key(trainer: Trainer) -> str:
    return prefix_key(trainer.model, trainer.cut, trainer.preprocessing, trainer.device, "fp32")


def test_features_are_keyed_by_weights_preprocessing_and_content(start) -> None:
    model = build_model(tiny_config(), seed=0)
    data = tiny_data()
    stop = model.prefix_stop(("conv1",))
    cpu = torch.device("cpu")
    key = prefix_key(model, stop, data.preprocessing, cpu, "fp32")
    other = dataclasses.replace(data.preprocessing, mean=(0.5,))
    assert prefix_key(model, stop, other, cpu, "fp32") != key
    assert prefix_key(model, stop + 2, data.preprocessing, cpu, "fp32") != key
    with torch.no_grad():
        model.conv1.conv.weight[0, 0, 0, 0] += 1e-3  # one weight in front of the cut
    assert prefix_key(model, stop, data.preprocessing, cpu, "fp32") != key
    with torch.no_grad():
        model.fc.weight += 1  # a weight behind it: the features do not change
    keys = image_keys(data.train.images[:4])
    assert len(set(keys)) == 4
    changed = data.train.images[:4].clone()
    changed[2, 0, 5, 5] += 1 / 255
    assert image_keys(changed)[2] != keys[2] and image_keys(changed)[:2] == keys[:2]


def test_the_store_keeps_its_limit_and_ignores_a_damaged_file(tmp_path) -> None:
    store = FeatureStore(tmp_path, limit=15_000)
    rows = {"x": torch.zeros(8, 256)}  # 8 KB
    store.write("a" * 32, [f"{i}" for i in range(8)], rows)
    first = next(tmp_path.glob("*/*.pt"))
    os.utime(first, (1, 1))  # long unused
    store.write("b" * 32, [f"{i}" for i in range(8, 16)], rows)
    assert not first.exists() and store.size() <= 15_000
    assert set(store.read("b" * 32, {"8", "9"})) == {"8", "9"}
    damaged = next(tmp_path.glob("*/*.pt"))
    damaged.write_bytes(b"not a torch file")
    assert store.read("b" * 32, {"8"}) == {}
    assert not damaged.exists()  # removed: the next run recomputes and stores again


def test_augmentation_runs_the_frozen_stages_every_step_and_says_so(start) -> None:
    train_config = tiny_train_config(init=str(start.path), freeze="trunk", augment=True)
    trainer, events = _trainer(tiny_config(), train_config, tiny_data())
    assert trainer.fit().status == "completed"
    assert trainer.tables is None
    assert "Augmentation changes every image on every step" in _notes(events)


def test_features_over_the_memory_bound_are_not_kept(start, monkeypatch) -> None:
    monkeypatch.setattr("googlenet_core.training.features.MEMORY_BYTES", 1000)
    train_config = tiny_train_config(init=str(start.path), freeze="trunk", augment=False)
    trainer, events = _trainer(tiny_config(), train_config, tiny_data())
    assert trainer.fit().status == "completed"
    assert trainer.tables is None
    assert "kept in memory, so the frozen stages run on every step" in _notes(events)


def test_the_memory_check_counts_the_features_and_not_the_frozen_training() -> None:
    config = dataclasses.replace(get_preset("torchvision"), num_classes=5)
    base = dict(dataset="upload", batch_size=32)
    scratch = run_memory(config, tiny_train_config(**base), process=0, images=150)
    frozen_config = tiny_train_config(**base, init="weights.pth", freeze="trunk", augment=False)
    frozen = run_memory(config, frozen_config, process=0, images=150)
    per_image = features_module.image_bytes(config, len(build_model_meta(config)))
    with_images = scratch.data + 150 * per_image
    assert frozen.data == with_images  # the features, held for the run
    assert frozen.activations < scratch.activations / 3  # no backward through the trunk
    heads = sum(r.params for r in analyze(config).rows if r.name in ("aux1", "aux2", "fc"))
    assert frozen.gradients == 4 * heads < scratch.gradients / 2  # only the heads train


def build_model_meta(config):
    with torch.device("meta"):
        return build_model(config).trunk_names


def test_the_best_epoch_writes_its_confusion_matrix_with_thumbnails(start, tmp_path) -> None:
    config = tiny_config()
    train_config = tiny_train_config(init=str(start.path), freeze="trunk", augment=False)
    run = Run.create(config, train_config, tmp_path)
    result = train(config, train_config, data=tiny_data(), run=run)
    assert result.status == "completed", result.message
    confusion = read_confusion(run.path)
    assert confusion is not None
    assert sum(map(sum, confusion.matrix)) == len(tiny_data().val)
    right = sum(confusion.matrix[i][i] for i in range(10))
    assert right / len(tiny_data().val) == pytest.approx(result.best_val_acc)
    wrong = len(tiny_data().val) - right
    assert 0 < len(confusion.mistakes) <= wrong
    for mistake in confusion.mistakes:
        assert mistake.true != mistake.predicted and mistake.file is not None
        assert mistake.file.read_bytes().startswith(b"\x89PNG")
        assert len(confusion.cell(mistake.true, mistake.predicted)) <= PER_CELL
    # A crafted record cannot point the page at a file outside the run's errors folder.
    record = json.loads((run.path / CONFUSION).read_text())
    record["errors"][0]["file"] = "../../../etc/passwd"
    (run.path / CONFUSION).write_text(json.dumps(record))
    assert read_confusion(run.path).mistakes[0].file is None


def test_a_split_of_new_images_reads_nothing_stored_under_other_weights(tmp_path) -> None:
    model = build_model(tiny_config(), seed=0)
    data = tiny_data()
    split = ImageSet(data.train.images[:8], data.train.labels[:8])
    store = FeatureStore(tmp_path)
    cpu = torch.device("cpu")
    stop = model.prefix_stop(("conv1", "inception3a"))
    key = prefix_key(model, stop, data.preprocessing, cpu, "fp32")
    extract(model, split, data.preprocessing, stop, device=cpu, store=store, key=key)
    other = build_model(tiny_config(), seed=1)
    other_key = prefix_key(other, stop, data.preprocessing, cpu, "fp32")
    _, done = extract(
        other, split, data.preprocessing, stop, device=cpu, store=store, key=other_key
    )
    assert done.from_store == 0


def test_the_time_estimate_counts_frozen_stages_forward_only_and_once() -> None:
    from googlenet_core.network.costs import training_seconds

    config = dataclasses.replace(get_preset("torchvision"), num_classes=5)
    recipe = tiny_train_config(
        dataset="upload", init="w.pth", freeze="trunk", epochs=10, augment=False
    )
    once = recipe.step(config)
    every = dataclasses.replace(recipe, augment=True).step(config)
    assert once.features_once and not every.features_once
    whole = training_seconds(config, 10, 120, 30, 1e10)
    cached = training_seconds(config, 10, 120, 30, 1e10, once.frozen, True)
    each_step = training_seconds(config, 10, 120, 30, 1e10, every.frozen, False)
    # Once per image, forward only: about a thirtieth of training it all for 10 epochs.
    assert cached < whole / 15 and cached < each_step < whole


def test_one_more_class_reads_the_features_of_the_images_it_shares() -> None:
    """Nothing behind the cut is in the key: the Teachable Machine step (add a class,
    train again) recomputes only the new class's images."""
    ten, three = build_model(tiny_config(), seed=0), build_model(tiny_config(num_classes=3), seed=0)
    data, cpu = tiny_data(), torch.device("cpu")
    for frozen in (("conv1",), tuple(trunk_stages(ten))):
        stop = ten.prefix_stop(frozen)
        assert prefix_key(ten, stop, data.preprocessing, cpu, "fp32") == prefix_key(
            three, stop, data.preprocessing, cpu, "fp32"
        )
    no_aux = build_model(tiny_config(aux_logits=False), seed=0)
    whole = ten.prefix_stop(tuple(trunk_stages(ten)))
    assert prefix_key(no_aux, whole, data.preprocessing, cpu, "fp32") != prefix_key(
        ten, whole, data.preprocessing, cpu, "fp32"
    )  # the aux heads' pooled inputs are part of what is stored


def test_computing_the_features_stops_at_a_cancel(start) -> None:
    stop = threading.Event()
    stop.set()  # the owner's Cancel (or the time limit) before the first batch
    train_config = tiny_train_config(init=str(start.path), freeze="trunk", augment=False)
    result = train(tiny_config(), train_config, data=tiny_data(), stop=stop)
    assert result.status == "cancelled" and "no epoch had finished" in result.message


def test_a_killed_writers_leftover_goes_and_an_empty_folder_too(tmp_path) -> None:
    store = FeatureStore(tmp_path)
    store.write("k" * 32, ["a"], {"x": torch.zeros(1, 4)})
    leftover = tmp_path / ("k" * 32) / ".abc.123.tmp"
    leftover.write_bytes(b"half a file")
    fresh = tmp_path / ("k" * 32) / ".def.456.tmp"
    fresh.write_bytes(b"being written now")
    os.utime(leftover, (1, 1))
    (tmp_path / ("e" * 32)).mkdir()
    store.prune()
    assert not leftover.exists() and fresh.exists()  # a writer at work keeps its file
    assert not (tmp_path / ("e" * 32)).exists()
    assert store.read("k" * 32, {"a"})["a"]["x"].shape == (4,)
