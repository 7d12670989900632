"""Run directories: one folder per training run, readable by the dashboard and by hand.

::

    runs/20261123-091500-mini-16px-digits-w0.3-0.3-1a2b/
        model_config.json    the network (GoogLeNetConfig.to_json)
        train_config.json    the recipe (TrainConfig.to_json)
        status.json          {"status": queued|running|completed|cancelled|diverged|failed,
                              "message", "updated", "best_val_acc", "pid", "host", ...}
        metrics.jsonl        one event per line, appended (events.py: start/step/epoch/end)
        best.pt, last.pt     checkpoints (inference/checkpoints.py's format)
        MODEL_CARD.md        what best.pt is: data, recipe, each head's figures (card.py)
        events.out.tfevents.*  the same curves for TensorBoard (tensorboard.py)

A queued or running run records the process writing it (pid, host, boot id and
start time); once that process has gone (a server or container restart, a kill,
even where the pid now belongs to another process), it reads as ``interrupted``
instead of running forever, its last checkpoint kept. Written from another host,
it is taken for gone after ten minutes without a change.

The configs, the status and the checkpoints are written atomically
(:func:`googlenet_core._io.atomic_write_bytes`: temp file in the same folder,
then ``os.replace``), so a crash or kill leaves each file either old or new,
never half written: the previous checkpoint stays loadable. ``metrics.jsonl``
is appended to (JSON Lines exist for that); a line torn by a kill is skipped
when read. The store is ``runs/`` in
the current folder unless the caller names another (the CLI's ``--out``, or
``$GOOGLENET_RUNS_DIR`` through :mod:`googlenet_core.service.settings`). How long
a dashboard keeps runs is :mod:`googlenet_core.service.retention`'s.
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
from typing import Any, Literal

import pandas as pd
from torch import nn

from .._checks import parse_json
from .._io import atomic_write_text
from ..data.transforms import Preprocessing
from ..i18n import _
from ..inference.checkpoints import load_checkpoint, save_checkpoint
from ..inference.export import plain_pytorch_zip, safetensors_bytes
from ..network.config import GoogLeNetConfig
from ..network.presets import network_name
from .card import CARD
from .config import TrainConfig
from .events import (
    VERSION_KEY,
    DownloadEvent,
    EndEvent,
    EpochEvent,
    Event,
    StartEvent,
    StepEvent,
    epochs_of,
    event_from_dict,
    event_to_dict,
    readable_version,
)
from .status import FINISHED, STATES, State, state_label
from .tensorboard import TensorBoardLog

#: States a run's process writes ("interrupted" too, when it was stopped by a server
#: stopping; a run whose process ended without a word also reads so, see Run.status).
WRITTEN_STATES = STATES
CHECKPOINTS = ("best", "last")
METRICS = "metrics.jsonl"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
FLUSH_SECONDS = 1.0  # metrics.jsonl is appended to at most this often (and at every epoch)


class RunFormatError(ValueError):
    """A run folder written by a newer googlenet_core (or damaged beyond reading)."""


#: A run written from another host (a shared volume, a container restarted under a new
#: hostname) is taken for gone when neither its status nor its metrics changed for this long.
FOREIGN_SILENCE_S = 600.0


def _process_start(pid: int) -> str | None:
    """The kernel's boot id and the process's start time (clock ticks since boot), or None.

    Together with the pid they name one process for good: a pid reused after a restart
    (the server is PID 1 in every container) has another start time, and a reboot
    another boot id.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (name) "; the name may hold spaces
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def _writer_alive(status: Mapping[str, Any], folder: Path) -> bool:
    """False when the process that last wrote ``status`` is known, or taken, to be gone."""
    pid, host, started = status.get("pid"), status.get("host"), status.get("process")
    if not isinstance(pid, int):
        return True  # written by an older version: no way to tell
    if host != socket.gethostname():
        newest = max(
            (p.stat().st_mtime for p in (folder / "status.json", folder / METRICS) if p.exists()),
            default=0.0,
        )
        return time.time() - newest < FOREIGN_SILENCE_S
    if started is not None:  # this host: the very same process, not just the same pid
        return _process_start(pid) == started
    try:
        os.kill(pid, 0)  # signal 0: an existence check, nothing is sent
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, as another user
        return True
    return True


def default_runs_dir() -> Path:
    """The store when no folder is given: ``runs/`` in the current folder."""
    return Path("runs")


