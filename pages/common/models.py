"""The Predict page's models: what a session chose, and the loaded models all sessions share.

A session's choice is one of three small frozen values (:data:`ModelChoice`): the
ImageNet weights, a run's best checkpoint, or an uploaded file. Each says how it is
named on the page and loads itself through a process-wide cache
(``st.cache_resource``), so thirty students choosing the same run load it once. Every
load goes through :mod:`googlenet_core.inference.checkpoints`' checked path.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from googlenet_core.inference.checkpoints import CheckpointError, load_checkpoint
from googlenet_core.inference.predictor import Predictor
from googlenet_core.inference.pretrained import load_pretrained
from googlenet_core.network.config import GoogLeNetConfig


@st.cache_resource(max_entries=2, show_spinner="Loading the ImageNet weights…")
def pretrained_predictor(drop_aux: bool) -> Predictor:
    return load_pretrained(drop_aux=drop_aux)


@st.cache_resource(max_entries=8, show_spinner="Loading the run's checkpoint…")
def run_predictor(path: str, run_id: str, mtime_ns: int, drop_aux: bool) -> Predictor:
    loaded = load_checkpoint(path, drop_aux=drop_aux)
    return Predictor.from_checkpoint(loaded, source=f"training run {run_id} (best.pt)")


@st.cache_resource(max_entries=4, show_spinner="Checking the uploaded checkpoint…")
def upload_predictor(
    digest: str, name: str, network: str, network_json: str, drop_aux: bool, _data: bytes | None
) -> Predictor:
    """The uploaded file as a model; a plain state_dict goes into ``network`` (read once)."""
    if _data is None:
        raise CheckpointError(f"{name} is no longer in memory; upload it again")
    fallback = GoogLeNetConfig.from_json(network_json)
    loaded = load_checkpoint(_data, drop_aux=drop_aux, fallback_config=fallback)
    source = f"uploaded {name}" + (
        f" (a state_dict, as {network})" if loaded.plain_state_dict else ""
    )
    return Predictor.from_checkpoint(loaded, source=source)


@dataclass(frozen=True)
class Pretrained:
    """torchvision's ImageNet weights."""

    drop_aux: bool

    @property
    def label(self) -> str:
        return "the ImageNet weights"

    def load(self, data: bytes | None = None) -> Predictor:
        return pretrained_predictor(self.drop_aux)


@dataclass(frozen=True)
class FromRun:
    """A training run's best checkpoint, as it was when chosen (its modification time)."""

    path: str
    run_id: str
    mtime_ns: int
    drop_aux: bool

    @property
    def label(self) -> str:
        return f"run {self.run_id}"

    def load(self, data: bytes | None = None) -> Predictor:
        return run_predictor(self.path, self.run_id, self.mtime_ns, self.drop_aux)


@dataclass(frozen=True)
class Uploaded:
    """An uploaded checkpoint, by its content's digest; ``network`` for a plain state_dict."""

    digest: str
    name: str
    network: str  # as chosen on the page: "the current network", a preset, ...
    network_json: str  # that network's config
    drop_aux: bool

    @property
    def label(self) -> str:
        return self.name

    def load(self, data: bytes | None = None) -> Predictor:
        """The model; its bytes are needed the first time (afterwards, from the cache)."""
        return upload_predictor(
            self.digest, self.name, self.network, self.network_json, self.drop_aux, data
        )


#: What a session chose; ``repr`` of one is the key of its predictions in the caches.
ModelChoice = Pretrained | FromRun | Uploaded
