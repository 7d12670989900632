"""Predict: what every head of the network says about your images, and where it looks.

Models come from three sources: torchvision's ImageNet-pretrained GoogLeNet, a
training run's best checkpoint, or an uploaded checkpoint (this project's
format, or a plain state_dict with a network chosen here). Each is loaded by
:mod:`googlenet_core.inference.checkpoints`' checked path, kept with ``st.cache_resource``
and only replaces the session's current model once it has loaded; a failed
load leaves the previous model in place and shows the exact reason.

Images (several files, a folder, the camera, bundled samples) all pass through
:func:`googlenet_core.data.images.sanitise_image`; a bad file gives one message and
the others their results.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import streamlit as st

from googlenet_core import get_preset, list_presets, network_name
from googlenet_core._io import first_line
from googlenet_core.data.digit_photos import DigitReading
from googlenet_core.data.images import MAX_IMAGE_BYTES
from googlenet_core.data.samples import samples_for
from googlenet_core.figures.prediction import (
    branch_maps_figure,
    grad_cam_figure,
    heads_figure,
    upscale,
)
from googlenet_core.inference.checkpoints import (
    CheckpointError,
)
from googlenet_core.inference.explain import (
    MIN_CAM_SIDE,
    BranchMaps,
    GradCam,
    branch_feature_maps,
    cam_stage_sides,
    cam_stages,
    default_cam_stage,
    grad_cam,
    inception_blocks,
)
from googlenet_core.inference.predictor import (
    ImageResult,
    Predictor,
    display_image,
    predict_images,
)
from googlenet_core.inference.pretrained import (
    PretrainedUnavailable,
    download_weights,
    imagenet_network,
    is_downloaded,
    weights_path,
)
from googlenet_core.service.access import visible
from googlenet_core.training.runs import list_runs
from pages.common import current_config, literal, rerun, run_page, server, set_config
from pages.common.models import FromRun, ModelChoice, Pretrained, Uploaded
from pages.common.ownership import viewer
from pages.common.view import chart

MAX_IMAGES = 32  # per run of the page: a lecture demo, not a batch job
SOURCES = ("ImageNet-pretrained", "A training run", "Upload a checkpoint")
IMAGE_INPUTS = ("Files", "A folder", "Camera", "Samples")
TORCHVISION_IMAGENET = "torchvision, ImageNet input (transform_input)"

_MODEL = "predict_model"  # the loaded model's ModelChoice, None until one loads
_LOAD_ERROR = "predict_load_error"


# Few entries: each holds a batch's model inputs (32 images at 224 px: about 19 MB).
@st.cache_resource(max_entries=4, show_spinner="Predicting…")
def cached_predictions(
    model_key: str, digests: tuple[str, ...], top_k: int, _predictor: Predictor, _files: Any
) -> list[ImageResult]:
    return predict_images(_predictor, _files, top_k=top_k)


@st.cache_resource(max_entries=32, show_spinner="Computing Grad-CAM…")
def cached_grad_cam(
    model_key: str, digest: str, stage: str, head: str, _predictor: Predictor, _input: Any
) -> GradCam:
    return grad_cam(_predictor, _input, stage, head=head)


@st.cache_resource(max_entries=32, show_spinner="Running the block's branches…")
def cached_branch_maps(
    model_key: str, digest: str, block: str, _predictor: Predictor, _input: Any
) -> list[BranchMaps]:
    return branch_feature_maps(_predictor, _input, block, per_branch=6)


# ---- the page ----------------------------------------------------------------------------


def try_load(choice: ModelChoice, data: bytes | None = None) -> None:
    """Make ``choice`` the session's model if it loads; otherwise keep the previous one.

    Whatever goes wrong becomes one sentence: a file must never show a visitor a traceback.
    """
    try:
        choice.load(data)
    except (CheckpointError, PretrainedUnavailable, ValueError) as exc:
        st.session_state[_LOAD_ERROR] = (choice.label, str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - anything a hostile file provokes
        st.session_state[_LOAD_ERROR] = (
            choice.label,
            f"{type(exc).__name__}: {first_line(exc)}",
        )
        return
    st.session_state[_MODEL] = choice
    st.session_state[_LOAD_ERROR] = None


def drop_aux_ui(key: str) -> bool:
    return st.checkbox(
        "Load without the aux heads (drop_aux)",
        key=key,
        help="Deployment without the auxiliary classifiers, done explicitly: exactly the "
        "aux1.* and aux2.* weights are removed (and listed), everything else loads strictly. "
        "Loading with strict=False instead would also hide real mismatches.",
    )


def pretrained_ui() -> None:
    config = current_config()
    st.markdown(
        "torchvision's `GoogLeNet_Weights.IMAGENET1K_V1`: 1000 ImageNet classes, its own "
        "preprocessing (resize 256, centre crop 224), about 50 MB downloaded once per host."
    )
    if config.in_channels != 3:
        st.info(
            f"The current network (`{network_name(config)}`) takes {config.in_channels}-channel "
            "images; the ImageNet weights need torchvision's RGB GoogLeNet.",
            icon=":material/info:",
        )
        if st.button("Make the torchvision preset the current network", key="predict_use_tv"):
            set_config(get_preset("torchvision"))
            rerun()
        return
    if network_name(config) not in ("torchvision", "torchvision-imagenet"):
        st.caption(
            f"These weights fit torchvision's GoogLeNet only, so this source uses the "
            f"`torchvision` preset, not the current design (`{network_name(config)}`)."
        )
    st.caption(
        "torchvision warns that the aux heads of these weights are **not pretrained**: only "
        "the main head's predictions mean anything for this source."
    )
    drop_aux = drop_aux_ui("predict_pretrained_drop_aux")
    if not st.button("Load the ImageNet weights", key="predict_load_pretrained", type="primary"):
        return
    choice = Pretrained(drop_aux)
    if not is_downloaded():
        bar = st.progress(0.0, text=f"Downloading to {weights_path().parent}…")

        def report(done: int, total: int | None) -> None:
            if total:
                bar.progress(
                    min(1.0, done / total), text=f"{done / 2**20:.1f} MB of {total / 2**20:.1f} MB"
                )

        try:
            download_weights(report)
        except PretrainedUnavailable as exc:
            bar.empty()
            st.session_state[_LOAD_ERROR] = (choice.label, str(exc))
            return
        bar.empty()
    try_load(choice)


def run_ui() -> None:
    runs = [r for r in visible(list_runs(server().runs_dir), viewer()) if r.has_checkpoint]
    if not runs:
        st.info(
            "No run with a checkpoint that you can see yet (your own, your class's and "
            "published ones): train one on the Train page or with "
            "`python -m googlenet_core train --preset mini --dataset digits`.",
            icon=":material/info:",
        )
        return
    labels = {r.id: r.description for r in runs}
    run_id = st.selectbox("Run", list(labels), format_func=lambda r: labels[r], key="predict_run")
    drop_aux = drop_aux_ui("predict_run_drop_aux")
    if st.button("Load the run's best checkpoint", key="predict_load_run", type="primary"):
        summary = next(r for r in runs if r.id == run_id)
        path = summary.path / "best.pt"
        try:
            mtime_ns = path.stat().st_mtime_ns
        except OSError as exc:
            st.session_state[_LOAD_ERROR] = (run_id, f"cannot read best.pt: {exc.strerror}")
            return
        try_load(FromRun(str(path), run_id, mtime_ns, drop_aux))


def upload_ui() -> None:
    upload = st.file_uploader(
        "Checkpoint (.pt)",
        key="predict_checkpoint_file",
        help="This project's checkpoint format (from a run), or a plain state_dict saved with "
        "torch.save(model.state_dict(), f). Read with torch.load(weights_only=True) only: "
        "a file cannot run code.",
    )
    config = current_config()
    options = ["the current network", *list_presets(), TORCHVISION_IMAGENET]
    network = st.selectbox(
        "For a plain state_dict, the network it was saved from",
        options,
        key="predict_state_dict_network",
        help="A checkpoint in this project's format carries its own network; a plain "
        "state_dict does not. torchvision's ImageNet file needs its input transform.",
    )
    drop_aux = drop_aux_ui("predict_upload_drop_aux")
    if upload is None or not st.button(
        "Load the checkpoint", key="predict_load_upload", type="primary"
    ):
        return
    data = upload.getvalue()
    # A plain state_dict goes into the network chosen above; a checkpoint brings its own.
    if network == "the current network":
        chosen = config
    elif network == TORCHVISION_IMAGENET:
        chosen = imagenet_network()
    else:
        chosen = get_preset(network)
    digest = hashlib.sha256(data).hexdigest()
    try_load(Uploaded(digest, upload.name, network, chosen.to_json(), drop_aux), data)


def model_ui() -> Predictor | None:
    """Choose and load a model; returns the session's current one (None until one loads)."""
    with st.container(border=True):
        st.subheader("Model")
        source = st.radio("Source", SOURCES, horizontal=True, key="predict_source")
        if source == SOURCES[0]:
            pretrained_ui()
        elif source == SOURCES[1]:
            run_ui()
        else:
            upload_ui()
    error = st.session_state.get(_LOAD_ERROR)
    choice: ModelChoice | None = st.session_state.get(_MODEL)
    if error:
        label, message = error
        kept = (
            f"The previous model ({literal(choice.label, 80)}) is still in use." if choice else ""
        )
        st.error(
            f"**Could not load** {literal(label, 80)}: {literal(message, 800)}\n\n{kept}",
            icon=":material/error:",
        )
    if choice is None:
        return None
    try:
        return choice.load()
    except Exception as exc:  # noqa: BLE001 - evicted and unloadable now: one sentence
        st.session_state[_MODEL] = None
        st.warning(f"The model is no longer available: {literal(exc)}. Load it again.")
        return None


