"""Base learners of the Super Learner: each fits a task's support (or a part of it) and scores other graphs.

A :class:`TaskPool` holds one task's graphs, the support first (rows ``0..n_support-1``) then the query, and
computes what the base learners read once: the backbone's embeddings (a ``norm="task"`` backbone normalizes
both with the support's statistics, as in episode evaluation), ECFP4 fingerprints, graph batches. A
:class:`Fold` says which pool rows to fit on (with their labels) and which to score. Every base learner answers
:meth:`BaseLearner.fit_predict` for a list of folds at once, so cross-validation over the support costs one
call (the MAML head adapts all folds as tasks of one task-batched step).

Available base learners: :class:`PrototypeHead` (class prototypes of the backbone's embeddings),
:class:`LearnerHead` (the meta-learner's own adaptation, e.g. MAML's inner loop), :class:`SklearnHead` (any
scikit-learn classifier on the embeddings or on ECFP4). :func:`default_base_learners` picks the set the
issue-level Super Learner combines for a model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal, Sequence

import numpy as np
import torch
from sklearn.base import clone
from torch import Tensor

from graphmeta.data.episodes import Episode, MetaBatch, TaskBatch
from graphmeta.data.inputs import GraphInputs
from graphmeta.meta.base import MetaLearner, support_statistics
from graphmeta.meta.protonet import ProtoNet, prototype_logits
from graphmeta.runtime import deterministic

__all__ = ["Fold", "TaskPool", "BaseLearner", "PrototypeHead", "LearnerHead", "SklearnHead", "default_base_learners"]


@dataclass(frozen=True)
class Fold:
    """Fit on pool rows ``train`` (labels ``y``, 0/1), score pool rows ``test``."""

    train: np.ndarray
    y: np.ndarray
    test: np.ndarray


class TaskPool:
    """One task's support and query graphs, with features computed once and shared by all base learners.

    Args:
        support: the support graphs (pool rows ``0..len(support)-1``).
        query: the graphs to score (the following rows); ``None`` when only the support is known (CV).
    """

    def __init__(self, support: GraphInputs, query: GraphInputs | None = None) -> None:
        self.support, self.query = support, query
        self.inputs = GraphInputs.concat([support, query]) if query is not None else support
        self.n_support, self.n_query = len(support), len(query) if query is not None else 0
        self._embeddings: dict[int, Tensor] = {}
        self._fingerprints: np.ndarray | None = None

    @classmethod
    def from_episode(cls, collection: Any, episode: Episode) -> "TaskPool":
        """The pool of an episode of ``collection`` (its support, then its query)."""
        return cls(GraphInputs.from_collection(collection, episode.support),
                   GraphInputs.from_collection(collection, episode.query))

    def __len__(self) -> int:
        return self.n_support + self.n_query

    @property
    def query_rows(self) -> np.ndarray:
        return np.arange(self.n_support, len(self))

    def support_to_query(self, y_support: np.ndarray) -> Fold:
        """The fold that fits the whole support (labels ``y_support``) and scores the query."""
        return Fold(train=np.arange(self.n_support), y=np.asarray(y_support, dtype=np.int64), test=self.query_rows)

    def task_batch(self, groups: Sequence[np.ndarray], labels: Sequence[np.ndarray] | None = None) -> TaskBatch:
        """One task slot per group of pool rows (labels default to 0: graphs being scored)."""
        index = torch.as_tensor(np.concatenate(groups), dtype=torch.long)
        counts = torch.tensor([len(g) for g in groups], dtype=torch.long)
        y = (torch.as_tensor(np.concatenate(labels), dtype=torch.float32) if labels is not None
             else torch.zeros(len(index)))
        return TaskBatch(batch=self.inputs.graphs.gather(index), graph_task=torch.repeat_interleave(
            torch.arange(len(groups)), counts), y=y, n_tasks=len(groups))

    def embeddings(self, learner: MetaLearner) -> Tensor:
        """``[len(pool), d]`` backbone embeddings; a ``norm="task"`` backbone normalizes the query with the
        support's statistics, so a query graph's embedding does not depend on the other query graphs."""
        key = id(learner)
        if key not in self._embeddings:
            was_training = learner.training
            learner.eval()
            statistics = support_statistics(learner.model)
            with torch.no_grad(), deterministic():
                parts = [learner.model.embed(self.task_batch([np.arange(self.n_support)]), statistics=statistics)]
                if self.n_query:
                    parts.append(learner.model.embed(self.task_batch([self.query_rows]), statistics=statistics))
                self._embeddings[key] = torch.cat(parts).float()
            learner.train(was_training)
        return self._embeddings[key]

    def fingerprints(self) -> np.ndarray:
        """``[len(pool), 2048]`` ECFP4 bits (molecules only)."""
        if self._fingerprints is None:
            if self.inputs.smiles is None:
                raise ValueError("fingerprint base learners need molecules (SMILES); these graphs have none")
            from graphmeta.baselines.fingerprints import ecfp4

            self._fingerprints = ecfp4(self.inputs.smiles)
        return self._fingerprints


class BaseLearner(ABC):
    """Fits a support and scores other graphs; ``name`` labels it in weights and reports."""

    name: str

    @abstractmethod
    def fit_predict(self, pool: TaskPool, folds: Sequence[Fold]) -> list[np.ndarray]:
        """For each fold, P(y = 1) of its ``test`` rows after fitting its ``train`` rows."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class PrototypeHead(BaseLearner):
    """Prototypical-network scoring on a meta-trained backbone's embeddings (no adaptation of the backbone).

    Uses the learner's distance when it is a :class:`ProtoNet`, else squared Euclidean.
    """

    def __init__(self, learner: MetaLearner, name: str = "protonet") -> None:
        self.learner, self.name = learner, name
        self.distance = learner.distance if isinstance(learner, ProtoNet) else "euclidean"
        self.scale = learner.scale if isinstance(learner, ProtoNet) else 10.0

    def fit_predict(self, pool: TaskPool, folds: Sequence[Fold]) -> list[np.ndarray]:
        emb = pool.embeddings(self.learner)
        out = []
        for fold in folds:
            support = SimpleNamespace(n_tasks=1, graph_task=torch.zeros(len(fold.train), dtype=torch.long),
                                      y=torch.as_tensor(fold.y, dtype=torch.long))
            query = SimpleNamespace(graph_task=torch.zeros(len(fold.test), dtype=torch.long))
            logits = prototype_logits(emb[torch.as_tensor(fold.train)], support, emb[torch.as_tensor(fold.test)],
                                      query, 2, self.distance, self.scale)  # type: ignore[arg-type]
            out.append(torch.softmax(logits, -1)[:, 1].numpy().astype(np.float64))
        return out


