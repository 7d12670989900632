"""Starting a run from trained weights: the trunk exactly, the heads where they fit, frozen
stages that really do not change; refusals that name what differs. Real runs, real files."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from tiny import tiny_config, tiny_data, tiny_train_config, trained_tiny_run

from googlenet_core.i18n import use_language
from googlenet_core.inference.pretrained import imagenet_network
from googlenet_core.network.model import build_model
from googlenet_core.training.config import TrainConfig
from googlenet_core.training.plan import Choices, plan_training
from googlenet_core.training.runs import Run
from googlenet_core.training.train import train
from googlenet_core.training.transfer import (
    IMAGENET,
    check_freeze,
    frozen_stages,
    start_from,
    trunk_stages,
)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A tiny network trained for one epoch on the digits: the weights to start from."""
    return trained_tiny_run(tmp_path_factory.mktemp("runs"))


def _trunk(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k.split(".", 1)[0] not in ("fc", "aux1", "aux2")}


def test_the_trunk_is_taken_exactly_and_a_head_of_another_size_is_rebuilt(trained_run) -> None:
    source = torch.load(trained_run.path / "best.pt", weights_only=True)["state_dict"]
    model = build_model(tiny_config(num_classes=5), seed=1)
    report = start_from(model, str(trained_run.path), "trunk")
    state = model.state_dict()
    for key, tensor in _trunk(state).items():
        assert torch.equal(tensor, source[key]), key  # weights and BN statistics alike
    assert "fc" in report.rebuilt and state["fc.weight"].shape[0] == 5
    assert "aux1" in report.rebuilt  # its last layer has 5 outputs too
    assert report.frozen == tuple(trunk_stages(model))
    assert all(not p.requires_grad for n in report.frozen for p in getattr(model, n).parameters())
    assert all(p.requires_grad for p in model.fc.parameters())
    assert "rebuilt" in report.sentence().lower() and "frozen" in report.sentence().lower()
    with use_language("zh"):
        assert "冻结" in report.sentence()


def test_the_same_classes_keep_every_tensor(trained_run) -> None:
    model = build_model(tiny_config(), seed=1)
    report = start_from(model, str(trained_run.path / "best.pt"))
    assert report.rebuilt == () and report.frozen == ()
    assert report.kept == len(model.state_dict())


def test_another_trunk_is_refused_with_the_tensors_that_differ(trained_run) -> None:
    wider = tiny_config(stem=(dataclasses.replace(tiny_config().stem[0], out_channels=12),))
    with pytest.raises(ValueError, match=r"another trunk.*conv1\.conv\.weight is 8x1x3x3 there"):
        start_from(build_model(wider), str(trained_run.path))


def test_a_missing_start_is_refused_with_how_to_get_it(tmp_path) -> None:
    with pytest.raises(ValueError, match="no checkpoint file or run folder"):
        start_from(build_model(tiny_config()), str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match="ImageNet weights are not on this computer"):
        start_from(build_model(tiny_config()), IMAGENET, hub_dir=tmp_path)


def test_a_torchvision_weights_file_starts_a_new_task(torchvision_weights_file) -> None:
    """The file torchvision downloads, strictly checked: 1000 classes become 5."""
    network = dataclasses.replace(imagenet_network(), num_classes=5)
    model = build_model(network)
    report = start_from(model, str(torchvision_weights_file), "inception4e")
    assert set(report.rebuilt) == {"fc", "aux1", "aux2"}
    assert report.frozen[0] == "conv1" and report.frozen[-1] == "inception4e"
    assert all(p.requires_grad for p in model.inception5a.parameters())
    source = torch.load(torchvision_weights_file, weights_only=True)
    assert torch.equal(
        model.inception4e.branch1.conv.weight, source["inception4e.branch1.conv.weight"]
    )


def test_freeze_names_a_stage_of_this_network() -> None:
    stages = trunk_stages(build_model(tiny_config()))
    assert stages[0] == "conv1" and stages[-1] == "inception5a"
    assert frozen_stages(build_model(tiny_config()), "inception4a") == (
        "conv1",
        "inception3a",
        "inception4a",
    )
    with pytest.raises(ValueError, match="conv1, inception3a, inception4a, inception5a"):
        check_freeze("inception9z", stages)


def test_freezing_random_weights_is_refused() -> None:
    with pytest.raises(ValueError, match="freezing random weights"):
        TrainConfig(freeze="trunk")
    with pytest.raises(ValueError, match="init must name"):
        TrainConfig(init="  ")


