"""Who wrote which bundled digit: writer groups recovered from the file itself, so that
``benchmarks/bench_new_writers.py`` can hold whole writers out.

The bundled file holds 3,823 digits by 30 people and no writer ids
(``optdigits.names``). A random validation split puts every writer on both sides
and flatters the score: the question a student asks ("will it read *my* 7?") is about
writers the network never saw. The file's order still tells who wrote what:

- **Rows come in runs by one writer.** Two digits of the same class a few rows apart
  are closer (Euclidean, 64 counts) than two far apart: 0.79 of the far distance at a
  gap of one row, rising steadily to 1.0 at 50-60 rows. The runs found below have a
  median length of 34 rows: about a quarter of a writer's 127 digits (the publishers
  used half of each writer's digits for training, a quarter for validation and a
  quarter for testing).
- **A writer's runs are scattered through the file.** Five contiguous folds give a
  nearest-neighbour classifier 1.65 % error, five random folds 1.67 %: a block of the
  file holds no more new writers than a random draw. Holding out the file's last fifth
  is not a test on new writers.

So the runs are found, then grouped by style:

1. **Runs.** A boundary is where same-class digits in the 15 rows after a row are
   further from the 15 rows before it than each side is from itself; the boundaries are
   the highest such places within 20 rows, among the top quarter.
2. **Writers.** Two runs are as far apart as the median distance from one run's digits
   to the nearest digit of the same class in the other (averaged both ways). Average
   linkage merges the runs into :data:`WRITERS` groups, the file's writer count.
3. **Folds.** Groups are dealt, largest first, to the fold with the fewest digits.

The check, without the publishers' writer-independent test set (it stays out of
tuning): a 1-nearest-neighbour classifier errs on 2.51 % of held-out writer groups,
against 1.67 % on random folds; on the publishers' own test set, by 13 other people,
it erred on 2.00 % (``optdigits.names``). The groups carry writer information, and
the proxy is a little harsher than the real thing. ``benchmarks/bench_new_writers.py``
measures it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

from ..i18n import _
from .digits import load_digits

#: People who wrote the bundled (training) file (``optdigits.names``).
WRITERS = 30
#: Rows on each side of a candidate boundary, and how far apart two boundaries must be.
WINDOW, SPACING = 15, 20


def writer_runs(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Where one writer's run of rows ends: the first row of each run after the first."""
    n = len(labels)
    scores = np.zeros(n)
    features = counts.reshape(n, -1).astype(np.float32)
    for i in range(WINDOW, n - WINDOW):
        span = features[i - WINDOW : i + WINDOW]
        same = labels[i - WINDOW : i + WINDOW, None] == labels[None, i - WINDOW : i + WINDOW]
        dist = np.sqrt(((span[:, None] - span[None]) ** 2).sum(-1))
        left, right = slice(0, WINDOW), slice(WINDOW, 2 * WINDOW)
        off_diagonal = ~np.eye(WINDOW, dtype=bool)
        cross = dist[left, right][same[left, right]]
        within_left = dist[left, left][same[left, left] & off_diagonal]
        within_right = dist[right, right][same[right, right] & off_diagonal]
        if len(cross) and len(within_left) and len(within_right):
            scores[i] = cross.mean() - 0.5 * (within_left.mean() + within_right.mean())
    floor = np.percentile(scores, 75)
    return np.asarray(
        [
            i
            for i in range(WINDOW, n - WINDOW)
            if scores[i] > floor and scores[i] == scores[max(0, i - SPACING) : i + SPACING].max()
        ],
        dtype=np.int64,
    )


