"""The Predict page's models: what a session chose, and the loaded models all sessions share.

A session's choice is one of three small frozen values (:data:`ModelChoice`): the
ImageNet weights, a run's best checkpoint, or an uploaded file. Each says how it is
named on the page and loads itself through a process-wide cache
(``st.cache_resource``), so thirty students choosing the same run load it once. Every
load goes through :mod:`googlenet_core.inference.checkpoints`' checked path.

A loaded model is shared by sessions in either language, so what a page says about it
(its label, where it came from, the spinner while it loads) comes from the choice, in
the visitor's language, never from text cached with the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from googlenet_core.i18n import N_, _
from googlenet_core.inference.checkpoints import CheckpointError, load_checkpoint
from googlenet_core.inference.predictor import Predictor
from googlenet_core.inference.pretrained import WEIGHTS, load_pretrained
from googlenet_core.network.config import GoogLeNetConfig

#: The Upload source's networks for a plain state_dict, besides the presets (option values,
#: shown through :func:`network_label`).
CURRENT_NETWORK = N_("the current network")
TORCHVISION_IMAGENET = N_("torchvision, ImageNet input (transform_input)")


def network_label(network: str) -> str:
    """An option of the state_dict network box as shown: a preset's name as it is."""
    return _(network) if network in (CURRENT_NETWORK, TORCHVISION_IMAGENET) else network


# No show_spinner text: a decorator's text is fixed at import, in no visitor's language.
# Each choice's load() says it instead (st.spinner shows only after half a second).
@st.cache_resource(max_entries=2, show_spinner=False)
def pretrained_predictor(drop_aux: bool) -> Predictor:
    return load_pretrained(drop_aux=drop_aux)


@st.cache_resource(max_entries=8, show_spinner=False)
def run_predictor(path: str, run_id: str, mtime_ns: int, drop_aux: bool) -> Predictor:
    loaded = load_checkpoint(path, drop_aux=drop_aux)
    # The model's own record, in English; the page says FromRun.source in its language.
    return Predictor.from_checkpoint(loaded, source=f"training run {run_id} (best.pt)")


@st.cache_resource(max_entries=4, show_spinner=False)
def upload_predictor(
    digest: str, name: str, network: str, network_json: str, drop_aux: bool, _data: bytes | None
) -> Predictor:
    """The uploaded file as a model; a plain state_dict goes into ``network`` (read once)."""
    if _data is None:
        raise CheckpointError(_("{name} is no longer in memory; upload it again").format(name=name))
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
        return _("the ImageNet weights")

    def source(self, predictor: Predictor) -> str:
        """Where the weights came from, one line."""
        return _("ImageNet-pretrained GoogLeNet (torchvision {weights})").format(weights=WEIGHTS)

    def load(self, data: bytes | None = None) -> Predictor:
        with st.spinner(_("Loading the ImageNet weights…")):
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
        return _("run {run_id}").format(run_id=self.run_id)

    def source(self, predictor: Predictor) -> str:
        """Where the weights came from, one line."""
        return _("training run {run_id} (best.pt)").format(run_id=self.run_id)

    def load(self, data: bytes | None = None) -> Predictor:
        with st.spinner(_("Loading the run's checkpoint…")):
            return run_predictor(self.path, self.run_id, self.mtime_ns, self.drop_aux)


@dataclass(frozen=True)
class Uploaded:
    """An uploaded checkpoint, by its content's digest; ``network`` for a plain state_dict."""

    digest: str
    name: str
    network: str  # as chosen on the page: CURRENT_NETWORK, a preset, TORCHVISION_IMAGENET
    network_json: str  # that network's config
    drop_aux: bool

    @property
    def label(self) -> str:
        return self.name

    def source(self, predictor: Predictor) -> str:
        """Where the weights came from, one line (a plain state_dict says its network)."""
        if predictor.plain_state_dict:
            return _("uploaded {name} (a state_dict, as {network})").format(
                name=self.name, network=network_label(self.network)
            )
        return _("uploaded {name}").format(name=self.name)

    def load(self, data: bytes | None = None) -> Predictor:
        """The model; its bytes are needed the first time (afterwards, from the cache)."""
        with st.spinner(_("Checking the uploaded checkpoint…")):
            return upload_predictor(
                self.digest, self.name, self.network, self.network_json, self.drop_aux, data
            )


#: What a session chose; ``repr`` of one is the key of its predictions in the caches.
ModelChoice = Pretrained | FromRun | Uploaded
