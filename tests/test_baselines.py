"""Fingerprint baselines: ECFP4, the cache, RF and kNN estimators (scikit-learn contract) on Tox21 episodes."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import KNeighborsClassifier

from graphmeta.baselines import (
    FingerprintCache,
    KNNBaseline,
    RandomForestBaseline,
    ecfp4,
    evaluate_fingerprint_baseline,
    tanimoto_distance,
)
from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler, episode_rng
from graphmeta.data.featurize import InvalidSmilesError

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CN1CCC[C@H]1c1cccnc1"]
TASK = 9  # Tox21 SR-HSE, a test task of the few-shot protocol
ESTIMATORS = [RandomForestBaseline, KNNBaseline]


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


@pytest.fixture(scope="module")
def cache(tox21) -> FingerprintCache:
    return FingerprintCache(tox21)


@pytest.fixture(scope="module")
def episodes(tox21):
    sampler = KShotSampler(10)
    return [sampler.sample(tox21, TASK, episode_rng(0, TASK, i)) for i in range(5)]


@pytest.fixture(scope="module")
def support(episodes, cache):
    ep = episodes[0]
    return cache[ep.support], ep.support_y.numpy(), cache[ep.query[:300]]


# -- fingerprints -------------------------------------------------------------------------------------------
def test_ecfp4_shape_dtype_determinism() -> None:
    fp = ecfp4(SMILES)
    assert fp.shape == (4, 2048) and fp.dtype == np.uint8
    assert set(np.unique(fp)) <= {0, 1}
    assert (fp.sum(1) > 0).all()
    np.testing.assert_array_equal(fp, ecfp4(SMILES))
    small = ecfp4(SMILES, n_bits=512)
    assert small.shape == (4, 512)
    counts = ecfp4(SMILES, use_counts=True)
    assert counts.dtype == np.uint8 and counts.max() > 1
    np.testing.assert_array_equal(counts > 0, fp > 0)
    assert ecfp4([]).shape == (0, 2048)


def test_ecfp4_invalid_smiles_names_index_and_smiles() -> None:
    with pytest.raises(InvalidSmilesError, match=r"molecule 1 \('C1CC'\)"):
        ecfp4(["CCO", "C1CC", "CCN"])
    with pytest.raises(TypeError):
        ecfp4("CCO")  # type: ignore[arg-type]


def test_ecfp4_lenient_parsing_matches_featurizer() -> None:
    # pentavalent nitrogen: rejected by RDKit's valence check, kept by the lenient featurizer
    hypervalent = "CN(=O)=O"
    assert ecfp4([hypervalent]).sum() > 0


def test_fingerprint_cache(tox21, cache) -> None:
    assert len(cache) == len(tox21)
    ids = torch.tensor([5, 0, 42])
    np.testing.assert_array_equal(cache[ids], ecfp4([tox21.smiles[i] for i in (5, 0, 42)]))
    np.testing.assert_array_equal(cache.rows([5]), cache[np.array([5])])
    with pytest.raises(IndexError):
        cache[[len(tox21)]]


def test_tanimoto_distance_matches_sklearn_jaccard(support) -> None:
    X, _, Q = support
    ours = tanimoto_distance(Q[:50], X)
    ref = KNeighborsClassifier(metric="jaccard", algorithm="brute").fit(X.astype(bool), np.arange(len(X)))
    dist, idx = ref.kneighbors(Q[:50].astype(bool), n_neighbors=len(X))
    np.testing.assert_allclose(np.take_along_axis(ours, idx, 1), dist, atol=1e-12)
    assert tanimoto_distance(np.zeros((1, 4)), np.zeros((1, 4)))[0, 0] == 0.0


# -- scikit-learn contract ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_sklearn_contract(cls, support) -> None:
    X, y, Q = support
    model = cls()
    params = model.get_params()
    assert clone(model).get_params() == params
    with pytest.raises(NotFittedError):
        model.predict_proba(Q)
    key = next(iter(params))
    model.set_params(**{key: params[key]})
    assert model.get_params() == params
    model.fit(X, y)
    assert model.get_params() == params  # fit does not touch the constructor parameters
    assert model.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(model.classes_, [0.0, 1.0])
    proba = model.predict_proba(Q)
    assert proba.shape == (len(Q), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert set(np.unique(model.predict(Q))) <= {0.0, 1.0}
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(Q), proba)
    with pytest.raises(ValueError, match="features"):
        model.predict_proba(Q[:, :100])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_sklearn_check_estimator() -> None:
    """scikit-learn's own estimator checks (binary-only classifiers; kNN's Tanimoto binarizes the continuous
    toy data of check_classifiers_train, so that accuracy check is expected to fail for it)."""
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(RandomForestBaseline(n_estimators=5))
    check_estimator(KNNBaseline(), expected_failed_checks={
        "check_classifiers_train": "Tanimoto distance binarizes continuous features"})


def test_set_params_round_trip() -> None:
    rf = RandomForestBaseline().set_params(n_estimators=7, random_state=3)
    assert rf.get_params() == {"n_estimators": 7, "random_state": 3, "n_jobs": 1}
    knn = clone(KNNBaseline(n_neighbors=3, weights="uniform"))
    assert knn.get_params() == {"n_neighbors": 3, "metric": "jaccard", "weights": "uniform"}


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_one_class_support_is_a_clear_error(cls, support) -> None:
    X, _, _ = support
    with pytest.raises(ValueError, match="only one class"):
        cls().fit(X, np.ones(len(X)))
    with pytest.raises(ValueError, match="Only binary"):
        cls().fit(X, np.arange(len(X)) % 3)
    model = cls()
    with pytest.raises(ValueError):
        model.fit(X, np.zeros(len(X)))
    with pytest.raises(NotFittedError):  # a failed fit leaves the model unfitted
        model.predict_proba(X)


def test_random_forest_is_reproducible(support) -> None:
    X, y, Q = support
    a = RandomForestBaseline(n_estimators=20).fit(X, y).predict_proba(Q)
    b = RandomForestBaseline(n_estimators=20).fit(X, y).predict_proba(Q)
    np.testing.assert_array_equal(a, b)


def test_knn_other_metric(support) -> None:
    X, y, Q = support
    proba = KNNBaseline(n_neighbors=3, metric="euclidean").fit(X, y).predict_proba(Q)
    assert proba.shape == (len(Q), 2)


# -- few-shot evaluation on Tox21 -----------------------------------------------------------------------------
def test_baselines_on_tox21_10_shot(tox21, episodes, cache) -> None:
    rf = evaluate_fingerprint_baseline(RandomForestBaseline, tox21, episodes, cache)
    knn = evaluate_fingerprint_baseline(KNNBaseline(), tox21, episodes, cache)
    for aucs in (rf, knn):
        assert len(aucs) == 5 and all(0.0 <= a <= 1.0 for a in aucs)
    assert np.mean(rf) > 0.5  # sanity, not a benchmark number
    assert np.mean(knn) > 0.5


def test_knn_one_shot(tox21, cache) -> None:
    sampler = KShotSampler(1)
    eps = [sampler.sample(tox21, TASK, episode_rng(1, TASK, i)) for i in range(3)]
    model = KNNBaseline(n_neighbors=5).fit(cache[eps[0].support], eps[0].support_y)
    assert model.n_neighbors_ == 2 and model.n_neighbors == 5
    aucs = evaluate_fingerprint_baseline(lambda: KNNBaseline(n_neighbors=5), tox21, eps, cache)
    assert len(aucs) == 3 and all(0.0 <= a <= 1.0 for a in aucs)


def test_evaluate_checks_the_cache(tox21, episodes) -> None:
    small = FingerprintCache.__new__(FingerprintCache)
    small.fingerprints = np.zeros((3, 2048), dtype=np.uint8)
    with pytest.raises(ValueError, match="cache"):
        evaluate_fingerprint_baseline(RandomForestBaseline, tox21, episodes, small)


def test_baseline_results_carry_the_calibration_of_their_probabilities() -> None:
    from graphmeta import metrics
    from graphmeta.baselines.fingerprints import RandomForestBaseline, fingerprint_baseline_probabilities
    from graphmeta.benchmarks.common import baseline_results
    from graphmeta.data.api import load_dataset
    from graphmeta.data.episodes import KShotSampler
    from graphmeta.evaluate import sample_eval_episodes

    tox21 = load_dataset("tox21", progress=False)
    episodes = sample_eval_episodes(tox21, [9, 10], KShotSampler(5, n_query=40), 2, seed=0)
    results = baseline_results(tox21, "rf", 0, episodes, None)
    probs = fingerprint_baseline_probabilities(lambda: RandomForestBaseline(random_state=0), tox21, episodes)
    for r, e, p in zip(results, episodes, probs):
        np.testing.assert_allclose(p.sum(1), 1.0)
        assert r.metric == metrics.roc_auc(e.query_y, p[:, 1])
        assert r.brier == metrics.brier_score(e.query_y, p[:, 1])
        assert r.ece == metrics.expected_calibration_error(e.query_y, p[:, 1])
    assert [r.draw for r in results] == [0, 1, 0, 1]
