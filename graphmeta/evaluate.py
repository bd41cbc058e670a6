"""Few-shot evaluation: adapt to each episode's support, score its query, one metric value per episode.

Evaluation episodes are drawn from their own seeded stream (``episode_rng(seed, EVAL_STREAM, task, draw)``),
independent of the meta-training stream, so validation and test episodes are the same on every call and in
every run with the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from graphmeta.data.episodes import Episode, EpisodeSampler, collate_episodes, episode_rng
from graphmeta.data.tasks import TaskCollection
from graphmeta.meta.base import MetaLearner
from graphmeta.runtime import deterministic

__all__ = ["EVAL_STREAM", "EpisodeResult", "sample_eval_episodes", "predict_episodes", "evaluate_episodes",
           "score_episodes", "summarize_by_task"]

#: Tag of the evaluation episode stream (training uses ``episode_rng(seed, step)``).
EVAL_STREAM = 1


@dataclass(frozen=True)
class EpisodeResult:
    """One evaluated episode: the metric, and for binary tasks the calibration of P(positive) on the query
    (Brier score and expected calibration error, :mod:`graphmeta.metrics`; ``None`` for N-way episodes)."""

    task: int
    draw: int
    metric: float
    n_support: int
    n_query: int
    brier: float | None = None
    ece: float | None = None


def sample_eval_episodes(collection: TaskCollection, tasks: Sequence[int], sampler: EpisodeSampler, draws: int,
                         seed: int) -> list[Episode]:
    """``draws`` episodes per task, ordered task by task; the same for the same ``seed``."""
    return [sampler.sample(collection, int(t), episode_rng(seed, EVAL_STREAM, int(t), d))
            for t in tasks for d in range(draws)]


def predict_episodes(learner: MetaLearner, collection: TaskCollection, episodes: Sequence[Episode],
                     tasks_per_batch: int = 1, device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Class probabilities ``[n_query, n_way]`` of each episode's query after adapting to its support."""
    was_training = learner.training
    learner.eval()
    out: list[torch.Tensor] = []
    with deterministic():  # MAML-style evaluation differentiates: keep its kernels reproducible
        for start in range(0, len(episodes), tasks_per_batch):
            chunk = episodes[start:start + tasks_per_batch]
            meta_batch = collate_episodes(collection, chunk).to(device)
            probs = torch.softmax(learner.evaluate(meta_batch).float(), dim=-1).cpu()
            sizes = [len(e.query) for e in chunk]
            out.extend(probs.split(sizes))
    learner.train(was_training)
    return out


def evaluate_episodes(learner: MetaLearner, collection: TaskCollection, episodes: Sequence[Episode],
                      metric: str = "roc_auc", tasks_per_batch: int = 1,
                      device: torch.device | str = "cpu") -> list[EpisodeResult]:
    """One metric value per episode (``"roc_auc"`` or ``"delta_auprc"`` for binary tasks, ``"accuracy"``)."""
    return score_episodes(episodes, predict_episodes(learner, collection, episodes, tasks_per_batch, device), metric)


def score_episodes(episodes: Sequence[Episode], probabilities: Sequence[torch.Tensor | np.ndarray],
                   metric: str = "roc_auc") -> list[EpisodeResult]:
    """Each episode's :class:`EpisodeResult` from its query's class probabilities ``[n_query, n_way]`` (draws
    numbered per task in order); binary metrics come with the Brier score and ECE of column 1."""
    from graphmeta import metrics

    if metric not in ("roc_auc", "delta_auprc", "accuracy"):
        raise ValueError(f"unknown metric {metric!r}; use 'roc_auc', 'delta_auprc' or 'accuracy'")
    results, draw_of = [], {}
    for episode, p in zip(episodes, probabilities):
        p = np.asarray(p, dtype=np.float64)
        draw = draw_of.get(episode.task, 0)
        draw_of[episode.task] = draw + 1
        y = np.asarray(episode.query_y)
        calibration = {}
        if metric == "accuracy":
            value = metrics.accuracy(y, p.argmax(-1))
        else:
            value = getattr(metrics, metric)(y, p[:, 1])
            calibration = {"brier": metrics.brier_score(y, p[:, 1]), "ece": metrics.expected_calibration_error(y, p[:, 1])}
        results.append(EpisodeResult(task=episode.task, draw=draw, metric=float(value), n_support=len(episode.support),
                                     n_query=len(episode.query), **calibration))
    return results


def summarize_by_task(results: Sequence[EpisodeResult], task_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and standard deviation of the metric per task over draws."""
    frame = pd.DataFrame([r.__dict__ for r in results])
    table = frame.groupby("task")["metric"].agg(["mean", "std", "count"]).reset_index()
    if task_names is not None:
        table.insert(1, "name", [task_names[t] if t >= 0 else "" for t in table.task])
    return table
