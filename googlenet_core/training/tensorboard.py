"""A run's curves as TensorBoard event files, beside its ``metrics.jsonl``.

``tensorboard --logdir runs/`` then shows every run (one folder each) with the
losses and their terms, the learning rate, throughput, each head's validation
loss and accuracy and the per-stage gradient norms. Written with tensorboardX
(small, no TensorFlow). Logging never fails a run: if the writer cannot be made
or written, TensorBoard output stops for that run and training goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from .events import EpochEvent, Event, StepEvent

log = logging.getLogger(__name__)


class TensorBoardLog:
    """Scalars for one run folder; :meth:`close` when the run has ended."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = str(folder)
        self._writer: Any = None
        self._broken = False

    def write(self, event: Event) -> None:
        if self._broken or not isinstance(event, (StepEvent, EpochEvent)):
            return
        try:
            if self._writer is None:
                from tensorboardX import SummaryWriter  # deferred: only runs write

                self._writer = SummaryWriter(logdir=self.folder, flush_secs=10)
            add = self._writer.add_scalar
            if isinstance(event, StepEvent):
                for name, value in event.losses().items():
                    if value is not None:
                        add(f"loss/{name}", value, event.step)
                add("train/lr", event.lr, event.step)
                add("train/images_per_s", event.images_per_s, event.step)
            else:
                add("train/epoch_accuracy", event.train_acc, event.step)
                for score in event.val:
                    add(f"val_accuracy/{score.head}", score.acc, event.step)
                    add(f"val_loss/{score.head}", score.loss, event.step)
                for stage, norm in event.grad_norms.items():
                    add(f"grad_norm/{stage}", norm, event.step)
                self._writer.flush()
        except Exception as exc:  # noqa: BLE001 - a log must never end a run
            log.warning("TensorBoard logging stopped for %s: %s", self.folder, exc)
            self._broken = True

    def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):  # the run has ended; nothing to save it for
                self._writer.close()
            self._writer = None
