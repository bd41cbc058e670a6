"""The few-shot predictor users call: a scikit-learn style classifier adapting a meta-trained model to a support.

>>> clf = FewShotClassifier(model="tox21-protonet")            # a model shipped with graphmeta
>>> clf.fit(["CCO", "c1ccccc1O", ...], [0, 1, ...])            # the support: a handful of labelled molecules
>>> clf.predict_proba(["CCN", "c1ccccc1N"])[:, 1]              # P(active) for new molecules

``fit`` only reads the support (and, for the Super Learner head, cross-validates on it); ``predict_proba``
adapts the chosen head to the support and scores the new graphs. Inputs are SMILES strings (list, pandas
Series), RDKit molecules or PyG ``Data`` graphs (:func:`~graphmeta.data.inputs.as_graph_inputs`); an invalid
SMILES raises an error naming its row, nothing is dropped.

Heads: ``"protonet"`` (class prototypes of the backbone's embeddings), ``"maml"`` (the model's own inner loop;
MAML-family and Reptile models), ``"logreg"`` / ``"knn"`` on the embeddings, ``"rf"`` on ECFP4 (molecules), and
``"superlearner"``: their cross-validated convex combination (:mod:`graphmeta.meta.superlearner`).

Normalization note: with ``norm="task"`` models (graphmeta's default for benchmarks), the backbone normalizes
each set of graphs it embeds together with that set's statistics, as in meta-training episodes, so a molecule's
score depends slightly on the other molecules passed to the same ``predict_proba`` call. Models trained with
``norm="layer"`` (such as the shipped ones) or ``"running"`` score each molecule on its own.

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

from graphmeta.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from graphmeta.data.featurize import PARALLEL_MIN, MoleculeFeaturizer
from graphmeta.data.graphs import GraphStore
from graphmeta.data.inputs import (GraphInputs, as_graph_inputs, featurize_molecules, invalid_molecules_error,
                                   molecule_items)
from graphmeta.meta.base_learners import BaseLearner, TaskPool, default_base_learners
from graphmeta.meta.superlearner import SuperLearner
from graphmeta.models import MetaModel, cached_meta_model, meta_model_from_checkpoint
from graphmeta.parallel import chunk_bounds, fork_map, resolve_workers

__all__ = ["HEADS", "FewShotClassifier", "binary_labels", "check_duplicate_labels"]

HEADS: tuple[str, ...] = ("protonet", "maml", "logreg", "knn", "rf", "superlearner")

_SAVED_KIND = "few-shot-classifier"


def binary_labels(y: Any, n: int, first_row: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, y encoded 0/1)``; clear errors, naming the support rows (numbered from ``first_row``, e.g. 2 for
    the data rows of a CSV file), for missing, infinite, continuous, one-class or multiclass labels."""

    def _rows(mask: np.ndarray) -> list[int]:
        return (np.flatnonzero(mask)[:10] + first_row).tolist()

    y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if y.ndim != 1:
        raise ValueError(f"y must be one label per support molecule (1-D), got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"{n} support molecules but {len(y)} labels")
    if n == 0:
        raise ValueError("the support is empty: pass labelled molecules of both classes")
    if y.dtype.kind == "O":
        import pandas as pd

        missing = pd.isna(y)
        if missing.any():
            raise ValueError(f"missing label (None/NaN) in support row(s) {_rows(missing)}: drop those rows or "
                             f"label them")
        kinds = {type(v).__name__ for v in y}
        if not all(isinstance(v, (str, bool, int, float, np.generic)) for v in y) or (
                any(isinstance(v, str) for v in y) and not all(isinstance(v, str) for v in y)):
            raise ValueError(f"labels must all be numbers or all be strings, got a mixture of {sorted(kinds)}")
        if not any(isinstance(v, str) for v in y):
            y = y.astype(np.float64)
    if y.dtype.kind == "f":
        if np.isnan(y).any():
            raise ValueError(f"missing label (NaN) in support row(s) {_rows(np.isnan(y))}: drop those rows or "
                             f"label them")
        if np.isinf(y).any():
            raise ValueError(f"infinite label in support row(s) {_rows(np.isinf(y))}")
        if not np.isin(y, (0.0, 1.0)).all() and len(np.unique(y)) > 2:
            raise ValueError(f"y looks continuous (labels other than 0 and 1 in support row(s) "
                             f"{_rows(~np.isin(y, (0.0, 1.0)))}): regression is not supported yet by "
                             f"FewShotClassifier; pass binary labels (e.g. threshold the property)")
    classes, encoded = np.unique(y, return_inverse=True)
    if len(classes) == 1:
        raise ValueError(f"the support has one class only ({classes[0].item()!r} x {len(y)}): a few-shot "
                         f"classifier needs examples of both classes")
    if len(classes) > 2:
        extra = ~np.isin(y, classes[:2])
        raise ValueError(f"y has {len(classes)} classes ({classes.tolist()[:10]}; support row(s) {_rows(extra)} hold "
                         f"a third or further class); FewShotClassifier is binary")
    return classes, encoded.astype(np.int64)


def check_duplicate_labels(inputs: GraphInputs, classes: np.ndarray, encoded: np.ndarray, first_row: int = 0) -> None:
    """Raises ``ValueError`` naming the rows (numbered from ``first_row``) where the support holds one molecule
    (by canonical SMILES) more than once with different labels; repeats with the same label are fine."""
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
                          f"{[classes[encoded[i]].item() for i in rows]})" for rows in conflicts[:5])
        raise ValueError(f"{len(conflicts)} molecule(s) appear more than once with conflicting labels: {shown}; keep "
                         f"one label per molecule")


