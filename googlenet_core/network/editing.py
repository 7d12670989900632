"""The logic behind the dashboard's editors, free of any UI.

The Architect page edits a :class:`GoogLeNetConfig` through a table with one
row per Inception block (the paper's Table 1 columns, plus read-only columns
derived by the calculator), a few network-wide settings, and add / remove
block buttons. A design travels in the page URL as ``?preset=NAME`` when it is
a preset and as a compact token (zlib + base64url of the config JSON)
otherwise, and as a JSON file for download and upload.

Every function here returns a new, validated config or raises ``ValueError``
with googlenet_core's sentence naming the block and the field; nothing a user
types or a link carries can raise anything else.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import re
import zlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import pandas as pd

from .._checks import shown
from ..i18n import _
from .analysis import Analysis, analyze
from .config import CHANNEL_FIELDS, MAX_CHANNELS, GoogLeNetConfig, InceptionSpec, spatial_sides
from .presets import get_preset, matching_preset, with_blocks

#: The query parameters that carry a design in the URL.
PRESET_PARAM = "preset"
TOKEN_PARAM = "net"

#: A version tag in front of every token, so a later format can tell old links apart.
TOKEN_PREFIX = "v1."
#: Longest token accepted from a URL. The largest design the validator allows
#: (24 blocks, 8 stem convs) encodes to about 2,000 characters; 8,000 keeps the
#: whole URL under the 8 KB request-line limit of common proxies.
MAX_TOKEN_CHARS = 8_000
#: Largest config JSON accepted from a token or an uploaded file. A maximal
#: design is under 10 KB of JSON; the cap stops a small "zip bomb" token or a
#: large upload before it reaches the JSON parser.
MAX_CONFIG_JSON_BYTES = 64 * 1024

#: Read-only columns of the blocks table, derived from the config by the calculator.
COMPUTED_COLUMNS: tuple[str, ...] = ("in_channels", "out_channels", "side", "params", "macs")
#: Every column of the blocks table, in display order.
BLOCK_COLUMNS: tuple[str, ...] = ("name", *CHANNEL_FIELDS, *COMPUTED_COLUMNS)


# ---- the Inception table -------------------------------------------------------------
def blocks_frame(config: GoogLeNetConfig) -> pd.DataFrame:
    """One row per Inception block: its six channel numbers and derived columns.

    ``in_channels`` and ``out_channels`` are the depths into and out of the
    block, ``side`` its feature-map side in pixels, ``params`` and ``macs``
    its cost (from :func:`analyze`, so they match the Shapes page).
    """
    analysis = analyze(config)
    in_depths = config.block_in_channels()
    sides = spatial_sides(config, config.input_size)
    records = []
    for block in config.blocks:
        row = analysis.row(block.name)
        records.append(
            {
                "name": block.name,
                **{f: getattr(block, f) for f in CHANNEL_FIELDS},
                "in_channels": in_depths[block.name],
                "out_channels": block.out_channels,
                "side": sides[block.name],
                "params": row.params,
                "macs": row.macs,
            }
        )
    return pd.DataFrame.from_records(records, columns=list(BLOCK_COLUMNS))


def _whole_number(value: object) -> object:
    """``64.0`` or ``" 64 "`` -> 64; anything else is returned for the validator to name.

    The editor hands back numpy scalars, floats (a column with a blank cell
    becomes float) or text; the config's own validation then turns 2.5,
    ``"abc"``, NaN or a blank into a sentence naming the block and field.
    """
    if isinstance(value, bool):
        return value
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar -> Python number
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,12}\s*", value):
        return int(value)
    return value


def _blocks_from_frame(config: GoogLeNetConfig, frame: pd.DataFrame) -> tuple[InceptionSpec, ...]:
    """The Inception table from the (edited) rows of ``frame``, matched to blocks by name.

    Computed columns are ignored; each block keeps its ``branch3_kernel``.
    """
    by_name = {block.name: block for block in config.blocks}
    missing = [f for f in ("name", *CHANNEL_FIELDS) if f not in frame.columns]
    if missing:
        raise ValueError(
            _("the blocks table lacks the column(s) {columns}").format(columns=", ".join(missing))
        )
    blocks: list[InceptionSpec] = []
    for record in frame.to_dict("records"):
        name = record["name"]
        if name not in by_name:
            raise ValueError(
                _("the blocks table has a row {name} that is not a block").format(name=shown(name))
            )
        # Any: the values are whatever was typed; InceptionSpec's validation sorts them out.
        channels: dict[str, Any] = {f: _whole_number(record[f]) for f in CHANNEL_FIELDS}
        for field_name, value in channels.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                raise ValueError(
                    _(
                        "{block}: {field} is empty or not a number; "
                        "type a whole number between 1 and {limit}"
                    ).format(block=name, field=field_name, limit=MAX_CHANNELS)
                )
        blocks.append(dataclasses.replace(by_name[name], **channels))
    return tuple(blocks)


def apply_edits(
    config: GoogLeNetConfig,
    blocks: pd.DataFrame | None = None,
    *,
    input_size: object = None,
    in_channels: object = None,
    num_classes: object = None,
    aux_logits: bool | None = None,
) -> GoogLeNetConfig:
    """The config with an edited blocks table and/or new network-wide settings.

    Everything is applied in one step and validated once, so the error names
    the block or setting at fault (too small an input for the edited network
    included). ``None`` leaves a part unchanged.
    """
    changes: dict[str, Any] = {}
    if blocks is not None:
        changes["blocks"] = _blocks_from_frame(config, blocks)
    settings = {"input_size": input_size, "in_channels": in_channels, "num_classes": num_classes}
    for name, value in settings.items():
        if value is not None:
            changes[name] = _whole_number(value)
    if aux_logits is not None:
        changes["aux_logits"] = aux_logits
    return dataclasses.replace(config, **changes)


def _new_block_name(config: GoogLeNetConfig, after: str) -> str:
    """The next free name in ``after``'s stage: inception4e -> inception4f, else a suffix."""
    taken = {s.name for s in config.stages()} | {p.name for p in config.pools}
    taken |= {h.name for h in config.aux_heads}
    match = re.fullmatch(r"(.*\d)([a-z])", after)
    if match:
        for letter in range(ord(match.group(2)) + 1, ord("z") + 1):
            candidate = f"{match.group(1)}{chr(letter)}"
            if candidate not in taken:
                return candidate
    number = 2
    while f"{after}_{number}" in taken:
        number += 1
    return f"{after}_{number}"


