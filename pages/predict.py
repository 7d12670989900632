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
from googlenet_core.i18n import N_, _, active_language, pgettext
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
from pages.common.models import (
    CURRENT_NETWORK,
    TORCHVISION_IMAGENET,
    FromRun,
    ModelChoice,
    Pretrained,
    Uploaded,
    network_label,
)
from pages.common.ownership import viewer
from pages.common.view import chart

MAX_IMAGES = 32  # per run of the page: a lecture demo, not a batch job
# Option values, shown translated (format_func): a widget's value never depends on the language.
SOURCES = (N_("ImageNet-pretrained"), N_("A training run"), N_("Upload a checkpoint"))
IMAGE_INPUTS = (N_("Files"), N_("A folder"), N_("Camera"), N_("Samples"))

_MODEL = "predict_model"  # the loaded model's ModelChoice, None until one loads
_LOAD_ERROR = "predict_load_error"


# Few entries: each holds a batch's model inputs (32 images at 224 px: about 19 MB).
# Keyed on the language: the results say what went wrong, and what a photo held, in it.
# No show_spinner text in these decorators (fixed before the page's language is known):
# the calls below are wrapped in st.spinner instead (shown only after half a second).
@st.cache_resource(max_entries=4, show_spinner=False)
def cached_predictions(
    model_key: str,
    digests: tuple[str, ...],
    top_k: int,
    language: str,
    _predictor: Predictor,
    _files: Any,
) -> list[ImageResult]:
    return predict_images(_predictor, _files, top_k=top_k)


# Grad-CAM and branch maps hold no text (their errors are raised, never cached).
@st.cache_resource(max_entries=32, show_spinner=False)
def cached_grad_cam(
    model_key: str, digest: str, stage: str, head: str, _predictor: Predictor, _input: Any
) -> GradCam:
    return grad_cam(_predictor, _input, stage, head=head)


@st.cache_resource(max_entries=32, show_spinner=False)
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
        _("Load without the aux heads (drop_aux)"),
        key=key,
        help=_(
            "Deployment without the auxiliary classifiers, done explicitly: exactly the "
            "aux1.* and aux2.* weights are removed (and listed), everything else loads "
            "strictly. Loading with strict=False instead would also hide real mismatches."
        ),
    )


def pretrained_ui() -> None:
    config = current_config()
    st.markdown(
        _(
            "torchvision's `GoogLeNet_Weights.IMAGENET1K_V1`: 1000 ImageNet classes, its own "
            "preprocessing (resize 256, centre crop 224), about 50 MB downloaded once per host."
        )
    )
    if config.in_channels != 3:
        st.info(
            _(
                "The current network (`{network}`) takes {channels}-channel images; the "
                "ImageNet weights need torchvision's RGB GoogLeNet."
            ).format(network=network_name(config), channels=config.in_channels),
            icon=":material/info:",
        )
        if st.button(_("Make the torchvision preset the current network"), key="predict_use_tv"):
            set_config(get_preset("torchvision"))
            rerun()
        return
    if network_name(config) not in ("torchvision", "torchvision-imagenet"):
        st.caption(
            _(
                "These weights fit torchvision's GoogLeNet only, so this source uses the "
                "`torchvision` preset, not the current design (`{network}`)."
            ).format(network=network_name(config))
        )
    st.caption(
        _(
            "torchvision warns that the aux heads of these weights are **not pretrained**: "
            "only the main head's predictions mean anything for this source."
        )
    )
    drop_aux = drop_aux_ui("predict_pretrained_drop_aux")
    if not st.button(_("Load the ImageNet weights"), key="predict_load_pretrained", type="primary"):
        return
    choice = Pretrained(drop_aux)
    if not is_downloaded():
        bar = st.progress(
            0.0, text=_("Downloading to {folder}…").format(folder=weights_path().parent)
        )

        def report(done: int, total: int | None) -> None:
            if total:
                bar.progress(
                    min(1.0, done / total),
                    text=_("{done:.1f} MB of {total:.1f} MB").format(
                        done=done / 2**20, total=total / 2**20
                    ),
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
            _(
                "No run with a checkpoint that you can see yet (your own, your class's and "
                "published ones): train one on the Train page or with "
                "`python -m googlenet_core train --preset mini --dataset digits`."
            ),
            icon=":material/info:",
        )
        return
    labels = {r.id: r.description for r in runs}
    run_id = st.selectbox(
        pgettext("training run", "Run"),
        list(labels),
        format_func=lambda r: labels[r],
        key="predict_run",
    )
    drop_aux = drop_aux_ui("predict_run_drop_aux")
    if st.button(_("Load the run's best checkpoint"), key="predict_load_run", type="primary"):
        summary = next(r for r in runs if r.id == run_id)
        path = summary.path / "best.pt"
        try:
            mtime_ns = path.stat().st_mtime_ns
        except OSError as exc:
            st.session_state[_LOAD_ERROR] = (
                run_id,
                _("cannot read best.pt: {error}").format(error=exc.strerror),
            )
            return
        try_load(FromRun(str(path), run_id, mtime_ns, drop_aux))


