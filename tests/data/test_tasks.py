"""TaskLabels / TaskCollection: sparse <-> dense, statistics, explicit binarization, serialization."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphmeta.data.featurize import MoleculeFeaturizer
from graphmeta.data.graphs import GraphStore
from graphmeta.data.tasks import SkipReport, TaskCollection, TaskLabels

NAN = float("nan")


def _collection(matrix: list[list[float]], task_type: str = "binary") -> TaskCollection:
    smiles = ["C", "CC", "CCC", "CCCC"][: len(matrix)]
    store = GraphStore.from_data_list([MoleculeFeaturizer()(s) for s in smiles])
    return TaskCollection(name="toy", graphs=store, labels=TaskLabels.from_dense(np.array(matrix)),
                          task_names=[f"t{i}" for i in range(len(matrix[0]))], task_type=task_type,  # type: ignore[arg-type]
                          smiles=smiles)


def test_labels_dense_round_trip_and_task_access() -> None:
    y = np.array([[1, NAN], [0, 1], [NAN, 0], [1, 1]], dtype=np.float32)
    labels = TaskLabels.from_dense(y)
    assert len(labels) == 2 and labels.task_ptr.tolist() == [0, 3, 6]
    graphs, values = labels.task(1)
    assert graphs.tolist() == [1, 2, 3] and values.tolist() == [1, 0, 1]
    assert torch.allclose(labels.dense(), torch.from_numpy(y), equal_nan=True)
    assert torch.allclose(labels.select([1, 0]).dense(), torch.from_numpy(y[:, [1, 0]]), equal_nan=True)


def test_collection_checks_its_invariants() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        _collection([[1], [2], [0]])
    with pytest.raises(ValueError, match="task names"):
        c = _collection([[1], [0]])
        TaskCollection(name="x", graphs=c.graphs, labels=c.labels, task_names=["a", "b"], task_type="binary")
    with pytest.raises(ValueError, match="task_type"):
        _collection([[1], [0]], task_type="ordinal")


def test_stats_summary_and_task_lookup() -> None:
    c = _collection([[1, NAN], [0, 1], [NAN, 0], [1, 1]])
    stats = c.task_stats()
    assert stats.positives.tolist() == [2, 2] and stats.negatives.tolist() == [1, 1]
    assert c.task_index("t1") == 1
    with pytest.raises(KeyError, match="no task named"):
        c.task_index("nope")
    assert "4 graphs x 2 binary task(s), 6 labels" in c.summary()
    assert math.isnan(c.y()[2, 0].item())


def test_binarize_is_explicit() -> None:
    c = _collection([[0.5], [2.0], [NAN], [-1.0]], task_type="regression")
    b = c.binarize(1.0)
    assert b.task_type == "binary" and b.labels.task(0)[1].tolist() == [0, 1, 0]
    below = c.binarize({"t0": 0.0}, positive="below")
    assert below.labels.task(0)[1].tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="regression"):
        b.binarize(0.5)
    with pytest.raises(KeyError, match="no threshold"):
        c.binarize({"other": 1.0})


def test_state_dict_round_trip_is_weights_only_safe(tmp_path) -> None:
    c = _collection([[1, NAN], [0, 1], [NAN, 0], [1, 1]])
    c.skipped.add("invalid_smiles", "toy.csv:row 9", "bad")
    path = tmp_path / "c.pt"
    torch.save(c.state_dict(), path)
    again = TaskCollection.from_state_dict(torch.load(path, weights_only=True))
    assert again.smiles == c.smiles and again.task_names == c.task_names
    assert torch.allclose(again.y(), c.y(), equal_nan=True)
    assert again.skipped.counts() == {"invalid_smiles": 1}


def test_skip_report_text() -> None:
    report = SkipReport()
    assert str(report) == "nothing skipped"
    report.add("invalid_smiles", "a.csv:row 3", "RDKit cannot parse")
    report.add("invalid_smiles", "a.csv:row 5", "RDKit cannot parse")
    assert report.counts() == {"invalid_smiles": 2} and "a.csv:row 3" in str(report)
