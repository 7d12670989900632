"""ImageNet-pretrained GoogLeNet through torchvision's own weights API.

``torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1`` gives everything: the
file's address and hash, the 1000 category names (``meta["categories"]``) and
the preprocessing (``transforms()``: resize 256, centre crop 224, ImageNet
mean/std). The file (about 50 MB) goes where torchvision keeps it,
``<torch hub dir>/checkpoints/googlenet-1378be20.pth``, so it is downloaded once
per host and shared with any other torchvision user there.

The download is done here rather than by ``torch.hub`` so that a caller can
show progress; it checks the same SHA-256 prefix torchvision checks and writes
atomically. Loading then goes through torchvision's
``weights.get_state_dict(weights_only=True)`` (which finds the cached file) and
this project's checked path into the ``"torchvision"`` preset with
``transform_input=True``, exactly as ``torchvision.models.googlenet(weights=...)``
builds it.

torchvision's ImageNet weights come with untrained aux heads ("auxiliary heads
in the pretrained googlenet model are NOT pretrained"): only the main head's
predictions mean anything, and the predictor says so.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from urllib.parse import urlparse

import torch
from torchvision.models import GoogLeNet_Weights

from .._io import DownloadError, ProgressFn, download, first_line
from ..data.transforms import Preprocessing
from ..i18n import _
from ..network.config import GoogLeNetConfig
from ..network.presets import get_preset
from .checkpoints import CheckpointError, model_from_state_dict
from .predictor import Predictor, WeightsTransforms

WEIGHTS = GoogLeNet_Weights.IMAGENET1K_V1
_HASH_PREFIX = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's convention: name-<sha256 prefix>.pth

#: ``progress(bytes so far, total bytes or None)`` while the weights download.
ProgressCallback = ProgressFn


class PretrainedUnavailable(ValueError):
    """The ImageNet weights cannot be had (offline, or a bad download); the message says why."""


def imagenet_network() -> GoogLeNetConfig:
    """The network torchvision's ImageNet weights belong to.

    As ``torchvision.models.googlenet(weights=...)`` builds it: the torchvision
    preset with ``transform_input``, because those weights expect inputs scaled
    to [-1, 1], which it derives from the ImageNet-normalised tensor.
    """
    return dataclasses.replace(get_preset("torchvision"), transform_input=True)


def weights_path(hub_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where torchvision caches the weights file (whether or not it is there yet)."""
    base = Path(hub_dir) if hub_dir is not None else Path(torch.hub.get_dir())
    return base / "checkpoints" / os.path.basename(urlparse(WEIGHTS.url).path)


def is_downloaded(hub_dir: str | os.PathLike[str] | None = None) -> bool:
    return weights_path(hub_dir).is_file()


def imagenet_categories() -> list[str]:
    return list(WEIGHTS.meta["categories"])


def download_weights(
    progress: ProgressCallback | None = None,
    *,
    hub_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
) -> Path:
    """The cached weights file, downloading it first if needed (``url`` overrides the source).

    Raises :class:`PretrainedUnavailable` with a sentence when the download fails;
    nothing is left behind in the cache then.
    """
    target = weights_path(hub_dir)
    if target.is_file():
        return target
    source = url or WEIGHTS.url
    match = _HASH_PREFIX.search(target.name)
    digest = ("sha256", match.group(1)) if match and match.group(1) else None
    try:
        return download(source, target, digest=digest, progress=progress)
    except DownloadError as exc:
        if exc.corrupt:
            raise PretrainedUnavailable(
                _("the downloaded weights are corrupt ({reason}); try again").format(
                    reason=exc.reason
                )
            ) from None
        raise PretrainedUnavailable(
            _(
                "could not download the ImageNet weights (about 50 MB) from {host}: "
                "{reason}. They are needed once and then kept in {folder}. Without a "
                "connection, use a training run or upload a checkpoint instead."
            ).format(host=exc.host, reason=exc.reason, folder=target.parent)
        ) from None


def load_pretrained(
    progress: ProgressCallback | None = None,
    *,
    hub_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    drop_aux: bool = False,
) -> Predictor:
    """torchvision's ImageNet GoogLeNet as a :class:`Predictor` (downloading once if needed)."""
    path = download_weights(progress, hub_dir=hub_dir, url=url)
    try:
        # torchvision's own loader; it finds the file in its cache and does not download.
        state = WEIGHTS.get_state_dict(
            model_dir=str(path.parent), progress=False, check_hash=True, weights_only=True
        )
    except Exception as exc:  # noqa: BLE001 - a damaged cache file must not break the page
        raise PretrainedUnavailable(
            _(
                "the cached weights file {path} cannot be read ({reason}); "
                "delete it to download it again"
            ).format(path=path, reason=first_line(exc))
        ) from None
    transforms = WeightsTransforms(WEIGHTS.transforms())
    config = imagenet_network()
    preprocessing = Preprocessing(
        transforms.input_size, 3, transforms.mean, transforms.std
    )  # recorded with the model; the pixels go through torchvision's transforms
    try:
        loaded = model_from_state_dict(
            state, config, imagenet_categories(), preprocessing, drop_aux=drop_aux
        )
    except CheckpointError as exc:
        raise PretrainedUnavailable(
            _("the cached weights file {path} does not load: {reason}").format(
                path=path, reason=exc
            )
        ) from None
    return Predictor(
        model=loaded.model,
        class_names=loaded.class_names,
        preprocess=transforms,
        source=f"ImageNet-pretrained GoogLeNet (torchvision {WEIGHTS})",
        aux_trained=False,
        dropped_keys=tuple(loaded.dropped_keys),
        metrics={"ImageNet-1K acc@1": WEIGHTS.meta["_metrics"]["ImageNet-1K"]["acc@1"]},
    )