def writer_groups(
    counts: np.ndarray, labels: np.ndarray, starts: np.ndarray, groups: int = WRITERS
) -> np.ndarray:
    """A group number (0..groups-1) for every row: the runs that begin at ``starts``
    (:func:`writer_runs`), those of one writer's style together."""
    n = len(labels)
    features = counts.reshape(n, -1).astype(np.float32)
    edges = np.concatenate([[0], starts, [n]])
    run_of = np.repeat(np.arange(len(edges) - 1), np.diff(edges))
    runs = len(edges) - 1
    # nearest[a, j]: distance from digit a to the nearest digit of its class in run j
    nearest = np.full((n, runs), np.inf, np.float32)
    for digit in np.unique(labels):
        members = np.nonzero(labels == digit)[0]
        x = features[members]
        dist = np.sqrt(np.maximum(((x[:, None] - x[None]) ** 2).sum(-1), 0))
        np.fill_diagonal(dist, np.inf)
        for run in np.unique(run_of[members]):
            nearest[members, run] = dist[:, run_of[members] == run].min(axis=1)
    apart = np.zeros((runs, runs))
    for run in range(runs):
        rows = nearest[run_of == run]
        for other in range(runs):
            column = rows[:, other]
            finite = column[np.isfinite(column)]
            apart[run, other] = np.median(finite) if len(finite) else np.inf
    apart = (apart + apart.T) / 2
    members_of = _average_linkage(apart, groups)
    group_of_run = np.empty(runs, np.int64)
    for number, group in enumerate(members_of):
        group_of_run[group] = number
    out: np.ndarray = group_of_run[run_of]
    return out


def _average_linkage(apart: np.ndarray, groups: int) -> list[list[int]]:
    """Merge items (distance matrix ``apart``) until ``groups`` remain, closest average
    distance first (Lance-Williams update); ties go to the lowest indices."""
    dist = apart.astype(np.float64).copy()
    np.fill_diagonal(dist, np.inf)
    members: list[list[int] | None] = [[i] for i in range(len(dist))]
    alive = len(dist)
    while alive > groups:
        i, j = np.unravel_index(int(np.argmin(dist)), dist.shape)
        i, j = min(i, j), max(i, j)
        a, b = members[i], members[j]
        assert a is not None and b is not None
        merged = (len(a) * dist[i] + len(b) * dist[j]) / (len(a) + len(b))
        dist[i], dist[:, i] = merged, merged
        dist[i, i] = np.inf
        dist[j], dist[:, j] = np.inf, np.inf
        members[i], members[j] = a + b, None
        alive -= 1
    return sorted((m for m in members if m is not None), key=min)


def deal_folds(group_of_row: np.ndarray, folds: int) -> list[np.ndarray]:
    """Rows in ``folds`` folds, whole groups each, largest group first to the emptiest fold."""
    sizes = np.bincount(group_of_row)
    filled = np.zeros(folds, np.int64)
    fold_of_group = np.empty(len(sizes), np.int64)
    for group in sorted(range(len(sizes)), key=lambda g: (-sizes[g], g)):
        fold = int(np.argmin(filled))
        fold_of_group[group] = fold
        filled[fold] += sizes[group]
    fold_of_row = fold_of_group[group_of_row]
    return [np.nonzero(fold_of_row == f)[0] for f in range(folds)]


#: The groups of the bundled file, as :func:`derive_bundled` finds them (a test checks it).
#: Shipped, not computed at load: finding them takes about a second of a shared server's
#: CPU in every process that loads the digits.
WRITERS_FILE = "files/optdigits-writers.json"


def derive_bundled() -> dict[str, list[int]]:
    """The bundled digits' runs and their groups, as stored in :data:`WRITERS_FILE`.

    To write it again: ``python -c "import json; from googlenet_core.data.writers import
    derive_bundled; print(json.dumps(derive_bundled()))" > googlenet_core/data/files/
    optdigits-writers.json``.
    """
    images, labels = load_digits()
    counts = np.rint(images.astype(np.float64) * 16 / 255)
    starts = writer_runs(counts, labels)
    groups = writer_groups(counts, labels, starts)
    firsts = np.concatenate([[0], starts])
    return {
        "run_starts": [int(s) for s in firsts],
        "group_of_run": [int(groups[s]) for s in firsts],
    }


@lru_cache(maxsize=1)
def bundled_writer_groups() -> np.ndarray:
    """A writer group (0..29) for every row of the bundled digits, from :data:`WRITERS_FILE`."""
    stored = json.loads(resources.files("googlenet_core.data").joinpath(WRITERS_FILE).read_text())
    starts = np.asarray(stored["run_starts"], np.int64)
    groups = np.asarray(stored["group_of_run"], np.int64)
    total = len(load_digits()[1])
    ordered = len(starts) and starts[0] == 0 and (np.diff(starts) > 0).all() and starts[-1] < total
    if len(starts) != len(groups) or not ordered:
        raise ValueError(_("the bundled digits' writer file is corrupt"))
    out = np.repeat(groups, np.diff(np.concatenate([starts, [total]])))
    out.setflags(write=False)
    return out