def model_summary_ui(predictor: Predictor) -> None:
    config = predictor.config
    heads = ", ".join(predictor.heads)
    st.success(
        f"**Using:** {literal(predictor.source, 120)} — {config.num_classes:,} classes, "
        f"network `{network_name(config)}`, heads: {heads}.",
        icon=":material/check_circle:",
    )
    st.caption(f"Preprocessing: {predictor.preprocess.describe()}.")
    if predictor.dropped_keys:
        st.caption(
            f"drop_aux removed exactly {len(predictor.dropped_keys)} aux-head weights "
            f"({predictor.dropped_keys[0]} … {predictor.dropped_keys[-1]}); every other "
            "weight loaded strictly."
        )
    if not predictor.aux_trained and len(predictor.heads) > 1:
        st.warning(
            "The aux heads of torchvision's ImageNet weights are not pretrained (torchvision's "
            "own warning): their bars below are noise, shown in grey. Only the main head counts.",
            icon=":material/warning:",
        )


def images_ui(predictor: Predictor) -> list[tuple[str, bytes]]:
    """The images to predict, as (name, bytes), whatever they came from."""
    with st.container(border=True):
        st.subheader("Images")
        source = st.radio("From", IMAGE_INPUTS, horizontal=True, key="predict_image_source")
        files: list[tuple[str, bytes]] = []
        max_mb = MAX_IMAGE_BYTES // 2**20
        if source in ("Files", "A folder"):
            uploads = st.file_uploader(
                "JPEG, PNG, WebP, BMP or GIF — odd files welcome, each is checked by its content",
                accept_multiple_files=True if source == "Files" else "directory",
                key=f"predict_images_{'files' if source == 'Files' else 'folder'}",
                max_upload_size=max_mb,
            )
            files = [(u.name, u.getvalue()) for u in uploads or []]
        elif source == "Camera":
            shot = st.camera_input("Take a photo", key="predict_camera")
            if shot is not None:
                files = [("camera.jpg", shot.getvalue())]
        else:
            samples = dict(samples_for(predictor.class_names))
            chosen = st.multiselect(
                "Bundled samples", list(samples), default=list(samples), key="predict_samples"
            )
            files = [(name, samples[name]) for name in chosen]
        if len(files) > MAX_IMAGES:
            st.warning(f"{len(files)} files: the first {MAX_IMAGES} are shown.")
            files = files[:MAX_IMAGES]
    return files


