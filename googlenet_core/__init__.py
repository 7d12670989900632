"""googlenet_core: GoogLeNet (Szegedy et al., 2014) as one table of data.

The table drives a torchvision-exact model, an instant shape / parameter / MAC
calculator, training and prediction. This package never imports streamlit; the
dashboard in ``app.py`` and ``pages/`` is a thin layer over it.
"""

from .analysis import Analysis, LayerRow, StageRow, analyze, naive_vs_reduced
from .config import (
    CHANNEL_FIELDS,
    AuxSpec,
    ConvSpec,
    GoogLeNetConfig,
    InceptionSpec,
    PoolSpec,
    conv_out,
    minimum_input_size,
)
from .model import GoogLeNet, Heads, build_model
from .presets import base_preset, get_preset, list_presets, matching_preset, network_name

__all__ = [
    "CHANNEL_FIELDS",
    "Analysis",
    "AuxSpec",
    "ConvSpec",
    "GoogLeNet",
    "GoogLeNetConfig",
    "Heads",
    "InceptionSpec",
    "LayerRow",
    "PoolSpec",
    "StageRow",
    "analyze",
    "base_preset",
    "build_model",
    "conv_out",
    "get_preset",
    "list_presets",
    "matching_preset",
    "minimum_input_size",
    "naive_vs_reduced",
    "network_name",
]
