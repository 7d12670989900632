"""googlenet_core: GoogLeNet (Szegedy et al., 2014) as one table of data.

The table drives a torchvision-exact model, an instant shape / parameter / MAC
calculator, training and prediction. This package never imports streamlit; the
dashboard in ``app.py`` and ``pages/`` is a thin layer over it. Imports run one
way, and the folders say how::

    network/    the table, presets, model, calculator     (imports nothing else here)
    data/       images and data sets                        (network: none)
    inference/  checkpoints, pretrained weights, prediction (network, data)
    training/   recipe, planner, trainer, run store, jobs  (network, data, inference)
    figures/    plotly figures of all of the above
    cli/        python -m googlenet_core ...
"""

from .network.analysis import Analysis, LayerRow, StageRow, analyze, naive_vs_reduced
from .network.config import (
    CHANNEL_FIELDS,
    AuxSpec,
    ConvSpec,
    GoogLeNetConfig,
    InceptionSpec,
    PoolSpec,
    conv_out,
    minimum_input_size,
)
from .network.model import GoogLeNet, Heads, build_model
from .network.presets import (
    base_preset,
    get_preset,
    list_presets,
    matching_preset,
    network_name,
)

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
