"""Shared helpers of the benchmarks: best-of-N timing and the JSON record (command, commit, machine)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from graphmeta.benchmarks.record import write_record as _write_record

RESULTS = Path(__file__).resolve().parent / "results"


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls (this machine is shared and noisy: the minimum is the signal)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def write_record(name: str, results: dict[str, Any], out: Path | None = None) -> Path:
    """Writes ``{command, commit, machine, results}`` as JSON to ``out`` (default ``bench/results/<name>.json``)."""
    return _write_record(name, results, out or RESULTS / f"{name}.json")
