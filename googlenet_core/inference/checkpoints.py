"""The project's checkpoint format, and the only way a file becomes a model.

A checkpoint is one ``torch.save`` file holding plain data only::

    {"format": "googlenet_core.checkpoint", "format_version": 1,
     "config": GoogLeNetConfig.to_dict(), "class_names": [...],
     "preprocessing": {"input_size", "in_channels", "mean", "std"},
     "metrics": {...}, "state_dict": {name: tensor}}

It is read by :mod:`.safe_load` (size cap, the archive checked before
``torch.load(weights_only=True)``, every tensor owning its storage) and
nothing else: no pickle fallback, ever, so a file cannot run code.

:func:`load_checkpoint` is the whole path from a file to a model, and every
step refuses with a sentence (a :class:`CheckpointError`) instead of a
traceback: the schema (every field type-checked and bounded before it is
quoted), the config re-validated by :class:`GoogLeNetConfig` and its size
capped from the analysis before any weight is touched, the preprocessing
bounded and tied to the network's input side, a strict key and shape match
(every missing, unexpected and mis-shaped key listed), every tensor finite, and
a forward pass on a dummy batch. Nothing is returned until all of them pass,
so a caller that keeps its previous model until then never loses it.

Tutorials deploy without aux heads by building ``aux_logits=False`` and loading
with ``strict=False``, which also hides every real mismatch. ``drop_aux=True``
is the explicit version: it removes exactly the ``aux1.*`` / ``aux2.*`` keys,
reports them, and loads the rest strictly.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .._checks import shown
from .._io import atomic_torch_save, first_line
from ..data.transforms import Preprocessing
from ..i18n import N_, _
from ..network.analysis import analyze
from ..network.config import GoogLeNetConfig
from ..network.costs import forward_bytes
from ..network.model import HEAD_NAMES, GoogLeNet, build_model
from .safe_load import (
    MAX_CHECKPOINT_BYTES,
    CheckpointError,
    _listed,
    check_tensors,
    read_checkpoint_bytes,
    safe_torch_load,
)

FORMAT = "googlenet_core.checkpoint"
FORMAT_VERSION = 1
AUX_HEAD_NAMES = HEAD_NAMES[1:]  # the aux heads' module names: "aux1", "aux2"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_REQUIRED_FIELDS = ("format", "format_version", "config", "class_names", "preprocessing")
#: The largest network a file may hold: a float32 model of the largest file accepted.
MAX_PARAMS = MAX_CHECKPOINT_BYTES // 4
#: Memory one image may need on its way through the network (the dry run, prediction).
MAX_ACTIVATION_BYTES = 512 * 2**20
MAX_METRICS = 64  # entries in a checkpoint's metrics
MAX_TEXT = 200  # characters in a class name or a metric's text value

__all__ = [
    "FORMAT",
    "MAX_CHECKPOINT_BYTES",
    "CheckpointError",
    "LoadedCheckpoint",
    "MissingConfigError",
    "checkpoint_payload",
    "load_checkpoint",
    "model_from_state_dict",
    "save_checkpoint",
]


class MissingConfigError(CheckpointError):
    """A plain state_dict was given without the network config it belongs to."""


@dataclass
class LoadedCheckpoint:
    model: GoogLeNet
    config: GoogLeNetConfig
    class_names: list[str]
    preprocessing: Preprocessing
    metrics: dict[str, Any] = field(default_factory=dict)
    dropped_keys: list[str] = field(default_factory=list)  # aux-head keys removed by drop_aux
    plain_state_dict: bool = False  # a bare state_dict, loaded into a network the caller chose


def checkpoint_payload(
    model: nn.Module,
    config: GoogLeNetConfig,
    class_names: Sequence[str],
    preprocessing: Preprocessing,
    metrics: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    if len(class_names) != config.num_classes:
        raise ValueError(
            f"{len(class_names)} class names for a network with {config.num_classes} outputs"
        )
    # Contiguous copies on the CPU: each tensor owns exactly its storage, as loading demands.
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "class_names": [str(c) for c in class_names],
        "preprocessing": preprocessing.to_dict(),
        "metrics": dict(metrics or {}),
        "state_dict": state,
    }


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    config: GoogLeNetConfig,
    class_names: Sequence[str],
    preprocessing: Preprocessing,
    metrics: Mapping[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically (the previous file survives a crash mid-write)."""
    # DistributedDataParallel wraps the model; save the inner module's keys.
    inner = getattr(model, "module", model)
    atomic_torch_save(checkpoint_payload(inner, config, class_names, preprocessing, metrics), path)


