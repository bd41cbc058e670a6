"""Evaluation metrics for few-shot binary property prediction.

- :func:`roc_auc`: area under the ROC curve (the MoleculeNet few-shot metric);
- :func:`delta_auprc`: average precision minus the positive fraction of the query (FS-Mol's metric,
  0 for a random ranking, ``1 - positive fraction`` for a perfect one);
- :func:`accuracy`: fraction of correct hard predictions;
- :func:`mean_ci95` and :func:`summarize`: aggregate per-episode scores.

All functions accept NumPy arrays, Python sequences or PyTorch tensors (any device, with or without grad).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence, Union

import numpy as np

if TYPE_CHECKING:  # torch is optional here: only named in the type
    import torch

__all__ = ["roc_auc", "delta_auprc", "accuracy", "mean_ci95", "summarize"]

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


def _binary_pair(y_true: ArrayLike, scores: ArrayLike, metric: str) -> tuple[np.ndarray, np.ndarray]:
    y = _to_numpy(y_true, "y_true")
    s = _to_numpy(scores, "scores")
    if y.shape != s.shape:
        raise ValueError(f"{metric}: y_true has {y.shape[0]} entries but scores has {s.shape[0]}")
    if y.size == 0:
        raise ValueError(f"{metric}: empty input")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"{metric}: y_true must hold binary labels 0/1, found {np.unique(y)[:5].tolist()}")
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
