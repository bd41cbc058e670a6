"""What every benchmark protocol shares: per-task averaging, fingerprint-baseline scoring, summaries over seeds."""

from __future__ import annotations

import math
import statistics
from typing import Any, Sequence

from graphmeta.data.episodes import Episode
from graphmeta.data.tasks import TaskCollection
from graphmeta.evaluate import EpisodeResult, score_episodes

__all__ = ["task_mean", "baseline_results", "mean_std"]


def task_mean(results: Sequence[EpisodeResult], field: str = "metric") -> tuple[float, dict[int, float]]:
    """Mean over tasks of each task's mean over draws of ``field`` (``"metric"``, ``"brier"``, ``"ece"``), and the
    per-task means (every task weighs the same)."""
    by_task: dict[int, list[float]] = {}
    for r in results:
        by_task.setdefault(r.task, []).append(getattr(r, field))
    per_task = {t: statistics.fmean(v) for t, v in by_task.items()}
    return statistics.fmean(per_task.values()), per_task


def baseline_results(collection: TaskCollection, method: str, seed: int, episodes: Sequence[Episode], cache: Any,
                     metric: str = "roc_auc") -> list[EpisodeResult]:
    """``"rf"`` or ``"knn"`` on ECFP4, fitted on each episode's support alone, scored on its query."""
    from graphmeta.baselines.fingerprints import KNNBaseline, RandomForestBaseline, fingerprint_baseline_probabilities

    def factory() -> Any:
        return RandomForestBaseline(random_state=seed) if method == "rf" else KNNBaseline()

    return score_episodes(episodes, fingerprint_baseline_probabilities(factory, collection, episodes, cache), metric)


def calibration(results: Sequence[EpisodeResult]) -> dict[str, float]:
    """``{"test_brier", "test_ece"}``: task means of the episodes' Brier score and expected calibration error."""
    return {"test_brier": task_mean(results, "brier")[0], "test_ece": task_mean(results, "ece")[0]}


def mean_std(values: Sequence[float], scale: float = 1.0) -> dict[str, float]:
    """``{"mean", "std"}`` of ``values`` times ``scale`` (std is NaN for a single value)."""
    return {"mean": scale * statistics.fmean(values),
            "std": scale * statistics.stdev(values) if len(values) > 1 else math.nan}
