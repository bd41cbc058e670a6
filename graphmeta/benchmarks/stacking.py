"""Super Learner against its base learners on benchmark episodes: is the combination as good as the best one?

For every test episode, each base learner is fitted on the support and scores the query, and the Super Learner
combines them with weights from a cross-validation on that support (or its cross-task fallback). Reported, per
task (mean over draws) and averaged over tasks: every base learner, the Super Learner, the best single base
learner chosen in hindsight (the one with the best mean over tasks), and the per-task oracle (on each task the base
learner that did best on it, also in hindsight: a bound no selection rule can promise). The Super Learner's gap to
the oracle is given per task. Weights are reported per task (mean over draws).
"""

from __future__ import annotations

import statistics
from typing import Any, Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from graphmeta import metrics
from graphmeta.data.episodes import Episode
from graphmeta.data.tasks import TaskCollection
from graphmeta.meta.base_learners import TaskPool
from graphmeta.meta.superlearner import SuperLearner

__all__ = ["SUPERLEARNER", "evaluate_stacking", "summarize_stacking", "stacking_markdown"]

#: Name of the combination in result tables.
SUPERLEARNER = "superlearner"


def evaluate_stacking(collection: TaskCollection, episodes: Sequence[Episode], superlearner: SuperLearner,
                      metric: str = "roc_auc", progress: bool = True) -> list[dict[str, Any]]:
    """One record per episode: ``{task, scores: {base learner..., superlearner}, weights, n_folds}``."""
    score: Callable[[np.ndarray, np.ndarray], float] = getattr(metrics, metric)
    rows = []
    for episode in tqdm(episodes, desc="super learner", unit="episode", disable=not progress):
        result = superlearner.fit_predict(TaskPool.from_episode(collection, episode), episode.support_y.numpy())
        y = episode.query_y.numpy()
        scores = {name: float(score(y, result.base_proba[:, j])) for j, name in enumerate(result.names)}
        scores[SUPERLEARNER] = float(score(y, result.proba))
        rows.append({"task": int(episode.task), "scores": scores, "weights": result.weights_by_name(),
                     "n_folds": result.n_folds, "n_support": len(episode.support), "n_query": len(episode.query)})
    return rows


def summarize_stacking(rows: Sequence[dict[str, Any]], task_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Per-task means over draws, means over tasks, the hindsight-best single learner and the per-task oracle."""
    if not rows:
        raise ValueError("no episodes to summarize")
    names = list(rows[0]["scores"])
    base = [n for n in names if n != SUPERLEARNER]
    tasks = sorted({r["task"] for r in rows})
    per_task: dict[int, dict[str, float]] = {}
    weights: dict[int, dict[str, float]] = {}
    for t in tasks:
        mine = [r for r in rows if r["task"] == t]
        per_task[t] = {n: statistics.fmean(r["scores"][n] for r in mine) for n in names}
        weights[t] = {n: statistics.fmean(r["weights"][n] for r in mine) for n in base}
    mean = {n: statistics.fmean(per_task[t][n] for t in tasks) for n in names}
    best_single = max(base, key=lambda n: mean[n])
    oracle = {t: max(base, key=lambda n: per_task[t][n]) for t in tasks}
    oracle_mean = statistics.fmean(per_task[t][oracle[t]] for t in tasks)
    label = (lambda t: task_names[t]) if task_names is not None else str
    return {
        "n_episodes": len(rows), "n_tasks": len(tasks), "base_learners": base,
        "mean": mean, "best_single": best_single, "best_single_mean": mean[best_single],
        "superlearner_minus_best_single": mean[SUPERLEARNER] - mean[best_single],
        "oracle_mean": oracle_mean, "superlearner_minus_oracle": mean[SUPERLEARNER] - oracle_mean,
        "fallback_episodes": sum(r["n_folds"] == 0 for r in rows),
        "per_task": [{"task": label(t), "scores": per_task[t], "oracle": oracle[t],
                      "superlearner_minus_oracle": per_task[t][SUPERLEARNER] - per_task[t][oracle[t]],
                      "weights": weights[t]} for t in tasks],
    }


def stacking_markdown(summary: dict[str, Any], title: str, metric: str) -> str:
    """A markdown table: one row per task (base learners, Super Learner, oracle) and the mean row."""
    base = summary["base_learners"]
    head = f"| task | {' | '.join(base)} | **superlearner** | oracle (per task) | SL - oracle |"
    lines = [f"### {title}", "", f"{metric}, mean over draws per task; oracle = best base learner of each task, "
             f"chosen in hindsight", "", head, "|" + "---|" * (len(base) + 4)]
    for row in summary["per_task"]:
        s = row["scores"]
        lines.append(f"| {row['task']} | " + " | ".join(f"{s[n]:.4f}" for n in base)
                     + f" | **{s[SUPERLEARNER]:.4f}** | {s[row['oracle']]:.4f} ({row['oracle']}) | "
                       f"{row['superlearner_minus_oracle']:+.4f} |")
    m = summary["mean"]
    lines.append("| **mean** | " + " | ".join(f"{m[n]:.4f}" for n in base)
                 + f" | **{m[SUPERLEARNER]:.4f}** | {summary['oracle_mean']:.4f} | "
                   f"{summary['superlearner_minus_oracle']:+.4f} |")
    lines += ["", f"Best single base learner (hindsight, mean over tasks): {summary['best_single']} "
              f"{summary['best_single_mean']:.4f}; Super Learner minus it: "
              f"{summary['superlearner_minus_best_single']:+.4f}."]
    return "\n".join(lines) + "\n"
