"""Reading an untrusted ``.pt`` file without letting it run code or exhaust memory.

Every check here happens before the file's contents can cost more than its
size, because one upload reaches a server that a whole class shares:

1. the size is capped before a byte is read;
2. the file must be the zip archive ``torch.save`` writes, and every record in
   it stored uncompressed, as ``torch.save`` stores them: a DEFLATE record of a
   few megabytes can inflate to gigabytes inside ``torch.load`` before anything
   else sees it. The records' declared sizes are capped too;
3. ``torch.load(weights_only=True)`` unpickles tensors and plain containers
   only, never a Python object that could run code; there is no fallback;
4. no tensor may stand for more elements than its storage holds: a view that
   expands one number to a billion (stride 0) is refused before anything
   touches its elements. (The total is bounded later: every tensor's shape must
   match a network whose size the analysis has capped.)

Everything wrong is a :class:`CheckpointError` with a sentence, whatever the
file holds: messages quote values through :func:`googlenet_core._checks.shown`.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .._checks import shown
from .._io import first_line, megabytes
from ..i18n import _

MAX_CHECKPOINT_BYTES = 200 * 1024 * 1024  # the torchvision preset with aux heads is ~52 MB
MAX_RECORDS = 10_000  # records in the archive (a GoogLeNet checkpoint has a few hundred)
_LISTED = 8  # names quoted in a message before "... and N more"


class CheckpointError(ValueError):
    """A file that is not a loadable checkpoint; the message says exactly why."""


def read_checkpoint_bytes(
    source: str | os.PathLike[str] | bytes, max_bytes: int = MAX_CHECKPOINT_BYTES
) -> bytes:
    """The file's bytes, refusing anything over ``max_bytes`` before reading it."""
    if isinstance(source, bytes):
        data = source
    else:
        try:
            size = os.path.getsize(source)
        except OSError as exc:
            raise CheckpointError(
                _("cannot read {path}: {reason}").format(
                    path=os.fspath(source), reason=exc.strerror
                )
            ) from None
        if size > max_bytes:
            raise CheckpointError(
                _("the file is {size}; the limit is {limit}").format(
                    size=megabytes(size), limit=megabytes(max_bytes)
                )
            )
        with open(source, "rb") as fh:
            data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise CheckpointError(
            _("the file is {size}; the limit is {limit}").format(
                size=megabytes(len(data)), limit=megabytes(max_bytes)
            )
        )
    if not data:
        raise CheckpointError(_("the file is empty"))
    return data


def inspect_archive(data: bytes, max_bytes: int = MAX_CHECKPOINT_BYTES) -> None:
    """Refuse anything but the stored (uncompressed) zip archive ``torch.save`` writes."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise CheckpointError(
            _(
                "not a readable PyTorch file (truncated, corrupt, or another kind of file): "
                "it is not the zip archive torch.save writes"
            )
        ) from None
    with archive:
        records = archive.infolist()
    if len(records) > MAX_RECORDS:
        raise CheckpointError(
            _("the archive has {n:,} records; a checkpoint has at most {limit:,}").format(
                n=len(records), limit=MAX_RECORDS
            )
        )
    compressed = [r.filename for r in records if r.compress_type != zipfile.ZIP_STORED]
    if compressed:
        raise CheckpointError(
            _(
                "the archive has compressed records ({names}); torch.save never "
                "compresses, and a compressed record can inflate far past the file's size: refused"
            ).format(names=_listed(compressed))
        )
    declared = sum(r.file_size for r in records)
    if declared > max_bytes:
        raise CheckpointError(
            _("the archive's records declare {size}; the limit is {limit}").format(
                size=megabytes(declared), limit=megabytes(max_bytes)
            )
        )


def safe_torch_load(data: bytes, max_bytes: int = MAX_CHECKPOINT_BYTES) -> Any:
    """``torch.load`` of a checked archive, restricted to tensors and plain data. No fallback."""
    inspect_archive(data, max_bytes)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear message
        text = str(exc)
        code = re.search(r"GLOBAL ([\w.]{1,80})", text) or re.search(
            r"unrecognized function `?<?([^`>\n]{1,60})", text
        )
        if code:
            raise CheckpointError(
                _(
                    "the file tries to run code ({code}) when it is opened: refused without "
                    "running anything (only tensors and plain data are accepted)"
                ).format(code=code.group(1).strip())
            ) from None
        if "GLOBAL" in text or "REDUCE" in text.upper():
            raise CheckpointError(
                _(
                    "the file tries to run code when it is opened: refused without running "
                    "anything (only tensors and plain data are accepted)"
                )
            ) from None
        detail = re.search(r"WeightsUnpickler error: \s*(.+)", text)
        reason = detail.group(1)[:200] if detail else first_line(exc)
        raise CheckpointError(
            _(
                "not a readable PyTorch file (truncated, corrupt, or another kind of file): "
                "{reason}"
            ).format(reason=reason)
        ) from None


def check_tensors(state_dict: Any) -> dict[str, torch.Tensor]:
    """The state dict as ``{str: tensor}``, every tensor dense and owning exactly its storage."""
    if not isinstance(state_dict, Mapping):
        raise CheckpointError(
            _("state_dict must be a mapping, got {value}").format(value=shown(state_dict))
        )
    if not state_dict:
        raise CheckpointError(_("state_dict is empty"))
    bad = [shown(k) for k in state_dict if not isinstance(k, str)]
    if bad:
        raise CheckpointError(
            _("state_dict keys must be strings: {keys}").format(keys=_listed(bad))
        )
    not_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(
            _("state_dict values must be tensors: {keys}").format(keys=_listed(not_tensors))
        )
    odd = [k for k, v in state_dict.items() if v.layout != torch.strided]
    if odd:
        raise CheckpointError(
            _("sparse or other non-dense tensors: {keys}").format(keys=_listed(odd))
        )
    views = [k for k, v in state_dict.items() if not _within_storage(v)]
    if views:
        raise CheckpointError(
            _(
                "tensors that are views of other or smaller storage ({keys}): they "
                "stand for more numbers than the file holds, and were refused before being read"
            ).format(keys=_listed(views))
        )
    return dict(state_dict)


def _within_storage(tensor: torch.Tensor) -> bool:
    """No more elements than its storage holds, none repeated by a zero stride.

    Copying a tensor costs its element count; its storage is what the file paid
    for. Any layout passes (channels_last weights, slices of a shared buffer).
    """
    if tensor.numel() == 0:
        return True
    available = int(tensor.untyped_storage().nbytes()) // tensor.element_size()
    shape, strides = tuple(tensor.shape), tuple(tensor.stride())
    if any(stride == 0 and size > 1 for size, stride in zip(shape, strides, strict=True)):
        return False
    extent = int(tensor.storage_offset()) + sum(
        (size - 1) * stride for size, stride in zip(shape, strides, strict=True)
    )
    return tensor.numel() <= available and extent < available


def _listed(items: Sequence[str], sep: str = ", ") -> str:
    shown_items = [item if len(item) <= 80 else item[:79] + "…" for item in items[:_LISTED]]
    more = len(items) - _LISTED
    text = sep.join(shown_items)
    return _("{items} ... and {more} more").format(items=text, more=more) if more > 0 else text
