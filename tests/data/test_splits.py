"""Task splits: PAR protocol, predefined splits, validation carved from training tasks only, CV folds."""

from __future__ import annotations

import pytest

from graphmeta.data.splits import TaskSplit, par_split


@pytest.mark.parametrize("name,n,first_test", [("tox21", 12, 9), ("sider", 27, 21), ("muv", 17, 12),
                                               ("toxcast", 617, 450)])
def test_par_splits(name: str, n: int, first_test: int) -> None:
    split = par_split(name, n_tasks=n)
    assert split.train == tuple(range(first_test)) and split.test == tuple(range(first_test, n))
    assert split.valid == ()


def test_carve_validation_never_touches_test_and_is_seeded() -> None:
    split = par_split("tox21", 12)
    a = split.carve_validation(2, seed=3)
    assert a == split.carve_validation(2, seed=3)
    assert a.test == split.test and len(a.valid) == 2 and set(a.valid) < set(split.train)
    assert set(a.train) | set(a.valid) == set(split.train)
    assert any(split.carve_validation(2, seed=s).valid != a.valid for s in range(10))
    with pytest.raises(ValueError, match="cannot carve"):
        split.carve_validation(9, seed=0)


def test_folds_cover_training_tasks_once() -> None:
    folds = par_split("sider", 27).folds(3, seed=0)
    held = [t for f in folds for t in f.valid]
    assert sorted(held) == list(range(21))
    assert all(set(f.train).isdisjoint(f.valid) and f.test == tuple(range(21, 27)) for f in folds)


def test_overlap_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[2\] are in both train and test"):
        TaskSplit(train=(1, 2), test=(2, 3))
    with pytest.raises(KeyError, match="no PAR split"):
        par_split("bbbp", 1)