def upload_ui() -> None:
    upload = st.file_uploader(
        _("Checkpoint (.pt)"),
        key="predict_checkpoint_file",
        help=_(
            "This project's checkpoint format (from a run), or a plain state_dict saved with "
            "torch.save(model.state_dict(), f). Read with torch.load(weights_only=True) only: "
            "a file cannot run code."
        ),
    )
    config = current_config()
    options = [CURRENT_NETWORK, *list_presets(), TORCHVISION_IMAGENET]
    network = st.selectbox(
        _("For a plain state_dict, the network it was saved from"),
        options,
        format_func=network_label,
        key="predict_state_dict_network",
        help=_(
            "A checkpoint in this project's format carries its own network; a plain "
            "state_dict does not. torchvision's ImageNet file needs its input transform."
        ),
    )
    drop_aux = drop_aux_ui("predict_upload_drop_aux")
    if upload is None or not st.button(
        _("Load the checkpoint"), key="predict_load_upload", type="primary"
    ):
        return
    data = upload.getvalue()
    # A plain state_dict goes into the network chosen above; a checkpoint brings its own.
    if network == CURRENT_NETWORK:
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
        st.subheader(_("Model"))
        source = st.radio(
            _("Source"),
            SOURCES,
            format_func=lambda value: _(value),
            horizontal=True,
            key="predict_source",
        )
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
            _("The previous model ({model}) is still in use.").format(
                model=literal(choice.label, 80)
            )
            if choice
            else ""
        )
        failed = _("**Could not load** {model}: {error}").format(
            model=literal(label, 80), error=literal(message, 800)
        )
        st.error(f"{failed}\n\n{kept}", icon=":material/error:")
    if choice is None:
        return None
    try:
        return choice.load()
    except Exception as exc:  # noqa: BLE001 - evicted and unloadable now: one sentence
        st.session_state[_MODEL] = None
        st.warning(
            _("The model is no longer available: {error}. Load it again.").format(
                error=literal(exc)
            )
        )
        return None


def model_summary_ui(predictor: Predictor, choice: ModelChoice) -> None:
    config = predictor.config
    st.success(
        _("**Using:** {source} — {classes:,} classes, network `{network}`, heads: {heads}.").format(
            source=literal(choice.source(predictor), 120),
            classes=config.num_classes,
            network=network_name(config),
            heads=", ".join(predictor.heads),
        ),
        icon=":material/check_circle:",
    )
    st.caption(
        _("Preprocessing: {preprocessing}.").format(preprocessing=predictor.preprocess.describe())
    )
    if predictor.dropped_keys:
        st.caption(
            _(
                "drop_aux removed exactly {n} aux-head weights ({first} … {last}); every "
                "other weight loaded strictly."
            ).format(
                n=len(predictor.dropped_keys),
                first=predictor.dropped_keys[0],
                last=predictor.dropped_keys[-1],
            )
        )
    if not predictor.aux_trained and len(predictor.heads) > 1:
        st.warning(
            _(
                "The aux heads of torchvision's ImageNet weights are not pretrained "
                "(torchvision's own warning): their bars below are noise, shown in grey. "
                "Only the main head counts."
            ),
            icon=":material/warning:",
        )


