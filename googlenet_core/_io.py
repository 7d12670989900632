"""Small I/O helpers every part of the package shares: atomic writes, one download, wording.

* Atomic writes: a temp file in the same folder, fsync, then ``os.replace``.
  A crash or kill mid-write leaves the previous file intact, so the last good
  checkpoint or status file is always loadable.
* :func:`download`: one streaming download with progress and a digest check,
  used for the torchvision data sets and for the ImageNet weights.
* :func:`megabytes` and :func:`first_line`: the package's one way to print a
  size and to quote an exception in a sentence.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from .i18n import _

#: ``progress(bytes_so_far, total_bytes_or_None)`` while a file downloads.
ProgressFn = Callable[[int, int | None], None]

DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK = 1 << 16


# ---- atomic writes -----------------------------------------------------------------------


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


# ---- downloads ---------------------------------------------------------------------------


class DownloadError(OSError):
    """A download that failed (offline, refused, cut short) or arrived corrupt.

    ``reason`` is the short cause ("connection refused", "checksum mismatch");
    ``corrupt`` is True when the bytes arrived but do not match their digest.
    """

    def __init__(self, url: str, reason: str, *, corrupt: bool = False) -> None:
        super().__init__(_("could not download {url}: {reason}").format(url=url, reason=reason))
        self.url = url
        self.host = urlparse(url).netloc or url
        self.reason = reason
        self.corrupt = corrupt


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    digest: tuple[str, str] | None = None,
    progress: ProgressFn | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Stream ``url`` to ``dest`` through a temporary file, reporting progress.

    ``digest`` is ``(algorithm, expected hex)``, e.g. ``("md5", "...")``; the
    expected value may be a prefix (torch hub names weights files by the first
    hex digits of their SHA-256). The file appears at ``dest`` only when the
    whole download matched; on any failure nothing is left behind and a
    :class:`DownloadError` says why.
    """
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.new(digest[0], usedforsecurity=False) if digest else None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            if progress:
                progress(0, total)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if digest is not None and hasher is not None:
            got = hasher.hexdigest()
            if not got.startswith(digest[1]):
                raise DownloadError(
                    url,
                    _("checksum mismatch ({algorithm} {got}..., expected {expected}...)").format(
                        algorithm=digest[0], got=got[:8], expected=digest[1][:8]
                    ),
                    corrupt=True,
                )
        os.replace(tmp, target)
    except DownloadError:
        raise
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise DownloadError(url, str(reason)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return target


# ---- wording -----------------------------------------------------------------------------


def megabytes(n: int) -> str:
    """A size for a sentence: '52.3 MB', or '812 bytes' below a tenth of a megabyte."""
    mb = n / 2**20
    return f"{mb:.1f} MB" if mb >= 0.1 else _("{n:,} bytes").format(n=n)


def duration(seconds: float) -> str:
    """A time for a sentence: '45 s' below 90 s, then minutes, then hours ('1.5 h')."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, at most ``limit`` characters (or its type)."""
    text = str(exc).strip().split("\n")[0][:limit]
    return text or type(exc).__name__