def results_ui(predictor: Predictor, results: Sequence[ImageResult]) -> None:
    done = sum(r.ok for r in results)
    st.subheader("Predictions")
    st.caption(
        f"{done} of {len(results)} images predicted"
        + (f"; {len(results) - done} could not be read (below)." if done < len(results) else ".")
    )
    for index, result in enumerate(results):
        if not result.ok:
            st.error(
                f"{literal(result.name, 80)}: {literal(result.error)}",
                icon=":material/broken_image:",
            )
            continue
        with st.container(border=True):
            left, right = st.columns([1, 4], vertical_alignment="center")
            assert result.model_input is not None
            side = result.model_input.shape[-1]
            if result.reading is not None:
                reading_ui(result.reading, left, right)
            left.image(
                upscale(display_image(result.model_input, predictor.preprocess)),
                caption=f"what the network sees: {side} × {side}",
            )
            total = result.preprocess_ms + result.forward_ms
            left.caption(
                f"{total:.0f} ms: {result.preprocess_ms:.0f} ms decode and preprocess, "
                f"{result.forward_ms:.0f} ms forward"
            )
            for note in result.notes:
                left.caption(literal(note))
            chart(heads_figure(result, predictor.config), f"predict_heads_{index}", container=right)


def reading_ui(reading: DigitReading, left: Any, right: Any) -> None:
    """A digits model's reading of a photo: where the ink is, the 8 × 8 grid made of it (as
    the training digits were made), and what makes the photo unlike them."""
    for problem in reading.problems:
        right.warning(f"{problem}.", icon=":material/warning:")
    if reading.crop is not None and reading.ink != "grid":
        left.image(reading.crop, width=160)
        left.caption(f"found: {reading.describe()}")
    left.image(upscale(np.asarray(reading.image)))
    left.caption(
        "the 8 × 8 grid made of it: ink per 4 × 4 block, 0..16, as the training digits were made"
    )