def images_ui(predictor: Predictor) -> list[tuple[str, bytes]]:
    """The images to predict, as (name, bytes), whatever they came from."""
    with st.container(border=True):
        st.subheader(_("Images"))
        source = st.radio(
            pgettext("image source", "From"),
            IMAGE_INPUTS,
            format_func=lambda value: _(value),
            horizontal=True,
            key="predict_image_source",
        )
        files: list[tuple[str, bytes]] = []
        max_mb = MAX_IMAGE_BYTES // 2**20
        if source in ("Files", "A folder"):
            uploads = st.file_uploader(
                _(
                    "JPEG, PNG, WebP, BMP or GIF — odd files welcome, each is checked by its "
                    "content"
                ),
                accept_multiple_files=True if source == "Files" else "directory",
                key=f"predict_images_{'files' if source == 'Files' else 'folder'}",
                max_upload_size=max_mb,
            )
            files = [(u.name, u.getvalue()) for u in uploads or []]
        elif source == "Camera":
            shot = st.camera_input(_("Take a photo"), key="predict_camera")
            if shot is not None:
                files = [("camera.jpg", shot.getvalue())]
        else:
            samples = dict(samples_for(predictor.class_names))
            chosen = st.multiselect(
                _("Bundled samples"), list(samples), default=list(samples), key="predict_samples"
            )
            files = [(name, samples[name]) for name in chosen]
        if len(files) > MAX_IMAGES:
            st.warning(
                _("{n} files: the first {shown} are shown.").format(n=len(files), shown=MAX_IMAGES)
            )
            files = files[:MAX_IMAGES]
    return files


def results_ui(predictor: Predictor, results: Sequence[ImageResult]) -> None:
    done = sum(r.ok for r in results)
    st.subheader(_("Predictions"))
    counts = {"done": done, "total": len(results), "failed": len(results) - done}
    st.caption(
        _("{done} of {total} images predicted; {failed} could not be read (below).").format(
            **counts
        )
        if done < len(results)
        else _("{done} of {total} images predicted.").format(**counts)
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
                caption=_("what the network sees: {side} × {side}").format(side=side),
            )
            left.caption(
                _(
                    "{total:.0f} ms: {preprocess:.0f} ms decode and preprocess, "
                    "{forward:.0f} ms forward"
                ).format(
                    total=result.preprocess_ms + result.forward_ms,
                    preprocess=result.preprocess_ms,
                    forward=result.forward_ms,
                )
            )
            for note in result.notes:
                left.caption(literal(note))
            chart(heads_figure(result, predictor.config), f"predict_heads_{index}", container=right)


def reading_ui(reading: DigitReading, left: Any, right: Any) -> None:
    """A digits model's reading of a photo: where the ink is, the 8 × 8 grid made of it (as
    the training digits were made), and what makes the photo unlike them."""
    for problem in reading.problems:
        right.warning(_("{problem}.").format(problem=problem), icon=":material/warning:")
    if reading.crop is not None and reading.ink != "grid":
        left.image(reading.crop, width=160)
        left.caption(_("found: {reading}").format(reading=reading.describe()))
    left.image(upscale(np.asarray(reading.image)))
    left.caption(
        _("the 8 × 8 grid made of it: ink per 4 × 4 block, 0..16, as the training digits were made")
    )


