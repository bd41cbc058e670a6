"""Fingerprint baselines: ECFP4 bit vectors + classical classifiers fitted on each episode's support.

These need no meta-training, which makes them the reference every meta-learner must beat (FS-Mol's
baselines): a random forest (:class:`RandomForestBaseline`) and a k-nearest-neighbour classifier with
Tanimoto similarity (:class:`KNNBaseline`). Both follow scikit-learn's estimator conventions
(``get_params``/``set_params``/``clone``, ``fit``/``predict_proba``, fitted attributes ending in ``_``).

Typical use::

    cache = FingerprintCache(collection)                 # ECFP4 of every molecule, computed once
    aucs = evaluate_fingerprint_baseline(RandomForestBaseline, collection, episodes, cache)
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from graphmeta.data.featurize import InvalidSmilesError, MoleculeFeaturizer, morgan_generator

__all__ = [
    "ecfp4",
    "FingerprintCache",
    "RandomForestBaseline",
    "KNNBaseline",
    "tanimoto_distance",
    "evaluate_fingerprint_baseline",
    "fingerprint_baseline_probabilities",
]


def ecfp4(
    smiles: Sequence[str],
    n_bits: int = 2048,
    radius: int = 2,
    *,
    use_counts: bool = False,
    progress: bool = False,
    featurizer: MoleculeFeaturizer | None = None,
) -> np.ndarray:
    """Morgan/ECFP fingerprints (ECFP4 with the default ``radius=2``) of many SMILES strings.

    Molecules are parsed with :meth:`MoleculeFeaturizer.parse` (lenient sanitization by default), so exactly
    the molecules the graph featurizer accepts get a fingerprint.

    Args:
        smiles: SMILES strings.
        n_bits: fingerprint length (folded).
        radius: Morgan radius (2 = ECFP4).
        use_counts: count fingerprint instead of bits (counts are clipped to 255 to fit ``uint8``).
        progress: show a tqdm progress bar.
        featurizer: parser to use (default ``MoleculeFeaturizer()``: lenient).

    Returns:
        ``uint8`` array of shape ``[len(smiles), n_bits]``.

    Raises:
        InvalidSmilesError: naming the index and the SMILES of the first molecule RDKit cannot parse.
    """
    if isinstance(smiles, str):
        raise TypeError("ecfp4 expects a sequence of SMILES strings, not a single string")
    if n_bits < 1 or radius < 0:
        raise ValueError(f"need n_bits >= 1 and radius >= 0, got n_bits={n_bits}, radius={radius}")
    parser = featurizer or MoleculeFeaturizer()
    generator = morgan_generator(int(radius), int(n_bits))
    fingerprint = generator.GetCountFingerprintAsNumPy if use_counts else generator.GetFingerprintAsNumPy
    out = np.zeros((len(smiles), n_bits), dtype=np.uint8)
    iterator: Iterable[tuple[int, str]] = enumerate(smiles)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, total=len(smiles), desc="ECFP", unit="mol", leave=False)
    for i, smi in iterator:
        try:
            mol = parser.parse(smi)
        except InvalidSmilesError as err:
            raise InvalidSmilesError(f"molecule {i} ({smi!r}): {err}") from None
        fp = fingerprint(mol)
        out[i] = np.minimum(fp, 255) if use_counts else fp
    return out


def _as_index(ids: Any) -> np.ndarray:
    if hasattr(ids, "detach") and hasattr(ids, "cpu"):  # torch.Tensor
        ids = ids.detach().cpu().numpy()
    return np.asarray(ids, dtype=np.int64).reshape(-1)


class FingerprintCache:
    """ECFP fingerprints of every molecule of a :class:`~graphmeta.data.TaskCollection`, computed once.

    Args:
        collection: a molecular collection (``collection.smiles`` must be set).
        n_bits, radius, use_counts: as in :func:`ecfp4`.
        progress: tqdm progress bar while computing.

    Example:
        >>> cache = FingerprintCache(collection)
        >>> X_support = cache[episode.support]          # [n_support, 2048] uint8
    """

    def __init__(self, collection: Any, n_bits: int = 2048, radius: int = 2, *, use_counts: bool = False,
                 progress: bool = False) -> None:
        smiles = getattr(collection, "smiles", None)
        if smiles is None:
            name = getattr(collection, "name", type(collection).__name__)
            raise ValueError(f"{name} has no SMILES: fingerprint baselines need a molecular dataset")
        self.name = getattr(collection, "name", "")
        self.n_bits = n_bits
        self.radius = radius
        self.use_counts = use_counts
        self.fingerprints = ecfp4(smiles, n_bits, radius, use_counts=use_counts, progress=progress)

    def __len__(self) -> int:
        return self.fingerprints.shape[0]

    def rows(self, graph_ids: Any) -> np.ndarray:
        """Fingerprints of the given graph ids (list, NumPy array or torch tensor), in that order."""
        idx = _as_index(graph_ids)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"graph id out of range for a fingerprint cache of {len(self)} molecules")
        return self.fingerprints[idx]

    __getitem__ = rows

    def __repr__(self) -> str:
        return (f"FingerprintCache(name={self.name!r}, n_molecules={len(self)}, n_bits={self.n_bits}, "
                f"radius={self.radius}, use_counts={self.use_counts})")


def _to_numpy(x: Any) -> Any:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor
        return x.detach().cpu().numpy()
    return x


def _validate(estimator: BaseEstimator, X: Any, y: Any = None, *, reset: bool) -> Any:
    """scikit-learn's input validation: sets ``n_features_in_`` (``reset=True``, in fit) or checks it."""
    try:
        from sklearn.utils.validation import validate_data  # scikit-learn >= 1.6
    except ImportError:  # pragma: no cover - older scikit-learn
        if y is not None:
            X, y = check_X_y(X, y)
        else:
            X = check_array(X)
        if reset:
            estimator.n_features_in_ = X.shape[1]
        elif X.shape[1] != estimator.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
                             f"{estimator.n_features_in_} features as input.")
        return (X, y) if y is not None else X
    if y is not None:
        return validate_data(estimator, X, y, reset=reset)
    return validate_data(estimator, X, reset=reset)


