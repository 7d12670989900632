"""What the command-line tools share: choosing a network, and how errors end a command."""

from __future__ import annotations

from ..network.config import GoogLeNetConfig
from ..network.editing import import_json
from ..network.presets import get_preset


def load_network(preset: str | None, config_file: str | None) -> GoogLeNetConfig:
    """A preset by name, or a config JSON exported from the dashboard (size-capped)."""
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise ValueError(f"cannot read {config_file}: {exc.strerror}") from None
        return import_json(data)
    return get_preset(preset or "torchvision")
