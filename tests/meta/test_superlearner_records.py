"""The Super Learner records a model file keeps, made by one library function (graphmeta train calls it too)."""

from __future__ import annotations

from graphmeta.data.api import load_dataset
from graphmeta.meta.superlearner import model_file_records
from graphmeta.train import TrainConfig, build_meta_learner


def test_one_task_gives_fallback_weights_and_no_prior() -> None:
    tox21 = load_dataset("tox21", progress=False)
    learner = build_meta_learner(TrainConfig(learner="protonet", hidden_channels=8, num_layers=1, norm="layer"))
    records = model_file_records(learner, tox21, [0], shots=5)
    assert set(records) == {"superlearner_fallback"}  # nothing to hold out: "auto" means the support's own CV
    weights = records["superlearner_fallback"]["weights"]
    assert set(weights) == {"protonet", "logreg", "knn", "rf"} and abs(sum(weights.values()) - 1) < 1e-9