class _SupportClassifier(ClassifierMixin, BaseEstimator):
    """Shared fit/predict logic: a binary classifier fitted on one support set (both classes required)."""

    def __sklearn_tags__(self) -> Any:  # scikit-learn >= 1.6: binary labels only
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "estimator_")  # n_features_in_ alone (set before y is checked) does not count

    def _make_estimator(self, n_samples: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform(self, X: np.ndarray) -> np.ndarray:
        """What the wrapped estimator sees for ``X`` (called after ``estimator_`` exists)."""
        return X

    def fit(self, X: Any, y: Any) -> "_SupportClassifier":
        """Fits on the support fingerprints ``X`` ``[n, n_bits]`` and binary labels ``y`` ``[n]``."""
        self.__dict__.pop("estimator_", None)  # (re)fitting: unfitted until the new estimator is fitted
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        X, y = _validate(self, _to_numpy(X), _to_numpy(y), reset=True)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) == 1:
            raise ValueError(f"{type(self).__name__} needs both classes in the support, y has only one class "
                             f"({classes[0]!r} x {len(y)}): a one-class support cannot be ranked")
        if len(classes) > 2:
            raise ValueError(f"Only binary classification is supported. {type(self).__name__} got "
                             f"{len(classes)} classes ({classes.tolist()[:10]})")
        self.classes_ = classes
        estimator = self._make_estimator(X.shape[0])
        estimator.fit(self._transform(X), y)
        self.estimator_ = estimator
        return self

    def _check_X(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return _validate(self, _to_numpy(X), reset=False)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``[n, 2]``, columns ordered as ``classes_`` (column 1 = positive)."""
        X = self._transform(self._check_X(X))  # checks fitted-ness before estimator_ is looked up
        return self.estimator_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """Hard labels (the more probable class)."""
        proba = self.predict_proba(X)  # first: raises NotFittedError before classes_ is looked up
        return self.classes_[np.argmax(proba, axis=1)]


class RandomForestBaseline(_SupportClassifier):
    """Random forest on fingerprints, fitted on the support of each episode (FS-Mol's RF baseline).

    Args:
        n_estimators: number of trees.
        random_state: seed of the forest (fixed by default: results are reproducible).
        n_jobs: parallel jobs for fitting and prediction.
    """

    def __init__(self, n_estimators: int = 100, random_state: int | None = 0, n_jobs: int | None = 1) -> None:
        self.n_estimators = n_estimators
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _make_estimator(self, n_samples: int) -> Any:
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=self.n_estimators, random_state=self.random_state,
                                      n_jobs=self.n_jobs)


class KNNBaseline(_SupportClassifier):
    """k-nearest neighbours with Tanimoto similarity (``metric="jaccard"`` on bit vectors), FS-Mol's kNN baseline.

    The number of neighbours is ``min(n_neighbors, n_support)`` (stored in ``n_neighbors_``), so a 1-shot
    support of two molecules works.

    Args:
        n_neighbors: requested number of neighbours.
        metric: any scikit-learn distance; ``"jaccard"`` (= 1 - Tanimoto similarity) binarizes the
            fingerprints first.
        weights: ``"distance"`` (default: closer neighbours count more, which gives graded scores even
            with few neighbours) or ``"uniform"``.
    """

    def __init__(self, n_neighbors: int = 5, metric: str = "jaccard", weights: str = "distance") -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.weights = weights

    def fit(self, X: Any, y: Any) -> "KNNBaseline":
        """Fits on the support; with ``metric="jaccard"`` the (binarized) support is kept in ``support_``."""
        self.__dict__.pop("support_", None)  # a failed fit must not leave a fitted-looking attribute
        return super().fit(X, y)  # type: ignore[return-value]

    def _transform(self, X: np.ndarray) -> np.ndarray:
        if self.metric != "jaccard":
            return X
        if getattr(self, "support_", None) is None:  # fitting: keep the support, the estimator gets support x support distances
            self.support_ = X != 0
        return tanimoto_distance(X, self.support_)

    def _make_estimator(self, n_samples: int) -> Any:
        from sklearn.neighbors import KNeighborsClassifier

        if int(self.n_neighbors) < 1:
            raise ValueError(f"n_neighbors must be at least 1, got {self.n_neighbors}")
        self.n_neighbors_ = min(int(self.n_neighbors), n_samples)
        # Tanimoto distances by matrix products (precomputed): much faster than scikit-learn's generic
        # boolean "jaccard" on long fingerprints, and identical to it (checked by a test).
        metric = "precomputed" if self.metric == "jaccard" else self.metric
        return KNeighborsClassifier(n_neighbors=self.n_neighbors_, metric=metric, weights=self.weights,
                                    algorithm="brute")


def tanimoto_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``1 - Tanimoto similarity`` between the rows of two bit matrices ``[n, d]`` and ``[m, d]`` -> ``[n, m]``.

    Non-zero entries count as set bits. Equal to the Jaccard distance; two all-zero rows have distance 0
    (as in SciPy). Bit counts are exact in float32 (below 2**24), the ratio is taken in float64.
    """
    a32 = (np.asarray(a) != 0).astype(np.float32)
    b32 = (np.asarray(b) != 0).astype(np.float32)
    both = (a32 @ b32.T).astype(np.float64)
    union = a32.sum(1, dtype=np.float64)[:, None] + b32.sum(1, dtype=np.float64)[None, :] - both
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = 1.0 - both / union
    dist[union == 0] = 0.0
    return np.clip(dist, 0.0, 1.0)


def fingerprint_baseline_probabilities(
    model_factory: Callable[[], Any] | BaseEstimator,
    collection: Any,
    episodes: Iterable[Any],
    cache: FingerprintCache | None = None,
) -> list[np.ndarray]:
    """``[n_query, 2]`` class probabilities per episode: a fresh model fitted on the support fingerprints scores
    the query (column 1: P(positive)).

    Args:
        model_factory: callable returning an unfitted classifier (e.g. ``RandomForestBaseline`` or
            ``lambda: KNNBaseline(n_neighbors=3)``), or an estimator instance (cloned per episode).
        collection: the collection the episodes were drawn from.
        episodes: binary-task :class:`~graphmeta.data.episodes.Episode` objects.
        cache: fingerprints of ``collection`` (computed here when omitted).
    """
    if isinstance(model_factory, BaseEstimator):
        template = model_factory
        model_factory = lambda: clone(template)  # noqa: E731
    if cache is None:
        cache = FingerprintCache(collection)
    elif len(cache) != len(collection):
        raise ValueError(f"fingerprint cache holds {len(cache)} molecules but {collection!r} has {len(collection)}")
    out = []
    for episode in episodes:
        model = model_factory()
        model.fit(cache[episode.support], _to_numpy(episode.support_y))
        proba = model.predict_proba(cache[episode.query])
        positive = int(np.flatnonzero(np.asarray(model.classes_) == 1)[0])
        out.append(np.stack([1.0 - proba[:, positive], proba[:, positive]], axis=1))
    return out


def evaluate_fingerprint_baseline(
    model_factory: Callable[[], Any] | BaseEstimator,
    collection: Any,
    episodes: Iterable[Any],
    cache: FingerprintCache | None = None,
    metric: str = "roc_auc",
) -> list[float]:
    """One query metric value per episode (``"roc_auc"`` or ``"delta_auprc"``, FS-Mol's metric) of the
    :func:`fingerprint_baseline_probabilities` of the same arguments."""
    from graphmeta import metrics

    if metric not in ("roc_auc", "delta_auprc"):
        raise ValueError(f"unknown metric {metric!r}; use 'roc_auc' or 'delta_auprc'")
    episodes = list(episodes)
    probabilities = fingerprint_baseline_probabilities(model_factory, collection, episodes, cache)
    return [getattr(metrics, metric)(e.query_y, p[:, 1]) for e, p in zip(episodes, probabilities)]
