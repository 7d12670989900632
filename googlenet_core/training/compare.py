"""Comparing runs fairly: the A/B pair for the aux heads, what else differs, gradient ratios.

The experiment the Train page exists for trains the same network twice, with
the auxiliary losses weighted (0.3/0.3, section 5 of the paper) and without
(0/0), and compares the gradient that reaches the early layers. It is only a
lesson if nothing else differs: :func:`ab_pair` makes the two plans identical
in everything but the aux weights (same seed, hence the same initial weights,
data order and augmentation), and :func:`differences` lists every setting in
which overlaid runs do differ, so an unfair comparison is never silent.
:func:`gradient_ratios` turns two runs' per-stage gradient norms into "conv1
receives 20 % more gradient with the aux heads". :func:`best_finished` is the run
most worth downloading among many.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..i18n import N_, _, pgettext
from ..network.presets import network_name
from .events import Event, StartEvent, epochs_of, start_of
from .plan import TrainPlan
from .runs import RunSummary
from .status import FINISHED

#: The weights the "with aux heads" side of a pair gets when the plan has them at 0.
PAPER_AUX_WEIGHT = 0.3


def ab_pair(plan: TrainPlan) -> tuple[TrainPlan, TrainPlan]:
    """(with the aux losses, without): ``plan`` with its aux weights, and with 0/0.

    A plan whose weights are already 0/0 gets the paper's 0.3/0.3 on the
    "with" side. Everything else is the same plan, seed included.
    """
    train_config = plan.train_config
    if train_config.aux_weight1 == 0 and train_config.aux_weight2 == 0:
        with_aux = dataclasses.replace(
            train_config, aux_weight1=PAPER_AUX_WEIGHT, aux_weight2=PAPER_AUX_WEIGHT
        )
    else:
        with_aux = train_config
    without = dataclasses.replace(train_config, aux_weight1=0.0, aux_weight2=0.0)
    return (
        dataclasses.replace(plan, train_config=with_aux),
        dataclasses.replace(plan, train_config=without),
    )


def start_pair(plan: TrainPlan) -> tuple[TrainPlan, TrainPlan]:
    """(from its trained start, from scratch): ``plan`` as it is, and the same plan from
    random weights with nothing frozen. Everything else is the same, seed and images
    included, so the difference is what the start gives."""
    scratch = dataclasses.replace(plan.train_config, init=None, freeze="none")
    return plan, dataclasses.replace(plan, train_config=scratch)


#: What a comparison may be about: the aux weights (an A/B pair) or where the weights
#: start (:func:`start_pair`); a start that differs changes the initial weights too.
_SUBJECTS = ("aux weights", "starting weights", "frozen")


@dataclass(frozen=True)
class Difference:
    """One setting that is not the same in every run of a comparison."""

    setting: str  # "training images", "epochs", "aux weights", ...: English, a stable key
    values: tuple[str, ...]  # one per run, in the runs' order
    expected: bool = False  # the difference the comparison is about (the aux weights)

    @property
    def label(self) -> str:
        """The setting's name as a person reads it, in the active language."""
        setting = self.setting
        return _(setting)


def _settings(start: StartEvent) -> dict[str, str]:
    # The keys are the settings' English names (marked for the catalog; shown through
    # Difference.label); the values are shown as they are.
    c = start.train_config
    return {
        N_("network"): network_name(start.model_config),
        N_("data set"): start.dataset,
        N_("training images"): f"{start.train_images:,}",
        N_("validation images"): f"{start.val_images:,}",
        N_("input side"): f"{start.model_config.input_size} px",
        N_("epochs"): str(c.epochs),
        N_("batch size"): str(c.batch_size),
        N_("optimiser"): f"{c.optimizer} {c.lr:g}, {c.schedule}",
        N_("weight decay"): f"{c.weight_decay:g}",
        N_("augmentation"): (
            pgettext("augmentation", "on") if c.augment else pgettext("augmentation", "off")
        ),
        N_("seed"): str(c.seed),
        N_("initial weights"): start.init_fingerprint or "?",
        N_("device"): f"{start.device} {start.precision}",
        N_("aux weights"): f"{c.aux_weight1:g}/{c.aux_weight2:g}",
        N_("starting weights"): c.init or _("random"),
        N_("frozen"): c.freeze,
    }


def differences(runs: Mapping[str, Sequence[Event]]) -> list[Difference]:
    """Every setting in which any two of ``runs`` differ (runs not started yet are skipped).

    The aux weights, or where the weights start (and so the initial weights), come last
    and are marked ``expected``: they are what an A/B pair or a start-vs-scratch pair
    compares. Everything else that differs makes the comparison unfair.
    """
    starts = [s for events in runs.values() if (s := start_of(events)) is not None]
    if len(starts) < 2:
        return []
    table = [_settings(s) for s in starts]
    differ = [s for s in table[0] if len({row[s] for row in table}) > 1]
    subjects = set(_SUBJECTS) | ({"initial weights"} if "starting weights" in differ else set())
    found = [Difference(s, tuple(row[s] for row in table), expected=s in subjects) for s in differ]
    return sorted(found, key=lambda d: d.expected)