def test_a_run_with_a_frozen_trunk_trains_its_heads_only(trained_run, tmp_path) -> None:
    config = tiny_config(num_classes=10)
    recipe = tiny_train_config(init=str(trained_run.path), freeze="trunk", epochs=2)
    run = Run.create(config, recipe, tmp_path)
    result = train(config, recipe, data=tiny_data(), run=run)
    assert result.status == "completed", result.message
    before = _trunk(torch.load(trained_run.path / "best.pt", weights_only=True)["state_dict"])
    after_all = torch.load(run.path / "last.pt", weights_only=True)["state_dict"]
    after = _trunk(after_all)
    assert all(torch.equal(after[k], before[k]) for k in before)  # weights and BN statistics
    fresh = build_model(config, seed=recipe.seed).state_dict()
    assert not torch.equal(after_all["fc.weight"], fresh["fc.weight"])  # the head did learn
    card = (run.path / "MODEL_CARD.md").read_text()
    assert f"Started from {trained_run.path}; frozen: trunk." in card
    notes = [e.message for e in run.events() if getattr(e, "kind", "") == "note"]
    assert any(n.startswith("Started from") and "tensors kept" in n for n in notes), notes


def test_the_plan_freezes_the_trunk_of_a_trained_start_on_a_cpu(trained_run) -> None:
    cpu = plan_training(
        tiny_config(), "digits", Choices(init=str(trained_run.path)), device_type="cpu"
    )
    assert cpu.train_config.freeze == "trunk" and "CPU" in cpu.reasons["freeze"]
    gpu = plan_training(
        tiny_config(), "digits", Choices(init=str(trained_run.path)), device_type="cuda"
    )
    assert gpu.train_config.freeze == "none"
    chosen = plan_training(
        tiny_config(),
        "digits",
        Choices(init=str(trained_run.path), freeze="none"),
        device_type="cpu",
    )
    assert chosen.train_config.freeze == "none"
    assert plan_training(tiny_config(), "digits", device_type="cpu").train_config.init is None
    # Frozen stages: augmentation off, so their features are computed once (features.py);
    # a class's own photos (an upload) would have it on otherwise.
    upload = plan_training(
        tiny_config(), "upload", Choices(init=str(trained_run.path)), device_type="cpu"
    )
    assert not upload.train_config.augment and "once per image" in upload.reasons["augment"]
    kept = Choices(init=str(trained_run.path), augment=True)
    assert plan_training(tiny_config(), "upload", kept, device_type="cpu").train_config.augment


def test_the_command_line_refuses_a_missing_start_before_making_a_run(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "googlenet_core", "train", "--init", str(tmp_path / "none")]
        + ["--out", str(tmp_path / "runs"), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "no checkpoint file or run folder" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_an_uploaded_weights_file_is_checked_in_memory_and_kept_bounded(
    trained_run, tmp_path, monkeypatch
) -> None:
    """The Train page's upload: junk is refused before anything is written; what fits is
    kept by digest, the least recently used go, never the start of a queued run."""
    from googlenet_core.service import server as server_module
    from googlenet_core.service.server import Server
    from googlenet_core.service.settings import Settings
    from googlenet_core.training.transfer import check_weights_file

    data = (trained_run.path / "best.pt").read_bytes()
    check_weights_file(tiny_config(num_classes=5), data)  # fits: heads are rebuilt later
    with pytest.raises(ValueError):
        check_weights_file(tiny_config(), b"PK\x03\x04 junk")
    wider = tiny_config(stem=(dataclasses.replace(tiny_config().stem[0], out_channels=12),))
    with pytest.raises(ValueError, match="this file has another trunk"):
        check_weights_file(wider, data)

    settings = Settings(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data")
    host = Server(settings, measure_now=False)
    monkeypatch.setattr(server_module, "KEEP_WEIGHTS", 2)
    first = host.keep_weights(data, "../../evil name.pth")
    assert first.parent.parent == tmp_path / "data" / "weights" and first.name == "evil_name.pth"
    assert host.keep_weights(data, "again.pth").parent == first.parent  # one copy per content
    queued = Run.create(
        tiny_config(), tiny_train_config(init=str(first)), tmp_path / "runs"
    )  # waiting for its turn: its start must stay
    assert queued.path.is_dir()
    os.utime(first.parent, (1, 1))
    others = [host.keep_weights(data + bytes([i]), f"w{i}.pth") for i in range(3)]
    kept = {p.name for p in (tmp_path / "data" / "weights").iterdir()}
    assert first.parent.name in kept  # the queued run's, though the least recently used
    assert others[-1].parent.name in kept and len(kept) == 3