class FewShotClassifier(ClassifierMixin, BaseEstimator):
    """Few-shot binary classifier on a meta-trained graph model.

    Args:
        model: a shipped model name (:func:`graphmeta.models.available_models`) or a model / MetaTrainer
            checkpoint file.
        head: how to adapt to the support: one of :data:`HEADS`.
        base_learners: for ``head="superlearner"``: names from the default library to combine (``None``: all
            that apply to the model and inputs).
        n_folds: V of the Super Learner's support cross-validation.
        scale: the Super Learner combines on the ``"logit"`` or ``"probability"`` scale.
        random_state: seed of the Super Learner's folds and of the random-forest base learner.
        n_jobs: worker processes for long lists of SMILES (at least ``PARALLEL_MIN``; ``-1``: every CPU; default
            one). ``predict_proba``/``predict``/``transform`` split such a list over forked workers that featurize
            and score their slice (same results as one process, up to float rounding); with a ``norm="task"``
            model, whose scores depend on the whole set, only the featurization is split.
        prior_strength: Super Learner: shrink the support's CV weights towards the model's cross-task weights,
            worth this many pseudo-observations (``0``: plain CV). ``"auto"``: the strength the model file's
            leave-tasks-out CV over its training tasks chose (``graphmeta train`` stores it) when the base
            learners and scale are the ones it was chosen for, else 0.

    Attributes (after ``fit``):
        classes_: the two labels, in ``predict_proba`` column order.
        weights_: ``{base learner: weight}`` of the Super Learner (one head: ``{head: 1.0}``).
        n_folds_: folds of the Super Learner's CV (0: the model's cross-task fallback weights were used).
        prior_strength_: the prior strength the Super Learner used (``prior_strength`` resolved).
        n_features_in_: embedding width of the model (what ``transform`` returns).
    """

    def __init__(self, model: str | os.PathLike = "tox21-protonet", head: str = "protonet",
                 base_learners: Sequence[str] | None = None, n_folds: int = 5, scale: str = "logit",
                 random_state: int = 0, n_jobs: int | None = None,
                 prior_strength: float | str = "auto") -> None:
        self.model = model
        self.head = head
        self.base_learners = base_learners
        self.n_folds = n_folds
        self.scale = scale
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.prior_strength = prior_strength

    # -- helpers ------------------------------------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "support_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with a labelled "
                                 f"support before using this estimator.")

    def _inputs(self, X: Any, meta: MetaModel, name: str) -> GraphInputs:
        featurizer = meta.molecule_featurizer()
        inputs = as_graph_inputs(X, featurizer or MoleculeFeaturizer(), name, self.n_jobs)
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
        """Reads the support ``X`` (molecules or graphs) with labels ``y``; the Super Learner cross-validates."""
        meta = cached_meta_model(self.model)
        support = self._inputs(X, meta, "support")
        classes, encoded = binary_labels(y, len(support))
        check_duplicate_labels(support, classes, encoded)
        library = self._library(meta, molecules=support.smiles is not None)
        if self.head == "superlearner":
            sl = self._superlearner(library, meta)
            weights, V, _ = sl.weights_for(TaskPool(support), encoded)
            self.prior_strength_ = sl.prior_strength
        else:
            weights, V = np.ones(1), 0
            self.prior_strength_ = 0.0
        self.model_, self.support_, self.y_, self.classes_ = meta, support, encoded, classes
        self.weights_ = {b.name: float(w) for b, w in zip(library, weights)}
        self.n_folds_ = V
        self.n_features_in_ = meta.learner.model.encoder.hidden_channels
        return self

    def _map_query(self, X: Any, score: Callable[[GraphInputs], np.ndarray]) -> np.ndarray:
        """``score(graphs of X)``; with ``n_jobs`` > 1 and a long input, slice by slice in forked workers.

        A worker inherits the fitted classifier and the input through the fork and sends back only its scores:
        a list of molecules is featurized and scored in the workers, graphs are scored there. Slicing needs each
        graph's score to be independent of the others: any normalization but ``"task"`` (such models are scored
        in one piece, after featurizing in the workers).
        """
        workers = resolve_workers(self.n_jobs)
        if workers < 2 or self.model_.config.norm == "task":
            return score(self._inputs(X, self.model_, "X"))
        featurizer = self.model_.molecule_featurizer()
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
            return p
        return library[0].fit_predict(pool, [pool.support_to_query(self.y_)])[0]

    def predict_proba(self, X: Any) -> np.ndarray:
        """``[n, 2]`` class probabilities, columns in ``classes_`` order."""
        self._check_fitted()
        p = self._map_query(X, self._probabilities)
        return np.stack([1.0 - p, p], axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """The more probable label of each input."""
        proba = self.predict_proba(X)  # first: NotFittedError before classes_ is looked up
        return self.classes_[proba.argmax(axis=1)]

    def transform(self, X: Any) -> np.ndarray:
        """``[n, d]`` embeddings of ``X`` by the model's backbone (``X`` normalized as one set)."""
        self._check_fitted()
        return self._map_query(X, lambda graphs: TaskPool(graphs).embeddings(self.model_.learner).numpy())

    # -- persistence --------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Writes the fitted classifier (parameters, support graphs and labels, weights, and the model's weights)
        as a safe checkpoint; :meth:`load` restores it. Loading never executes code from the file."""
        self._check_fitted()
        blob = self.model_
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
        params["model"] = str(params["model"])
        config = {"params": params, "model_config": {"train": blob.config.to_dict(), "featurizer": blob.featurizer,
                                                     "collection": blob.trained_on, **blob.info},
                  "classes": self.classes_.tolist(), "weights": self.weights_, "n_folds": self.n_folds_,
                  "smiles": self.support_.smiles, "featurizer": self.support_.featurizer}
        state = {"learner": blob.learner.state_dict(), "support": self.support_.graphs.state_dict(),
                 "y": torch.as_tensor(self.y_)}
        return save_checkpoint(path, _SAVED_KIND, config, state)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FewShotClassifier":
        """A classifier written by :meth:`save` (its model weights come from the file itself)."""
        blob = load_checkpoint(path, kind=_SAVED_KIND)
        config, state = blob["config"], blob["state"]
        try:
            params = dict(config["params"])
            meta = meta_model_from_checkpoint({"kind": "meta-model", "config": config["model_config"],
                                               "state": {"learner": state["learner"]}}, Path(path))
            clf = cls(**params)
            support = GraphInputs(GraphStore.from_state_dict(state["support"]), config["smiles"], config["featurizer"])
            clf.model_, clf.support_, clf.y_ = meta, support, state["y"].numpy().astype(np.int64)
            clf.classes_ = np.asarray(config["classes"])
            clf.weights_, clf.n_folds_ = dict(config["weights"]), int(config["n_folds"])
            clf.n_features_in_ = meta.learner.model.encoder.hidden_channels
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{path}: not a valid saved FewShotClassifier ({type(err).__name__}: {err})") from None
        return clf