@dataclass(frozen=True)
class RunStatus:
    status: State
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
        self._pending: list[str] = []  # recorded lines not yet appended to metrics.jsonl
        self._flushed = 0.0
        self._tensorboard = TensorBoardLog(self.path)

    @property
    def id(self) -> str:
        return self.path.name

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        config: GoogLeNetConfig,
        train_config: TrainConfig,
        root: str | os.PathLike[str] | None = None,
        *,
        status: State = "queued",
        message: str = "",
        files: Mapping[str, str] | None = None,
    ) -> Run:
        """A new, uniquely named run folder with both configs and a status file.

        ``config`` is the network exactly as it will train (its input side and
        outputs settled by :func:`.plan.plan_training`): the checkpoints will
        hold the same config. ``files`` (name -> text) are written before the
        status file, so a lister never sees the run without them (its access.json).
        """
        base = Path(root) if root is not None else default_runs_dir()
        base.mkdir(parents=True, exist_ok=True)
        w1, w2 = train_config.aux_weights
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        label = f"{network_name(config, classes=False)}-{train_config.dataset}-w{w1:g}-{w2:g}"
        for _attempt in range(100):
            path = base / f"{stamp}-{label}-{secrets.token_hex(2)}"
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 65,536 names a second
            raise OSError(f"cannot find a free run name in {base}")
        run = cls(path)
        atomic_write_text(path / "model_config.json", config.to_json(indent=2))
        atomic_write_text(path / "train_config.json", train_config.to_json(indent=2))
        for name, text in (files or {}).items():
            atomic_write_text(path / name, text)
        run.set_status(status, message)
        return run

    # -- writing ----------------------------------------------------------------------------
    def set_status(self, status: State, message: str = "", **extra: Any) -> None:
        if status not in WRITTEN_STATES:
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
                payload.update(
                    pid=os.getpid(),
                    host=socket.gethostname(),
                    process=_process_start(os.getpid()),
                )
            atomic_write_text(self.path / "status.json", json.dumps(payload, indent=2))
            if status in FINISHED:
                self._flush()
                self._tensorboard.close()

    def record(self, event: Event) -> None:
        """Append one event to metrics.jsonl (at most every second, and at start/epoch/end)."""
        if isinstance(event, DownloadEvent):
            return  # progress of a download is for the live view, not the record
        line = json.dumps(event_to_dict(event), separators=(",", ":")) + "\n"
        with self._lock:
            self._tensorboard.write(event)
            self._pending.append(line)
            if isinstance(event, (StartEvent, EpochEvent, EndEvent)) or (
                time.monotonic() - self._flushed >= FLUSH_SECONDS
            ):
                self._flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:  # lock held
        if not self._pending:
            return
        with open(self.path / METRICS, "a", encoding="utf-8") as fh:
            fh.write("".join(self._pending))
        self._pending.clear()
        self._flushed = time.monotonic()

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
        status: State | None = next((s for s in WRITTEN_STATES if s == data.get("status")), None)
        if status is None:
            return RunStatus("failed", _("the status file is missing or unreadable"))
        acc = data.get("best_val_acc")
        message = str(data.get("message", ""))
        if status not in FINISHED and not _writer_alive(data, self.path):
            if message:
                stopped = _(
                    "stopped while {status} ({message}): the process running it ended without "
                    "finishing (a server restart or a kill); its last checkpoint, if any, is kept"
                )
            else:
                stopped = _(
                    "stopped while {status}: the process running it ended without finishing "
                    "(a server restart or a kill); its last checkpoint, if any, is kept"
                )
            message = stopped.format(status=state_label(status), message=message)
            status = "interrupted"
        return RunStatus(
            status=status,
            message=message,
            updated=str(data.get("updated", "")),
            best_val_acc=float(acc) if isinstance(acc, (int, float)) else None,
        )

    def model_config(self) -> GoogLeNetConfig:
        text = (self.path / "model_config.json").read_text(encoding="utf-8")
        return GoogLeNetConfig.from_json(text)

    def train_config(self) -> TrainConfig:
        return TrainConfig.from_json((self.path / "train_config.json").read_text(encoding="utf-8"))

    def events(self) -> list[Event]:
        """Every recorded event, written or pending; a torn or unreadable line is skipped.

        Raises :class:`RunFormatError` when the file was written by a newer
        googlenet_core whose events this version cannot read.
        """
        with self._lock:
            pending = list(self._pending)
        try:
            text = (self.path / METRICS).read_text(encoding="utf-8")
        except OSError:
            text = ""
        events: list[Event] = []
        for line in [*text.splitlines(), *pending]:
            try:
                data = parse_json(line)
            except ValueError:
                continue  # a line torn by a kill mid-append
            if isinstance(data, dict) and not readable_version(data):
                raise RunFormatError(
                    _(
                        "{run}: metrics.jsonl has events of schema version {version!r}, written "
                        "by a newer googlenet_core; update it to read this run"
                    ).format(run=self.id, version=data.get(VERSION_KEY))
                )
            try:
                events.append(event_from_dict(data))
            except ValueError:
                continue
        return events

    def checkpoint(self, which: str = "best") -> Path | None:
        path = self.path / f"{which}.pt"
        return path if path.is_file() else None

    def export(self, kind: Literal["zip", "safetensors"], which: str = "best") -> bytes:
        """A checkpoint as ``kind``: "zip" (plain PyTorch code + weights + the model card)
        or "safetensors" (weights, with network, classes and preprocessing as metadata)."""
        checkpoint = self.checkpoint(which)
        if checkpoint is None:
            raise ValueError(
                _("{run} has no {which} checkpoint yet").format(run=self.id, which=which)
            )
        loaded = load_checkpoint(checkpoint)
        if kind == "safetensors":
            return safetensors_bytes(loaded.model, loaded.class_names, loaded.preprocessing)
        card = self.path / CARD
        return plain_pytorch_zip(loaded, self.id, card.read_text() if card.is_file() else None)

    def steps_frame(self) -> pd.DataFrame:
        """One row per step event: step, epoch, loss, loss_main, loss_aux1, loss_aux2, lr, ..."""
        return _frame([e.row() for e in self.events() if isinstance(e, StepEvent)])

    def epochs_frame(self) -> pd.DataFrame:
        """One row per epoch: val_loss/val_acc per head, and ``grad_norm.<stage>`` columns."""
        return _frame([e.row() for e in self.events() if isinstance(e, EpochEvent)])

    def metrics_csv(self) -> bytes:
        """Step and epoch events in one CSV (a ``type`` column tells them apart)."""
        rows = [e.row() for e in self.events() if isinstance(e, (StepEvent, EpochEvent))]
        return pd.DataFrame(rows).to_csv(index=False).encode("utf-8")

    def summary(self) -> RunSummary:
        status = self.status()
        message = status.message
        try:
            train: dict[str, Any] = parse_json(
                (self.path / "train_config.json").read_text(encoding="utf-8")
            )
        except (OSError, ValueError):
            train = {}
        if not isinstance(train, dict):
            train = {}
        try:
            network = network_name(self.model_config(), classes=False)
        except (OSError, ValueError):
            network = "?"
        try:
            epochs = epochs_of(self.events())
        except RunFormatError as exc:
            epochs, message = [], str(exc)
        return RunSummary(
            id=self.id,
            path=self.path,
            status=status.status,
            message=message,
            updated=status.updated,
            network=network,
            dataset=str(train.get("dataset", "?")),
            aux_weight1=train.get("aux_weight1"),
            aux_weight2=train.get("aux_weight2"),
            epochs=int(train.get("epochs", 0) or 0),
            epochs_done=len(epochs),
            best_val_acc=max((e.val_acc for e in epochs), default=status.best_val_acc),
            has_checkpoint=(self.path / "best.pt").is_file(),
        )

    def _read_json(self, name: str) -> dict[str, Any] | None:
        try:
            data = parse_json((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class RunSummary:
    """One line of the runs list."""

    id: str
    path: Path
    status: State
    message: str
    updated: str
    network: str  # how the network is named: "paper-79px" (the data set says its classes)
    dataset: str
    aux_weight1: float | None
    aux_weight2: float | None
    epochs: int
    epochs_done: int
    best_val_acc: float | None
    has_checkpoint: bool

    @property
    def aux_weights(self) -> tuple[float, float] | None:
        if self.aux_weight1 is None or self.aux_weight2 is None:
            return None
        return (self.aux_weight1, self.aux_weight2)

    @property
    def label(self) -> str:
        """A short name for legends: "mini-16px digits w0.3/0.3 (…1a2b)"."""
        return run_label(self.id, self.aux_weights, self.network, self.dataset)

    @property
    def description(self) -> str:
        """The label with how the run stands, for a list to choose from."""
        status = state_label(self.status)
        if self.best_val_acc is None:
            return f"{self.label} · {status}"
        return _("{label} · {status} · best accuracy {accuracy:.1%}").format(
            label=self.label, status=status, accuracy=self.best_val_acc
        )


def run_label(
    run_id: str,
    aux_weights: tuple[float, float] | None,
    network: str | None = None,
    dataset: str | None = None,
) -> str:
    """How every list and legend names a run: "mini-16px digits w0.3/0.3 (…1a2b)".

    The network and data set are left out where they go without saying (runs compared
    on the same ones: "w0.3/0.3 (…1a2b)"); without its aux weights a run is its id.
    """
    if aux_weights is None:
        return run_id
    w1, w2 = aux_weights
    parts = [part for part in (network, dataset) if part]
    return " ".join([*parts, f"w{w1:g}/{w2:g}"]) + f" (…{run_id[-4:]})"


def open_run(run_id: str, root: str | os.PathLike[str] | None = None) -> Run:
    """The run named ``run_id`` in the store; the name cannot reach outside it."""
    if not isinstance(run_id, str) or not _ID.match(run_id) or ".." in run_id:
        raise ValueError(_("{name!r} is not a run name").format(name=run_id))
    path = (Path(root) if root is not None else default_runs_dir()) / run_id
    if not (path / "status.json").is_file():
        raise ValueError(
            _("no run named {name!r} in {folder}").format(name=run_id, folder=path.parent)
        )
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
    """The runs list as a table for display (each status in the active language)."""
    columns = ["id", "status", "network", "dataset", "aux_weight1", "aux_weight2", "epochs_done"]
    columns += ["epochs", "best_val_acc", "message"]
    frame = pd.DataFrame([{c: getattr(s, c) for c in columns} for s in summaries], columns=columns)
    frame["status"] = [state_label(s.status) for s in summaries]
    # None (no epoch finished yet) as NaN, so a table shows a blank, not the word "None".
    frame["best_val_acc"] = frame["best_val_acc"].astype("float64")
    return frame


def _frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if "type" in frame:
        frame = frame.drop(columns="type")
    return frame


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
