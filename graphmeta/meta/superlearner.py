"""Super Learner: cross-validated stacking of few-shot base learners, within each task.

van der Laan, Polley & Hubbard, "Super Learner" (Stat. Appl. Genet. Mol. Biol. 2007),
https://doi.org/10.2202/1544-6115.1309; the convex log-loss meta-learner follows R SuperLearner's
``method.NNloglik``.

For one task with support ``(S, y)`` and query ``Q``:

1. stratified V-fold cross-validation on the **support**: every base learner is fitted on V-1 folds and scores
   the held-out fold, giving out-of-fold probabilities ``Z`` (``[n_support, L]``);
2. the meta-learner picks convex weights (non-negative, summing to 1) minimizing the log loss of the
   combination of ``Z`` (:func:`~graphmeta.meta.convex.convex_log_loss_weights`, on the logit scale by
   default);
3. every base learner is fitted on the whole support and scores ``Q``; the combination with those weights is
   the Super Learner's prediction.

With a :class:`~graphmeta.meta.gate.StackingGate` (:meth:`SuperLearner.learn_gate`), step 1-2 are replaced by
per-molecule weights the gate, meta-trained across training tasks, reads off each query molecule's embedding
(a mixture of experts).

V is ``min(n_folds, smallest class count of the support)``. **Fallback:** when that is below 2 (a 1-shot
support, K = 1, has one example per class, so no fold split leaves both classes in every training part), the
weights cannot come from the task itself; they are then the ``fallback_weights`` learned *across meta-training
tasks* by :meth:`SuperLearner.learn_fallback_weights` (base learners fitted on each training episode's support
score its query; one set of convex weights minimizes the log loss over all of them). Without fallback weights
such a support raises a ``ValueError`` saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from graphmeta.calibration import PlattScaling
from graphmeta.meta.base import MetaLearner
from graphmeta.meta.base_learners import BaseLearner, Fold, TaskPool
from graphmeta.meta.convex import SCALES, Scale, combine, convex_log_loss_weights
from graphmeta.meta.gate import StackingGate, fit_gate

__all__ = ["PRIOR_GRID", "StackingResult", "SuperLearner", "choose_prior_strength", "fallback_from_training_tasks",
           "prior_from_episodes", "prior_from_training_tasks", "ScoredEpisode", "score_episodes",
           "training_episodes"]

#: prior strengths (pseudo-observations) :func:`choose_prior_strength` tries by default
PRIOR_GRID = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0)


@dataclass
class StackingResult:
    """The Super Learner's answer for one task.

    Attributes:
        proba: ``[n_query]`` combined P(y = 1).
        base_proba: ``[n_query, L]`` each base learner's P(y = 1), columns in ``names`` order.
        names: the base learners' names.
        weights: ``[L]`` convex weights of the combination.
        n_folds: folds of the support cross-validation (0 when the fallback weights were used).
        used_fallback: whether the weights are the cross-task fallback ones.
        oof: ``[n_support, L]`` out-of-fold probabilities of the CV (``None`` with the fallback or the gate).
        row_weights: ``[n_query, L]`` per-molecule weights of the gate (``None`` without one); ``weights`` is
            then their mean.
    """

    proba: np.ndarray
    base_proba: np.ndarray
    names: list[str]
    weights: np.ndarray
    n_folds: int
    used_fallback: bool
    oof: np.ndarray | None = field(default=None, repr=False)
    row_weights: np.ndarray | None = field(default=None, repr=False)

    def weights_by_name(self) -> dict[str, float]:
        return {n: float(w) for n, w in zip(self.names, self.weights)}


class SuperLearner:
    """Cross-validated stacking over ``base_learners`` (see the module docstring for the procedure).

    Args:
        base_learners: the library, names unique.
        n_folds: V of the support cross-validation (lowered to the smallest class count).
        scale: combine on the ``"logit"`` scale (default) or the ``"probability"`` scale.
        fallback_weights: ``{name: weight}`` for supports too small to cross-validate (see
            :meth:`learn_fallback_weights`).
        random_state: seed of the fold assignment.
        prior_strength: with fallback weights, the support's CV weights are shrunk towards them as a Dirichlet
            prior worth this many pseudo-observations (``0``: the plain CV fit; see
            :func:`~graphmeta.meta.convex.convex_log_loss_weights`). Small supports give noisy CV weights.
    """

    def __init__(self, base_learners: Sequence[BaseLearner], n_folds: int = 5, scale: Scale = "logit",
                 fallback_weights: dict[str, float] | None = None, random_state: int = 0,
                 prior_strength: float = 0.0) -> None:
        names = [b.name for b in base_learners]
        if not names:
            raise ValueError("the Super Learner needs at least one base learner")
        if len(set(names)) != len(names):
            raise ValueError(f"base learner names must be unique, got {names}")
        if n_folds < 2:
            raise ValueError(f"n_folds must be at least 2, got {n_folds}")
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        self.base_learners, self.names = list(base_learners), names
        if prior_strength < 0:
            raise ValueError(f"prior_strength must be non-negative, got {prior_strength}")
        self.n_folds, self.scale, self.random_state = n_folds, scale, random_state
        self.prior_strength = prior_strength
        self.fallback_weights = self._check_weights(fallback_weights) if fallback_weights is not None else None
        self.gate: StackingGate | None = None
        self.gate_learner: MetaLearner | None = None

    def _check_weights(self, weights: dict[str, float]) -> np.ndarray:
        missing = [n for n in self.names if n not in weights]
        if missing:
            raise ValueError(f"fallback weights lack base learner(s) {missing}; they cover {sorted(weights)}")
        w = np.array([weights[n] for n in self.names], dtype=np.float64)
        if (w < 0).any() or not np.isclose(w.sum(), 1.0):
            raise ValueError(f"fallback weights must be non-negative and sum to 1, got {weights}")
        return w

    # -- one task ----------------------------------------------------------------------------------------------
    def folds_for(self, y: np.ndarray) -> int:
        """V for a support with labels ``y``: ``min(n_folds, smallest class count)`` (below 2: no CV)."""
        counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=2)
        if (counts == 0).any():
            raise ValueError(f"the support needs both classes, it has {counts[0]} negatives and {counts[1]} positives")
        return int(min(self.n_folds, counts.min()))

    def _predict_all(self, pool: TaskPool, folds: Sequence[Fold]) -> list[np.ndarray]:
        """``[len(fold.test), L]`` base-learner probabilities per fold."""
        per_learner = [b.fit_predict(pool, folds) for b in self.base_learners]
        return [np.stack([p[i] for p in per_learner], axis=1) for i in range(len(folds))]

    def out_of_fold(self, pool: TaskPool, y: np.ndarray) -> tuple[np.ndarray, int]:
        """Out-of-fold probabilities ``[n_support, L]`` of a stratified V-fold CV on the support, and V."""
        y = np.asarray(y, dtype=np.int64)
        V = self.folds_for(y)
        if V < 2:
            raise ValueError(f"a support whose smallest class has {V} example cannot be cross-validated")
        splitter = StratifiedKFold(n_splits=V, shuffle=True, random_state=self.random_state)
        splits = list(splitter.split(np.zeros(len(y)), y))
        folds = [Fold(train=tr, y=y[tr], test=te) for tr, te in splits]
        oof = np.empty((len(y), len(self.names)))
        for (_, te), z in zip(splits, self._predict_all(pool, folds)):
            oof[te] = z
        return oof, V

    def cross_validate(self, pool: TaskPool, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Out-of-fold probabilities ``[n_support, L]``, their convex weights and V, from the support alone."""
        y = np.asarray(y, dtype=np.int64)
        oof, V = self.out_of_fold(pool, y)
        weights = convex_log_loss_weights(oof, y, self.scale, prior=self.fallback_weights,
                                          prior_strength=self.prior_strength if self.fallback_weights is not None
                                          else 0.0)
        return oof, weights, V

    def weights_for(self, pool: TaskPool, y: np.ndarray) -> tuple[np.ndarray, int, np.ndarray | None]:
        """``(weights, V, out-of-fold probabilities)`` for a support: CV on it, or the fallback (``V = 0``)."""
        y = np.asarray(y, dtype=np.int64)
        if len(y) != pool.n_support:
            raise ValueError(f"{len(y)} support labels for {pool.n_support} support graphs")
        if self.folds_for(y) >= 2:
            oof, weights, V = self.cross_validate(pool, y)
            return weights, V, oof
        if self.fallback_weights is not None:
            return self.fallback_weights, 0, None
        raise ValueError(f"the support's smallest class has {np.bincount(y, minlength=2).min()} example: too few "
                         f"for a 2-fold cross-validation; learn cross-task fallback weights first "
                         f"(SuperLearner.learn_fallback_weights) or use a single base learner")

    def predict(self, pool: TaskPool, y: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(combined P(y = 1), [n_query, L] base probabilities)`` of the query, base learners fitted on the
        whole support."""
        base = self._predict_all(pool, [pool.support_to_query(y)])[0]
        return combine(base, weights, self.scale), base

    def fit_calibration(self, pool: TaskPool, y: np.ndarray, weights: np.ndarray,
                        oof: np.ndarray | None = None) -> PlattScaling:
        """Platt scaling of the combined prediction (``weights``) fitted to its out-of-fold values on the support
        (``oof``: the base learners' out-of-fold probabilities when already computed); the identity when the
        support cannot be cross-validated (a class of one). See :mod:`graphmeta.calibration`."""
        y = np.asarray(y, dtype=np.int64)
        if self.folds_for(y) < 2:
            return PlattScaling()
        if oof is None:
            oof, _ = self.out_of_fold(pool, y)
        return PlattScaling.fit(combine(oof, np.asarray(weights, dtype=np.float64), self.scale), y)

    def fit_predict(self, pool: TaskPool, y: np.ndarray) -> StackingResult:
        """Weights from the support (or the fallback, or the gate), then the combined probabilities of the query."""
        if self.gate is not None:
            base = self._predict_all(pool, [pool.support_to_query(y)])[0]
            rows = self.gate_weights(pool)
            return StackingResult(proba=combine(base, rows, self.scale), base_proba=base, names=list(self.names),
                                  weights=rows.mean(0), n_folds=0, used_fallback=False, row_weights=rows)
        weights, V, oof = self.weights_for(pool, y)
        proba, base = self.predict(pool, y, weights)
        return StackingResult(proba=proba, base_proba=base, names=list(self.names), weights=weights, n_folds=V,
                              used_fallback=V == 0, oof=oof)

    def gate_weights(self, pool: TaskPool) -> np.ndarray:
        """``[n_query, L]`` per-molecule weights of the gate for the pool's query."""
        if self.gate is None or self.gate_learner is None:
            raise ValueError("no gate: call learn_gate first")
        emb = pool.embeddings(self.gate_learner)[torch.as_tensor(pool.query_rows)]
        with torch.no_grad():
            return self.gate(emb).double().numpy()

    # -- across meta-training tasks --------------------------------------------------------------------------
    def learn_gate(self, episodes: Iterable[tuple[TaskPool, np.ndarray, np.ndarray]], learner: MetaLearner,
                   hidden_channels: int = 32, epochs: int = 300, seed: int = 0) -> list[float]:
        """Meta-trains (and sets) an input-dependent gate on meta-training episodes ``(pool, support_y, query_y)``:
        base learners fitted on each support score its query, and the gate learns per-molecule weights from the
        query embeddings of ``learner``'s backbone. Returns the training loss per epoch."""
        samples = []
        for pool, y_support, y_query in episodes:
            emb = pool.embeddings(learner)[torch.as_tensor(pool.query_rows)]
            samples.append((emb, self._predict_all(pool, [pool.support_to_query(y_support)])[0],
                            np.asarray(y_query, dtype=np.float64)))
        if not samples:
            raise ValueError("learn_gate needs at least one episode")
        torch.manual_seed(seed)
        gate = StackingGate(samples[0][0].shape[1], len(self.names), hidden_channels)
        losses = fit_gate(gate, samples, self.scale, epochs=epochs, seed=seed)
        self.gate, self.gate_learner = gate, learner
        return losses

    def cross_task_weights(self, scored: Sequence["ScoredEpisode"]) -> np.ndarray:
        """The convex weights minimizing the log loss over the queries of all ``scored`` episodes together."""
        return convex_log_loss_weights(np.concatenate([e.query for e in scored]),
                                       np.concatenate([e.y_query for e in scored]), self.scale)

    def learn_fallback_weights(self, episodes: Iterable[tuple[TaskPool, np.ndarray, np.ndarray]]) -> dict[str, float]:
        """Learns (and sets) the fallback weights from meta-training episodes ``(pool, support_y, query_y)``.

        Each episode's base learners are fitted on its support and score its query; the convex weights minimize
        the log loss over all query predictions together. Only training tasks should be passed.
        """
        scored = []
        for pool, y_support, y_query in episodes:
            if len(y_query) != pool.n_query:
                raise ValueError(f"{len(y_query)} query labels for {pool.n_query} query graphs")
            scored.append(ScoredEpisode.score(self, pool, y_support, y_query, task=-1, with_oof=False))
        if not scored:
            raise ValueError("learn_fallback_weights needs at least one episode")
        weights = self.cross_task_weights(scored)
        self.fallback_weights = weights
        return {n: float(w) for n, w in zip(self.names, weights)}


def training_episodes(collection: Any, tasks: Sequence[int], shots: int, draws: int = 3, n_query: int = 64,
                      seed: int = 0) -> list:
    """``draws`` K-shot episodes (query ``n_query``, stratified; all that is left for small tasks) per task in
    ``tasks``: the meta-training episodes the cross-task records below are learned on."""
    from graphmeta.data.episodes import KShotSampler
    from graphmeta.evaluate import sample_eval_episodes

    sampler = KShotSampler(shots, n_query=n_query, stratify_query=True, cap_query=True)
    return sample_eval_episodes(collection, tasks, sampler, draws, seed)


def fallback_from_training_tasks(superlearner: SuperLearner, collection: Any, tasks: Sequence[int], shots: int = 1,
                                 draws: int = 3, n_query: int = 64, seed: int = 0) -> dict[str, Any]:
    """Learns ``superlearner``'s fallback weights on ``draws`` K-shot episodes (query ``n_query``, stratified)
    of each meta-training task in ``tasks``, and returns the record a model file keeps
    (``{"scale", "weights", "shots", "tasks", "draws", "n_query", "seed"}``)."""
    episodes = training_episodes(collection, tasks, shots, draws, n_query, seed)
    weights = superlearner.learn_fallback_weights(
        (TaskPool.from_episode(collection, e), e.support_y.numpy(), e.query_y.numpy()) for e in episodes)
    return {"scale": superlearner.scale, "weights": weights, "shots": shots, "tasks": [int(t) for t in tasks],
            "draws": draws, "n_query": n_query, "seed": seed}


@dataclass
class ScoredEpisode:
    """What choosing a prior strength needs of one episode; none of it depends on the prior.

    Attributes:
        task: the episode's task (the CV holds out whole tasks).
        oof: ``[n_support, L]`` out-of-fold probabilities of the support CV (``None``: too small to cross-validate).
        y_support: support labels.
        query: ``[n_query, L]`` base-learner probabilities of the query, fitted on the whole support.
        y_query: query labels.
    """

    task: int
    oof: np.ndarray | None
    y_support: np.ndarray
    query: np.ndarray
    y_query: np.ndarray

    @classmethod
    def score(cls, superlearner: SuperLearner, pool: TaskPool, y_support: np.ndarray, y_query: np.ndarray,
              task: int, with_oof: bool = True) -> "ScoredEpisode":
        """Runs ``superlearner``'s base learners on one episode (CV on the support when ``with_oof``)."""
        y = np.asarray(y_support, dtype=np.int64)
        oof = superlearner.out_of_fold(pool, y)[0] if with_oof and superlearner.folds_for(y) >= 2 else None
        query = superlearner._predict_all(pool, [pool.support_to_query(y)])[0]
        return cls(int(task), oof, y, query, np.asarray(y_query, dtype=np.int64))


def score_episodes(superlearner: SuperLearner, collection: Any, episodes: Sequence[Any], with_oof: bool = True,
                   progress: bool = False) -> list[ScoredEpisode]:
    """:meth:`ScoredEpisode.score` for every episode of ``collection`` (progress bar optional)."""
    from tqdm.auto import tqdm

    return [ScoredEpisode.score(superlearner, TaskPool.from_episode(collection, e), e.support_y.numpy(),
                                e.query_y.numpy(), e.task, with_oof)
            for e in tqdm(episodes, desc="scoring episodes", unit="episode", disable=not progress, leave=False)]


def choose_prior_strength(superlearner: SuperLearner, episodes: Sequence[ScoredEpisode],
                          prior_episodes: Sequence[ScoredEpisode], grid: Sequence[float] = PRIOR_GRID,
                          n_task_folds: int = 3, seed: int = 0) -> dict[str, Any]:
    """Chooses ``prior_strength`` by leave-tasks-out cross-validation over meta-training tasks.

    The tasks of ``episodes`` (scored supports like the ones the model will see, e.g. K-shot) are split into
    ``n_task_folds`` groups. For each group the cross-task prior is learned, as
    :meth:`SuperLearner.learn_fallback_weights` does, on the ``prior_episodes`` of the *other* tasks; every
    episode of the group is then stacked with each strength of ``grid`` (weights from its support CV, shrunk
    towards that prior) and its query scored. The strength with the lowest mean query log loss wins (ties: the
    smaller). Only training tasks should be passed. Returns ``{"prior_strength", "grid", "log_loss", "roc_auc",
    "n_episodes", "tasks", "n_task_folds", "seed"}`` (per-strength means over the held-out episodes).
    """
    from graphmeta.meta.convex import log_loss
    from graphmeta.metrics import roc_auc

    grid = sorted(float(g) for g in grid)
    if not grid or grid[0] < 0:
        raise ValueError(f"the grid needs non-negative prior strengths, got {grid}")
    targets = [s for s in episodes if s.oof is not None]
    tasks = sorted({s.task for s in targets})
    if len(tasks) < 2:
        raise ValueError(f"choosing prior_strength needs cross-validatable episodes of at least 2 training tasks, "
                         f"got {len(tasks)}")
    order = np.random.default_rng(seed).permutation(tasks)
    folds = [{int(t) for t in f} for f in np.array_split(order, min(n_task_folds, len(tasks)))]
    losses = np.zeros((len(targets), len(grid)))
    aucs = np.full((len(targets), len(grid)), np.nan)
    for held_out in folds:
        rest = [s for s in prior_episodes if s.task not in held_out]
        if not rest:
            raise ValueError(f"no prior episode outside the held-out tasks {sorted(held_out)}")
        prior = superlearner.cross_task_weights(rest)
        for i, s in enumerate(targets):
            if s.task not in held_out:
                continue
            for j, strength in enumerate(grid):
                w = convex_log_loss_weights(s.oof, s.y_support, superlearner.scale, prior=prior,
                                            prior_strength=strength)
                p = combine(s.query, w, superlearner.scale)
                losses[i, j] = log_loss(s.y_query, p)
                if 0 < s.y_query.sum() < len(s.y_query):
                    aucs[i, j] = roc_auc(s.y_query, p)
    mean_loss = losses.mean(0)
    best = int(np.flatnonzero(mean_loss <= mean_loss.min() + 1e-12)[0])
    return {"prior_strength": grid[best], "grid": grid, "log_loss": [float(v) for v in mean_loss],
            "roc_auc": [float(v) for v in np.nanmean(aucs, 0)], "n_episodes": len(targets), "tasks": tasks,
            "n_task_folds": len(folds), "seed": seed}


def prior_from_training_tasks(superlearner: SuperLearner, collection: Any, tasks: Sequence[int], shots: int,
                              fallback: dict[str, Any], draws: int = 3, n_query: int = 64, seed: int = 0,
                              progress: bool = False) -> dict[str, Any]:
    """The record a model file keeps (``"superlearner_prior"``): :func:`choose_prior_strength` on ``shots``-shot
    episodes of the training ``tasks``, with priors learned as the ``fallback`` record (from
    :func:`fallback_from_training_tasks`) was."""
    episodes = training_episodes(collection, tasks, shots, draws, n_query, seed)
    record = prior_from_episodes(superlearner, collection, episodes, tasks, fallback, seed, progress)
    return {**record, "scale": superlearner.scale, "base_learners": list(superlearner.names), "shots": shots,
            "draws": draws, "n_query": n_query}


def prior_from_episodes(superlearner: SuperLearner, collection: Any, episodes: Sequence[Any], tasks: Sequence[int],
                        fallback: dict[str, Any], seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """:func:`choose_prior_strength` on ``episodes`` (training-task supports like the ones the model will see),
    with the priors learned on episodes of the training ``tasks`` drawn as the ``fallback`` record (from
    :func:`fallback_from_training_tasks`) says."""
    fallback_episodes = training_episodes(collection, tasks, fallback["shots"], fallback["draws"],
                                          fallback["n_query"], fallback["seed"])
    return choose_prior_strength(superlearner, score_episodes(superlearner, collection, episodes, True, progress),
                                 score_episodes(superlearner, collection, fallback_episodes, False, progress),
                                 seed=seed)


def model_file_records(learner: MetaLearner, collection: Any, tasks: Sequence[int], shots: int, seed: int = 0,
                       progress: bool = False) -> dict[str, Any]:
    """What a model file keeps for the predictor's Super Learner (the ``extra`` of
    :func:`graphmeta.model_files.export_model`), learned on the meta-training ``tasks`` of ``collection``:
    ``"superlearner_fallback"`` (1-shot cross-task weights, :func:`fallback_from_training_tasks`) and, with two
    or more tasks, ``"superlearner_prior"`` (the prior strength for ``shots``-shot supports chosen by
    leave-tasks-out CV, :func:`prior_from_training_tasks`). With one task there is nothing to hold out: no prior
    record, and the predictor's ``prior_strength="auto"`` then means 0 (each support's own CV). ``graphmeta
    train`` writes exactly these records."""
    from graphmeta.meta.base_learners import default_base_learners

    superlearner = SuperLearner(default_base_learners(learner, molecules=collection.smiles is not None))
    records = {"superlearner_fallback": fallback_from_training_tasks(superlearner, collection, tasks, shots=1,
                                                                     seed=seed)}
    if len(tasks) >= 2:
        records["superlearner_prior"] = prior_from_training_tasks(superlearner, collection, tasks, shots,
                                                                  records["superlearner_fallback"], seed=seed,
                                                                  progress=progress)
    return records
