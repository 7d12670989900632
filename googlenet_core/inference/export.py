"""A network with its weights in formats other tools read: safetensors and ONNX.

- :func:`save_safetensors` / :func:`load_safetensors`: the weights (made contiguous:
  safetensors refuses views) with the network's config, class names and
  preprocessing as JSON in the file's metadata, so the file alone rebuilds the model.
  Nothing in it is executed when read.
- :func:`plain_pytorch_zip`: what the dashboard hands out for a run: the network as one
  plain PyTorch file, its weights as a bare ``state_dict`` that file loads strictly, and
  the run's model card, in one zip.
- :func:`save_onnx`: the main classifier as an ONNX graph with a dynamic batch, for
  Netron and other runtimes. Needs the optional packages ``onnx`` and ``onnxscript``
  (``pip install "googlenet-core[onnx]"``); without them, one sentence says so.

The plain PyTorch file is :mod:`..network.codegen`.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import torch

from .._io import atomic_write_bytes
from ..data.transforms import Preprocessing
from ..i18n import _, ngettext
from ..network.codegen import pytorch_source
from ..network.config import GoogLeNetConfig
from ..network.model import GoogLeNet, build_model
from .checkpoints import LoadedCheckpoint

SAFETENSORS_FORMAT = "googlenet_core.safetensors"
ONNX_PACKAGES = ("onnx", "onnxscript")


def save_safetensors(
    path: str | os.PathLike[str],
    model: GoogLeNet,
    class_names: Sequence[str],
    preprocessing: Preprocessing,
) -> None:
    atomic_write_bytes(path, safetensors_bytes(model, class_names, preprocessing))


def safetensors_bytes(
    model: GoogLeNet, class_names: Sequence[str], preprocessing: Preprocessing
) -> bytes:
    """The file :func:`save_safetensors` writes, as bytes (a download needs no temp file)."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    metadata = {
        "format": SAFETENSORS_FORMAT,
        "version": "1",
        "network": json.dumps(model.config.to_dict()),
        "class_names": json.dumps(list(class_names)),
        "preprocessing": json.dumps(
            {
                "input_size": preprocessing.input_size,
                "in_channels": preprocessing.in_channels,
                "mean": list(preprocessing.mean),
                "std": list(preprocessing.std),
            }
        ),
    }
    return save(tensors, metadata=metadata)


def plain_pytorch_zip(loaded: LoadedCheckpoint, stem: str, card: str | None = None) -> bytes:
    """A zip of ``<stem>.py`` (the network, torch only), ``<stem>.pt`` (its weights as a
    bare ``state_dict``) and, when given, ``MODEL_CARD.md``; the ``.py`` file's docstring
    shows how the two load together."""
    title = f"The network of run {stem}, as plain PyTorch; its weights are {stem}.pt."
    weights = io.BytesIO()
    state = {k: v.detach().cpu().contiguous().clone() for k, v in loaded.model.state_dict().items()}
    torch.save(state, weights)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{stem}.py", pytorch_source(loaded.config, title))
        archive.writestr(f"{stem}.pt", weights.getvalue())
        if card:
            archive.writestr("MODEL_CARD.md", card)
    return out.getvalue()


def load_safetensors(path: str | os.PathLike[str]) -> LoadedCheckpoint:
    """The model a :func:`save_safetensors` file describes, loaded strictly, in eval mode."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except Exception as exc:  # the library's own errors for a file that is not safetensors
        raise ValueError(
            _("{name} is not a readable safetensors file: {reason}").format(
                name=Path(path).name, reason=exc
            )
        ) from None
    if metadata.get("format") != SAFETENSORS_FORMAT:
        raise ValueError(
            _(
                "{name} has no googlenet_core metadata (network, classes, "
                "preprocessing): it was not exported by this project"
            ).format(name=Path(path).name)
        )
    config = GoogLeNetConfig.from_dict(json.loads(metadata["network"]))
    model = build_model(config)
    model.load_state_dict(tensors, strict=True)
    pre = json.loads(metadata["preprocessing"])
    preprocessing = Preprocessing(
        int(pre["input_size"]), int(pre["in_channels"]), tuple(pre["mean"]), tuple(pre["std"])
    )
    names = [str(n) for n in json.loads(metadata["class_names"])]
    return LoadedCheckpoint(model.eval(), config, names, preprocessing)


def onnx_missing() -> str | None:
    """Why ONNX export cannot run here, or None when it can."""
    missing = [p for p in ONNX_PACKAGES if importlib.util.find_spec(p) is None]
    if not missing:
        return None
    if len(missing) == 1:
        packages = missing[0]
    else:
        packages = _("{first} and {last}").format(first=", ".join(missing[:-1]), last=missing[-1])
    return ngettext(
        'ONNX export needs the optional package {packages}: pip install "googlenet-core[onnx]" '
        "(or pip install onnx onnxscript)",
        'ONNX export needs the optional packages {packages}: pip install "googlenet-core[onnx]" '
        "(or pip install onnx onnxscript)",
        len(missing),
    ).format(packages=packages)


def save_onnx(path: str | os.PathLike[str], model: GoogLeNet) -> None:
    """The main classifier as ONNX: input ``images`` (N x C x H x W), output ``logits``."""
    problem = onnx_missing()
    if problem:
        raise ValueError(problem)
    config = model.config
    x = torch.zeros(2, config.in_channels, config.input_size, config.input_size)
    model = model.eval()
    torch.onnx.export(
        model,
        (x,),
        str(path),
        input_names=["images"],
        output_names=["logits"],
        dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
        dynamo=True,
        verbose=False,
    )
