"""Convex combination of probabilistic predictions minimizing log loss (the Super Learner's meta-learner).

Given out-of-fold probabilities ``Z`` (``[n, L]``, one column per base learner) and binary labels ``y``, find
weights ``w`` with ``w >= 0`` and ``sum(w) = 1`` minimizing the mean binary log loss of

- ``scale="probability"``: ``p = Z @ w`` (a mixture of the base learners' probabilities), or
- ``scale="logit"``: ``p = sigmoid(logit(Z) @ w)`` (a weighted combination of their log-odds),

as R SuperLearner's ``method.NNloglik`` does (it optimizes on the logit scale). Probabilities are clipped to
``[eps, 1 - eps]`` first so that a base learner's 0 or 1 cannot make the loss infinite. The problem is convex
in ``w`` on both scales; it is solved by SLSQP from uniform weights with the analytic gradient, which is
deterministic.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.optimize import minimize

__all__ = ["SCALES", "combine", "log_loss", "convex_log_loss_weights"]

Scale = Literal["probability", "logit"]
SCALES: tuple[str, ...] = ("probability", "logit")

#: Probabilities are clipped to [EPS, 1 - EPS] before logits and logs.
EPS = 1e-6


def _check_scale(scale: str) -> None:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")


def _features(Z: np.ndarray, scale: str) -> np.ndarray:
    Z = np.clip(np.asarray(Z, dtype=np.float64), EPS, 1 - EPS)
    return np.log(Z) - np.log1p(-Z) if scale == "logit" else Z


def combine(Z: np.ndarray, weights: np.ndarray, scale: Scale = "logit") -> np.ndarray:
    """The combined probability of each row of ``Z`` (``[n, L]``) with ``weights`` (``[L]``, or ``[n, L]`` for
    per-row weights such as a gate's)."""
    _check_scale(scale)
    F = _features(Z, scale)
    w = np.asarray(weights, dtype=np.float64)
    s = (F * w).sum(-1) if w.ndim == 2 else F @ w
    return 1.0 / (1.0 + np.exp(-s)) if scale == "logit" else np.clip(s, EPS, 1 - EPS)


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary log loss of probabilities ``p`` for labels ``y`` (clipped like :func:`combine`)."""
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    y = np.asarray(y, dtype=np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log1p(-p)).mean())


def _loss_and_grad(w: np.ndarray, F: np.ndarray, y: np.ndarray, scale: str) -> tuple[float, np.ndarray]:
    s = F @ w
    if scale == "logit":  # loss = mean(softplus(s) - y s); d/ds = sigmoid(s) - y
        loss = float(np.mean(np.logaddexp(0.0, s) - y * s))
        return loss, F.T @ (1.0 / (1.0 + np.exp(-s)) - y) / len(y)
    p = np.clip(s, EPS, 1 - EPS)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
    dp = np.where((s > EPS) & (s < 1 - EPS), -(y / p - (1 - y) / (1 - p)), 0.0)
    return loss, F.T @ dp / len(y)


def convex_log_loss_weights(Z: np.ndarray, y: np.ndarray, scale: Scale = "logit") -> np.ndarray:
    """The convex weights (``[L]``, non-negative, summing to 1) minimizing the log loss of :func:`combine`.

    Args:
        Z: ``[n, L]`` predicted probabilities of the positive class, one column per base learner.
        y: ``[n]`` labels in {0, 1}.
        scale: ``"logit"`` (default, as ``method.NNloglik``) or ``"probability"``.
    """
    _check_scale(scale)
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if Z.ndim != 2 or Z.shape[0] != len(y) or Z.shape[1] == 0:
        raise ValueError(f"Z must be [n, L] with n = len(y) = {len(y)} and L >= 1, got shape {Z.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must hold binary labels 0/1")
    if not np.isfinite(Z).all():
        raise ValueError("Z holds NaN or infinite predictions")
    L = Z.shape[1]
    if L == 1:
        return np.ones(1)
    F = _features(Z, scale)
    result = minimize(_loss_and_grad, np.full(L, 1.0 / L), args=(F, y, scale), jac=True, method="SLSQP",
                      bounds=[(0.0, 1.0)] * L,
                      constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)},),
                      options={"ftol": 1e-12, "maxiter": 500})
    w = np.clip(result.x, 0.0, None)
    return w / w.sum()
