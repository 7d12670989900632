"""Validation at the door, one wording for every config of the package.

The network's specs (:mod:`.network.config`) and the training recipe
(:mod:`.training.config`) are frozen dataclasses that validate in
``__post_init__`` with these checks, so a value typed into the dashboard, a
flag on the command line or a key in a JSON file is refused with the same kind
of sentence: who (the block, "network", "training"), which field, the value,
and the allowed range. ``bool`` is never taken for a number: ``True`` typed as a
channel count is a mistake, not a 1.

:class:`JsonRecord` gives a frozen dataclass its JSON round trip, refusing
unknown keys instead of ignoring them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from .i18n import _


def shown(value: object, limit: int = 60) -> str:
    """A value as a message may quote it: short, whatever it is.

    Values can come from a file, a link or a form, so nothing is formatted whole:
    a pickle of a few kilobytes can hold a list whose ``repr`` is 100 GB, and a
    huge integer refuses ``str`` altogether. Text is cut at ``limit`` characters;
    containers and other objects are named by type.
    """
    if isinstance(value, str):
        return repr(value[:limit]) + ("…" if len(value) > limit else "")
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() <= 128:
            return str(value)
        return _("a {bits}-bit number").format(bits=value.bit_length())
    return _("a {type_name}").format(type_name=type(value).__name__)


def check_int(owner: str, name: str, value: object, lo: int, hi: int) -> None:
    """Raise a ValueError naming ``owner: name`` unless ``value`` is a whole number in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            _("{owner}: {name} must be a whole number between {lo} and {hi}, got {value}").format(
                owner=owner, name=name, lo=lo, hi=hi, value=shown(value)
            )
        )
    if not lo <= value <= hi:
        raise ValueError(_out_of_range(owner, name, lo, hi, value))


def check_float(owner: str, name: str, value: object, lo: float, hi: float) -> None:
    """Raise a ValueError unless ``value`` is a finite number in [lo, hi] (ints allowed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(
            _("{owner}: {name} must be a number between {lo} and {hi}, got {value}").format(
                owner=owner, name=name, lo=lo, hi=hi, value=shown(value)
            )
        )
    if not lo <= value <= hi:
        raise ValueError(_out_of_range(owner, name, lo, hi, value))


def _out_of_range(owner: str, name: str, lo: float, hi: float, value: object) -> str:
    return _("{owner}: {name} must be between {lo} and {hi}, got {value}").format(
        owner=owner, name=name, lo=lo, hi=hi, value=shown(value)
    )


def check_choice(owner: str, name: str, value: object, allowed: Iterable[str]) -> None:
    options = tuple(allowed)
    if not isinstance(value, str) or value not in options:
        raise ValueError(
            _("{owner}: {name} must be one of {options}, got {value}").format(
                owner=owner, name=name, options=", ".join(options), value=shown(value)
            )
        )


def check_bool(owner: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(
            _("{owner}: {name} must be true or false, got {value}").format(
                owner=owner, name=name, value=shown(value)
            )
        )


def refuse_unknown(owner: str, data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """A ValueError listing (the first few) keys of ``data`` that are not in ``allowed``."""
    known = tuple(allowed)
    unknown = [k for k in data if k not in known]
    if unknown:
        listed = ", ".join(shown(k, 40) for k in unknown[:8])
        allowed_keys = ", ".join(known)
        if len(unknown) > 8:
            message = _("{owner}: unknown key(s) {listed} and {more} more; allowed: {allowed}")
        else:
            message = _("{owner}: unknown key(s) {listed}; allowed: {allowed}")
        raise ValueError(
            message.format(owner=owner, listed=listed, more=len(unknown) - 8, allowed=allowed_keys)
        )


#: The most JSON text the package parses at once (a design is under 10 KB; a run's files
#: are written by the package itself).
MAX_JSON_BYTES = 4 * 2**20


def parse_json(text: str | bytes, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The one JSON reader: size-capped, depth-safe, every failure a ValueError with a sentence."""
    if len(text) > max_bytes:
        raise ValueError(
            _("the JSON is {size:,} bytes; the limit is {limit:,}").format(
                size=len(text), limit=max_bytes
            )
        )
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(_("not valid JSON: {error}").format(error=exc)) from None
    except RecursionError:  # "[[[[...]]]]" nested past Python's recursion limit
        raise ValueError(_("the JSON is nested too deeply to be read")) from None


R = TypeVar("R", bound="JsonRecord")


class JsonRecord:
    """JSON round trip for a frozen dataclass of plain fields.

    Subclasses that hold nested specs override :meth:`to_dict` /
    :meth:`from_dict`; the JSON layer and the refusal of unknown keys stay here.
    """

    #: Names the record in messages ("network", "training"); marked with ``N_`` where
    #: defined, so that :meth:`owner_label` says it in the visitor's language.
    OWNER = "config"

    @classmethod
    def owner_label(cls) -> str:
        """:attr:`OWNER` in the active language, for a message."""
        owner = cls.OWNER
        return _(owner)

    def to_dict(self) -> dict[str, Any]:
        assert dataclasses.is_dataclass(self)
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """Rebuild a record; unknown or missing keys are a ValueError, never ignored."""
        if not isinstance(data, Mapping):
            raise ValueError(
                _("a {owner} config must be a JSON object, got {type_name}").format(
                    owner=cls.owner_label(), type_name=type(data).__name__
                )
            )
        assert dataclasses.is_dataclass(cls)
        owner = cls.owner_label()
        refuse_unknown(owner, data, [f.name for f in dataclasses.fields(cls) if f.init])
        try:
            return cls(**data)
        except TypeError as exc:  # a required key is missing
            raise ValueError(_("{owner} config: {error}").format(owner=owner, error=exc)) from None

    @classmethod
    def from_json(cls: type[R], text: str | bytes) -> R:
        return cls.from_dict(parse_json(text))