# ---- loading -------------------------------------------------------------------------------


def load_checkpoint(
    source: str | os.PathLike[str] | bytes,
    *,
    drop_aux: bool = False,
    max_bytes: int = MAX_CHECKPOINT_BYTES,
    config: GoogLeNetConfig | None = None,
    fallback_config: GoogLeNetConfig | None = None,
    class_names: Sequence[str] | None = None,
    preprocessing: Preprocessing | None = None,
) -> LoadedCheckpoint:
    """A verified model from a checkpoint file (path or bytes), or a CheckpointError.

    A file in this project's format carries its own config, class names and
    preprocessing. A plain torchvision-format state_dict (``torch.save(
    model.state_dict(), f)``) needs ``config``, the network it was saved from;
    without one a :class:`MissingConfigError` says so. ``fallback_config`` is
    that network when the caller does not know which kind of file it has (a
    project checkpoint then ignores it), so the file is read once. A plain
    state_dict's class names default to ImageNet's categories for 1000 outputs
    and to "0", "1", ... otherwise, its preprocessing to the config's input size
    with ImageNet (RGB) or 0.5 (other) mean and std.
    """
    payload = safe_torch_load(read_checkpoint_bytes(source, max_bytes), max_bytes)
    if isinstance(payload, Mapping) and "format" in payload:
        if config is not None:
            raise CheckpointError(
                _(
                    "this file is a googlenet_core checkpoint and carries its own network "
                    "config; load it without choosing one"
                )
            )
        return _load_project_checkpoint(payload, drop_aux)
    if isinstance(payload, Mapping) and payload and all(isinstance(k, str) for k in payload):
        config = config or fallback_config
        if config is None:
            raise MissingConfigError(
                _(
                    "this file is a plain state_dict with no network config; choose the network "
                    "it was saved from (e.g. the torchvision preset for torchvision's googlenet)"
                )
            )
        state = _strip_prefix(payload, "module.")  # saved from a DataParallel wrapper
        loaded = model_from_state_dict(
            state,
            config,
            class_names if class_names is not None else default_class_names(config),
            preprocessing if preprocessing is not None else default_preprocessing(config),
            drop_aux=drop_aux,
        )
        return dataclasses.replace(loaded, plain_state_dict=True)
    raise CheckpointError(
        _(
            "not a checkpoint: the file holds {what}, not a googlenet_core "
            "checkpoint or a state_dict"
        ).format(what=shown(payload))
    )


