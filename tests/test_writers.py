"""The bundled digits' writers told apart by style (googlenet_core.data.writers): the
shipped groups are what the file gives, they carry writer information, and folds hold
whole groups."""

from __future__ import annotations

import numpy as np
import pytest

from googlenet_core.data import writers
from googlenet_core.data.digits import load_digits


def _counts() -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_digits()
    return np.rint(images.reshape(len(labels), -1).astype(np.float64) * 16 / 255), labels


def _nearest_neighbour_error(folds: list[np.ndarray]) -> float:
    x, y = _counts()
    wrong = 0
    for fold in folds:
        rest = np.ones(len(y), bool)
        rest[fold] = False
        dist = ((x[fold][:, None] - x[rest][None]) ** 2).sum(-1)
        wrong += int((y[rest][dist.argmin(1)] != y[fold]).sum())
    return wrong / len(y)


def test_the_shipped_groups_are_what_the_file_gives() -> None:
    import json
    from importlib import resources

    shipped = json.loads(
        resources.files("googlenet_core.data").joinpath(writers.WRITERS_FILE).read_text()
    )
    assert writers.derive_bundled() == shipped
    groups = writers.bundled_writer_groups()
    assert len(groups) == len(load_digits()[1]) and set(groups.tolist()) == set(range(30))


def test_rows_near_each_other_share_a_writer() -> None:
    """What the runs rest on: same-class digits a few rows apart are closer than far apart."""
    x, y = _counts()
    rows = np.arange(len(y))

    def mean_distance(gap_low: int, gap_high: int) -> float:
        total, count = 0.0, 0
        for gap in range(gap_low, gap_high):
            same = y[:-gap] == y[gap:]
            total += float(np.sqrt(((x[:-gap] - x[gap:]) ** 2).sum(-1))[same].sum())
            count += int(same.sum())
        return total / count

    assert mean_distance(1, 10) < 0.9 * mean_distance(500, 510)
    runs = np.diff(np.concatenate([[0], writers.writer_runs(x, y), [len(rows)]]))
    assert 20 <= np.median(runs) <= 60  # about a quarter of a writer's 127 digits


def test_writer_folds_are_harder_than_random_or_contiguous_ones() -> None:
    """A nearest-neighbour classifier: held-out groups are as hard as new writers (the
    publishers' 1-NN on their writer-independent test set erred on 2.00 %), while random
    and contiguous fifths are easier: a block of the file holds no new writers."""
    n = len(load_digits()[1])
    rng = np.random.default_rng(0)
    random = _nearest_neighbour_error(np.array_split(rng.permutation(n), 5))
    contiguous = _nearest_neighbour_error(np.array_split(np.arange(n), 5))
    grouped = _nearest_neighbour_error(writers.deal_folds(writers.bundled_writer_groups(), 5))
    assert grouped > 1.3 * random and grouped > 1.3 * contiguous
    assert grouped >= 0.020


def test_folds_hold_whole_groups_and_are_even() -> None:
    groups = writers.bundled_writer_groups()
    folds = writers.deal_folds(groups, 5)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(groups)))
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 0.05 * len(groups)
    for a in range(5):
        for b in range(a + 1, 5):
            assert not set(groups[folds[a]].tolist()) & set(groups[folds[b]].tolist())


def test_average_linkage_merges_the_closest_first() -> None:
    points = np.array([0.0, 0.1, 5.0, 5.2, 9.0])
    apart = np.abs(points[:, None] - points[None])
    assert writers._average_linkage(apart, 3) == [[0, 1], [2, 3], [4]]
    assert writers._average_linkage(apart, 2) == [[0, 1], [2, 3, 4]]


def test_a_damaged_writer_file_is_refused(monkeypatch, tmp_path) -> None:
    bad = tmp_path / "writers.json"
    bad.write_text('{"run_starts": [5, 3], "group_of_run": [0, 1]}')

    class Files:
        def joinpath(self, _name: str):
            return bad

    monkeypatch.setattr(writers.resources, "files", lambda _package: Files())
    writers.bundled_writer_groups.cache_clear()
    try:
        with pytest.raises(ValueError, match="corrupt"):
            writers.bundled_writer_groups()
    finally:
        monkeypatch.undo()
        writers.bundled_writer_groups.cache_clear()
