"""Calibrating a head's probabilities on its own support: Platt scaling fitted to out-of-fold predictions.

A few-shot head's raw probabilities can be far off: a MAML head adapted to a balanced 5 + 5 support gave every
query (and the support's own actives, on average 0.14) a probability below 0.4, so every prediction was 0. The
fix needs no data beyond the support: cross-validate the head on the support (each support molecule scored by
the head fitted on the other folds) and fit :math:`p' = \\sigma(e^{s}\\,\\mathrm{logit}(p) + b)` to those
out-of-fold scores. Ten or twenty points cannot pin two parameters down, so both get a Gaussian prior centred on
the identity (``s = 0``, ``b = 0``) and the fit is the posterior mode. The scale :math:`e^{s}` is positive, so
the map is increasing: rankings, and hence ROC-AUC and AUPRC, never change.

The calibrated probabilities follow the support's class balance: a balanced support says "half are active".
Screening data rarely are (Tox21's assays: about 5% active), so a user who knows the expected hit rate among the
molecules being scored passes it and :func:`shift_base_rate` moves the probabilities from the support's rate to
it (Bayes' rule on the odds; an increasing map too). Measured on unseen Tox21 tasks in ``bench/calibration.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from graphmeta.choices import CALIBRATIONS

__all__ = ["CALIBRATIONS", "PlattScaling", "shift_base_rate"]


_EPS = 1e-12  # probabilities are clipped to [_EPS, 1 - _EPS] before the logit (ties only beyond it)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class PlattScaling:
    """The increasing map :math:`p \\mapsto \\sigma(e^{s}\\,\\mathrm{logit}(p) + b)`; the default is the identity.

    Attributes:
        log_scale: :math:`s` (``0``: the head's own sharpness).
        shift: :math:`b` (``0``: no shift).
        n_fit: how many out-of-fold scores it was fitted to (``0``: not fitted, the identity).
    """

    log_scale: float = 0.0
    shift: float = 0.0
    n_fit: int = 0

    @classmethod
    def fit(cls, probabilities: Any, labels: Any, prior_sd: float = 1.0) -> "PlattScaling":
        """Posterior mode of ``(s, b)`` given out-of-fold probabilities and their 0/1 labels, each parameter with
        a ``N(0, prior_sd**2)`` prior (the identity is the prior mean)."""
        z = _logit(np.ravel(probabilities))
        y = np.asarray(labels, dtype=np.float64).ravel()
        if z.shape != y.shape or not len(y):
            raise ValueError(f"need one label per probability, got {len(z)} probabilities and {len(y)} labels")
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("labels must be 0/1")
        if not prior_sd > 0:
            raise ValueError(f"prior_sd must be positive, got {prior_sd}")
        precision = 1.0 / prior_sd ** 2

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            scale = np.exp(theta[0])
            f = scale * z + theta[1]
            nll = np.sum(np.logaddexp(0.0, f) - y * f)  # binary cross-entropy on the logit scale, stable
            residual = 1.0 / (1.0 + np.exp(-f)) - y
            grad = np.array([np.sum(residual * scale * z), np.sum(residual)]) + precision * theta
            return float(nll + 0.5 * precision * float(theta @ theta)), grad

        result = minimize(objective, np.zeros(2), jac=True, method="L-BFGS-B")
        return cls(log_scale=float(result.x[0]), shift=float(result.x[1]), n_fit=len(y))

    def __call__(self, probabilities: Any) -> np.ndarray:
        """The calibrated probabilities (same shape; the identity when not fitted)."""
        p = np.asarray(probabilities, dtype=np.float64)
        if self.n_fit == 0:
            return p
        f = np.exp(self.log_scale) * _logit(p) + self.shift
        return 1.0 / (1.0 + np.exp(-f))

    def describe(self) -> str:
        """One line for users: what was fitted, or why nothing was."""
        if self.n_fit == 0:
            return "none (identity)"
        return (f"Platt scaling fitted to {self.n_fit} out-of-fold support scores: logit x "
                f"{np.exp(self.log_scale):.3g} {'+' if self.shift >= 0 else '-'} {abs(self.shift):.3g}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shift_base_rate(probabilities: Any, from_rate: float, to_rate: float) -> np.ndarray:
    """Probabilities computed for a population with a fraction ``from_rate`` of positives (the support's), moved
    to one with ``to_rate`` (the molecules being scored): each odds is multiplied by the ratio of the prior odds."""
    for name, rate in (("from_rate", from_rate), ("to_rate", to_rate)):
        if not 0.0 < rate < 1.0:
            raise ValueError(f"{name} must be a fraction strictly between 0 and 1, got {rate}")
    f = _logit(probabilities) + _logit(np.float64(to_rate)) - _logit(np.float64(from_rate))
    return 1.0 / (1.0 + np.exp(-f))