def model_from_state_dict(
    state_dict: Mapping[str, Any],
    config: GoogLeNetConfig,
    class_names: Sequence[str],
    preprocessing: Preprocessing,
    metrics: Mapping[str, Any] | None = None,
    *,
    drop_aux: bool = False,
) -> LoadedCheckpoint:
    """Build ``config``'s network and load ``state_dict`` into it, checking every step.

    The one path every set of weights takes (files, runs, torchvision's download).
    """
    _check_size(config)
    state = check_tensors(state_dict)
    dropped: list[str] = []
    if drop_aux:
        dropped = [k for k in state if k.split(".", 1)[0] in AUX_HEAD_NAMES]
        state = {k: v for k, v in state.items() if k not in set(dropped)}
        config = _validated(lambda: dataclasses.replace(config, aux_logits=False))
    names = _check_class_names(class_names, config.num_classes)
    if preprocessing.in_channels != config.in_channels:
        raise CheckpointError(
            _(
                "preprocessing gives {given}-channel images to a network that takes {expected}"
            ).format(given=preprocessing.in_channels, expected=config.in_channels)
        )
    if preprocessing.input_size != config.input_size:
        raise CheckpointError(
            _(
                "preprocessing resizes images to {given} px for a network built for "
                "{expected} px; a checkpoint records the side it was trained at"
            ).format(given=preprocessing.input_size, expected=config.input_size)
        )
    # Built on the meta device: no time spent on a random init that the weights replace.
    with torch.device("meta"):
        model = build_model(config)
    expected = model.state_dict()
    _check_fit(expected, state, drop_aux)
    _check_finite(state)
    # Own copies in the network's dtypes (a float16 file gives a float32 model), so
    # tensors that share storage in the file do not share it in the model.
    state = {k: v.detach().to(dtype=expected[k].dtype, copy=True) for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:  # _check_fit should have caught it; never a traceback
        raise CheckpointError(
            _("the weights do not load: {reason}").format(reason=first_line(exc, 300))
        ) from None
    model.eval()
    _dry_run(model, preprocessing.input_size)
    return LoadedCheckpoint(model, config, names, preprocessing, dict(metrics or {}), dropped)


def default_class_names(config: GoogLeNetConfig) -> list[str]:
    """ImageNet's 1000 categories for a 1000-way network, else "0", "1", ..."""
    if config.num_classes == 1000:
        from torchvision.models import GoogLeNet_Weights

        return list(GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"])
    return [str(i) for i in range(config.num_classes)]


def default_preprocessing(config: GoogLeNetConfig) -> Preprocessing:
    """The config's input size; ImageNet mean/std for RGB, 0.5/0.5 for other channel counts."""
    if config.in_channels == 3:
        return Preprocessing(config.input_size, 3, IMAGENET_MEAN, IMAGENET_STD)
    n = config.in_channels
    return Preprocessing(config.input_size, n, (0.5,) * n, (0.5,) * n)


def _load_project_checkpoint(payload: Mapping[str, Any], drop_aux: bool) -> LoadedCheckpoint:
    if payload.get("format") != FORMAT:
        raise CheckpointError(
            _("not a googlenet_core checkpoint: format is {format}").format(
                format=shown(payload.get("format"))
            )
        )
    missing = [k for k in (*_REQUIRED_FIELDS, "state_dict") if k not in payload]
    if missing:
        raise CheckpointError(_("the checkpoint lacks {fields}").format(fields=", ".join(missing)))
    version = payload["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(
            _("format_version must be a positive integer, got {value}").format(value=shown(version))
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            _(
                "the checkpoint has format_version {version}; this version of googlenet_core "
                "reads up to {supported} (update it)"
            ).format(version=version, supported=FORMAT_VERSION)
        )
    raw_config = payload["config"]
    config = _validated(lambda: GoogLeNetConfig.from_dict(raw_config))
    if not isinstance(payload["preprocessing"], Mapping):
        raise CheckpointError(_("preprocessing must be a mapping"))
    try:
        preprocessing = Preprocessing.from_dict(payload["preprocessing"])
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    metrics = _check_metrics(payload.get("metrics") or {})
    return model_from_state_dict(
        payload["state_dict"],
        config,
        payload["class_names"],
        preprocessing,
        metrics,
        drop_aux=drop_aux,
    )


def _validated(make: Any) -> GoogLeNetConfig:
    try:
        config: GoogLeNetConfig = make()
    except ValueError as exc:
        raise CheckpointError(
            _("the network config is invalid: {reason}").format(reason=exc)
        ) from None
    return config


def _check_size(config: GoogLeNetConfig) -> None:
    """Refuse, from the analysis alone, a network too big to build or to run one image."""
    analysis = analyze(config)
    if analysis.total_params > MAX_PARAMS:
        raise CheckpointError(
            _(
                "the network has {n:,} parameters; a checkpoint may hold at most {limit:,} "
                "(the largest file accepted, in float32)"
            ).format(n=analysis.total_params, limit=MAX_PARAMS)
        )
    needed = forward_bytes(config)
    if needed > MAX_ACTIVATION_BYTES:
        raise CheckpointError(
            _(
                "one {side} px image needs about {mb:,.0f} MB to pass through this network; "
                "the limit is {limit} MB"
            ).format(side=config.input_size, mb=needed / 2**20, limit=MAX_ACTIVATION_BYTES // 2**20)
        )


def _check_metrics(metrics: Any) -> dict[str, Any]:
    """A flat mapping of short names to numbers or short text, nothing that could grow."""
    if not isinstance(metrics, Mapping):
        raise CheckpointError(
            _("metrics must be a mapping, got {value}").format(value=shown(metrics))
        )
    if len(metrics) > MAX_METRICS:
        raise CheckpointError(
            _("metrics has {n:,} entries; at most {limit}").format(
                n=len(metrics), limit=MAX_METRICS
            )
        )
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or len(key) > 64:
            raise CheckpointError(
                _("metrics names must be short text, got {value}").format(value=shown(key))
            )
        ok = value is None or isinstance(value, (bool, int)) and not _huge(value)
        ok = ok or isinstance(value, float) and math.isfinite(value)
        ok = ok or isinstance(value, str) and len(value) <= MAX_TEXT
        if not ok:
            raise CheckpointError(
                _("metrics[{key}] must be a finite number or short text, got {value}").format(
                    key=shown(key), value=shown(value)
                )
            )
        out[key] = value
    return out


def _huge(value: int) -> bool:
    return value.bit_length() > 63


def _check_class_names(class_names: Any, num_classes: int) -> list[str]:
    if not isinstance(class_names, (list, tuple)):
        raise CheckpointError(
            _("class_names must be a list of text, got {value}").format(value=shown(class_names))
        )
    if len(class_names) != num_classes:
        raise CheckpointError(
            _("{n:,} class names for a network with {outputs:,} outputs").format(
                n=len(class_names), outputs=num_classes
            )
        )
    for name in class_names:
        if not isinstance(name, str) or len(name) > MAX_TEXT:
            raise CheckpointError(
                _("class names must be text of at most {limit} characters, got {value}").format(
                    limit=MAX_TEXT, value=shown(name)
                )
            )
    return list(class_names)


def _check_fit(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor], drop_aux: bool
) -> None:
    """Every key present, none extra, every shape and kind equal; all problems at once."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    in_file = _("{key} is {given} in the file, {expected} in the network")
    wrong_shape = [
        in_file.format(key=k, given=_shape(given[k]), expected=_shape(v))
        for k, v in expected.items()
        if k in given and given[k].shape != v.shape
    ]
    wrong_kind = [
        in_file.format(key=k, given=given[k].dtype, expected=v.dtype)
        for k, v in expected.items()
        if k in given and not _same_kind(given[k].dtype, v.dtype)
    ]
    if not (missing or unexpected or wrong_shape or wrong_kind):
        return
    lines = [_("the weights do not fit the network:")]
    for line, keys in (
        (_MISSING_KEYS, missing),
        (_UNEXPECTED_KEYS, unexpected),
        (_WRONG_SHAPE, wrong_shape),
        (_WRONG_TYPE, wrong_kind),
    ):
        if keys:
            lines.append(_(line).format(n=len(keys), keys=_listed(keys, "; ")))
    if unexpected and all(_is_aux(k) for k in unexpected) and not drop_aux:
        lines.append(
            _(
                "The file has aux-head weights the network lacks: load with drop_aux to remove "
                "exactly those keys."
            )
        )
    if missing and all(_is_aux(k) for k in missing):
        lines.append(
            _(
                "The file has no aux-head weights: choose a network without aux heads "
                "(aux_logits off) or load with drop_aux."
            )
        )
    raise CheckpointError("\n".join(lines))


# One line of _check_fit's list per kind of mismatch.
_MISSING_KEYS = N_("- missing ({n}): {keys}")
_UNEXPECTED_KEYS = N_("- unexpected ({n}): {keys}")
_WRONG_SHAPE = N_("- wrong shape ({n}): {keys}")
_WRONG_TYPE = N_("- wrong type ({n}): {keys}")


def _check_finite(state: Mapping[str, torch.Tensor]) -> None:
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(
            _("non-finite values (NaN or infinity) in {keys}").format(keys=_listed(bad))
        )


def _dry_run(model: GoogLeNet, input_size: int) -> None:
    """One forward pass on a fixed random batch: every head must give finite scores."""
    config = model.config
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, config.in_channels, input_size, input_size, generator=generator)
    try:
        with torch.no_grad():
            heads = model.forward_heads(x)
    except Exception as exc:  # noqa: BLE001 - whatever the weights do, one sentence
        raise CheckpointError(
            _("the network fails on a {side} px input: {reason}").format(
                side=input_size, reason=first_line(exc, 300)
            )
        ) from None
    for name, out in heads.named():
        if tuple(out.shape) != (1, config.num_classes):
            raise CheckpointError(
                _("{head} gives shape {shape}, not 1x{classes}").format(
                    head=name, shape=_shape(out), classes=config.num_classes
                )
            )
        if not torch.isfinite(out).all():
            raise CheckpointError(
                _("{head} gives non-finite scores on a test input (the weights overflow)").format(
                    head=name
                )
            )


def _strip_prefix(state: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    if all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


def _same_kind(given: torch.dtype, expected: torch.dtype) -> bool:
    # float16/bfloat16/float64 weights load into float32 parameters; integers into the
    # BatchNorm counters. Complex and bool never mean weights.
    if given in (torch.bool, torch.complex64, torch.complex128):
        return False
    return given.is_floating_point == expected.is_floating_point


def _is_aux(key: str) -> bool:
    return key.split(".", 1)[0] in AUX_HEAD_NAMES


def _shape(t: torch.Tensor) -> str:
    return "x".join(str(d) for d in t.shape) or _("a scalar")
