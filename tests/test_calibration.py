"""Platt scaling on out-of-fold support scores (graphmeta.calibration) and its use by the predictor."""

from __future__ import annotations

import numpy as np
import pytest

from graphmeta.calibration import PlattScaling, _logit, shift_base_rate
from graphmeta.metrics import brier_score, expected_calibration_error


def _shifted_scores(n: int, shift: float, sharpen: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from sigmoid(z); scores sigmoid(sharpen * z - shift): miscalibrated but perfectly ranked."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(int)
    return 1.0 / (1.0 + np.exp(-(sharpen * z - shift))), y


def test_identity_by_default_and_when_not_fitted() -> None:
    p = np.array([0.01, 0.3, 0.5, 0.97])
    assert np.array_equal(PlattScaling()(p), p)
    assert PlattScaling().describe() == "none (identity)"


def test_fit_undoes_a_shift_and_a_sharpening_and_keeps_the_ranking() -> None:
    p, y = _shifted_scores(4000, shift=2.5, sharpen=3.0)
    cal = PlattScaling.fit(p, y, prior_sd=10.0)  # a weak prior: the data decide
    assert cal.n_fit == 4000
    assert np.exp(cal.log_scale) == pytest.approx(1 / 3.0, rel=0.15)  # logit(p) * scale + shift = z
    assert cal.shift == pytest.approx(2.5 / 3.0, abs=0.2)
    q = cal(p)
    order = np.argsort(p)
    assert (np.diff(q[order]) > 0).all()  # an increasing map: the ranking, ROC-AUC and AUPRC are unchanged
    assert expected_calibration_error(y, q) < 0.03 < expected_calibration_error(y, p)
    assert brier_score(y, q) < brier_score(y, p)
    assert "Platt scaling fitted to 4000" in cal.describe()


def test_the_prior_keeps_a_small_support_near_the_identity() -> None:
    p, y = _shifted_scores(12, shift=2.5, sharpen=3.0, seed=1)
    weak, strong = PlattScaling.fit(p, y, prior_sd=10.0), PlattScaling.fit(p, y, prior_sd=0.05)
    assert abs(strong.log_scale) < 0.05 and abs(strong.shift) < 0.1
    assert abs(weak.shift) + abs(weak.log_scale) > abs(strong.shift) + abs(strong.log_scale)


def test_the_fit_is_the_posterior_mode() -> None:
    """At the fitted parameters the penalized log-loss is stationary (a finite-difference gradient check)."""
    p, y = _shifted_scores(300, shift=1.0, sharpen=2.0, seed=2)
    cal = PlattScaling.fit(p, y, prior_sd=1.0)
    z = _logit(p)

    def loss(theta: np.ndarray) -> float:
        f = np.exp(theta[0]) * z + theta[1]
        return float(np.sum(np.logaddexp(0, f) - y * f) + 0.5 * theta @ theta)

    theta, h = np.array([cal.log_scale, cal.shift]), 1e-5
    grad = [(loss(theta + h * e) - loss(theta - h * e)) / (2 * h) for e in np.eye(2)]
    assert np.allclose(grad, 0.0, atol=1e-3)
    for step in (np.array([0.05, 0]), np.array([0, 0.05]), np.array([-0.05, 0.05])):
        assert loss(theta + step) > loss(theta)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="one label per probability"):
        PlattScaling.fit([0.2, 0.4], [1])
    with pytest.raises(ValueError, match="0/1"):
        PlattScaling.fit([0.2, 0.4], [1, 2])
    with pytest.raises(ValueError, match="prior_sd"):
        PlattScaling.fit([0.2, 0.4], [1, 0], prior_sd=0)


def test_shift_base_rate_multiplies_the_odds_and_keeps_the_order() -> None:
    p = np.array([0.1, 0.5, 0.8, 0.99])
    np.testing.assert_allclose(shift_base_rate(p, 0.3, 0.3), p)
    shifted = shift_base_rate(p, 0.5, 0.05)
    odds = lambda q: q / (1 - q)  # noqa: E731
    np.testing.assert_allclose(odds(shifted) / odds(p), odds(0.05) / odds(0.5))
    assert (np.diff(shifted) > 0).all() and (shifted < p).all()
    for bad in (0.0, 1.0, -0.2, 1.5):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            shift_base_rate(p, 0.5, bad)
