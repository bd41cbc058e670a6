"""graphmeta.parallel: worker counts, slicing, forked map (order, errors, inherited callables, no-fork fallback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

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


def test_workers_do_not_hang_in_an_openmp_pool_the_parent_started() -> None:
    """scikit-learn imported before torch, its OpenMP threads started here, then used in forked workers: libgomp's
    pool, inherited without its threads, used to hang the workers for ever (FewShotClassifier(n_jobs=2) with the
    Super Learner or knn head, run from a script or test file importing scikit-learn first). Run in a fresh
    interpreter, for that import order, with two OpenMP threads even on one CPU."""
    if not parallel.can_fork():
        pytest.skip("no fork on this platform: fork_map runs serially")
    script = textwrap.dedent("""
        import sklearn.base  # scikit-learn, and its own OpenMP runtime, loaded before torch
        import numpy as np
        from graphmeta.parallel import fork_map
        from sklearn.neighbors import KNeighborsClassifier

        X = np.random.default_rng(0).random((2000, 16), dtype=np.float32)
        y = (X[:, 0] > 0.5).astype(int)

        def knn(_):
            return int(KNeighborsClassifier(3).fit(X, y).predict(X[:500]).sum())

        expected = knn(0)  # OpenMP threads started in this process, before the fork
        assert fork_map(knn, [0, 1], 2) == [expected, expected]
        print("ok")
    """)
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": os.pathsep.join(filter(None, (
        str(repo), os.environ.get("PYTHONPATH"))))}
    # a session of its own: a hung run's forked workers are ended with it, not left behind
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, start_new_session=True)
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("forked workers hung in an OpenMP parallel region (the parent's libgomp pool)")
    assert process.returncode == 0 and out.strip() == "ok", err[-2000:]
