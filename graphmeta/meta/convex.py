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


def _penalized_loss_and_grad(w: np.ndarray, F: np.ndarray, y: np.ndarray, scale: str, prior: np.ndarray,
                             strength: float) -> tuple[float, np.ndarray]:
    """Log loss minus ``strength * sum(prior * log(w))`` (a Dirichlet prior; ``strength=0``: the log loss)."""
    loss, grad = _loss_and_grad(w, F, y, scale)
    if strength == 0:
        return loss, grad
    mass = prior > 0
    safe = np.maximum(w, 1e-12)
    return (loss - strength * float(np.sum(prior[mass] * np.log(safe[mass]))),
            grad - strength * np.where(mass, prior / safe, 0.0))


def convex_log_loss_weights(Z: np.ndarray, y: np.ndarray, scale: Scale = "logit", prior: np.ndarray | None = None,
                            prior_strength: float = 0.0) -> np.ndarray:
    """The convex weights (``[L]``, non-negative, summing to 1) minimizing the log loss of :func:`combine`.

    Args:
        Z: ``[n, L]`` predicted probabilities of the positive class, one column per base learner.
        y: ``[n]`` labels in {0, 1}.
        scale: ``"logit"`` (default, as ``method.NNloglik``) or ``"probability"``.
        prior, prior_strength: optional convex weights ``[L]`` to shrink towards, as a Dirichlet prior worth
            ``prior_strength`` pseudo-observations: the objective becomes
            ``n * log_loss(w) - prior_strength * sum(prior * log(w))``, so ``0`` gives the plain fit and a large
            strength returns ``prior`` (e.g. weights learned across meta-training tasks, for small supports).
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
    if prior_strength < 0:
        raise ValueError(f"prior_strength must be non-negative, got {prior_strength}")
    F = _features(Z, scale)
    p, c = np.zeros(L), 0.0
    if prior is not None and prior_strength > 0:
        p = np.asarray(prior, dtype=np.float64)
        if p.shape != (L,) or (p < 0).any() or not np.isclose(p.sum(), 1.0):
            raise ValueError(f"prior must be {L} non-negative weights summing to 1, got {prior}")
        c = prior_strength / len(y)
    lower = np.where(p > 0, 1e-9, 0.0)  # log(w) needs w > 0 where the prior has mass
    result = minimize(_penalized_loss_and_grad, np.full(L, 1.0 / L), args=(F, y, scale, p, c), jac=True,
                      method="SLSQP", bounds=list(zip(lower, np.ones(L))),
                      constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)},),
                      options={"ftol": 1e-12, "maxiter": 500})
    w = np.clip(result.x, 0.0, None)
    return w / w.sum()
