"""Run directories: one folder per training run, readable by the dashboard and by hand.

::

    runs/20261123-091500-mini-16px-digits-w0.3-0.3-1a2b/
        model_config.json    the network (GoogLeNetConfig.to_json)
        train_config.json    the recipe (TrainConfig.to_json)
        status.json          {"status": queued|running|completed|cancelled|diverged|failed,
                              "message", "updated", "best_val_acc", "pid", "host", ...}
        metrics.jsonl        one event per line (train.py's step/epoch/start/end events)
        best.pt, last.pt     checkpoints (checkpoints.py's format)

A queued or running run records the process and host writing it; read back on
that host after the process has gone (a server restart, a kill), it reads as
``interrupted`` instead of running forever, its last checkpoint kept.

Every write goes through :mod:`.atomic` (temp file in the same folder, then
``os.replace``), so a crash or kill leaves each file either old or new, never
half written: the previous checkpoint stays loadable. The store is ``runs/`` in
the current folder unless ``$GOOGLENET_RUNS_DIR`` or the CLI's ``--out`` says
otherwise.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from .atomic import atomic_write_text
from .checkpoints import Preprocessing, save_checkpoint
from .config import GoogLeNetConfig
from .presets import network_name

RUNS_DIR_ENV = "GOOGLENET_RUNS_DIR"
STATUSES = ("queued", "running", "completed", "cancelled", "diverged", "failed")
INTERRUPTED = "interrupted"  # read-side only: queued/running, but its process is gone
FINISHED = frozenset({"completed", "cancelled", "diverged", "failed", INTERRUPTED})
CHECKPOINTS = ("best", "last")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
FLUSH_SECONDS = 1.0  # metrics.jsonl is rewritten at most this often (and at every epoch)


def _writer_alive(status: Mapping[str, Any]) -> bool:
    """False only when the process that last wrote ``status`` is known to be gone."""
    pid, host = status.get("pid"), status.get("host")
    if not isinstance(pid, int) or host != socket.gethostname():
        return True  # written elsewhere (or by an older version): no way to tell
    try:
        os.kill(pid, 0)  # signal 0: an existence check, nothing is sent
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, as another user
        return True
    return True


def default_runs_dir() -> Path:
    """``$GOOGLENET_RUNS_DIR`` or ``runs/`` in the current folder."""
    return Path(os.environ.get(RUNS_DIR_ENV) or "runs")


@dataclass(frozen=True)
class RunStatus:
    status: str
    message: str = ""
    updated: str = ""  # ISO 8601, UTC
    best_val_acc: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class Run:
    """A handle on one run directory. Writing methods are thread-safe."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] | None = None
        self._flushed = 0.0
        self._dirty = False

    @property
    def id(self) -> str:
        return self.path.name

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        model_config: GoogLeNetConfig,
        train_config: Any,
        root: str | os.PathLike[str] | None = None,
        *,
        status: str = "queued",
        message: str = "",
    ) -> Run:
        """A new, uniquely named run folder with both configs and a status file."""
        base = Path(root) if root is not None else default_runs_dir()
        base.mkdir(parents=True, exist_ok=True)
        preset = network_name(model_config)
        w1, w2 = train_config.aux_weight1, train_config.aux_weight2
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        label = f"{preset}-{train_config.dataset}-w{w1:g}-{w2:g}"
        for _ in range(100):
            path = base / f"{stamp}-{label}-{secrets.token_hex(2)}"
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 65,536 names a second
            raise OSError(f"cannot find a free run name in {base}")
        run = cls(path)
        atomic_write_text(path / "model_config.json", model_config.to_json(indent=2))
        atomic_write_text(path / "train_config.json", train_config.to_json(indent=2))
        run._events = []
        run.set_status(status, message)
        return run

    # -- writing ----------------------------------------------------------------------------
    def set_status(self, status: str, message: str = "", **extra: Any) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        with self._lock:
            previous = self._read_json("status.json") or {}
            payload = {
                **previous,
                **{k: v for k, v in extra.items() if v is not None},
                "status": status,
                "message": message,
                "updated": _now(),
            }
            if status not in FINISHED:  # who to ask whether it is still going
                payload.update(pid=os.getpid(), host=socket.gethostname())
            atomic_write_text(self.path / "status.json", json.dumps(payload, indent=2))
            if status in FINISHED:
                self._flush()

    def record(self, event: Mapping[str, Any]) -> None:
        """Add one event to metrics.jsonl (written at most every second, and per epoch)."""
        if event.get("type") == "download":
            return  # progress of a download is for the live view, not the record
        with self._lock:
            if self._events is None:
                self._events = self._read_events()
            self._events.append(dict(event))
            self._dirty = True
            if event.get("type") in ("epoch", "end", "start") or (
                time.monotonic() - self._flushed >= FLUSH_SECONDS
            ):
                self._flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if not self._dirty or self._events is None:
            return
        lines = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in self._events)
        atomic_write_text(self.path / "metrics.jsonl", lines)
        self._flushed = time.monotonic()
        self._dirty = False

    def save_checkpoint(
        self,
        which: str,
        model: nn.Module,
        config: GoogLeNetConfig,
        class_names: Sequence[str],
        preprocessing: Preprocessing,
        metrics: Mapping[str, Any] | None = None,
    ) -> Path:
        if which not in CHECKPOINTS:
            raise ValueError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}")
        path = self.path / f"{which}.pt"
        save_checkpoint(path, model, config, class_names, preprocessing, metrics)
        return path

    # -- reading ----------------------------------------------------------------------------
    def status(self) -> RunStatus:
        data = self._read_json("status.json") or {}
        status = data.get("status")
        if status not in STATUSES:
            return RunStatus("failed", "the status file is missing or unreadable")
        acc = data.get("best_val_acc")
        message = str(data.get("message", ""))
        if status not in FINISHED and not _writer_alive(data):
            where = f"{status} ({message})" if message else status
            status = INTERRUPTED
            message = (
                f"stopped while {where}: the process running it ended without finishing "
                "(a server restart or a kill); its last checkpoint, if any, is kept"
            )
        return RunStatus(
            status=status,
            message=message,
            updated=str(data.get("updated", "")),
            best_val_acc=float(acc) if isinstance(acc, (int, float)) else None,
        )

    def model_config(self) -> GoogLeNetConfig:
        text = (self.path / "model_config.json").read_text(encoding="utf-8")
        return GoogLeNetConfig.from_json(text)

    def train_config(self) -> Any:
        from .train import TrainConfig  # train imports runs only for typing

        return TrainConfig.from_json((self.path / "train_config.json").read_text(encoding="utf-8"))

    def events(self) -> list[dict[str, Any]]:
        """Every recorded event (a torn last line, impossible with atomic writes, is skipped)."""
        with self._lock:
            if self._events is not None:
                return list(self._events)
        return self._read_events()

    def checkpoint(self, which: str = "best") -> Path | None:
        path = self.path / f"{which}.pt"
        return path if path.is_file() else None

    def steps_frame(self) -> pd.DataFrame:
        """One row per step event: step, epoch, loss, loss_main, loss_aux1, loss_aux2, lr, ..."""
        return _frame(self.events(), "step")

    def epochs_frame(self) -> pd.DataFrame:
        """One row per epoch: val_loss/val_acc per head, and ``grad_norm.<stage>`` columns."""
        return _frame(self.events(), "epoch")

    def metrics_csv(self) -> bytes:
        """Step and epoch events in one CSV (a ``type`` column tells them apart)."""
        events = [e for e in self.events() if e.get("type") in ("step", "epoch")]
        frame = pd.DataFrame([_flatten(e) for e in events])
        return frame.to_csv(index=False).encode("utf-8")

    def summary(self) -> RunSummary:
        status = self.status()
        try:
            train = json.loads((self.path / "train_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            train = {}
        try:
            model = self.model_config()
            preset = network_name(model)
        except (OSError, ValueError):
            preset = "?"
        epochs = [e for e in self.events() if e.get("type") == "epoch"]
        return RunSummary(
            id=self.id,
            path=self.path,
            status=status.status,
            message=status.message,
            updated=status.updated,
            preset=preset,
            dataset=str(train.get("dataset", "?")),
            aux_weight1=train.get("aux_weight1"),
            aux_weight2=train.get("aux_weight2"),
            epochs=int(train.get("epochs", 0) or 0),
            epochs_done=len(epochs),
            best_val_acc=max(
                (e["val_acc"] for e in epochs if e.get("val_acc") is not None),
                default=status.best_val_acc,
            ),  # fmt: skip
            has_checkpoint=(self.path / "best.pt").is_file(),
        )

    def _read_json(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _read_events(self) -> list[dict[str, Any]]:
        try:
            text = (self.path / "metrics.jsonl").read_text(encoding="utf-8")
        except OSError:
            return []
        events = []
        for line in text.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events


@dataclass(frozen=True)
class RunSummary:
    """One line of the runs list."""

    id: str
    path: Path
    status: str
    message: str
    updated: str
    preset: str
    dataset: str
    aux_weight1: float | None
    aux_weight2: float | None
    epochs: int
    epochs_done: int
    best_val_acc: float | None
    has_checkpoint: bool

    @property
    def label(self) -> str:
        """A short name for legends: "mini digits w0.3/0.3 (…1a2b)"."""
        return (
            f"{self.preset} {self.dataset} w{self.aux_weight1:g}/{self.aux_weight2:g} "
            f"(…{self.id[-4:]})"
            if self.aux_weight1 is not None and self.aux_weight2 is not None
            else self.id
        )


def open_run(run_id: str, root: str | os.PathLike[str] | None = None) -> Run:
    """The run named ``run_id`` in the store; the name cannot reach outside it."""
    if not isinstance(run_id, str) or not _ID.match(run_id) or ".." in run_id:
        raise ValueError(f"{run_id!r} is not a run name")
    path = (Path(root) if root is not None else default_runs_dir()) / run_id
    if not (path / "status.json").is_file():
        raise ValueError(f"no run named {run_id!r} in {path.parent}")
    return Run(path)


def list_runs(root: str | os.PathLike[str] | None = None) -> list[RunSummary]:
    """Every run in the store, newest first (folders without a status file are ignored)."""
    base = Path(root) if root is not None else default_runs_dir()
    if not base.is_dir():
        return []
    runs = [
        Run(p).summary()
        for p in base.iterdir()
        if p.is_dir() and _ID.match(p.name) and (p / "status.json").is_file()
    ]
    return sorted(runs, key=lambda r: r.id, reverse=True)


def runs_frame(summaries: Sequence[RunSummary]) -> pd.DataFrame:
    """The runs list as a table for display."""
    columns = ["id", "status", "preset", "dataset", "aux_weight1", "aux_weight2", "epochs_done"]
    columns += ["epochs", "best_val_acc", "message"]
    frame = pd.DataFrame([{c: getattr(s, c) for c in columns} for s in summaries], columns=columns)
    # None (no epoch finished yet) as NaN, so a table shows a blank, not the word "None".
    frame["best_val_acc"] = frame["best_val_acc"].astype("float64")
    return frame


def _flatten(event: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in event.items():
        if key == "grad_norms" and isinstance(value, Mapping):
            out.update({f"grad_norm.{stage}": v for stage, v in value.items()})
        elif isinstance(value, (Mapping, list)):
            continue  # start-event details (configs, class lists) stay in the JSONL
        else:
            out[key] = value
    return out


def _frame(events: Sequence[Mapping[str, Any]], kind: str) -> pd.DataFrame:
    rows = [_flatten(e) for e in events if e.get("type") == kind]
    frame = pd.DataFrame(rows)
    if "type" in frame:
        frame = frame.drop(columns="type")
    return frame


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