def inside_ui(
    predictor: Predictor, results: Sequence[ImageResult], model_key: str, digests: Sequence[str]
) -> None:
    good = {r.name: (r, d) for r, d in zip(results, digests, strict=True) if r.ok}
    if not good:
        return
    st.subheader("Inside the network")
    name = st.selectbox("Image", list(good), key="predict_inside_image")
    result, digest = good[name]
    assert result.model_input is not None
    left, right = st.columns(2)
    with left:
        stages = cam_stages(predictor.config)
        input_size = predictor.preprocess.input_size
        sides = cam_stage_sides(predictor.config, input_size)
        # The index only opens the box: the key keeps a stage the visitor chose.
        stage = st.selectbox(
            "Grad-CAM at stage",
            stages,
            index=stages.index(default_cam_stage(predictor.config, input_size)),
            format_func=lambda name: f"{name} ({sides[name]} × {sides[name]})",
            key="predict_cam_stage",
            help=f"Opens on the deepest stage whose map is at least {MIN_CAM_SIDE} × "
            f"{MIN_CAM_SIDE} (else on the largest map): a smaller map, upsampled, "
            "is a few flat blocks that show nothing of where the network looks.",
        )
        st.caption(
            f"{stage}'s map is {sides[stage]} × {sides[stage]}, "
            f"upsampled to the {input_size} × {input_size} input."
        )
        head = st.selectbox("for the top class of", predictor.heads, key="predict_cam_head")
        try:
            cam = cached_grad_cam(model_key, digest, stage, head, predictor, result.model_input)
        except ValueError as exc:
            st.info(literal(exc), icon=":material/info:")
        except Exception as exc:  # noqa: BLE001 - out of memory on a huge network, say
            st.error(f"Grad-CAM failed: {literal(f'{type(exc).__name__}: {first_line(exc)}')}")
        else:
            image = display_image(result.model_input, predictor.preprocess)
            chart(grad_cam_figure(image, cam), "predict_cam")
    with right:
        blocks = inception_blocks(predictor.config)
        block = st.selectbox("Inception block", blocks, key="predict_block")
        try:
            maps = cached_branch_maps(model_key, digest, block, predictor, result.model_input)
        except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
            st.error(f"The branches failed: {literal(f'{type(exc).__name__}: {first_line(exc)}')}")
        else:
            chart(branch_maps_figure(maps), "predict_branches")


def main() -> None:
    st.title("Predict")
    st.caption(
        "Upload photos and see what every head of GoogLeNet says — the main classifier and the "
        "auxiliary heads after inception4a and 4d, labelled by position — where it looks "
        "(Grad-CAM), and what each branch of an Inception block picks up."
    )
    if _LOAD_ERROR not in st.session_state:
        st.session_state[_LOAD_ERROR] = None
    predictor = model_ui()
    if predictor is None:
        st.info("Load a model above to start.", icon=":material/arrow_upward:")
        return
    model_summary_ui(predictor)
    files = images_ui(predictor)
    if not files:
        return
    model_key = repr(st.session_state[_MODEL])
    digests = tuple(
        hashlib.sha256(name.encode() + b"\0" + data).hexdigest() for name, data in files
    )
    try:
        results = cached_predictions(model_key, digests, 5, predictor, files)
    except Exception as exc:  # noqa: BLE001 - whatever the files provoke: one sentence
        st.error(
            f"Prediction failed: {literal(f'{type(exc).__name__}: {first_line(exc)}')}",
            icon=":material/error:",
        )
        return
    results_ui(predictor, results)
    inside_ui(predictor, results, model_key, digests)


run_page("Predict", main)
