"""Super Learner: CV on the support, the oracle property, the cross-task fallback, the base learners."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest
import torch

from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler, collate_episodes
from graphmeta.data.graphs import GraphStore
from graphmeta.data.inputs import GraphInputs
from graphmeta.evaluate import sample_eval_episodes
from graphmeta.meta.base_learners import (BaseLearner, Fold, LearnerHead, PrototypeHead, SklearnHead, TaskPool,
                                          default_base_learners)
from graphmeta.meta.convex import log_loss
from graphmeta.meta.superlearner import ScoredEpisode, SuperLearner, choose_prior_strength
from graphmeta.train import TrainConfig, build_meta_learner


class Scores(BaseLearner):
    """A base learner with fixed scores per pool row: sigmoid(strength * (2y - 1) + noise)."""

    def __init__(self, name: str, scores: np.ndarray) -> None:
        self.name, self.scores, self.fitted_on = name, scores, []

    def fit_predict(self, pool: TaskPool, folds: Sequence[Fold]) -> list[np.ndarray]:
        for f in folds:
            assert set(np.unique(f.y)) == {0, 1}, "a training part lost a class"
            assert not set(f.train) & set(f.test), "a fold scores rows it was fitted on"
            self.fitted_on.append(len(f.train))
        return [self.scores[f.test] for f in folds]


def _pool(n_support: int, n_query: int) -> TaskPool:
    """A pool of trivial graphs (only sizes matter to the synthetic base learners)."""
    def inputs(n: int) -> GraphInputs:
        return GraphInputs(GraphStore(edge_index=torch.zeros(2, 0), node_ptr=torch.arange(n + 1),
                                      edge_ptr=torch.zeros(n + 1), node_fields={"x": torch.zeros(n, 8)}))
    return TaskPool(inputs(n_support), inputs(n_query))


def _task(rng: np.random.Generator, strengths: Sequence[float], k: int = 10, n_query: int = 200):
    y_s = np.repeat([0, 1], k)
    y_q = rng.integers(0, 2, n_query)
    y = np.concatenate([y_s, y_q])
    learners = [Scores(f"b{j}", 1 / (1 + np.exp(-(s * (2 * y - 1) + rng.normal(size=len(y))))))
                for j, s in enumerate(strengths)]
    return _pool(2 * k, n_query), y_s, y_q, learners


def test_cross_validation_covers_the_support_once_with_both_classes_in_training() -> None:
    rng = np.random.default_rng(0)
    pool, y_s, _, learners = _task(rng, [1.0, 2.0], k=3)
    sl = SuperLearner(learners, n_folds=5)
    assert sl.folds_for(y_s) == 3  # lowered to the smallest class count
    oof, w, V = sl.cross_validate(pool, y_s)
    assert V == 3 and learners[0].fitted_on == [4, 4, 4]
    np.testing.assert_array_equal(oof[:, 0], learners[0].scores[:6])  # every support row scored exactly once
    assert (w >= 0).all() and w.sum() == pytest.approx(1)


def test_oracle_property_on_synthetic_tasks() -> None:
    """Averaged over tasks, the Super Learner's query log loss is close to the best base learner's, chosen in
    hindsight, and well below the worse ones (van der Laan's oracle inequality, in its practical form)."""
    rng = np.random.default_rng(1)
    losses = {"sl": [], "b0": [], "b1": [], "b2": []}
    for _ in range(40):
        pool, y_s, y_q, learners = _task(rng, [0.0, 0.5, 2.0])
        result = SuperLearner(learners).fit_predict(pool, y_s)
        assert result.names == ["b0", "b1", "b2"] and result.n_folds == 5 and not result.used_fallback
        losses["sl"].append(log_loss(y_q, result.proba))
        for j in range(3):
            losses[f"b{j}"].append(log_loss(y_q, result.base_proba[:, j]))
    mean = {k: float(np.mean(v)) for k, v in losses.items()}
    best = min(mean["b0"], mean["b1"], mean["b2"])
    assert mean["b2"] == best
    assert mean["sl"] <= best + 0.05
    assert mean["sl"] < mean["b1"] - 0.1 and mean["sl"] < mean["b0"] - 0.2


def test_one_shot_support_uses_fallback_weights_learned_across_training_tasks() -> None:
    rng = np.random.default_rng(2)
    pool, y_s, y_q, learners = _task(rng, [0.0, 2.0], k=1)
    sl = SuperLearner(learners)
    with pytest.raises(ValueError, match="fallback"):
        sl.fit_predict(pool, y_s)
    test_scores = [b.scores for b in learners]
    train_pool, train_ys, train_yq, train_learners = _task(rng, [0.0, 2.0], k=1)  # a meta-training task
    for mine, theirs in zip(learners, train_learners):
        mine.scores = theirs.scores
    weights = sl.learn_fallback_weights([(train_pool, train_ys, train_yq)])
    assert weights["b1"] > 0.8 and sum(weights.values()) == pytest.approx(1)
    for mine, scores in zip(learners, test_scores):
        mine.scores = scores
    result = sl.fit_predict(pool, y_s)
    assert result.used_fallback and result.n_folds == 0 and result.oof is None
    np.testing.assert_allclose(result.weights, [weights["b0"], weights["b1"]])
    np.testing.assert_array_equal(result.base_proba[:, 1], test_scores[1][2:])


def test_prior_strength_shrinks_cv_weights_towards_the_fallback() -> None:
    rng = np.random.default_rng(4)
    pool, y_s, _, learners = _task(rng, [0.0, 2.0])
    plain = SuperLearner(learners, fallback_weights={"b0": 0.9, "b1": 0.1}).cross_validate(pool, y_s)[1]
    shrunk = SuperLearner(learners, fallback_weights={"b0": 0.9, "b1": 0.1}, prior_strength=1e6)
    np.testing.assert_allclose(shrunk.cross_validate(pool, y_s)[1], [0.9, 0.1], atol=1e-3)
    assert plain[1] > 0.5  # the data alone prefers the informative learner
    with pytest.raises(ValueError, match="prior_strength"):
        SuperLearner(learners, prior_strength=-1)


def test_constructor_and_label_checks() -> None:
    rng = np.random.default_rng(3)
    pool, y_s, _, learners = _task(rng, [1.0, 1.0])
    with pytest.raises(ValueError, match="unique"):
        SuperLearner([learners[0], learners[0]])
    with pytest.raises(ValueError, match="lack"):
        SuperLearner(learners, fallback_weights={"b0": 1.0})
    with pytest.raises(ValueError, match="sum to 1"):
        SuperLearner(learners, fallback_weights={"b0": 0.7, "b1": 0.7})
    with pytest.raises(ValueError, match="both classes"):
        SuperLearner(learners).fit_predict(pool, np.zeros_like(y_s))
    with pytest.raises(ValueError, match="support labels"):
        SuperLearner(learners).fit_predict(pool, y_s[:-1])


# -- base learners on real molecules -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


@pytest.fixture(scope="module")
def episode(tox21):
    return sample_eval_episodes(tox21, [9], KShotSampler(5, n_query=40), 1, seed=0)[0]


def _learner(name: str):
    torch.manual_seed(0)
    inner = dict(inner_lr=0.05, inner_steps=2) if name == "maml" else {}
    return build_meta_learner(TrainConfig(learner=name, hidden_channels=16, num_layers=2, **inner))


def _full_fold(pool: TaskPool, episode) -> list[Fold]:
    return [Fold(train=np.arange(pool.n_support), y=episode.support_y.numpy().astype(int), test=pool.query_rows)]


@pytest.mark.parametrize("name", ["protonet", "maml"])
def test_heads_equal_the_learners_own_episode_evaluation(tox21, episode, name: str) -> None:
    learner = _learner(name)
    learner.eval()
    expected = torch.softmax(learner.evaluate(collate_episodes(tox21, [episode])), -1)[:, 1].detach().numpy()
    pool = TaskPool.from_episode(tox21, episode)
    head = PrototypeHead(learner) if name == "protonet" else LearnerHead(learner)
    np.testing.assert_allclose(head.fit_predict(pool, _full_fold(pool, episode))[0], expected, rtol=1e-5, atol=1e-6)


def test_learner_head_batches_folds_like_separate_calls(tox21, episode) -> None:
    learner = _learner("maml")
    pool = TaskPool.from_episode(tox21, episode)
    y = episode.support_y.numpy().astype(int)
    folds = [Fold(train=np.r_[0:4, 5:9], y=y[np.r_[0:4, 5:9]], test=np.array([4, 9])),
             Fold(train=np.arange(10), y=y, test=pool.query_rows)]
    head = LearnerHead(learner)
    together = head.fit_predict(pool, folds)
    for fold, joint in zip(folds, together):
        np.testing.assert_allclose(head.fit_predict(pool, [fold])[0], joint, rtol=1e-5, atol=1e-6)


def test_default_library_and_sklearn_heads(tox21, episode) -> None:
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    names = [b.name for b in default_base_learners(_learner("maml"))]
    assert names == ["protonet", "maml", "logreg", "knn", "rf"]
    assert [b.name for b in default_base_learners(_learner("protonet"), molecules=False)] == ["protonet", "logreg",
                                                                                              "knn"]
    pool = TaskPool.from_episode(tox21, episode)
    knn = SklearnHead(KNeighborsClassifier(n_neighbors=50), "ecfp4", name="knn50")  # more neighbours than rows
    p = knn.fit_predict(pool, _full_fold(pool, episode))[0]
    assert p.shape == (pool.n_query,) and ((0 <= p) & (p <= 1)).all()
    with pytest.raises(TypeError, match="predict_proba"):
        SklearnHead(SVC(), "ecfp4")
    with pytest.raises(ValueError, match="meta-learner"):
        SklearnHead(KNeighborsClassifier(), "embedding")


def test_super_learner_on_real_molecules_is_deterministic(tox21, episode) -> None:
    learner = _learner("maml")
    runs = [SuperLearner(default_base_learners(learner), n_folds=3).fit_predict(
        TaskPool.from_episode(tox21, episode), episode.support_y.numpy()) for _ in range(2)]
    assert runs[0].n_folds == 3 and runs[0].oof.shape == (10, 5)
    np.testing.assert_array_equal(runs[0].proba, runs[1].proba)
    np.testing.assert_array_equal(runs[0].weights, runs[1].weights)


# -- the input-dependent gate (mixture of experts) -------------------------------------------------------------
def test_gate_learns_per_molecule_routing_a_convex_combination_cannot() -> None:
    """Base learner 0 is right on molecules whose first embedding feature is positive and wrong elsewhere,
    learner 1 the reverse: one convex weight per task cannot beat ~chance, the gate can."""
    from graphmeta.meta.convex import combine, convex_log_loss_weights
    from graphmeta.meta.gate import StackingGate, fit_gate

    rng = np.random.default_rng(0)

    def episode(n: int = 400):
        emb = rng.normal(size=(n, 4)).astype(np.float32)
        y = rng.integers(0, 2, n)
        good, bad = np.where(y == 1, 0.9, 0.1), np.where(y == 1, 0.1, 0.9)
        first = emb[:, 0] > 0
        Z = np.stack([np.where(first, good, bad), np.where(first, bad, good)], axis=1)
        return torch.as_tensor(emb), Z, y

    train = [episode() for _ in range(3)]
    gate = StackingGate(4, 2, hidden_channels=16)
    losses = fit_gate(gate, train, epochs=300)
    assert losses[-1] < 0.5 * losses[0]
    emb, Z, y = episode()
    with torch.no_grad():
        gated = combine(Z, gate(emb).double().numpy())
    convex = combine(Z, convex_log_loss_weights(Z, y))  # even fitted on the test rows themselves
    assert log_loss(y, gated) < 0.3 < 0.6 < log_loss(y, convex)
    torch.manual_seed(0)
    twin = StackingGate(4, 2, hidden_channels=16)
    torch.manual_seed(0)
    twin2 = StackingGate(4, 2, hidden_channels=16)
    assert fit_gate(twin, train, epochs=20) == fit_gate(twin2, train, epochs=20)  # deterministic


def test_super_learner_with_a_gate_on_real_molecules(tox21) -> None:
    learner = _learner("protonet")
    sl = SuperLearner(default_base_learners(learner), n_folds=3)
    training = sample_eval_episodes(tox21, [0, 1], KShotSampler(3, n_query=30), 1, seed=0)
    losses = sl.learn_gate(((TaskPool.from_episode(tox21, e), e.support_y.numpy(), e.query_y.numpy())
                            for e in training), learner, epochs=30)
    assert len(losses) == 30 and losses[-1] <= losses[0]
    test = sample_eval_episodes(tox21, [9], KShotSampler(3, n_query=20), 1, seed=0)[0]
    result = sl.fit_predict(TaskPool.from_episode(tox21, test), test.support_y.numpy())
    assert result.row_weights.shape == (20, 4) and np.allclose(result.row_weights.sum(1), 1)
    assert result.proba.shape == (20,) and result.weights.sum() == pytest.approx(1)


def _scored(rng: np.random.Generator, task: int, strengths: Sequence[float], k: int) -> ScoredEpisode:
    pool, y_s, y_q, learners = _task(rng, strengths, k=k)
    return ScoredEpisode.score(SuperLearner(learners), pool, y_s, y_q, task)


def test_prior_strength_cv_picks_a_strong_prior_when_supports_are_tiny_and_the_best_learner_is_shared() -> None:
    """The same learner is best on every task and 3+3 supports make the CV weights noisy: the leave-tasks-out CV
    picks a prior (strength > 0), and its held-out log loss beats plain CV (strength 0)."""
    rng = np.random.default_rng(3)
    names = SuperLearner([Scores(f"b{j}", np.zeros(1)) for j in range(3)])
    episodes = [_scored(rng, t, [0.0, 0.3, 1.5], k=3) for t in range(6) for _ in range(8)]
    priors = [_scored(rng, t, [0.0, 0.3, 1.5], k=1) for t in range(6) for _ in range(4)]
    record = choose_prior_strength(names, episodes, priors, n_task_folds=3)
    assert record["prior_strength"] > 0
    assert min(record["log_loss"]) < record["log_loss"][0] - 0.005
    assert record["tasks"] == list(range(6)) and record["n_task_folds"] == 3 and record["n_episodes"] == 48


def test_prior_strength_cv_keeps_the_support_cv_when_the_best_learner_changes_with_the_task() -> None:
    """Half the tasks favour b0, half b1, and 30+30 supports make each task's CV reliable: the averaged prior
    would hurt, so the CV keeps a weak one."""
    rng = np.random.default_rng(4)
    names = SuperLearner([Scores(f"b{j}", np.zeros(1)) for j in range(2)])
    def strengths(t: int) -> list[float]:
        return [3.0, 0.0] if t % 2 else [0.0, 3.0]
    episodes = [_scored(rng, t, strengths(t), k=30) for t in range(6) for _ in range(4)]
    priors = [_scored(rng, t, strengths(t), k=1) for t in range(6) for _ in range(4)]
    record = choose_prior_strength(names, episodes, priors, n_task_folds=3)
    assert record["prior_strength"] <= 2
    assert record["log_loss"][-1] > record["log_loss"][0] + 0.05  # the strongest prior is clearly worse


def test_prior_strength_cv_needs_two_tasks_and_a_valid_grid() -> None:
    rng = np.random.default_rng(5)
    sl = SuperLearner([Scores(f"b{j}", np.zeros(1)) for j in range(2)])
    one_task = [_scored(rng, 0, [0.0, 1.0], k=3) for _ in range(3)]
    with pytest.raises(ValueError, match="at least 2 training tasks"):
        choose_prior_strength(sl, one_task, one_task)
    with pytest.raises(ValueError, match="non-negative"):
        choose_prior_strength(sl, one_task, one_task, grid=[-1.0])
