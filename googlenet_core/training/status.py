"""How a run stands: one vocabulary for the trainer, the run store, the job queue and the pages.

A run is ``queued`` until a job slot frees up, ``running`` while it trains, and
then ends in one :data:`Outcome`: ``completed``, ``cancelled`` (its owner's
stop request, honoured within one batch), ``diverged`` (the first non-finite loss;
the last good checkpoint is kept), ``failed`` (bad data, out of memory, a crash;
the message says which) or ``interrupted`` (stopped by something other than its
owner: the server stopping, said with when and why). A queued or running run
whose process ended without saying so (a kill, a crash of the host) also reads as
``interrupted``.
"""

from __future__ import annotations

from typing import Literal, get_args

from ..i18n import pgettext

Outcome = Literal["completed", "cancelled", "diverged", "failed", "interrupted"]
State = Literal["queued", "running", "completed", "cancelled", "diverged", "failed", "interrupted"]

OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
STATES: tuple[State, ...] = get_args(State)
#: States a run never leaves.
FINISHED: frozenset[str] = frozenset(OUTCOMES)


def state_label(state: str) -> str:
    """A run's state as a person reads it, in the active language; the stored value (in
    ``status.json``, the job registry) stays the English word. Unknown values are shown as
    they are."""
    labels = {
        "queued": pgettext("run status", "queued"),
        "running": pgettext("run status", "running"),
        "completed": pgettext("run status", "completed"),
        "cancelled": pgettext("run status", "cancelled"),
        "diverged": pgettext("run status", "diverged"),
        "failed": pgettext("run status", "failed"),
        "interrupted": pgettext("run status", "interrupted"),
    }
    return labels.get(state, state)
