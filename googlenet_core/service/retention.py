"""How long a dashboard keeps runs: retention and the sweep of temporary files.

One server keeps a class's runs on its disk, so :func:`prune` removes the oldest
finished dashboard runs beyond a count and any older than an age (``$GOOGLENET_KEEP_RUNS``,
``$GOOGLENET_KEEP_DAYS``, :mod:`.settings`), checkpoints included. Runs from the command
line (no ``access.json``) are never pruned: they are the host's, as are runs still
queued or running. :func:`sweep_temporary` removes what killed saves left behind, for
runs whose writer is gone; the server sweeps when it starts, a job when it ends.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from ..training.runs import Run
from .access import ACCESS_FILE, read_access
from .settings import current


def retention() -> tuple[int, int]:
    """(runs kept, days kept): ``$GOOGLENET_KEEP_RUNS`` and ``$GOOGLENET_KEEP_DAYS``."""
    settings = current()
    return settings.keep_runs, settings.keep_days


def prune(
    root: str | Path | None = None,
    *,
    keep: int | None = None,
    days: int | None = None,
    now: float | None = None,
) -> list[str]:
    """Delete finished dashboard runs beyond the newest ``keep`` or older than ``days``.

    Returns the names removed. Runs still queued or running, and runs without an
    owner (the command line's), are never removed; temporary files of killed saves
    are swept as well.
    """
    default_keep, default_days = retention()
    keep = default_keep if keep is None else keep
    days = default_days if days is None else days
    base = Path(root) if root is not None else current().runs_dir
    sweep_temporary(base)
    if not base.is_dir():
        return []
    oldest = (time.time() if now is None else now) - days * 86_400
    owned = (p for p in base.iterdir() if (p / ACCESS_FILE).is_file())
    dashboard = sorted(
        (p for p in owned if (p / "status.json").is_file()),
        key=_order,
        reverse=True,  # newest first
    )
    removed = []
    for rank, path in enumerate(dashboard):
        if rank < keep and _made(path) >= oldest:
            continue
        if read_access(path).owner is None or not Run(path).status().finished:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    return removed


def _order(path: Path) -> tuple[str, int]:
    """Names start with the UTC second a run was made; its first file breaks ties."""
    try:
        written = (path / "model_config.json").stat().st_mtime_ns
    except OSError:
        written = 0
    return path.name[:15], written


def _made(path: Path) -> float:
    """When a run was made: its name's UTC stamp, else its folder's modification time."""
    try:
        return datetime.strptime(path.name[:15], "%Y%m%d-%H%M%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return path.stat().st_mtime


def sweep_temporary(root: str | os.PathLike[str] | None = None) -> tuple[int, int]:
    """Delete the temporary files that killed saves left behind; (files, bytes) removed.

    An atomic write goes to ``.<name>.<random>.tmp`` beside its target and is renamed
    when complete (:func:`googlenet_core._io.atomic_write_bytes`); a kill during the
    write leaves that file. Only runs whose writer is gone (finished or interrupted)
    are swept, so a save in progress is never touched.
    """
    base = Path(root) if root is not None else current().runs_dir
    files = size = 0
    if not base.is_dir():
        return files, size
    for folder in base.iterdir():
        if not (folder / "status.json").is_file():
            continue
        leftovers = list(folder.glob(".*.tmp"))
        if not leftovers or not Run(folder).status().finished:
            continue
        for path in leftovers:
            try:
                size += path.stat().st_size
                path.unlink()
                files += 1
            except OSError:
                continue
    return files, size