def add_block(config: GoogLeNetConfig, after: str) -> GoogLeNetConfig:
    """Insert a copy of block ``after`` right behind it, in the same stage.

    A max-pool that followed ``after`` now follows the copy, so the new block
    works at the same resolution as its twin (adding a block "to stage 4"
    keeps it at 14x14). Aux heads stay where they were.
    """
    names = [b.name for b in config.blocks]
    if after not in names:
        raise ValueError(_("there is no block named {name!r}").format(name=after))
    index = names.index(after)
    copy = dataclasses.replace(config.blocks[index], name=_new_block_name(config, after))
    blocks = (*config.blocks[: index + 1], copy, *config.blocks[index + 1 :])
    pools = tuple(
        dataclasses.replace(p, after=copy.name) if p.after == after else p for p in config.pools
    )
    return dataclasses.replace(config, blocks=blocks, pools=pools)


def remove_block(config: GoogLeNetConfig, name: str) -> GoogLeNetConfig:
    """Drop block ``name``; pools and aux heads on it move to the block before it."""
    if name not in [b.name for b in config.blocks]:
        raise ValueError(_("there is no block named {name!r}").format(name=name))
    if len(config.blocks) == 1:
        raise ValueError(
            _("{name} is the only Inception block; a network needs at least one").format(name=name)
        )
    return with_blocks(config, tuple(b for b in config.blocks if b.name != name))


# ---- display tables ---------------------------------------------------------------------
def stage_table(analysis: Analysis) -> pd.DataFrame:
    """The stage rows with a ``params_share`` column (fraction of all parameters)."""
    frame = analysis.to_frame()
    total = analysis.total_params or 1
    frame["params_share"] = frame["params"] / total
    return frame


