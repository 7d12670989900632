"""Prediction end to end: torchvision equivalence, every head, Grad-CAM, branch maps, CLI.

Nothing is downloaded: torchvision's weights file is stood in for by a state
dict saved here from ``torchvision.models.googlenet``, placed where torch hub
keeps it, and loaded by torchvision's own code path.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.models import GoogLeNet_Weights

from googlenet_core import build_model, get_preset
from googlenet_core.cli import main
from googlenet_core.data.digits import DIGIT_CLASSES, load_digits
from googlenet_core.data.images import sanitise_image
from googlenet_core.data.samples import digit_samples, sample_photos, samples_for
from googlenet_core.data.transforms import Preprocessing, to_model_input
from googlenet_core.figures.prediction import (
    branch_maps_figure,
    grad_cam_figure,
    heads_figure,
    upscale,
)
from googlenet_core.figures.style import UNTRAINED_COLOR
from googlenet_core.inference.checkpoints import load_checkpoint, save_checkpoint
from googlenet_core.inference.explain import (
    branch_feature_maps,
    cam_stage_sides,
    cam_stages,
    default_cam_stage,
    grad_cam,
)
from googlenet_core.inference.predictor import Predictor, display_image, predict_images
from googlenet_core.inference.pretrained import (
    PretrainedUnavailable,
    imagenet_categories,
    load_pretrained,
    weights_path,
)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def torchvision_model(torchvision_googlenet: torch.nn.Module) -> torch.nn.Module:
    return torchvision_googlenet


@pytest.fixture(scope="module")
def torchvision_file(torchvision_weights_file: Path) -> Path:
    return torchvision_weights_file


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory: pytest.TempPathFactory, torchvision_file: Path) -> Path:
    """A torch hub folder holding the stand-in under the name torchvision downloads to."""
    hub = tmp_path_factory.mktemp("torch_home") / "hub"  # TORCH_HOME/hub, as torch lays it out
    target = weights_path(hub)
    target.parent.mkdir(parents=True)
    target.write_bytes(torchvision_file.read_bytes())
    return hub


@pytest.fixture(scope="module")
def pretrained(hub_dir: Path) -> Predictor:
    return load_pretrained(hub_dir=hub_dir)


@pytest.fixture(scope="module")
def mini_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    config = get_preset("mini")
    model = build_model(config)
    # PyTorch's default init gives distinct scores per class (the trunc-normal 0.01 init
    # of a fresh GoogLeNet gives ties), so top-k order and Grad-CAM targets are defined.
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.reset_parameters()
    path = tmp_path_factory.mktemp("run") / "best.pt"
    save_checkpoint(path, model, config, list(DIGIT_CLASSES), Preprocessing(32, 1, (0.5,), (0.5,)))
    return path


@pytest.fixture(scope="module")
def mini(mini_checkpoint: Path) -> Predictor:
    return Predictor.from_checkpoint(load_checkpoint(mini_checkpoint), source="mini run")


# ---- torchvision equivalence -------------------------------------------------------------


def test_torchvision_state_dict_gives_torchvision_logits(
    torchvision_file: Path, torchvision_model: torch.nn.Module
) -> None:
    loaded = load_checkpoint(torchvision_file, config=get_preset("torchvision"))
    assert loaded.class_names == imagenet_categories()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), torchvision_model(x), atol=1e-5, rtol=0)
        # The aux heads are torchvision's too, applied where torchvision applies them.
        heads = loaded.model.forward_heads(x)
        after_4a = loaded.model.features(x, upto="inception4a")
        assert heads.aux1 is not None
        torch.testing.assert_close(heads.aux1, torchvision_model.aux1(after_4a), atol=1e-5, rtol=0)


def test_pretrained_path_equals_torchvision_builder_on_the_same_file(
    hub_dir: Path, pretrained: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # torchvision's own googlenet(weights=IMAGENET1K_V1) reads the same cached file.
    monkeypatch.setenv("TORCH_HOME", str(hub_dir.parent))
    assert torch.hub.get_dir() == str(hub_dir)
    reference = torchvision.models.googlenet(weights=GoogLeNet_Weights.IMAGENET1K_V1).eval()
    name, data = sample_photos()[0]
    [result] = predict_images(pretrained, [(name, data)], top_k=5)
    image = Image.open(io.BytesIO(data)).convert("RGB")
    expected_input = GoogLeNet_Weights.IMAGENET1K_V1.transforms()(image)
    assert result.model_input is not None
    torch.testing.assert_close(result.model_input, expected_input, atol=0, rtol=0)
    with torch.no_grad():
        probs = torch.softmax(reference(expected_input[None]), dim=1)[0]
    top = probs.topk(5)
    main = result.head("main")
    assert main is not None
    assert list(main.indices) == top.indices.tolist()
    np.testing.assert_allclose(main.probs, top.values.numpy(), atol=1e-6)
    assert list(main.labels) == [imagenet_categories()[i] for i in top.indices]


def test_pretrained_marks_aux_heads_untrained(pretrained: Predictor) -> None:
    assert pretrained.config.transform_input is True
    assert pretrained.heads == ("main", "aux1", "aux2")
    assert pretrained.aux_trained is False
    [result] = predict_images(pretrained, [sample_photos()[1]])
    record = result.to_json()
    assert record["untrained_heads"] == ["aux1", "aux2"]
    assert {"predictions", "aux1", "aux2"} <= set(record)
    assert [h.trained for h in result.heads] == [True, False, False]


def test_pretrained_drop_aux(hub_dir: Path) -> None:
    slim = load_pretrained(hub_dir=hub_dir, drop_aux=True)
    assert slim.heads == ("main",)
    assert len(slim.dropped_keys) == 20 and all(k.startswith("aux") for k in slim.dropped_keys)


def test_offline_pretrained_fails_cleanly_and_leaves_nothing(
    tmp_path: Path, mini: Predictor
) -> None:
    hub = tmp_path / "hub"
    progress: list[tuple[int, int | None]] = []
    # Port 9 on the loopback refuses the connection: offline, anywhere, without a mock.
    with pytest.raises(PretrainedUnavailable) as info:
        load_pretrained(
            lambda done, total: progress.append((done, total)),
            hub_dir=hub,
            url="http://127.0.0.1:9/googlenet-1378be20.pth",
        )
    message = str(info.value)
    assert "could not download the ImageNet weights" in message
    assert "use a training run or upload a checkpoint instead" in message
    assert list((hub / "checkpoints").iterdir()) == []  # no partial file left behind
    assert progress == []
    # Other sources still work.
    assert predict_images(mini, digit_samples())[0].ok


# ---- images through the predictor --------------------------------------------------------


def test_a_bad_file_in_a_batch_of_ten_gives_nine_results(mini: Predictor) -> None:
    files = digit_samples()[:9]
    files.insert(4, ("broken.png", b"this is not a png"))
    results = predict_images(mini, files, batch_size=4)
    assert [r.name for r in results] == [name for name, _ in files]
    assert [r.ok for r in results] == [True] * 4 + [False] + [True] * 5
    assert results[4].error is not None and "not an image" in results[4].error
    assert results[4].to_json() == {"file": "broken.png", "error": results[4].error}
    for result in results[:4] + results[5:]:
        assert [h.head for h in result.heads] == ["main", "aux1", "aux2"]
        for head in result.heads:
            assert len(head.probs) == 5
            assert list(head.probs) == sorted(head.probs, reverse=True)
            assert all(label in DIGIT_CLASSES for label in head.labels)
        assert result.forward_ms > 0


@pytest.mark.parametrize("size", [(1, 1), (10000, 1), (1, 3000)])
def test_extreme_shapes_predict_with_both_preprocessings(
    size: tuple[int, int], mini: Predictor, pretrained: Predictor
) -> None:
    data = png(Image.new("RGB", size, (200, 120, 40)))
    for predictor, side, channels in ((mini, 32, 1), (pretrained, 224, 3)):
        [result] = predict_images(predictor, [("odd.png", data)])
        assert result.ok, result.error
        assert result.model_input is not None
        assert tuple(result.model_input.shape) == (channels, side, side)


def test_a_digit_saved_as_png_predicts_like_its_training_tensor(mini: Predictor) -> None:
    images, _ = load_digits()
    batch = torch.from_numpy(np.array(images[:5])).unsqueeze(1)  # N x 1 x 8 x 8 uint8
    training_view = to_model_input(batch, Preprocessing(32, 1, (0.5,), (0.5,)))
    files = [(f"{i}.png", png(Image.fromarray(np.asarray(images[i])))) for i in range(5)]
    results = predict_images(mini, files)
    for i, result in enumerate(results):
        assert result.model_input is not None
        torch.testing.assert_close(result.model_input, training_view[i], atol=0, rtol=0)


def test_display_image_shows_what_the_network_saw(mini: Predictor, pretrained: Predictor) -> None:
    gray = Image.new("L", (32, 32), 77)
    [result] = predict_images(mini, [sanitise_image(png(gray), "g.png")])
    assert result.model_input is not None
    shown = display_image(result.model_input, mini.preprocess)
    assert shown.shape == (32, 32) and shown.dtype == np.uint8 and int(shown[5, 5]) == 77
    [photo] = predict_images(pretrained, [sample_photos()[0]])
    assert photo.model_input is not None
    assert display_image(photo.model_input, pretrained.preprocess).shape == (224, 224, 3)


def test_samples_match_the_model() -> None:
    assert [n for n, _ in samples_for(DIGIT_CLASSES)][0].startswith("digit-0")
    assert [n for n, _ in samples_for(imagenet_categories())] == [
        "cat.jpg",
        "coffee.jpg",
        "rocket.jpg",
    ]
    assert all(sanitise_image(data, name).ok for name, data in sample_photos() + digit_samples())


# ---- Grad-CAM and branch maps ------------------------------------------------------------


def test_grad_cam_at_the_last_block_is_the_classic_cam(mini: Predictor) -> None:
    # After the last block comes global average pooling and one linear layer, so the
    # gradient of class c is fc.weight[c] / (h * w) everywhere: Grad-CAM = CAM there.
    [result] = predict_images(mini, digit_samples()[3:4])
    assert result.model_input is not None
    last = mini.config.blocks[-1].name
    cam = grad_cam(mini, result.model_input, last)
    main = result.head("main")
    assert main is not None and cam.class_index == main.indices[0]
    with torch.no_grad():
        activation = mini.model.features(result.model_input[None], upto=last)[0]
        weights = mini.model.fc.weight[cam.class_index].view(-1, 1, 1)
        classic = torch.relu((weights * activation).sum(0))
    expected = torch.nn.functional.interpolate(
        classic[None, None], size=(32, 32), mode="bilinear", align_corners=False
    )[0, 0]
    expected = expected / expected.max() if expected.max() > 0 else expected
    np.testing.assert_allclose(cam.heatmap, expected.numpy(), atol=1e-5)
    assert cam.heatmap.shape == (32, 32) and cam.stage_side == activation.shape[-1]
    assert cam.heatmap.min() >= 0.0 and cam.heatmap.max() <= 1.0


def test_grad_cam_per_head_and_refusals(mini: Predictor) -> None:
    [result] = predict_images(mini, digit_samples()[:1])
    x = result.model_input
    assert x is not None
    stages = cam_stages(mini.config)
    assert stages[0] == "conv1" and stages[-1] == mini.config.blocks[-1].name
    early = grad_cam(mini, x, "inception3a", head="aux1", class_index=7)
    assert early.head == "aux1" and early.class_index == 7 and early.label == "7"
    with pytest.raises(ValueError, match="the aux1 head does not see inception5b"):
        grad_cam(mini, x, "inception5b", head="aux1")
    with pytest.raises(ValueError, match="not a conv or Inception stage"):
        grad_cam(mini, x, "fc")
    with pytest.raises(ValueError, match="outside 0..9"):
        grad_cam(mini, x, "conv1", class_index=12)
    # Grad-CAM leaves no gradients behind on the shared model.
    assert all(p.grad is None for p in mini.model.parameters())


@pytest.mark.parametrize(
    ("preset", "input_size", "stage", "side"),
    [
        ("mini", 16, "inception3b", 8),  # 5b is 2 x 2 on 16 px digits
        ("mini", 32, "inception4e", 8),
        ("torchvision", 224, "inception5b", 7),  # the paper's last map is large enough
        ("mini", 6, "conv1", 6),  # no map reaches 7: the largest one
    ],
)
def test_grad_cam_opens_on_the_deepest_map_of_at_least_7(
    preset: str, input_size: int, stage: str, side: int
) -> None:
    config = get_preset(preset)
    assert default_cam_stage(config, input_size) == stage
    sides = cam_stage_sides(config, input_size)
    assert list(sides) == cam_stages(config) and sides[stage] == side


def test_branch_maps_are_the_block_output_split_by_branch(mini: Predictor) -> None:
    [result] = predict_images(mini, digit_samples()[5:6])
    x = result.model_input
    assert x is not None
    spec = mini.config.blocks[2]
    branches = branch_feature_maps(mini, x, spec.name, per_branch=3)
    assert [b.branch for b in branches] == ["1x1", "3x3", "5x5", "pool"]
    assert [b.channels for b in branches] == [spec.ch1x1, spec.ch3x3, spec.ch5x5, spec.pool_proj]
    with torch.no_grad():
        block_out = mini.model.features(x[None], upto=spec.name)[0]
    offset = 0
    for branch in branches:
        assert branch.maps.shape[0] == 3
        for shown, channel in zip(branch.maps, branch.channel_indices, strict=True):
            np.testing.assert_allclose(shown, block_out[offset + channel].numpy(), atol=1e-6)
        means = block_out[offset : offset + branch.channels].mean(dim=(1, 2))
        assert branch.channel_indices[0] == int(means.argmax())
        offset += branch.channels
    assert offset == spec.out_channels
    with pytest.raises(ValueError, match="not an Inception block"):
        branch_feature_maps(mini, x, "conv1")


# ---- command line ------------------------------------------------------------------------


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[Any], str]:
    code = main(["predict", *args])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_cli_prints_one_json_object_per_image(
    tmp_path: Path, mini_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for name, data in digit_samples()[:3]:
        (folder / name).write_bytes(data)
    (folder / "notes.png").write_text("not an image")
    code, records, err = run_cli([str(folder), "--checkpoint", str(mini_checkpoint)], capsys)
    assert code == 0
    assert len(records) == 4
    assert "model: " in err
    bad = [r for r in records if "error" in r]
    assert len(bad) == 1 and bad[0]["file"].endswith("notes.png")
    for record in records:
        if "error" in record:
            continue
        assert len(record["predictions"]) == 5
        assert {"label", "prob"} == set(record["predictions"][0])
        assert len(record["aux1"]) == 5 and len(record["aux2"]) == 5

    code, records, err = run_cli(
        [str(folder), "--checkpoint", str(mini_checkpoint), "--drop-aux", "--top-k", "2"], capsys
    )
    assert code == 0 and "drop-aux: removed 20 aux-head keys" in err
    good = [r for r in records if "error" not in r]
    assert all(len(r["predictions"]) == 2 and "aux1" not in r for r in good)


def test_cli_exit_codes(
    tmp_path: Path, mini_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    code, records, _ = run_cli([str(bad), "--checkpoint", str(mini_checkpoint)], capsys)
    assert code == 1 and records == [{"file": str(bad), "error": "the file is empty (0 bytes)"}]

    evil = tmp_path / "evil.pt"
    evil.write_bytes(b"\x00" * 100)
    code, records, err = run_cli([str(bad), "--checkpoint", str(evil)], capsys)
    assert code == 2 and records == [] and err.startswith("error: not a readable PyTorch file")

    plain = tmp_path / "plain.pt"
    torch.save(load_checkpoint(mini_checkpoint).model.state_dict(), plain)
    code, _, err = run_cli([str(bad), "--checkpoint", str(plain)], capsys)
    assert code == 2 and "give --preset NAME or --config FILE" in err
    code, records, _ = run_cli(
        [str(bad), str(bad), "--checkpoint", str(plain), "--preset", "mini"], capsys
    )
    assert code == 1 and len(records) == 2


# ---- figures -----------------------------------------------------------------------------


def test_figures_label_heads_by_position_and_grey_out_untrained_ones(
    mini: Predictor, pretrained: Predictor
) -> None:
    [digit] = predict_images(mini, digit_samples()[:1], top_k=3)
    fig = heads_figure(digit, mini.config)
    assert [a.text for a in fig.layout.annotations] == [
        "main head (after inception5b)",
        "aux1 (after inception4a)",
        "aux2 (after inception4d)",
    ]
    assert fig.layout.title.text == f"Top 3 · {digit.name}"
    bars = [trace for trace in fig.data if trace.type == "bar"]
    assert [list(bar.x) for bar in bars] == [list(h.probs) for h in digit.heads]
    # Digit classes are names, not numbers: every one labelled, in the order of the scores.
    axes = [fig.layout[name] for name in ("yaxis", "yaxis2", "yaxis3")]
    assert [axis.type for axis in axes] == ["category"] * 3

    [photo] = predict_images(pretrained, sample_photos()[:1])
    colors = [
        trace.marker.color
        for trace in heads_figure(photo, pretrained.config).data
        if trace.type == "bar"
    ]
    assert colors[0] != UNTRAINED_COLOR and colors[1:] == [UNTRAINED_COLOR, UNTRAINED_COLOR]

    assert digit.model_input is not None
    image = display_image(digit.model_input, mini.preprocess)
    cam = grad_cam(mini, digit.model_input, "inception4a")
    overlay = grad_cam_figure(image, cam)
    assert overlay.data[0].z.shape == (32, 32, 3) and overlay.data[1].z.shape == (32, 32)
    branches = branch_feature_maps(mini, digit.model_input, "inception3b", per_branch=2)
    assert len(branch_maps_figure(branches).data) == 8  # 4 branches x 2 channels
    assert upscale(image).shape == (160, 160) and upscale(np.zeros((300, 200))).shape == (300, 200)
    with pytest.raises(ValueError, match="has no predictions"):
        heads_figure(predict_images(mini, [("x.png", b"")])[0], mini.config)


def test_a_colour_photo_to_a_grayscale_network_is_said(mini: Predictor) -> None:
    """One sentence beside the answer, not a silent confident one; a gray photo stored as
    RGB (a scan) is not colour."""
    from PIL import ImageDraw

    from googlenet_core.inference.predictor import GRAY_NOTE

    def png(image: Image.Image) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    flowers = Image.new("RGB", (120, 90), (30, 140, 40))
    ImageDraw.Draw(flowers).ellipse([30, 20, 90, 70], fill=(220, 40, 120))
    scan = Image.new("RGB", (120, 90), (235, 235, 235))
    ImageDraw.Draw(scan).line([(60, 10), (60, 80)], fill=(20, 20, 20), width=6)
    colour, gray = predict_images(mini, [("flowers.png", png(flowers)), ("scan.png", png(scan))])
    assert colour.ok and GRAY_NOTE in colour.notes
    assert gray.ok and GRAY_NOTE not in gray.notes
    assert colour.to_json()["notes"][-1] == GRAY_NOTE