@dataclass(frozen=True)
class GradientRatio:
    """One stage in one epoch: the gradient norm with the aux losses over that without."""

    epoch: int
    stage: str
    with_aux: float
    without: float

    @property
    def ratio(self) -> float:
        return self.with_aux / self.without if self.without > 0 else float("inf")


def gradient_ratios(with_aux: Sequence[Event], without: Sequence[Event]) -> list[GradientRatio]:
    """Per epoch both runs finished, per trunk stage: the two runs' gradient norms.

    The aux heads and the classifier are left out: the "without" run's heads
    get no gradient at all, and the classifier gets the main loss in both.
    """
    start = start_of(with_aux)
    heads = {h.name for h in start.aux_heads} if start is not None else set()
    skip = heads | {"fc"}
    by_epoch = {e.epoch: e for e in epochs_of(without)}
    rows = []
    for event in epochs_of(with_aux):
        other = by_epoch.get(event.epoch)
        if other is None:
            continue
        for stage, norm in event.grad_norms.items():
            if stage in skip or stage not in other.grad_norms:
                continue
            rows.append(GradientRatio(event.epoch, stage, norm, other.grad_norms[stage]))
    return rows


def ratio_sentence(rows: Sequence[GradientRatio], epoch: int | None = None) -> str:
    """The lesson in numbers, for the first stage: "conv1 receives 20% more gradient ...".

    Over every epoch in ``rows`` (the mean norms of the two runs, then each epoch's
    change), or for one ``epoch``. A single epoch can point the other way (in the
    first, both runs start from the same weights and the aux heads are still
    guessing), so the whole run is the summary.
    """
    if not rows:
        return ""
    if epoch is not None:
        rows = [r for r in rows if r.epoch == epoch]
    stage = rows[0].stage
    mine = [r for r in rows if r.stage == stage]
    with_aux = sum(r.with_aux for r in mine) / len(mine)
    without = sum(r.without for r in mine) / len(mine)
    change = with_aux / without - 1 if without > 0 else float("inf")
    figures = {"stage": stage, "change": abs(change), "with_aux": with_aux, "without": without}
    if len(mine) == 1:
        if abs(change) < 0.005:
            sentence = _(
                "{stage} receives the same gradient with the aux heads in the loss in epoch "
                "{epoch} ({with_aux:.3g} vs {without:.3g})"
            )
        elif change > 0:
            sentence = _(
                "{stage} receives {change:.0%} more gradient with the aux heads in the loss in "
                "epoch {epoch} ({with_aux:.3g} vs {without:.3g})"
            )
        else:
            sentence = _(
                "{stage} receives {change:.0%} less gradient with the aux heads in the loss in "
                "epoch {epoch} ({with_aux:.3g} vs {without:.3g})"
            )
        return sentence.format(epoch=mine[0].epoch, **figures)
    each = pgettext("list separator", ", ").join(
        _("epoch {epoch} {change:+.0%}").format(epoch=r.epoch, change=r.ratio - 1) for r in mine
    )
    if abs(change) < 0.005:
        sentence = _(
            "{stage} receives the same gradient with the aux heads in the loss over {n} epochs "
            "({with_aux:.3g} vs {without:.3g} on average; {each})"
        )
    elif change > 0:
        sentence = _(
            "{stage} receives {change:.0%} more gradient with the aux heads in the loss over {n} "
            "epochs ({with_aux:.3g} vs {without:.3g} on average; {each})"
        )
    else:
        sentence = _(
            "{stage} receives {change:.0%} less gradient with the aux heads in the loss over {n} "
            "epochs ({with_aux:.3g} vs {without:.3g} on average; {each})"
        )
    return sentence.format(n=len(mine), each=each, **figures)


def fair_pair(runs: Mapping[str, Sequence[Event]]) -> tuple[str, str] | None:
    """(with aux, without): the latest two of ``runs`` that differ only in the aux weights.

    "Without" is a run at 0/0 and "with" one whose weights are not both 0, with the
    same initial weights, data and recipe: what :func:`ab_pair` queues, found again from
    the runs themselves (so after a refresh, or for runs from the command line). Runs
    are taken in the mapping's order, later ones preferred; None if no such pair.
    """
    started = [(key, s) for key, events in runs.items() if (s := start_of(events)) is not None]
    for i in range(len(started) - 1, -1, -1):
        for j in range(i - 1, -1, -1):
            (a, start_a), (b, start_b) = started[j], started[i]
            found = differences({a: runs[a], b: runs[b]})
            if [d.setting for d in found] != ["aux weights"]:
                continue
            zero_a = start_a.train_config.aux_weights == (0.0, 0.0)
            zero_b = start_b.train_config.aux_weights == (0.0, 0.0)
            if zero_a != zero_b:
                return (b, a) if zero_a else (a, b)
    return None


def best_finished(summaries: Sequence[RunSummary]) -> str | None:
    """The finished run with a checkpoint and the best validation accuracy, or None.

    Of equally accurate runs, the newest: ``summaries`` come newest first and ``max``
    keeps the first of equals.
    """
    scored = [
        s
        for s in summaries
        if s.status in FINISHED and s.has_checkpoint and s.best_val_acc is not None
    ]
    best = max(scored, key=lambda s: s.best_val_acc or 0.0, default=None)
    return best.id if best else None