def inside_ui(
    predictor: Predictor, results: Sequence[ImageResult], model_key: str, digests: Sequence[str]
) -> None:
    good = {r.name: (r, d) for r, d in zip(results, digests, strict=True) if r.ok}
    if not good:
        return
    st.subheader(_("Inside the network"))
    name = st.selectbox(_("Image"), list(good), key="predict_inside_image")
    result, digest = good[name]
    assert result.model_input is not None
    left, right = st.columns(2)
    with left:
        stages = cam_stages(predictor.config)
        input_size = predictor.preprocess.input_size
        sides = cam_stage_sides(predictor.config, input_size)
        # The index only opens the box: the key keeps a stage the visitor chose.
        stage = st.selectbox(
            _("Grad-CAM at stage"),
            stages,
            index=stages.index(default_cam_stage(predictor.config, input_size)),
            format_func=lambda name: f"{name} ({sides[name]} × {sides[name]})",
            key="predict_cam_stage",
            help=_(
                "Opens on the deepest stage whose map is at least {side} × {side} (else on "
                "the largest map): a smaller map, upsampled, is a few flat blocks that show "
                "nothing of where the network looks."
            ).format(side=MIN_CAM_SIDE),
        )
        st.caption(
            _("{stage}'s map is {side} × {side}, upsampled to the {input} × {input} input.").format(
                stage=stage, side=sides[stage], input=input_size
            )
        )
        head = st.selectbox(_("for the top class of"), predictor.heads, key="predict_cam_head")
        try:
            with st.spinner(_("Computing Grad-CAM…")):
                cam = cached_grad_cam(model_key, digest, stage, head, predictor, result.model_input)
        except ValueError as exc:
            st.info(literal(exc), icon=":material/info:")
        except Exception as exc:  # noqa: BLE001 - out of memory on a huge network, say
            st.error(
                _("Grad-CAM failed: {error}").format(
                    error=literal(f"{type(exc).__name__}: {first_line(exc)}")
                )
            )
        else:
            image = display_image(result.model_input, predictor.preprocess)
            chart(grad_cam_figure(image, cam), "predict_cam")
    with right:
        blocks = inception_blocks(predictor.config)
        block = st.selectbox(_("Inception block"), blocks, key="predict_block")
        try:
            with st.spinner(_("Running the block's branches…")):
                maps = cached_branch_maps(model_key, digest, block, predictor, result.model_input)
        except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
            st.error(
                _("The branches failed: {error}").format(
                    error=literal(f"{type(exc).__name__}: {first_line(exc)}")
                )
            )
        else:
            chart(branch_maps_figure(maps), "predict_branches")


def main() -> None:
    st.title(_("Predict"))
    st.caption(
        _(
            "Upload photos and see what every head of GoogLeNet says — the main classifier "
            "and the auxiliary heads after inception4a and 4d, labelled by position — where "
            "it looks (Grad-CAM), and what each branch of an Inception block picks up."
        )
    )
    if _LOAD_ERROR not in st.session_state:
        st.session_state[_LOAD_ERROR] = None
    predictor = model_ui()
    choice: ModelChoice | None = st.session_state.get(_MODEL)
    if predictor is None or choice is None:
        st.info(_("Load a model above to start."), icon=":material/arrow_upward:")
        return
    model_summary_ui(predictor, choice)
    files = images_ui(predictor)
    if not files:
        return
    model_key = repr(choice)
    digests = tuple(
        hashlib.sha256(name.encode() + b"\0" + data).hexdigest() for name, data in files
    )
    try:
        with st.spinner(_("Predicting…")):
            results = cached_predictions(model_key, digests, 5, active_language(), predictor, files)
    except Exception as exc:  # noqa: BLE001 - whatever the files provoke: one sentence
        st.error(
            _("Prediction failed: {error}").format(
                error=literal(f"{type(exc).__name__}: {first_line(exc)}")
            ),
            icon=":material/error:",
        )
        return
    results_ui(predictor, results)
    inside_ui(predictor, results, model_key, digests)


run_page("Predict", main)
