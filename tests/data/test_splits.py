"""Task splits: PAR protocol, predefined splits, validation carved from training tasks only, CV folds."""

from __future__ import annotations

import pytest

from graphmeta.data.api import load_dataset
from graphmeta.data.splits import TaskSplit, fits_support, par_split, training_split


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


def test_training_split_is_the_policy_graphmeta_train_uses() -> None:
    """Published split's training tasks for Tox21, validation tasks held out of them, test tasks refused as
    validation, tasks too small for the supports left out and returned (the CLI reports them)."""
    tox21 = load_dataset("tox21", progress=False)
    split, note, small = training_split(tox21, shots=10)
    assert split.train == tuple(range(9)) and split.test == (9, 10, 11) and not split.valid and not small
    assert note == "the published split's training tasks"
    split, _, _ = training_split(tox21, shots=10, valid=[2])
    assert split.valid == (2,) and 2 not in split.train and split.test == (9, 10, 11)
    with pytest.raises(ValueError, match=r"validation task\(s\) \[10\] are test tasks"):
        training_split(tox21, shots=10, valid=[10])
    every, note, _ = training_split(tox21, shots=10, all_tasks=True)
    assert every.train == tuple(range(12)) and not every.test and note == "all tasks"
    smallest = min(range(9), key=lambda t: int(tox21.labels.task(t)[1].sum()))
    shots = int(tox21.labels.task(smallest)[1].sum()) + 1  # one more positive than the smallest task has
    split, _, small = training_split(tox21, shots=shots)
    assert smallest in small and smallest not in split.train and not fits_support(tox21, smallest, shots)
    assert all(fits_support(tox21, t, shots) for t in split.train)
    with pytest.raises(ValueError, match="no training task left"):
        training_split(tox21, shots=10_000)