class LearnerHead(BaseLearner):
    """The meta-learner's own few-shot prediction (``learner.evaluate``): MAML's inner loop on the support, etc.

    All folds go through one task-batched call, one task slot per fold.
    """

    def __init__(self, learner: MetaLearner, name: str = "maml") -> None:
        self.learner, self.name = learner, name

    def fit_predict(self, pool: TaskPool, folds: Sequence[Fold]) -> list[np.ndarray]:
        meta_batch = MetaBatch(support=pool.task_batch([f.train for f in folds], [f.y for f in folds]),
                               query=pool.task_batch([f.test for f in folds]),
                               task_ids=torch.full((len(folds),), -1, dtype=torch.long), n_way=2)
        was_training = self.learner.training
        self.learner.eval()
        with deterministic():
            probs = torch.softmax(self.learner.evaluate(meta_batch).float(), -1)[:, 1].detach()
        self.learner.train(was_training)
        return [p.numpy().astype(np.float64) for p in probs.split([len(f.test) for f in folds])]


class SklearnHead(BaseLearner):
    """Any scikit-learn classifier (cloned per fold) on the backbone's embeddings or on ECFP4 fingerprints.

    A ``n_neighbors`` larger than the fitted rows is lowered to their number (kNN on a tiny support).

    Args:
        estimator: an unfitted scikit-learn classifier with ``predict_proba``.
        features: ``"embedding"`` (needs ``learner``) or ``"ecfp4"`` (molecules).
        learner: the meta-learner whose backbone embeds the graphs.
        name: label in weights and reports.
    """

    def __init__(self, estimator: Any, features: Literal["embedding", "ecfp4"] = "embedding",
                 learner: MetaLearner | None = None, name: str | None = None) -> None:
        if features not in ("embedding", "ecfp4"):
            raise ValueError(f"features must be 'embedding' or 'ecfp4', got {features!r}")
        if features == "embedding" and learner is None:
            raise ValueError("features='embedding' needs the meta-learner whose backbone embeds the graphs")
        if not hasattr(estimator, "predict_proba"):
            raise TypeError(f"{type(estimator).__name__} has no predict_proba: base learners must give probabilities")
        self.estimator, self.features, self.learner = estimator, features, learner
        self.name = name or f"{type(estimator).__name__.lower()}-{features}"

    def _matrix(self, pool: TaskPool) -> np.ndarray:
        if self.features == "ecfp4":
            return pool.fingerprints()
        return pool.embeddings(self.learner).numpy()  # type: ignore[arg-type]

    def fit_predict(self, pool: TaskPool, folds: Sequence[Fold]) -> list[np.ndarray]:
        X = self._matrix(pool)
        out = []
        for fold in folds:
            model = clone(self.estimator)
            k = model.get_params().get("n_neighbors")
            if k is not None and k > len(fold.train):
                model.set_params(n_neighbors=len(fold.train))
            model.fit(X[fold.train], np.asarray(fold.y).astype(int))
            proba = model.predict_proba(X[fold.test])
            positive = list(model.classes_).index(1)
            out.append(proba[:, positive].astype(np.float64))
        return out


def default_base_learners(learner: MetaLearner, molecules: bool = True) -> list[BaseLearner]:
    """The Super Learner's default library for a meta-trained ``learner``.

    ``protonet`` (prototypes of its embeddings), ``maml`` (its own inner loop, when it has one: MAML family and
    Reptile), ``logreg`` and ``knn`` on its embeddings, and ``rf`` on ECFP4 when the graphs are molecules.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from graphmeta.baselines.fingerprints import RandomForestBaseline
    from graphmeta.meta.maml import MAML

    library: list[BaseLearner] = [PrototypeHead(learner)]
    if isinstance(learner, MAML):
        library.append(LearnerHead(learner, "maml"))
    library.append(SklearnHead(make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000)),
                               "embedding", learner, "logreg"))
    library.append(SklearnHead(KNeighborsClassifier(n_neighbors=5, weights="distance"), "embedding", learner, "knn"))
    if molecules:
        library.append(SklearnHead(RandomForestBaseline(n_estimators=100, random_state=0), "ecfp4", name="rf"))
    return library
