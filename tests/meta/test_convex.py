"""The Super Learner's meta-learner: convex weights minimizing log loss (R SuperLearner's method.NNloglik)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import check_grad

from graphmeta.meta.convex import _features, _loss_and_grad, combine, convex_log_loss_weights, log_loss


def _problem(seed: int, n: int = 200, L: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    strength = np.linspace(0.0, 2.5, L)  # column 0 is noise, the last one the most informative
    logits = strength * (2 * y[:, None] - 1) + rng.normal(size=(n, L))
    return 1 / (1 + np.exp(-logits)), y


@pytest.mark.parametrize("scale", ["logit", "probability"])
def test_analytic_gradient_matches_finite_differences(scale: str) -> None:
    Z, y = _problem(0)
    F = _features(Z, scale)
    for w in (np.full(4, 0.25), np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.7, 0.0, 0.1, 0.2])):
        err = check_grad(lambda v: _loss_and_grad(v, F, y, scale)[0], lambda v: _loss_and_grad(v, F, y, scale)[1], w)
        assert err < 1e-5


@pytest.mark.parametrize("scale", ["logit", "probability"])
def test_weights_are_convex_and_minimize_the_loss_over_a_grid(scale: str) -> None:
    Z, y = _problem(1, L=2)
    w = convex_log_loss_weights(Z, y, scale)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
    grid = np.linspace(0, 1, 2001)
    losses = [log_loss(y, combine(Z, np.array([1 - a, a]), scale)) for a in grid]
    assert log_loss(y, combine(Z, w, scale)) <= min(losses) + 1e-6
    assert w[1] == pytest.approx(grid[int(np.argmin(losses))], abs=2e-3)


@pytest.mark.parametrize("scale", ["logit", "probability"])
def test_a_perfect_base_learner_takes_all_the_weight(scale: str) -> None:
    Z, y = _problem(2)
    Z[:, 2] = np.where(y == 1, 0.999, 0.001)
    w = convex_log_loss_weights(Z, y, scale)
    assert w[2] > 0.95


def test_combination_is_no_worse_than_the_best_column_in_sample() -> None:
    for seed in range(5):
        Z, y = _problem(seed)
        w = convex_log_loss_weights(Z, y)
        best = min(log_loss(y, combine(Z, np.eye(4)[j])) for j in range(4))
        assert log_loss(y, combine(Z, w)) <= best + 1e-9


def test_per_row_weights_and_single_learner() -> None:
    Z, y = _problem(3)
    w = convex_log_loss_weights(Z, y)
    np.testing.assert_allclose(combine(Z, np.tile(w, (len(Z), 1))), combine(Z, w))
    assert convex_log_loss_weights(Z[:, :1], y).tolist() == [1.0]
    np.testing.assert_allclose(combine(Z[:, :1], np.ones(1)), np.clip(Z[:, 0], 1e-6, 1 - 1e-6), rtol=1e-9)


def test_bad_inputs_are_refused() -> None:
    Z, y = _problem(4)
    with pytest.raises(ValueError, match="binary"):
        convex_log_loss_weights(Z, y + 1)
    with pytest.raises(ValueError, match="shape"):
        convex_log_loss_weights(Z[:10], y)
    Z[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        convex_log_loss_weights(Z, y)
    with pytest.raises(ValueError, match="scale"):
        convex_log_loss_weights(Z, y, "odds")  # type: ignore[arg-type]


def test_prior_shrinks_the_weights_towards_it() -> None:
    Z, y = _problem(5)
    prior = np.array([0.7, 0.1, 0.1, 0.1])  # favours the noise column
    plain = convex_log_loss_weights(Z, y)
    np.testing.assert_allclose(convex_log_loss_weights(Z, y, prior=prior, prior_strength=0.0), plain)
    strong = convex_log_loss_weights(Z, y, prior=prior, prior_strength=1e6)
    np.testing.assert_allclose(strong, prior, atol=1e-3)
    middle = convex_log_loss_weights(Z, y, prior=prior, prior_strength=50.0)
    assert plain[0] < middle[0] < strong[0] and middle.sum() == pytest.approx(1) and (middle >= 0).all()
    with pytest.raises(ValueError, match="prior must be"):
        convex_log_loss_weights(Z, y, prior=np.array([1.0, 0.0]), prior_strength=1.0)
    with pytest.raises(ValueError, match="non-negative"):
        convex_log_loss_weights(Z, y, prior=prior, prior_strength=-1.0)
