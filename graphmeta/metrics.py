"""Evaluation metrics for few-shot binary property prediction.

- :func:`roc_auc`: area under the ROC curve (the MoleculeNet few-shot metric);
- :func:`delta_auprc`: average precision minus the positive fraction of the query (FS-Mol's metric,
  0 for a random ranking, ``1 - positive fraction`` for a perfect one);
- :func:`accuracy`: fraction of correct hard predictions;
- :func:`brier_score` and :func:`expected_calibration_error`: how well predicted probabilities match observed
  frequencies (a ranking metric such as ROC-AUC cannot tell a P(active) of 0.001 from one of 0.4);
- :func:`mean_ci95` and :func:`summarize`: aggregate per-episode scores.

All functions accept NumPy arrays, Python sequences or PyTorch tensors (any device, with or without grad).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence, Union

import numpy as np

if TYPE_CHECKING:  # torch is optional here: only named in the type
    import torch

__all__ = ["roc_auc", "delta_auprc", "accuracy", "brier_score", "expected_calibration_error", "mean_ci95",
           "summarize"]

ArrayLike = Union[np.ndarray, Sequence[float], "torch.Tensor"]

#: z-value of a two-sided 95% normal confidence interval.
_Z95 = 1.96


def _to_numpy(values: Any, name: str) -> np.ndarray:
    """A 1-D float64 NumPy copy of ``values`` (NumPy array, sequence or torch tensor)."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # torch.Tensor, without importing torch
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _labels_and_values(y_true: ArrayLike, values: ArrayLike, metric: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """0/1 labels and as many values (``name`` in messages), as NumPy arrays; clear errors otherwise."""
    y = _to_numpy(y_true, "y_true")
    v = _to_numpy(values, name)
    if y.shape != v.shape:
        raise ValueError(f"{metric}: y_true has {y.shape[0]} entries but {name} has {v.shape[0]}")
    if y.size == 0:
        raise ValueError(f"{metric}: empty input")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"{metric}: y_true must hold binary labels 0/1, found {np.unique(y)[:5].tolist()}")
    return y, v


def _binary_pair(y_true: ArrayLike, scores: ArrayLike, metric: str) -> tuple[np.ndarray, np.ndarray]:
    y, s = _labels_and_values(y_true, scores, metric, "scores")
    if np.isnan(s).any():
        raise ValueError(f"{metric}: scores contain NaN")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        only = "positive" if n_pos else "negative"
        raise ValueError(f"{metric} is undefined when y_true has only one class "
                         f"(all {y.size} labels are {only})")
    return y, s


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve of ``scores`` (higher = more likely positive) against binary ``y_true``.

    Ties count one half (scikit-learn's :func:`~sklearn.metrics.roc_auc_score`): a perfect ranking gives
    1.0, a reversed one 0.0, constant scores 0.5.

    Raises:
        ValueError: if ``y_true`` holds only one class (the AUC is undefined), is not 0/1, or the lengths differ.
    """
    from sklearn.metrics import roc_auc_score

    y, s = _binary_pair(y_true, scores, "ROC-AUC")
    return float(roc_auc_score(y, s))


def delta_auprc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """FS-Mol's ΔAUPRC: average precision of ``scores`` minus the fraction of positives in ``y_true``.

    A random ranking scores about 0, a perfect ranking ``1 - positive fraction``.

    Raises:
        ValueError: if ``y_true`` holds only one class, is not 0/1, or the lengths differ.
    """
    from sklearn.metrics import average_precision_score

    y, s = _binary_pair(y_true, scores, "delta AUPRC")
    return float(average_precision_score(y, s) - y.mean())


def accuracy(y_true: ArrayLike, predicted: ArrayLike) -> float:
    """Fraction of entries where ``predicted`` equals ``y_true`` (hard labels, any number of classes)."""
    y = _to_numpy(y_true, "y_true")
    p = _to_numpy(predicted, "predicted")
    if y.shape != p.shape:
        raise ValueError(f"accuracy: y_true has {y.shape[0]} entries but predicted has {p.shape[0]}")
    if y.size == 0:
        raise ValueError("accuracy: empty input")
    return float((y == p).mean())


def _probability_pair(y_true: ArrayLike, probabilities: ArrayLike, metric: str) -> tuple[np.ndarray, np.ndarray]:
    y, p = _labels_and_values(y_true, probabilities, metric, "probabilities")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise ValueError(f"{metric}: probabilities must lie in [0, 1] (no NaN)")
    return y, p


def brier_score(y_true: ArrayLike, probabilities: ArrayLike) -> float:
    """Mean squared difference between P(positive) and the 0/1 label: 0 is perfect, 0.25 is a constant 0.5.

    Defined with one class too (unlike ROC-AUC). Raises ``ValueError`` on non-binary labels, probabilities outside
    [0, 1] or different lengths."""
    y, p = _probability_pair(y_true, probabilities, "Brier score")
    return float(np.mean((p - y) ** 2))


def expected_calibration_error(y_true: ArrayLike, probabilities: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error of P(positive): probabilities binned into ``n_bins`` equal-width bins on [0, 1]
    (the last bin closed), and the gap between each bin's mean probability and its fraction of positives,
    weighted by the bin's share of the molecules. 0 when, in every bin, the probabilities match the observed
    frequency; a model saying 0.001 for molecules of which half are active scores about 0.5.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    y, p = _probability_pair(y_true, probabilities, "expected calibration error")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, weights=p, minlength=n_bins) - np.bincount(bins, weights=y, minlength=n_bins))
    return float(gap.sum() / counts.sum())


def _finite_values(values: ArrayLike, what: str) -> np.ndarray:
    v = _to_numpy(values, "values")
    if v.size == 0:
        raise ValueError(f"{what} of an empty list of values")
    if not np.isfinite(v).all():
        raise ValueError(f"{what}: values contain NaN or infinity")
    return v


def mean_ci95(values: ArrayLike) -> tuple[float, float]:
    """Mean and half-width of a normal-approximation 95% confidence interval: ``1.96 * std / sqrt(n)``.

    ``std`` is the sample standard deviation (``ddof=1``); report as ``mean ± half_width``.

    Raises:
        ValueError: with fewer than 2 values (no spread estimate), or NaN/infinite values.
    """
    v = _finite_values(values, "mean_ci95")
    if v.size < 2:
        raise ValueError(f"mean_ci95 needs at least 2 values to estimate a spread, got {v.size}")
    return float(v.mean()), float(_Z95 * v.std(ddof=1) / math.sqrt(v.size))


def summarize(values: ArrayLike) -> dict[str, float | int]:
    """``{"mean", "std", "n"}`` of per-episode scores; ``std`` uses ``ddof=1`` (NaN for a single value)."""
    v = _finite_values(values, "summarize")
    std = float(v.std(ddof=1)) if v.size >= 2 else float("nan")
    return {"mean": float(v.mean()), "std": std, "n": int(v.size)}
