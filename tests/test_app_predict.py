"""The Predict page under AppTest: every model source, uploads, per-file errors, kept models."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import app_test, new_server
from PIL import Image

from googlenet_core import build_model, get_preset
from googlenet_core.data.digits import DIGIT_CLASSES
from googlenet_core.data.samples import digit_samples
from googlenet_core.data.transforms import Preprocessing
from googlenet_core.inference.checkpoints import checkpoint_payload
from googlenet_core.inference.pretrained import weights_path
from googlenet_core.training.config import TrainConfig
from googlenet_core.training.runs import Run

PAGE = "pages/predict.py"


def mini_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(get_preset("mini"))
    for module in model.modules():  # distinct scores per class, unlike GoogLeNet's tiny init
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.reset_parameters()
    return model


def to_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def checkpoint_bytes() -> bytes:
    payload = checkpoint_payload(
        mini_model(),
        get_preset("mini"),
        list(DIGIT_CLASSES),
        Preprocessing(32, 1, (0.5,), (0.5,)),
        {"best_val_acc": 0.25},
    )
    return to_bytes(payload)


def chart_titles(at: Any) -> list[str]:
    return [
        json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")
    ]


def subplot_titles(at: Any, index: int) -> list[str]:
    layout = json.loads(at.get("plotly_chart")[index].proto.spec)["layout"]
    return [a["text"] for a in layout.get("annotations", [])]


def load_upload(at: Any, name: str, data: bytes) -> Any:
    at.radio(key="predict_source").set_value("Upload a checkpoint").run()
    at.file_uploader(key="predict_checkpoint_file").set_value(
        (name, data, "application/octet-stream")
    )
    return at.run().button(key="predict_load_upload").click().run()


def using(at: Any) -> str:
    return " ".join(s.value for s in at.success)


def test_an_empty_session_asks_for_a_model() -> None:
    at = app_test(PAGE, preset="mini").run()
    assert not at.exception
    assert at.title[0].value == "Predict"
    assert at.radio(key="predict_source").options == [
        "ImageNet-pretrained",
        "A training run",
        "Upload a checkpoint",
    ]
    assert "Load a model above to start." in [i.value for i in at.info]
    # A grayscale current network cannot take the ImageNet weights: the page says so.
    assert any("takes 1-channel images" in i.value for i in at.info)
    assert at.button(key="predict_use_tv").label.startswith("Make the torchvision preset")


def test_a_training_run_predicts_bundled_digit_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_server(monkeypatch, GOOGLENET_RUNS_DIR=str(tmp_path))
    at = app_test(PAGE, preset="mini").run()
    at.radio(key="predict_source").set_value("A training run").run()
    assert any("No run with a checkpoint" in i.value for i in at.info)

    run = Run.create(get_preset("mini"), TrainConfig(), root=tmp_path, status="completed")
    run.save_checkpoint(
        "best", mini_model(), get_preset("mini"), list(DIGIT_CLASSES),
        Preprocessing(32, 1, (0.5,), (0.5,)),
    )  # fmt: skip
    at.run()
    assert at.selectbox(key="predict_run").value == run.id
    at.button(key="predict_load_run").click().run()
    assert not at.exception
    assert f"training run {run.id}" in using(at)
    at.radio(key="predict_image_source").set_value("Samples").run()
    assert at.multiselect(key="predict_samples").value == [n for n, _ in digit_samples()]
    titles = chart_titles(at)
    assert sum(t.startswith("Top 5 · digit-") for t in titles) == 10
    assert subplot_titles(at, 0) == [
        "main head (after inception5b)",
        "aux1 (after inception4a)",
        "aux2 (after inception4d)",
    ]
    assert any(t.startswith("Grad-CAM · main") for t in titles)
    assert "inception3a: its four branches" in titles
    # At 32 px the last stages are 4 x 4: Grad-CAM opens on the deepest of at least 7 x 7.
    assert at.selectbox(key="predict_cam_stage").value == "inception4e"
    # Another stage and head: aux1 sees inception3b; it does not see inception4e.
    at.selectbox(key="predict_cam_head").set_value("aux1").run()
    assert any("the aux1 head does not see inception4e" in i.value for i in at.info)
    at.selectbox(key="predict_cam_stage").set_value("inception3b").run()
    assert any(t.startswith("Grad-CAM · aux1") for t in chart_titles(at))
    at.selectbox(key="predict_block").set_value("inception4e").run()
    assert "inception4e: its four branches" in chart_titles(at)
    assert not at.exception


def test_uploads_a_checkpoint_and_images_one_bad_file_one_message(checkpoint_bytes: bytes) -> None:
    at = load_upload(app_test(PAGE, preset="mini").run(), "best.pt", checkpoint_bytes)
    assert not at.exception and not at.error
    assert "uploaded best.pt" in using(at) and "heads: main, aux1, aux2" in using(at)
    files = [(name, data, "image/png") for name, data in digit_samples()[:4]]
    files.insert(2, ("holiday.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg"))
    at.file_uploader(key="predict_images_files").set_value(files).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "`holiday.jpg`: `the image header is truncated or corrupt: Truncated File Read`"
    ]
    assert sum(t.startswith("Top 5 · digit-") for t in chart_titles(at)) == 4
    assert any("4 of 5 images predicted" in c.value for c in at.caption)
    captions = [c for image in at.image for c in image.captions]
    assert captions == ["what the network sees: 32 × 32"] * 4


def test_a_failed_load_keeps_the_previous_model(checkpoint_bytes: bytes) -> None:
    at = load_upload(app_test(PAGE, preset="mini").run(), "best.pt", checkpoint_bytes)
    digits = [(name, data, "image/png") for name, data in digit_samples()[:2]]
    at.file_uploader(key="predict_images_files").set_value(digits).run()
    before = chart_titles(at)
    assert sum(t.startswith("Top 5 · digit-") for t in before) == 2
    for name, data, reason in [
        ("junk.pt", bytes(range(256)) * 8, "not a readable PyTorch file"),
        ("half.pt", checkpoint_bytes[: len(checkpoint_bytes) // 2], "not a readable PyTorch file"),
    ]:
        at = load_upload(at, name, data)
        assert not at.exception
        [error] = [e.value for e in at.error]
        assert error.startswith(f"**Could not load** `{name}`: `")  # names shown as code
        assert reason in error
        assert "The previous model (`best.pt`) is still in use." in error
        assert "uploaded best.pt" in using(at)
        assert chart_titles(at) == before


def test_plain_state_dict_with_a_chosen_network_and_drop_aux() -> None:
    plain = to_bytes(mini_model().state_dict())
    at = app_test(PAGE, preset="mini").run()
    at.radio(key="predict_source").set_value("Upload a checkpoint").run()
    at.selectbox(key="predict_state_dict_network").set_value("mini").run()
    at.checkbox(key="predict_upload_drop_aux").check()
    at = load_upload(at, "weights.pth", plain)
    assert not at.exception and not at.error
    assert "uploaded weights.pth" in using(at) and "heads: main." in using(at)
    assert any("drop_aux removed exactly 20 aux-head weights" in c.value for c in at.caption)
    at.radio(key="predict_image_source").set_value("Camera").run()
    shot = io.BytesIO()
    Image.new("RGB", (64, 48), (240, 240, 240)).save(shot, "JPEG")
    at.camera_input(key="predict_camera").upload("photo.jpg", shot.getvalue(), "image/jpeg").run()
    assert not at.exception
    assert chart_titles(at)[0] == "Top 5 · camera.jpg"
    assert subplot_titles(at, 0) == ["main head (after inception5b)"]


def test_imagenet_pretrained_from_the_torch_hub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, torchvision_weights_file: Path
) -> None:
    # A torchvision state dict stands in for the ImageNet file, where torch hub keeps it.
    hub = tmp_path / "hub"
    target = weights_path(hub)
    target.parent.mkdir(parents=True)
    target.write_bytes(torchvision_weights_file.read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    at = app_test(PAGE, preset="mini").run()
    at.button(key="predict_use_tv").click().run()
    assert at.query_params["preset"] == "torchvision"
    assert at.button(key="predict_load_pretrained").label == "Load the ImageNet weights"
    at.button(key="predict_load_pretrained").click().run()
    assert not at.exception and not at.error
    assert "ImageNet-pretrained GoogLeNet" in using(at)
    assert any("not pretrained" in w.value for w in at.warning)
    at.radio(key="predict_image_source").set_value("Samples").run()
    titles = chart_titles(at)
    assert [t for t in titles if t.startswith("Top 5")] == [
        "Top 5 · cat.jpg",
        "Top 5 · coffee.jpg",
        "Top 5 · rocket.jpg",
    ]
    assert subplot_titles(at, 0) == [
        "main head (after inception5b)",
        "aux1 (after inception4a) · not trained",
        "aux2 (after inception4d) · not trained",
    ]
    captions = [c for image in at.image for c in image.captions]
    assert captions == ["what the network sees: 224 × 224"] * 3


def test_grad_cam_opens_on_a_map_large_enough_to_show_where() -> None:
    # mini on 16 px digits: inception5b's map is 2 x 2, one flat square once upsampled.
    config = dataclasses.replace(get_preset("mini"), input_size=16)
    payload = checkpoint_payload(
        mini_model(), config, list(DIGIT_CLASSES), Preprocessing(16, 1, (0.5,), (0.5,)), {}
    )
    at = load_upload(app_test(PAGE, preset="mini").run(), "digits16.pt", to_bytes(payload))
    at.radio(key="predict_image_source").set_value("Samples").run()
    stage = at.selectbox(key="predict_cam_stage")
    assert stage.value == "inception3b"  # 8 x 8, the deepest map of at least 7 x 7
    assert "inception3b's map is 8 × 8, upsampled to the 16 × 16 input." in [
        c.value for c in at.caption
    ]
    assert "at least 7 × 7" in stage.help
    # A stage the visitor chose stays chosen on the next run, even the 2 x 2 one.
    stage.set_value("inception5b").run()
    at.selectbox(key="predict_inside_image").set_value(digit_samples()[1][0]).run()
    assert at.selectbox(key="predict_cam_stage").value == "inception5b"
    assert "inception5b's map is 2 × 2, upsampled to the 16 × 16 input." in [
        c.value for c in at.caption
    ]
    assert not at.exception


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_digits_model_shows_what_it_read_in_a_photo() -> None:
    """A photo of a digit on paper, to a digits checkpoint (kind digit-blocks): the page
    shows where the ink is, the 8 x 8 grid made of it, and says when a photo holds none."""
    from PIL import ImageDraw

    payload = checkpoint_payload(
        mini_model(), get_preset("mini"), list(DIGIT_CLASSES),
        Preprocessing(32, 1, (0.3,), (0.3,), kind="digit-blocks"), {"best_val_acc": 0.9},
    )  # fmt: skip
    at = load_upload(app_test(PAGE, preset="mini").run(), "digits.pt", to_bytes(payload))
    assert not at.exception and not at.error
    assert any("counted into 8 x 8 blocks" in c.value for c in at.caption)  # preprocessing
    page = Image.new("L", (400, 300), 235)
    ImageDraw.Draw(page).line([(150, 60), (230, 60), (170, 220)], fill=30, width=12)  # a "7"
    blank = Image.new("L", (400, 300), 228)
    at.file_uploader(key="predict_images_files").set_value(
        [("seven.png", _png(page), "image/png"), ("blank.png", _png(blank), "image/png")]
    ).run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert any(c.startswith("found: dark ink on light paper, one mark") for c in captions)
    assert sum("the 8 × 8 grid made of it" in c for c in captions) == 2
    assert [w.value for w in at.warning if "no ink found" in w.value]
