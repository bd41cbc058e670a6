"""Forked worker processes for CPU-bound work on long lists (featurization, prediction).

RDKit parsing and feature extraction hold the GIL, so threads do not help; forked processes do, and since a
forked child starts as a copy of the parent, it needs nothing pickled but its slice of the input: the function it
runs (a fitted model's method, say) is inherited through :data:`_TARGET`, set just before the fork. Workers run
every native thread pool with one thread (PyTorch's, each OpenMP runtime's, BLAS's; as PyTorch's DataLoader workers
and joblib's do): the workers already fill the CPUs, and an OpenMP runtime whose threads the parent started before
the fork must not start a parallel region in the child. GNU OpenMP (libgomp) keeps the parent's thread pool after
a fork without its threads, so the child's next parallel region waits for them for ever. ``torch.set_num_threads``
alone does not prevent that: scikit-learn imported before torch asks its own OpenMP runtime how many threads to use,
while its parallel regions may run in torch's (the first one loaded with global symbols), where the parent's
pool is.

Where ``fork`` is unavailable (Windows), :func:`fork_map` runs the chunks in this process, one after the other: the
result is the same, only slower.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

__all__ = ["resolve_workers", "chunk_bounds", "fork_map", "can_fork"]

T = TypeVar("T")
R = TypeVar("R")

#: The function the forked workers run (inherited through the fork, never pickled).
_TARGET: Callable[[Any], Any] | None = None


def resolve_workers(n_jobs: int | None) -> int:
    """Worker processes for scikit-learn style ``n_jobs``: ``None`` -> 1, ``-1`` -> every CPU, ``k`` -> k."""
    if n_jobs is None:
        return 1
    if not isinstance(n_jobs, (int, np.integer)) or isinstance(n_jobs, bool) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be None, -1 or a positive integer, got {n_jobs!r}")
    return (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)


def can_fork() -> bool:
    """Whether this platform can start worker processes by ``fork``."""
    return "fork" in multiprocessing.get_all_start_methods()


def chunk_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ``(start, stop)`` slices of ``range(n)``, as equal as possible (empty ones dropped)."""
    edges = np.linspace(0, n, max(1, parts) + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _init_worker() -> None:
    """One thread for every native thread pool of a forked worker (see the module's docstring)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(limits=1)  # every OpenMP and BLAS runtime loaded (scikit-learn's own libgomp included)


def _run_target(item: Any) -> Any:
    assert _TARGET is not None, "fork_map's target is only set inside fork_map"
    return _TARGET(item)


def fork_map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(item) for item in items]``, computed by ``workers`` forked processes (in order).

    ``fn`` may be any callable (a bound method of a fitted model, a closure): the children inherit it. Only the
    items and the results cross process boundaries (pickled). An exception in a worker is raised here.
    """
    global _TARGET
    if workers <= 1 or len(items) <= 1 or not can_fork():
        return [fn(item) for item in items]
    previous, _TARGET = _TARGET, fn
    try:
        with multiprocessing.get_context("fork").Pool(min(workers, len(items)), initializer=_init_worker) as pool:
            return pool.map(_run_target, items, chunksize=1)
    finally:
        _TARGET = previous
