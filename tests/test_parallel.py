"""graphmeta.parallel: worker counts, slicing, forked map (order, errors, inherited callables, no-fork fallback)."""

from __future__ import annotations

import os

import pytest

import graphmeta.parallel as parallel
from graphmeta.parallel import chunk_bounds, fork_map, resolve_workers


def test_resolve_workers_follows_scikit_learn() -> None:
    assert resolve_workers(None) == 1 and resolve_workers(3) == 3
    assert resolve_workers(-1) == (os.cpu_count() or 1)
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_jobs"):
            resolve_workers(bad)  # type: ignore[arg-type]


def test_chunk_bounds_cover_the_range_in_order() -> None:
    for n, parts in ((10, 3), (2, 5), (7, 1), (0, 2)):
        bounds = chunk_bounds(n, parts)
        assert [i for a, b in bounds for i in range(a, b)] == list(range(n))
        assert all(b > a for a, b in bounds) and len(bounds) <= parts
        if bounds:
            sizes = [b - a for a, b in bounds]
            assert max(sizes) - min(sizes) <= 1


def test_fork_map_runs_an_unpicklable_closure_in_workers_in_order() -> None:
    offset = 100
    closure = lambda chunk: (os.getpid(), [x + offset for x in chunk])  # noqa: E731 (a lambda cannot be pickled)
    out = fork_map(closure, [[1, 2], [3], [4, 5, 6]], workers=2)
    assert [values for _, values in out] == [[101, 102], [103], [104, 105, 106]]
    if parallel.can_fork():
        assert os.getpid() not in {pid for pid, _ in out}
    assert parallel._TARGET is None  # never left behind


def test_fork_map_raises_a_workers_error_here() -> None:
    def fail(x: int) -> int:
        if x == 2:
            raise ValueError("bad item 2")
        return x

    with pytest.raises(ValueError, match="bad item 2"):
        fork_map(fail, [1, 2, 3], workers=2)
    assert parallel._TARGET is None


def test_fork_map_runs_serially_without_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "can_fork", lambda: False)
    out = fork_map(lambda x: (os.getpid(), x * 2), [1, 2, 3], workers=4)
    assert out == [(os.getpid(), 2), (os.getpid(), 4), (os.getpid(), 6)]