# ---- JSON files -------------------------------------------------------------------------
def export_json(config: GoogLeNetConfig) -> str:
    """The config as indented JSON, the file the dashboard downloads and the CLI reads."""
    return config.to_json(indent=2) + "\n"


def _config_from_json_bytes(data: bytes, from_file: bool) -> GoogLeNetConfig:
    if len(data) > MAX_CONFIG_JSON_BYTES:
        if from_file:
            message = _("the file is {size:,} bytes; a network config is at most {limit:,} bytes")
        else:
            message = _(
                "the network code is {size:,} bytes; a network config is at most {limit:,} bytes"
            )
        raise ValueError(message.format(size=len(data), limit=MAX_CONFIG_JSON_BYTES))
    return GoogLeNetConfig.from_json(data)


def import_json(data: bytes | str) -> GoogLeNetConfig:
    """A config from an uploaded JSON file; ValueError says what is wrong with it."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return _config_from_json_bytes(raw, from_file=True)


# ---- the URL ----------------------------------------------------------------------------
def encode_token(config: GoogLeNetConfig) -> str:
    """A URL-safe token for a custom design: ``v1.`` + base64url(zlib(compact JSON))."""
    packed = zlib.compress(config.to_json(separators=(",", ":")).encode("utf-8"), 9)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def decode_token(token: str) -> GoogLeNetConfig:
    """The config inside a token; ValueError for anything damaged, oversized or invalid.

    The token length is capped before decoding and the decompressed size while
    decompressing, so a crafted link cannot make the server inflate megabytes.
    """
    if len(token) > MAX_TOKEN_CHARS:
        raise ValueError(
            _("the network code is {size:,} characters; the limit is {limit:,}").format(
                size=len(token), limit=MAX_TOKEN_CHARS
            )
        )
    if not token.startswith(TOKEN_PREFIX):
        raise ValueError(
            _("the network code does not start with {prefix!r}").format(prefix=TOKEN_PREFIX)
        )
    body = token[len(TOKEN_PREFIX) :]
    if not re.fullmatch(r"[A-Za-z0-9_-]+", body):
        raise ValueError(_("the network code has characters that base64url does not use"))
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(_("the network code is damaged (not valid base64url)")) from None
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, MAX_CONFIG_JSON_BYTES + 1)
    except zlib.error:
        raise ValueError(_("the network code is damaged (not zlib data)")) from None
    if len(raw) > MAX_CONFIG_JSON_BYTES or inflater.unconsumed_tail:
        raise ValueError(
            _("the network code expands to more than {limit:,} bytes of JSON").format(
                limit=MAX_CONFIG_JSON_BYTES
            )
        )
    if not inflater.eof:
        raise ValueError(_("the network code is cut short"))
    return _config_from_json_bytes(raw, from_file=False)


def query_for(config: GoogLeNetConfig) -> dict[str, str]:
    """The query parameters that describe ``config``: a preset name, or a token."""
    return dict(_query_for(config))


@lru_cache(maxsize=64)
def _query_for(config: GoogLeNetConfig) -> tuple[tuple[str, str], ...]:
    # Cached: every page run syncs the URL, and matching a preset builds all of them.
    preset = matching_preset(config)
    if preset is not None:
        return ((PRESET_PARAM, preset),)
    return ((TOKEN_PARAM, encode_token(config)),)


def _single(value: Any) -> str:
    """A query value as one string (the last of a repeated key, as st.query_params does)."""
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return str(value)


def config_from_query(params: Mapping[str, Any]) -> GoogLeNetConfig | None:
    """The design a URL carries, None when it carries none, ValueError when it is bad.

    ``?net=TOKEN`` wins over ``?preset=NAME`` when a hand-edited link has both.
    """
    if TOKEN_PARAM in params:
        return decode_token(_single(params[TOKEN_PARAM]))
    if PRESET_PARAM in params:
        return get_preset(_single(params[PRESET_PARAM]))
    return None
