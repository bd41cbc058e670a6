"""The few-shot predictor users call: a scikit-learn style classifier adapting a meta-trained model to a support.

>>> clf = FewShotClassifier(model="tox21-protonet")            # a model shipped with graphmeta
>>> clf.fit(["CCO", "c1ccccc1O", ...], [0, 1, ...])            # the support: a handful of labelled molecules
>>> clf.predict_proba(["CCN", "c1ccccc1N"])[:, 1]              # P(active) for new molecules

``fit`` only reads the support (and, for the Super Learner head, cross-validates on it); ``predict_proba``
adapts the chosen head to the support and scores the new graphs. Inputs are SMILES strings (list, pandas
Series), RDKit molecules or PyG ``Data`` graphs (:func:`~graphmeta.data.inputs.as_graph_inputs`); an invalid
SMILES raises an error naming its row, nothing is dropped. SMILES are sanitized strictly (RDKit's valence check
included) unless ``sanitize="lenient"``. Labels are 0/1, or any labels with ``positive_label`` naming the positive
class (:func:`binary_labels`): ``predict_proba(X)[:, 1]`` is always the probability of the positive class.

Heads: ``"protonet"`` (class prototypes of the backbone's embeddings), ``"maml"`` (the model's own inner loop;
MAML-family and Reptile models), ``"logreg"`` / ``"knn"`` on the embeddings, ``"rf"`` on ECFP4 (molecules), and
``"superlearner"``: their cross-validated convex combination (:mod:`graphmeta.meta.superlearner`).

A molecule's score never depends on the other molecules scored with it, whatever the model's normalization:
``norm="task"`` backbones normalize the query with the support's statistics (TaskNorm), ``"layer"``,
``"running"`` and ``"none"`` need no statistics of other graphs.

Probabilities are calibrated on the support by default (``calibration="platt"``, :mod:`graphmeta.calibration`):
the head is cross-validated on the support and an increasing map of its scores is fitted to the out-of-fold
ones, so rankings are untouched and ``predict``'s threshold of 0.5 means "more likely active than not" at the
support's class balance.

Regression (continuous targets) is not supported yet: ``fit`` says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from graphmeta.calibration import PlattScaling, shift_base_rate
from graphmeta.choices import CALIBRATIONS, HEADS
from graphmeta.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from graphmeta.data.featurize import PARALLEL_MIN, MoleculeFeaturizer, Sanitize, check_sanitize
from graphmeta.data.graphs import GraphStore
from graphmeta.data.inputs import (GraphInputs, as_graph_inputs, featurize_molecules, invalid_molecules_error,
                                   molecule_items)
from graphmeta.meta.base_learners import BaseLearner, TaskPool, default_base_learners
from graphmeta.meta.superlearner import SuperLearner
from graphmeta.model_files import MetaModel, cached_meta_model, meta_model_from_checkpoint
from graphmeta.parallel import chunk_bounds, fork_map, resolve_workers

__all__ = ["HEADS", "FewShotClassifier", "binary_labels", "check_duplicate_labels"]


_SAVED_KIND = "few-shot-classifier"


def _option(option: str, value: Any) -> str:
    """How a caller passes ``value`` to ``option``: ``positive_label='active'`` or ``--positive-label active``."""
    return f"{option} {value}" if option.startswith("--") else f"{option}={value!r}"


def binary_labels(y: Any, n: int, first_row: int = 0, positive_label: Any = None,
                  option: str = "positive_label") -> np.ndarray:
    """The labels ``y`` of ``n`` support molecules as 0/1 (``int64``), by one rule for the Python API and the command
    line, so that ``predict_proba(X)[:, 1]`` is always the probability of the positive class.

    Without ``positive_label``, labels must be 0/1 already: integers, floats equal to 0 or 1, or booleans (text such
    as ``"active"``/``"inactive"`` is refused rather than sorted into an arbitrary order). With ``positive_label``,
    every label equal to it is 1 and every other label 0. Errors name the support rows (numbered from
    ``first_row``, e.g. 2 for the data rows of a CSV file) for missing (None/NaN), infinite, continuous, one-class or
    multiclass labels; ``option`` is how the caller sets ``positive_label`` (named in the errors).
    """
    import pandas as pd

    def _rows(mask: np.ndarray) -> list[int]:
        return (np.flatnonzero(mask)[:10] + first_row).tolist()

    y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if y.ndim != 1:
        raise ValueError(f"y must be one label per support molecule (1-D), got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"{n} support molecules but {len(y)} labels")
    if n == 0:
        raise ValueError("the support is empty: pass labelled molecules of both classes")
    missing = pd.isna(y) if y.dtype.kind in "Of" else np.zeros(n, dtype=bool)
    if missing.any():
        raise ValueError(f"missing label (empty, None or NaN) in support row(s) {_rows(missing)}: drop those rows or "
                         f"label them")
    if y.dtype.kind == "O" and all(isinstance(v, (bool, int, float, np.bool_, np.number)) for v in y):
        y = y.astype(np.float64)  # numbers (and booleans) held as Python objects
    if y.dtype.kind == "f" and np.isinf(y).any():
        raise ValueError(f"infinite label in support row(s) {_rows(np.isinf(y))}")
    if positive_label is not None:
        encoded = np.array([v == positive_label for v in y.tolist()], dtype=np.int64)
        if not encoded.any():
            found = sorted({str(v) for v in y.tolist()})
            raise ValueError(f"{_option(option, positive_label)} matches no label (labels found: {found[:10]})")
    else:
        if y.dtype.kind not in "biuf":
            numbers = (bool, int, float, np.bool_, np.number)
            first = next(i for i, v in enumerate(y.tolist()) if not isinstance(v, numbers))
            text = list(dict.fromkeys(v for v in y.tolist() if isinstance(v, str)))  # in order of appearance
            got = f"text such as {', '.join(map(repr, text[:2]))}" if text else f"{type(y[first]).__name__} values"
            raise ValueError(f"labels must be 0/1 (integers, floats equal to 0 or 1, or booleans), got {got} (support "
                             f"row {first + first_row}); say which label is the positive class with "
                             f"{_option(option, text[0] if text else y[first])} (every other label is then 0)")
        values = y.astype(np.float64)
        other = ~np.isin(values, (0.0, 1.0))
        if other.any():
            distinct = np.unique(values)
            if len(distinct) > 2 and not np.array_equal(distinct, np.round(distinct)):
                raise ValueError(f"y looks continuous (labels other than 0 and 1 in support row(s) {_rows(other)}): "
                                 f"regression is not supported yet by FewShotClassifier; pass binary labels (e.g. "
                                 f"threshold the property)")
            shown = [int(v) if isinstance(v, float) and v.is_integer() else v for v in distinct[:10].tolist()]
            raise ValueError(f"labels must be 0 or 1, got {shown} (support row(s) {_rows(other)} hold other values); "
                             f"say which label is the positive class with {_option(option, shown[-1])} (every other "
                             f"label is then 0)")
        encoded = values.astype(np.int64)
    if encoded.min() == encoded.max():
        which = "positive (1)" if encoded[0] else "negative (0)"
        raise ValueError(f"the support has one class only ({len(y)} x {which}): a few-shot classifier needs examples "
                         f"of both classes")
    return encoded


def check_duplicate_labels(inputs: GraphInputs, encoded: np.ndarray, first_row: int = 0) -> None:
    """Raises ``ValueError`` naming the rows (numbered from ``first_row``) where the support holds one molecule
    (by canonical SMILES) more than once with different labels (``encoded`` 0/1); repeats with the same label are
    fine."""
    if inputs.smiles is None:
        return
    from rdkit import Chem, RDLogger

    def canonical(smiles: str) -> str:
        mol = Chem.MolFromSmiles(smiles) or Chem.MolFromSmiles(smiles, sanitize=False)  # lenient inputs too
        return Chem.MolToSmiles(mol) if mol is not None else smiles

    RDLogger.DisableLog("rdApp.*")
    try:
        keys = [canonical(s) for s in inputs.smiles]
    finally:
        RDLogger.EnableLog("rdApp.*")
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    conflicts = [rows for rows in groups.values() if len({int(encoded[i]) for i in rows}) > 1]
    if conflicts:
        shown = "; ".join(f"rows {[i + first_row for i in rows]} ({inputs.smiles[rows[0]]!r}: labels "
                          f"{[int(encoded[i]) for i in rows]})" for rows in conflicts[:5])
        raise ValueError(f"{len(conflicts)} molecule(s) appear more than once with conflicting labels: {shown}; keep "
                         f"one label per molecule")


class FewShotClassifier(ClassifierMixin, BaseEstimator):
    """Few-shot binary classifier on a meta-trained graph model.

    Args:
        model: a shipped model name (:func:`graphmeta.model_files.available_models`) or a model / MetaTrainer
            checkpoint file.
        head: how to adapt to the support: one of :data:`HEADS`.
        base_learners: for ``head="superlearner"``: names from the default library to combine (``None``: all
            that apply to the model and inputs).
        n_folds: V of the Super Learner's support cross-validation.
        scale: the Super Learner combines on the ``"logit"`` or ``"probability"`` scale.
        random_state: seed of the Super Learner's folds and of the random-forest base learner.
        n_jobs: worker processes for long lists of SMILES (at least ``PARALLEL_MIN``; ``-1``: every CPU; default
            one). ``predict_proba``/``predict``/``transform`` split such a list over forked workers that featurize
            and score their slice (same results as one process, up to float rounding).
        prior_strength: Super Learner: shrink the support's CV weights towards the model's cross-task weights,
            worth this many pseudo-observations (``0``: plain CV). ``"auto"``: the strength the model file's
            leave-tasks-out CV over its training tasks chose (``graphmeta train`` stores it) when the base
            learners and scale are the ones it was chosen for, else 0.
        positive_label: the label of the positive class in ``y`` (e.g. ``"active"``): labels equal to it are 1, all
            others 0. ``None`` (default): labels must be 0/1 already (integers, floats equal to 0 or 1, booleans);
            anything else, such as text labels, is an error rather than a guess (:func:`binary_labels`).
        sanitize: ``"strict"`` (default): a SMILES that fails RDKit's sanitization, valence check included (a
            five-bonded carbon), is an invalid input, an error naming its row; ``"lenient"`` accepts molecules
            that fail only the valence check, as the registered datasets are loaded.
        calibration: ``"platt"`` (default): fit an increasing map of the head's scores to their out-of-fold values
            on the support (``n_folds``-fold CV; the Super Learner reuses its own CV), see
            :class:`~graphmeta.calibration.PlattScaling`; a support with a class of one molecule cannot be
            cross-validated and stays uncalibrated (``calibration_`` says so). ``"none"``: the head's raw scores.
        base_rate: the expected fraction of positives among the molecules you will score (e.g. ``0.05`` for a
            screening library). Calibrated probabilities follow the support's class balance (a 10 + 10 support
            says half are active); with ``base_rate`` they are moved to it (:func:`~graphmeta.calibration.
            shift_base_rate`; rankings unchanged). ``None`` (default): the support's balance.

    Attributes:
        classes_: (after ``fit``, as every attribute below) ``[0, 1]``: ``predict_proba(X)[:, 1]`` is the probability of the positive class (label 1, or
            ``positive_label``) and ``predict`` returns 1 for it.
        weights_: ``{base learner: weight}`` of the Super Learner (one head: ``{head: 1.0}``).
        n_folds_: folds of the Super Learner's CV (0: the model's cross-task fallback weights were used).
        prior_strength_: the prior strength the Super Learner used (``prior_strength`` resolved).
        weights_source_: where ``weights_`` came from, in words (support CV, the cross-task prior and its share).
        calibration_: the fitted :class:`~graphmeta.calibration.PlattScaling` (the identity when not calibrated);
            ``calibration_.describe()`` says what it does.
        n_features_in_: embedding width of the model (what ``transform`` returns).

    Example:
        >>> from graphmeta import FewShotClassifier
        >>> clf = FewShotClassifier(model="tox21-protonet", base_rate=0.05)
        >>> clf.fit(["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C1CCNCC1"], [0, 1, 1, 0])
        >>> clf.predict_proba(["CCN", "c1ccccc1N"])[:, 1]  # P(active), at a 5% hit rate
        >>> clf.calibration_.describe(), clf.weights_source_
    """

    def __init__(self, model: str | os.PathLike = "tox21-protonet", head: str = "protonet",
                 base_learners: Sequence[str] | None = None, n_folds: int = 5, scale: str = "logit",
                 random_state: int = 0, n_jobs: int | None = None,
                 prior_strength: float | str = "auto", positive_label: Any = None,
                 sanitize: Sanitize = "strict", calibration: str = "platt", base_rate: float | None = None) -> None:
        self.model = model
        self.head = head
        self.base_learners = base_learners
        self.n_folds = n_folds
        self.scale = scale
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.prior_strength = prior_strength
        self.positive_label = positive_label
        self.sanitize = sanitize
        self.calibration = calibration
        self.base_rate = base_rate

    # -- helpers ------------------------------------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "support_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with a labelled "
                                 f"support before using this estimator.")

    def _featurizer(self, meta: MetaModel) -> MoleculeFeaturizer | None:
        """The model's featurizer, sanitizing as ``sanitize`` says (``None`` for a model of non-molecular graphs)."""
        check_sanitize(self.sanitize)
        featurizer = meta.molecule_featurizer()
        return featurizer.with_sanitize(self.sanitize) if featurizer is not None else None

    def _inputs(self, X: Any, meta: MetaModel, name: str) -> GraphInputs:
        featurizer = self._featurizer(meta)
        inputs = as_graph_inputs(X, featurizer or MoleculeFeaturizer(sanitize=self.sanitize), name, self.n_jobs)
        if inputs.featurizer is not None and featurizer is None:
            raise ValueError(f"model {meta.name} was trained on {meta.trained_on} graphs, not molecules: pass PyG "
                             f"Data graphs like its training data, not SMILES")
        meta.check_featurizer(inputs.featurizer, f"the graphs of {name}")
        return inputs

    def _library(self, meta: MetaModel, molecules: bool) -> list[BaseLearner]:
        library = {b.name: b for b in default_base_learners(meta.learner, molecules=molecules)}
        for b in library.values():  # the RF's seed follows the estimator's
            if b.name == "rf":
                b.estimator.set_params(random_state=self.random_state)  # type: ignore[attr-defined]
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.head != "superlearner":
            if self.head not in library:
                why = ("the model has no inner loop (train a MAML-family model)" if self.head == "maml"
                       else "it needs molecules (SMILES)")
                raise ValueError(f"head {self.head!r} is not available for model {meta.name}: {why}")
            return [library[self.head]]
        names = list(self.base_learners) if self.base_learners is not None else list(library)
        unknown = [n for n in names if n not in library]
        if unknown:
            raise ValueError(f"base learner(s) {unknown} not available for model {meta.name} and these inputs; "
                             f"available: {list(library)}")
        return [library[n] for n in names]

    def _superlearner(self, library: list[BaseLearner], meta: MetaModel) -> SuperLearner:
        fallback = meta.info.get("superlearner_fallback")
        weights = None
        if fallback and fallback.get("scale") == self.scale and set(fallback["weights"]) >= {b.name for b in library}:
            total = sum(fallback["weights"][b.name] for b in library)
            weights = {b.name: fallback["weights"][b.name] / total for b in library} if total > 0 else None
        return SuperLearner(library, n_folds=self.n_folds, scale=self.scale,  # type: ignore[arg-type]
                            fallback_weights=weights, random_state=self.random_state,
                            prior_strength=self._prior_strength(library, meta))

    def _prior_strength(self, library: list[BaseLearner], meta: MetaModel) -> float:
        if self.prior_strength != "auto":
            if isinstance(self.prior_strength, str):
                raise ValueError(f"prior_strength must be a number or 'auto', got {self.prior_strength!r}")
            return float(self.prior_strength)
        record = meta.info.get("superlearner_prior") or {}
        fits = record.get("scale") == self.scale and record.get("base_learners") == [b.name for b in library]
        return float(record["prior_strength"]) if fits else 0.0

    # -- estimator API ------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> "FewShotClassifier":
        """Reads the support ``X`` (molecules or graphs) with labels ``y`` (0/1, or any labels with ``positive_label``);
        the Super Learner cross-validates."""
        meta = cached_meta_model(self.model)
        support = self._inputs(X, meta, "support")
        encoded = binary_labels(y, len(support), positive_label=self.positive_label)
        check_duplicate_labels(support, encoded)
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {self.calibration!r}")
        if self.base_rate is not None and not 0.0 < self.base_rate < 1.0:
            raise ValueError(f"base_rate must be a fraction strictly between 0 and 1 (or None), got {self.base_rate}")
        library = self._library(meta, molecules=support.smiles is not None)
        sl = self._superlearner(library, meta) if self.head == "superlearner" else SuperLearner(
            library, n_folds=self.n_folds, random_state=self.random_state)
        oof = None
        if self.head == "superlearner":
            weights, V, oof = sl.weights_for(TaskPool(support), encoded)
            self.prior_strength_ = sl.prior_strength
        else:
            weights, V = np.ones(1), 0
            self.prior_strength_ = 0.0
        self.calibration_ = (sl.fit_calibration(TaskPool(support), encoded, weights, oof)
                             if self.calibration == "platt" else PlattScaling())
        self.model_, self.support_, self.y_, self.classes_ = meta, support, encoded, np.array([0, 1])
        self.weights_ = {b.name: float(w) for b, w in zip(library, weights)}
        self.n_folds_ = V
        self.weights_source_ = self._weights_source(V, len(support))
        self.n_features_in_ = meta.learner.model.encoder.hidden_channels
        return self

    def _weights_source(self, n_folds: int, n_support: int) -> str:
        """Where ``weights_`` came from, in words (printed by ``graphmeta predict``)."""
        if self.head != "superlearner":
            return f"the {self.head} head alone"
        if n_folds == 0:
            return "the model's cross-task fallback weights (this support is too small to cross-validate)"
        if self.prior_strength_ == 0:
            return f"this support's {n_folds}-fold cross-validation"
        origin = ("chosen by the model's leave-tasks-out CV over its training tasks" if self.prior_strength == "auto"
                  else "as passed")
        share = self.prior_strength_ / (self.prior_strength_ + n_support)
        return (f"this support's {n_folds}-fold cross-validation shrunk towards the model's cross-task weights, a "
                f"prior worth {self.prior_strength_:g} pseudo-observations ({origin}) against {n_support} support "
                f"molecules: the prior has {share:.0%} of the say (prior_strength=0 for the support's own weights)")

    def _map_query(self, X: Any, score: Callable[[GraphInputs], np.ndarray]) -> np.ndarray:
        """``score(graphs of X)``; with ``n_jobs`` > 1 and a long input, slice by slice in forked workers.

        A worker inherits the fitted classifier and the input through the fork and sends back only its scores:
        a list of molecules is featurized and scored in the workers, graphs are scored there. Slicing is exact
        because each graph's score is independent of the others (``"task"`` norm uses the support's statistics).
        """
        workers = resolve_workers(self.n_jobs)
        if workers < 2:
            return score(self._inputs(X, self.model_, "X"))
        featurizer = self._featurizer(self.model_)
        items = molecule_items(X) if featurizer is not None else None
        if items is not None and len(items) >= PARALLEL_MIN:
            def score_slice(bounds: tuple[int, int]) -> tuple[np.ndarray | None, dict[int, str]]:
                inputs, invalid = featurize_molecules(items[bounds[0]:bounds[1]], featurizer)
                return (None, invalid) if invalid else (score(inputs), {})

            n = len(items)
        else:
            query = self._inputs(X, self.model_, "X")
            if len(query) < PARALLEL_MIN:
                return score(query)
            score_slice = lambda bounds: (score(query.subset(np.arange(*bounds))), {})  # noqa: E731
            n = len(query)
        slices = chunk_bounds(n, workers)
        parts = fork_map(score_slice, slices, workers)
        invalid = {a + i: reason for (a, _), (_, bad) in zip(slices, parts) for i, reason in bad.items()}
        if invalid:
            raise invalid_molecules_error("X", invalid, n)
        return np.concatenate([p for p, _ in parts])

    def _probabilities(self, query: GraphInputs) -> np.ndarray:
        """P(class 1) of the query graphs, the head adapted to the support."""
        pool = TaskPool(self.support_, query)
        library = self._library(self.model_, molecules=self.support_.smiles is not None)
        if self.head == "superlearner":
            sl = self._superlearner(library, self.model_)
            p, _ = sl.predict(pool, self.y_, np.array([self.weights_[b.name] for b in library]))
        else:
            p = library[0].fit_predict(pool, [pool.support_to_query(self.y_)])[0]
        p = self.calibration_(p)
        return p if self.base_rate is None else shift_base_rate(p, float(np.mean(self.y_)), self.base_rate)

    def predict_proba(self, X: Any) -> np.ndarray:
        """``[n, 2]`` class probabilities: column 1 is P(positive), column 0 its complement."""
        self._check_fitted()
        p = self._map_query(X, self._probabilities)
        return np.stack([1.0 - p, p], axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """1 where the positive class is the more probable (``predict_proba(X)[:, 1] > 0.5``), else 0. The
        probabilities follow the support's class balance unless ``base_rate`` is given: with a balanced support,
        about half the molecules are called active; with ``base_rate=0.05``, only those the head is sure of."""
        proba = self.predict_proba(X)  # first: NotFittedError before classes_ is looked up
        return self.classes_[proba.argmax(axis=1)]

    def transform(self, X: Any) -> np.ndarray:
        """``[n, d]`` embeddings of ``X`` by the model's backbone, the ones the heads read (a ``norm="task"``
        backbone normalizes them with the support's statistics: each molecule's embedding is its own)."""
        self._check_fitted()
        return self._map_query(X, lambda graphs: TaskPool(self.support_, graphs).embeddings(
            self.model_.learner)[len(self.support_):].numpy())

    # -- persistence --------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Writes the fitted classifier (parameters, support graphs and labels, weights, and the model's weights)
        as a safe checkpoint; :meth:`load` restores it. Loading never executes code from the file."""
        self._check_fitted()
        blob = self.model_
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
        params["model"] = str(params["model"])
        if isinstance(params["positive_label"], np.generic):
            params["positive_label"] = params["positive_label"].item()  # a plain number or string in the file
        config = {"params": params, "model_config": {"train": blob.config.to_dict(), "featurizer": blob.featurizer,
                                                     "collection": blob.trained_on, **blob.info},
                  "classes": self.classes_.tolist(), "weights": self.weights_, "n_folds": self.n_folds_,
                  "prior_strength_used": self.prior_strength_, "weights_source": self.weights_source_,
                  "calibration": self.calibration_.to_dict(),
                  "smiles": self.support_.smiles, "featurizer": self.support_.featurizer}
        state = {"learner": blob.learner.state_dict(), "support": self.support_.graphs.state_dict(),
                 "y": torch.as_tensor(self.y_)}
        return save_checkpoint(path, _SAVED_KIND, config, state)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FewShotClassifier":
        """A fitted classifier written by :meth:`save` (its model weights come from the file itself).

        A model (a shipped name such as ``"tox21-protonet"``, or a ``model.pt`` / trainer checkpoint) is not a
        fitted classifier: it has no support yet. Use it as ``FewShotClassifier(model=path).fit(X, y)``; ``load``
        says so when given one.
        """
        from graphmeta.model_files import available_models

        use = (f"use FewShotClassifier(model={str(path)!r}).fit(support, labels) to adapt it to a support; "
               f"FewShotClassifier.load reads a fitted classifier written by FewShotClassifier.save")
        if not Path(path).is_file() and str(path) in available_models():
            raise FileNotFoundError(f"{str(path)!r} is a shipped model, not a saved classifier: {use}")
        blob = load_checkpoint(path)
        if blob.get("kind") in ("meta-model", "meta-trainer"):
            raise CheckpointError(f"{path}: a model file ({blob.get('kind')!r}), not a saved classifier: {use}")
        if blob.get("kind") != _SAVED_KIND:
            raise CheckpointError(f"{path}: a {blob.get('kind')!r} checkpoint, not a classifier written by "
                                  f"FewShotClassifier.save")
        config, state = blob["config"], blob["state"]
        try:
            params = dict(config["params"])
            meta = meta_model_from_checkpoint({"kind": "meta-model", "config": config["model_config"],
                                               "state": {"learner": state["learner"]}}, Path(path))
            clf = cls(**params)
            support = GraphInputs(GraphStore.from_state_dict(state["support"]), config["smiles"], config["featurizer"])
            clf.model_, clf.support_, clf.y_ = meta, support, state["y"].numpy().astype(np.int64)
            clf.classes_ = np.asarray(config["classes"])  # [0, 1] (older files: the labels they were fitted on)
            clf.weights_, clf.n_folds_ = dict(config["weights"]), int(config["n_folds"])
            clf.prior_strength_ = float(config.get("prior_strength_used", 0.0))
            clf.weights_source_ = config.get("weights_source", "not recorded (saved by an older graphmeta)")
            clf.calibration_ = PlattScaling(**config.get("calibration", {}))  # older files: uncalibrated
            clf.n_features_in_ = meta.learner.model.encoder.hidden_channels
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{path}: not a valid saved FewShotClassifier ({type(err).__name__}: {err})") from None
        return clf
