"""Super Learner benchmark summaries: per-task means, hindsight-best single learner, per-task oracle."""

from __future__ import annotations

import pytest
import torch

from graphmeta.benchmarks.molnet import protocol_episodes
from graphmeta.benchmarks.stacking import evaluate_stacking, stacking_markdown, summarize_stacking
from graphmeta.data.api import load_dataset
from graphmeta.meta.base_learners import default_base_learners
from graphmeta.meta.superlearner import SuperLearner
from graphmeta.train import TrainConfig, build_meta_learner


def _row(task: int, a: float, b: float, sl: float) -> dict:
    return {"task": task, "scores": {"a": a, "b": b, "superlearner": sl}, "weights": {"a": 0.5, "b": 0.5},
            "n_folds": 5}


def test_summary_oracle_and_best_single() -> None:
    rows = [_row(0, 0.9, 0.6, 0.85), _row(0, 0.7, 0.6, 0.75),  # task 0: a .8, b .6, sl .8
            _row(1, 0.5, 0.7, 0.65), _row(1, 0.5, 0.9, 0.75)]  # task 1: a .5, b .8, sl .7
    s = summarize_stacking(rows, ["t0", "t1"])
    assert s["mean"]["a"] == pytest.approx(0.65) and s["mean"]["b"] == pytest.approx(0.7)
    assert s["best_single"] == "b" and s["mean"]["superlearner"] == pytest.approx(0.75)
    assert s["superlearner_minus_best_single"] == pytest.approx(0.05)
    assert s["oracle_mean"] == pytest.approx(0.8) and s["superlearner_minus_oracle"] == pytest.approx(-0.05)
    assert [r["oracle"] for r in s["per_task"]] == ["a", "b"] and s["per_task"][1]["task"] == "t1"
    table = stacking_markdown(s, "toy", "roc_auc")
    assert "| t0 | 0.8000 | 0.6000 | **0.8000** | 0.8000 (a) | +0.0000 |" in table
    with pytest.raises(ValueError):
        summarize_stacking([])


def test_stacking_on_real_episodes() -> None:
    tox21 = load_dataset("tox21", progress=False)
    torch.manual_seed(0)
    learner = build_meta_learner(TrainConfig(learner="protonet", hidden_channels=16, num_layers=2))
    episodes = protocol_episodes(tox21, [9, 10], 3, 40, 1, seed=0)
    rows = evaluate_stacking(tox21, episodes, SuperLearner(default_base_learners(learner), n_folds=3),
                             progress=False)
    assert [r["task"] for r in rows] == [9, 10] and all(r["n_folds"] == 3 for r in rows)
    assert set(rows[0]["scores"]) == {"protonet", "logreg", "knn", "rf", "superlearner"}
    assert all(0 <= v <= 1 for r in rows for v in r["scores"].values())
    assert summarize_stacking(rows)["n_tasks"] == 2
