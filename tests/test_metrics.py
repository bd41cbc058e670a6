"""Metrics on hand-made examples: ROC-AUC, delta AUPRC, accuracy, confidence intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphmeta import metrics
from graphmeta.metrics import accuracy, delta_auprc, mean_ci95, roc_auc, summarize

Y = [0, 0, 1, 0, 1, 1, 0, 0]
PERFECT = [0.1, 0.2, 0.9, 0.3, 0.8, 0.7, 0.0, 0.4]


def test_roc_auc_perfect_reversed_and_constant() -> None:
    assert roc_auc(Y, PERFECT) == 1.0
    assert roc_auc(Y, [-s for s in PERFECT]) == 0.0
    assert roc_auc(Y, [0.5] * len(Y)) == 0.5


def test_roc_auc_hand_computed() -> None:
    # positives score 0.8, 0.4; negatives 0.6, 0.2: 3 of the 4 (pos, neg) pairs are ordered correctly
    assert roc_auc([1, 1, 0, 0], [0.8, 0.4, 0.6, 0.2]) == pytest.approx(0.75)


def test_metrics_accept_torch_and_numpy() -> None:
    expected = roc_auc(Y, PERFECT)
    assert roc_auc(torch.tensor(Y, dtype=torch.float32), torch.tensor(PERFECT, requires_grad=True)) == expected
    assert roc_auc(np.array(Y), np.array(PERFECT)) == expected
    assert delta_auprc(torch.tensor(Y), torch.tensor(PERFECT)) == pytest.approx(delta_auprc(Y, PERFECT))


def test_roc_auc_one_class_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="only one class"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="only one class"):
        delta_auprc([0, 0], [0.1, 0.2])


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="entries"):
        roc_auc([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="binary"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.1, float("nan")])


def test_delta_auprc() -> None:
    frac = np.mean(Y)
    assert delta_auprc(Y, PERFECT) == pytest.approx(1 - frac)
    # hand computed: ranking pos, neg, pos -> AP = (1/1 + 2/3) / 2 = 5/6, positive fraction 2/3
    assert delta_auprc([1, 0, 1], [0.9, 0.5, 0.1]) == pytest.approx(5 / 6 - 2 / 3)
    # a random ranking is about 0 on average
    rng = np.random.default_rng(0)
    y = rng.random(2000) < 0.2
    y[:2] = [True, False]
    assert abs(delta_auprc(y, rng.random(2000))) < 0.03


def test_accuracy() -> None:
    assert accuracy([0, 1, 1, 0], [0, 1, 0, 0]) == 0.75
    assert accuracy(torch.tensor([2, 1]), np.array([2, 1])) == 1.0
    with pytest.raises(ValueError):
        accuracy([0, 1], [0])


def test_mean_ci95_formula() -> None:
    values = [0.6, 0.7, 0.8, 0.9]
    mean, half = mean_ci95(values)
    assert mean == pytest.approx(0.75)
    std = math.sqrt(sum((v - 0.75) ** 2 for v in values) / 3)  # ddof=1
    assert half == pytest.approx(1.96 * std / 2)
    assert mean_ci95(torch.tensor([0.5, 0.5, 0.5])) == (0.5, 0.0)
    with pytest.raises(ValueError, match="at least 2"):
        mean_ci95([0.5])
    with pytest.raises(ValueError, match="NaN"):
        mean_ci95([0.5, float("nan")])


def test_summarize() -> None:
    out = summarize(np.array([1.0, 2.0, 3.0]))
    assert out == {"mean": 2.0, "std": pytest.approx(1.0), "n": 3}
    single = summarize([0.7])
    assert single["n"] == 1 and single["mean"] == 0.7 and math.isnan(single["std"])
    with pytest.raises(ValueError, match="empty"):
        summarize([])


def test_brier_score_matches_scikit_learn_and_takes_one_class() -> None:
    from sklearn.metrics import brier_score_loss

    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 50), rng.random(50)
    assert metrics.brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-15)
    assert metrics.brier_score([1, 1], [1.0, 0.5]) == pytest.approx(0.125)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.brier_score([0, 1], [0.5, 1.2])


def test_expected_calibration_error_hand_computed_and_in_the_limits() -> None:
    # bins of width 0.5: {0.1, 0.2} (labels 0, 1) and {0.8, 0.9} (labels 1, 1)
    # |0.3 - 1| / 4 + |1.7 - 2| / 4 = 0.25
    assert metrics.expected_calibration_error([0, 1, 1, 1], [0.1, 0.2, 0.8, 0.9], n_bins=2) == pytest.approx(0.25)
    assert metrics.expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0  # 1.0 falls in the last bin
    rng = np.random.default_rng(1)
    p = rng.random(200_000)
    calibrated = (rng.random(p.size) < p).astype(int)
    assert metrics.expected_calibration_error(calibrated, p) < 0.01
    half_active = np.arange(1000) % 2
    assert metrics.expected_calibration_error(half_active, np.full(1000, 0.001)) == pytest.approx(0.499)
    with pytest.raises(ValueError, match="binary labels"):
        metrics.expected_calibration_error([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="n_bins"):
        metrics.expected_calibration_error([0, 1], [0.1, 0.2], n_bins=0)
