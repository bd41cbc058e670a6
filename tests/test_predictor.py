"""FewShotClassifier: the scikit-learn estimator contract, inputs, errors, heads, persistence."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from graphmeta.calibration import shift_base_rate
from graphmeta.checkpoint import CheckpointError
from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler
from graphmeta.data.featurize import InvalidSmilesError, MoleculeFeaturizer
from graphmeta.data.splits import TaskSplit
from graphmeta.evaluate import sample_eval_episodes
from graphmeta.meta.base_learners import default_base_learners
from graphmeta.meta.superlearner import SuperLearner, fallback_from_training_tasks, prior_from_training_tasks
from graphmeta.model_files import export_model, load_meta_model
from graphmeta.nn import NORM_MODES
from graphmeta.predictor import HEADS, FewShotClassifier
from graphmeta.train import MetaTrainer, TrainConfig


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


def _train(tox21, learner: str, out: Path, fallback: bool = False) -> Path:
    inner = dict(inner_lr=0.05, inner_steps=2) if learner == "maml" else {}
    config = TrainConfig(learner=learner, steps=3, eval_every=3, meta_batch_size=2, hidden_channels=16,
                         num_layers=2, norm="layer", **inner)
    trainer = MetaTrainer(tox21, TaskSplit(train=tuple(range(9)), test=()), config, progress=False)
    trainer.fit()
    extra = {}
    if fallback:
        sl = SuperLearner(default_base_learners(trainer.learner), scale="logit")
        extra["superlearner_fallback"] = fallback_from_training_tasks(sl, tox21, [0, 1], draws=1, n_query=16)
        extra["superlearner_prior"] = prior_from_training_tasks(sl, tox21, [0, 1, 2], 3, extra["superlearner_fallback"],
                                                                draws=1, n_query=16)
    return export_model(trainer, out / f"tiny-{learner}.pt", {"command": "test"}, extra)


@pytest.fixture(scope="module")
def models(tox21, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("models")
    return {"protonet": _train(tox21, "protonet", out), "maml": _train(tox21, "maml", out, fallback=True)}


@pytest.fixture(scope="module")
def data(tox21):
    """A 5+5 support and a 30-molecule query of test task 9 (SMILES and labels)."""
    episode = sample_eval_episodes(tox21, [9], KShotSampler(5, n_query=30), 1, seed=0)[0]
    smiles = lambda ids: [tox21.smiles[i] for i in ids.tolist()]  # noqa: E731
    return smiles(episode.support), episode.support_y.numpy(), smiles(episode.query), episode.query_y.numpy()


def test_fit_predict_shapes_labels_and_determinism(models, data) -> None:
    Xs, ys, Xq, _ = data
    clf = FewShotClassifier(model=models["protonet"]).fit(Xs, ys)
    proba = clf.predict_proba(Xq)
    assert proba.shape == (30, 2) and np.allclose(proba.sum(1), 1) and ((proba >= 0) & (proba <= 1)).all()
    assert clf.classes_.tolist() == [0, 1] and set(clf.predict(Xq)) <= {0, 1}
    assert clf.weights_ == {"protonet": 1.0} and clf.n_features_in_ == 16
    np.testing.assert_array_equal(FewShotClassifier(model=models["protonet"]).fit(Xs, ys).predict_proba(Xq), proba)
    assert clf.transform(Xq[:4]).shape == (4, 16)


def test_text_labels_need_positive_label_and_column_1_is_always_the_positive_class(models, data) -> None:
    """Text labels used to be sorted ("active" < "inactive"), making predict_proba[:, 1] P(inactive)."""
    Xs, ys, Xq, _ = data
    expected = FewShotClassifier(model=models["protonet"]).fit(Xs, ys).predict_proba(Xq)
    text = np.where(ys == 1, "active", "inactive")
    with pytest.raises(ValueError, match=r"got text such as '(in)?active', '(in)?active' \(support row 0\); say "
                                         r"which label is the positive class with positive_label='(in)?active'"):
        FewShotClassifier(model=models["protonet"]).fit(Xs, text)
    clf = FewShotClassifier(model=models["protonet"], positive_label="active").fit(Xs, text)
    np.testing.assert_array_equal(clf.predict_proba(Xq), expected)
    assert clf.classes_.tolist() == [0, 1] and set(clf.predict(Xq)) <= {0, 1}
    flipped = FewShotClassifier(model=models["protonet"], positive_label="inactive").fit(Xs, pd.Series(text))
    np.testing.assert_allclose(flipped.predict_proba(Xq)[:, 1], expected[:, 0], atol=1e-6)
    for same in (ys.astype(bool), ys.astype(float), ys.astype(object), list(ys.astype(int))):  # 0/1 in any type
        np.testing.assert_array_equal(FewShotClassifier(model=models["protonet"]).fit(Xs, same).predict_proba(Xq),
                                      expected)
    with pytest.raises(ValueError, match=r"labels must be 0 or 1, got \[1, 2\] .*positive_label=2"):
        FewShotClassifier(model=models["protonet"]).fit(Xs, ys + 1)
    np.testing.assert_array_equal(FewShotClassifier(model=models["protonet"], positive_label=2).fit(Xs, ys + 1)
                                  .predict_proba(Xq), expected)
    with pytest.raises(ValueError, match=r"positive_label='toxic' matches no label \(labels found: \['active', "
                                         r"'inactive'\]\)"):
        FewShotClassifier(model=models["protonet"], positive_label="toxic").fit(Xs, text)
    with pytest.raises(ValueError, match=r"missing label \(empty, None or NaN\) in support row\(s\) \[3\]"):
        FewShotClassifier(model=models["protonet"], positive_label="active").fit(Xs, [*text[:3], None, *text[4:]])


def test_binary_labels_is_the_one_rule_and_names_how_to_pass_the_positive_label() -> None:
    from graphmeta.predictor import binary_labels

    np.testing.assert_array_equal(binary_labels([True, False, 1.0, 0], 4), [1, 0, 1, 0])
    np.testing.assert_array_equal(binary_labels(["a", "b", "c", "a"], 4, positive_label="a"), [1, 0, 0, 1])
    with pytest.raises(ValueError, match=r"support row 3\); say which label is the positive class with "
                                         r"--positive-label yes"):
        binary_labels(np.array([0.0, "yes", "no", "yes"], dtype=object), 4, first_row=2, option="--positive-label")
    with pytest.raises(ValueError, match=r"missing label \(empty, None or NaN\) in support row\(s\) \[4\]"):
        binary_labels(np.array([0.0, 1.0, None], dtype=object), 3, first_row=2)


def test_every_input_kind_gives_the_same_predictions(models, data) -> None:
    from rdkit import Chem

    Xs, ys, Xq, _ = data
    clf = FewShotClassifier(model=models["protonet"]).fit(Xs, ys)
    expected = clf.predict_proba(Xq)
    featurizer = MoleculeFeaturizer()
    for kind in (pd.Series(Xq), np.array(Xq, dtype=object), pd.DataFrame({"smiles": Xq}),
                 [Chem.MolFromSmiles(s) for s in Xq], [featurizer(s) for s in Xq]):
        np.testing.assert_allclose(clf.predict_proba(kind), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(FewShotClassifier(model=models["protonet"]).fit(pd.Series(Xs), pd.Series(ys))
                               .predict_proba(Xq), expected, rtol=1e-5, atol=1e-6)


def test_layer_norm_model_scores_each_molecule_on_its_own(models, data) -> None:
    Xs, ys, Xq, _ = data
    clf = FewShotClassifier(model=models["maml"], head="maml").fit(Xs, ys)
    together = clf.predict_proba(Xq)[:3]
    alone = np.concatenate([clf.predict_proba([s]) for s in Xq[:3]])
    np.testing.assert_allclose(alone, together, rtol=1e-4, atol=1e-6)


def test_bad_inputs_give_clear_errors(models, data) -> None:
    Xs, ys, Xq, _ = data
    clf = FewShotClassifier(model=models["protonet"])
    with pytest.raises(InvalidSmilesError, match="row 2"):
        clf.fit(Xs[:2] + ["not a smiles"] + Xs[3:], ys)
    with pytest.raises(ValueError, match=r"missing label \(empty, None or NaN\) in support row\(s\) \[1\]"):
        clf.fit(Xs, np.where(np.arange(10) == 1, np.nan, ys))
    with pytest.raises(ValueError, match="one class"):
        clf.fit(Xs, np.zeros(10))
    with pytest.raises(ValueError, match="regression is not supported"):
        clf.fit(Xs, np.linspace(0, 3, 10))
    with pytest.raises(ValueError, match="10 support molecules but 9 labels"):
        clf.fit(Xs, ys[:9])
    with pytest.raises(TypeError, match="single string"):
        clf.fit("CCO", [1])
    with pytest.raises(ValueError, match="empty"):
        clf.fit(Xs, ys).predict_proba([])
    with pytest.raises(ValueError, match="head must be one of"):
        FewShotClassifier(model=models["protonet"], head="svm").fit(Xs, ys)
    with pytest.raises(ValueError, match="no inner loop"):
        FewShotClassifier(model=models["protonet"], head="maml").fit(Xs, ys)
    with pytest.raises(FileNotFoundError, match="no model 'nope'"):
        FewShotClassifier(model="nope").fit(Xs, ys)


def test_estimator_contract(models, data) -> None:
    Xs, ys, Xq, _ = data
    clf = FewShotClassifier(model=models["maml"], head="superlearner", n_folds=3, base_learners=("protonet", "rf"))
    for method in ("predict_proba", "predict", "transform"):
        with pytest.raises(NotFittedError):
            getattr(clf, method)(Xq)
    params = clf.get_params()
    assert set(params) == {"model", "head", "base_learners", "n_folds", "scale", "random_state", "n_jobs",
                           "prior_strength", "positive_label", "sanitize", "calibration", "base_rate"}
    assert "superlearner" in repr(clf)
    clf.fit(Xs, ys)
    assert clf.get_params() == params  # fit changes no parameter
    twin = clone(clf)
    assert twin.get_params() == params and not hasattr(twin, "classes_")
    assert twin.set_params(n_folds=2).n_folds == 2 and clf.n_folds == 3
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(Xq), clf.predict_proba(Xq))


def test_save_and_load_give_equal_predictions(models, data, tmp_path: Path) -> None:
    Xs, ys, Xq, _ = data
    clf = FewShotClassifier(model=models["maml"], head="superlearner", n_folds=3).fit(Xs, ys)
    path = clf.save(tmp_path / "clf.pt")
    loaded = FewShotClassifier.load(path)
    assert loaded.get_params() == {**clf.get_params(), "model": str(models["maml"])}
    assert loaded.weights_ == clf.weights_
    assert (loaded.weights_source_, loaded.prior_strength_) == (clf.weights_source_, clf.prior_strength_)
    np.testing.assert_array_equal(loaded.predict_proba(Xq), clf.predict_proba(Xq))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="clf.pt"):
        FewShotClassifier.load(path)


def test_load_tells_a_model_from_a_saved_classifier(models, data, tmp_path: Path) -> None:
    Xs, ys, Xq, _ = data
    clf = FewShotClassifier(model=models["protonet"], positive_label="active").fit(Xs, np.where(ys == 1, "active", "no"))
    loaded = FewShotClassifier.load(clf.save(tmp_path / "clf.pt"))
    assert loaded.get_params()["positive_label"] == "active" and loaded.classes_.tolist() == [0, 1]
    np.testing.assert_array_equal(loaded.predict_proba(Xq), clf.predict_proba(Xq))
    with pytest.raises(CheckpointError, match=r"tiny-protonet\.pt: a model file \('meta-model'\), not a saved "
                                              r"classifier: use FewShotClassifier\(model='.*tiny-protonet\.pt'\)\.fit"):
        FewShotClassifier.load(models["protonet"])
    with pytest.raises(FileNotFoundError, match=r"'tox21-protonet' is a shipped model, not a saved classifier: use "
                                                r"FewShotClassifier\(model='tox21-protonet'\)\.fit"):
        FewShotClassifier.load("tox21-protonet")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" + np.random.default_rng(0).bytes(4096))
    for load in (FewShotClassifier.load, lambda path: FewShotClassifier(model=path).fit(Xs, ys)):
        with pytest.raises(CheckpointError, match=r"junk\.pt: not a graphmeta model or checkpoint file") as err:
            load(junk)
        assert "weights_only" not in str(err.value) and "\n" not in str(err.value)


def test_user_smiles_are_sanitized_strictly_unless_asked(models, data) -> None:
    """A six-bonded carbon used to be featurized, scored and counted as a valid molecule."""
    from rdkit import Chem

    Xs, ys, Xq, _ = data
    bad = "C(C)(C)(C)(C)(C)C"
    support = [*Xs[:4], bad, *Xs[5:]]
    with pytest.raises(InvalidSmilesError, match=r"support: 1 of 10 molecules are invalid \(row 4: RDKit cannot parse "
                                                 r"or sanitize SMILES 'C\(C\)\(C\)\(C\)\(C\)\(C\)C' \(an atom "
                                                 r"beyond its allowed valence"):
        FewShotClassifier(model=models["protonet"]).fit(support, ys)
    clf = FewShotClassifier(model=models["protonet"]).fit(Xs, ys)
    with pytest.raises(InvalidSmilesError, match=r"X: 1 of 3 molecules are invalid \(row 1: "):
        clf.predict_proba([Xq[0], bad, Xq[1]])
    with pytest.raises(InvalidSmilesError, match=r"row 0: molecule .* beyond its allowed valence"):
        clf.predict_proba([Chem.MolFromSmiles(bad, sanitize=False)])
    lenient = FewShotClassifier(model=models["protonet"], sanitize="lenient").fit(support, ys)
    assert lenient.predict_proba([Xq[0], bad]).shape == (2, 2)
    same = FewShotClassifier(model=models["protonet"], sanitize="lenient").fit(Xs, ys)
    np.testing.assert_array_equal(same.predict_proba(Xq), clf.predict_proba(Xq))  # valid molecules: same graphs
    from graphmeta.data.inputs import featurize_molecules

    graphs, _ = featurize_molecules(Xq)  # featurized leniently (MoleculeFeaturizer's default), scored with strict ones
    np.testing.assert_array_equal(clf.predict_proba(graphs), clf.predict_proba(Xq))
    with pytest.raises(ValueError, match="sanitize must be 'strict' or 'lenient', got 'loose'"):
        FewShotClassifier(model=models["protonet"], sanitize="loose").fit(Xs, ys)


def test_superlearner_head_cross_validates_or_falls_back(models, data) -> None:
    Xs, ys, Xq, _ = data
    clf = FewShotClassifier(model=models["maml"], head="superlearner").fit(Xs, ys)
    assert clf.n_folds_ == 5 and set(clf.weights_) == {"protonet", "maml", "logreg", "knn", "rf"}
    assert sum(clf.weights_.values()) == pytest.approx(1) and min(clf.weights_.values()) >= 0
    one_shot = [Xs[list(ys).index(0)], Xs[list(ys).index(1)]]
    fallback = FewShotClassifier(model=models["maml"], head="superlearner").fit(one_shot, [0, 1])
    saved = load_meta_model(models["maml"]).info["superlearner_fallback"]["weights"]
    assert fallback.n_folds_ == 0 and fallback.weights_ == pytest.approx(saved)
    assert fallback.predict_proba(Xq).shape == (30, 2)
    with pytest.raises(ValueError, match="fallback"):
        FewShotClassifier(model=models["protonet"], head="superlearner").fit(one_shot, [0, 1])


def test_shipped_models_load_and_tell_molecules_apart(tox21) -> None:
    """Guards against a collapsed backbone (every molecule the same embedding) being shipped."""
    from graphmeta import available_models
    from graphmeta.data.inputs import GraphInputs
    from graphmeta.meta.base_learners import TaskPool

    shipped = available_models()
    assert {"tox21-protonet", "tox21-maml"} <= set(shipped)
    molecules = GraphInputs.from_collection(tox21, np.arange(0, 5000, 100))
    for name in ("tox21-protonet", "tox21-maml"):
        meta = load_meta_model(name)
        assert meta.trained_on == "tox21" and set(meta.info["split"]["train"]) == set(range(9))
        emb = TaskPool(molecules).embeddings(meta.learner).numpy()
        assert len(np.unique(emb.round(3), axis=0)) == len(emb)
        assert emb.std(0).mean() > 1e-2


def test_superlearner_prior_strength_auto_uses_the_models_cv_choice(models, data) -> None:
    Xs, ys, _, _ = data
    record = load_meta_model(models["maml"]).info["superlearner_prior"]
    assert record["tasks"] == [0, 1, 2] and record["base_learners"] == ["protonet", "maml", "logreg", "knn", "rf"]
    auto = FewShotClassifier(models["maml"], head="superlearner").fit(Xs, ys)
    assert auto.get_params()["prior_strength"] == "auto" and auto.prior_strength_ == record["prior_strength"]
    fixed = FewShotClassifier(models["maml"], head="superlearner", prior_strength=30.0).fit(Xs, ys)
    assert fixed.prior_strength_ == 30.0
    # where the weights came from, in words: the prior's share is 30 / (30 + 10 support molecules)
    assert fixed.weights_source_ == ("this support's 5-fold cross-validation shrunk towards the model's cross-task "
                                     "weights, a prior worth 30 pseudo-observations (as passed) against 10 support "
                                     "molecules: the prior has 75% of the say (prior_strength=0 for the support's "
                                     "own weights)")
    assert "chosen by the model's leave-tasks-out CV over its training tasks" in auto.weights_source_
    subset = FewShotClassifier(models["maml"], head="superlearner", base_learners=["protonet", "rf"]).fit(Xs, ys)
    assert subset.prior_strength_ == 0.0  # the CV chose for another library: plain CV
    assert subset.weights_source_ == "this support's 5-fold cross-validation"
    assert FewShotClassifier(models["maml"], head="maml").fit(Xs, ys).weights_source_ == "the maml head alone"
    tiny = FewShotClassifier(models["maml"], head="superlearner").fit(Xs[:2], [0, 1])
    assert tiny.n_folds_ == 0 and tiny.weights_source_.startswith("the model's cross-task fallback weights")
    no_record = FewShotClassifier(models["protonet"], head="superlearner").fit(Xs, ys)
    assert no_record.prior_strength_ == 0.0
    with pytest.raises(ValueError, match="prior_strength must be a number or 'auto'"):
        FewShotClassifier(models["maml"], head="superlearner", prior_strength="strong").fit(Xs, ys)


def test_n_jobs_scores_slices_in_workers_with_the_same_results(models, data, tox21,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import graphmeta.predictor as predictor

    Xs, ys, _, _ = data
    query = list(tox21.smiles[:90])
    monkeypatch.setattr(predictor, "PARALLEL_MIN", 10)  # slice even this short list
    calls = []
    real_fork_map = predictor.fork_map
    monkeypatch.setattr(predictor, "fork_map", lambda fn, items, workers: calls.append(len(items))
                        or real_fork_map(fn, items, workers))
    for model, head in ((models["protonet"], "protonet"), (models["maml"], "maml"), (models["maml"], "superlearner")):
        one = FewShotClassifier(model=model, head=head).fit(Xs, ys)
        two = FewShotClassifier(model=model, head=head, n_jobs=2).fit(Xs, ys)
        np.testing.assert_allclose(two.predict_proba(query), one.predict_proba(query), rtol=0, atol=1e-6)
        np.testing.assert_allclose(two.transform(query), one.transform(query), rtol=0, atol=1e-6)
    from graphmeta.data.inputs import featurize_molecules

    graphs, _ = featurize_molecules(query)  # already featurized (as `graphmeta predict` passes them): scored in slices
    np.testing.assert_allclose(two.predict_proba(graphs), one.predict_proba(query), rtol=0, atol=1e-6)
    assert calls == [2] * 7  # every call above went through the workers
    bad = query[:]
    bad[3], bad[80] = "not a molecule", "C1CC"
    with pytest.raises(InvalidSmilesError, match=r"X: 2 of 90 molecules .*row 3: .*row 80: "):
        two.predict_proba(bad)  # rows numbered in the whole input, not in a worker's slice


@pytest.mark.parametrize("norm", NORM_MODES)
def test_a_molecules_score_does_not_depend_on_the_other_molecules(tox21, data, tmp_path: Path, norm: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Every norm mode and head: scored with the whole query, alone, in reverse order, or in n_jobs slices."""
    import graphmeta.predictor as predictor

    config = TrainConfig(learner="maml", steps=2, eval_every=2, meta_batch_size=2, hidden_channels=8,
                         num_layers=2, norm=norm, inner_lr=0.05, inner_steps=2)
    trainer = MetaTrainer(tox21, TaskSplit(train=(0, 1), test=()), config, progress=False)
    trainer.fit()
    path = export_model(trainer, tmp_path / f"{norm}.pt", {"command": "test"})
    monkeypatch.setattr(predictor, "PARALLEL_MIN", 10)
    Xs, ys, Xq, _ = data
    for head in HEADS:
        clf = FewShotClassifier(model=path, head=head, prior_strength=0).fit(Xs, ys)
        whole = clf.predict_proba(Xq)[:, 1]
        alone = np.array([clf.predict_proba([s])[0, 1] for s in Xq[:4]])
        np.testing.assert_allclose(alone, whole[:4], rtol=1e-5, atol=1e-7, err_msg=f"{norm}/{head}")
        np.testing.assert_allclose(clf.predict_proba(Xq[::-1])[::-1, 1], whole, rtol=1e-5, atol=1e-7,
                                   err_msg=f"{norm}/{head}")
        sliced = FewShotClassifier(model=path, head=head, prior_strength=0, n_jobs=2).fit(Xs, ys)
        np.testing.assert_allclose(sliced.predict_proba(Xq)[:, 1], whole, rtol=1e-5, atol=1e-7,
                                   err_msg=f"{norm}/{head}")
    np.testing.assert_allclose(clf.transform(Xq[:3]), clf.transform(Xq)[:3], rtol=1e-5, atol=1e-6)

def test_calibration_is_fitted_on_the_support_keeps_the_ranking_and_is_saved(models, data, tmp_path: Path) -> None:
    Xs, ys, Xq, _ = data
    raw = FewShotClassifier(model=models["maml"], head="maml", calibration="none").fit(Xs, ys)
    cal = FewShotClassifier(model=models["maml"], head="maml", n_folds=5).fit(Xs, ys)
    assert raw.calibration_.n_fit == 0 and cal.calibration_.n_fit == len(ys)
    p_raw, p_cal = raw.predict_proba(Xq)[:, 1], cal.predict_proba(Xq)[:, 1]
    np.testing.assert_allclose(p_cal, cal.calibration_(p_raw), rtol=1e-6, atol=1e-9)
    order = np.argsort(p_raw, kind="stable")
    assert (np.diff(p_cal[order]) >= 0).all()  # an increasing map of the raw scores
    assert not np.allclose(p_cal, p_raw)
    np.testing.assert_array_equal(cal.predict(Xq), (p_cal > 0.5).astype(int))
    loaded = FewShotClassifier.load(cal.save(tmp_path / "cal.pt"))
    assert loaded.calibration_ == cal.calibration_
    np.testing.assert_array_equal(loaded.predict_proba(Xq), cal.predict_proba(Xq))
    # one positive: no 2-fold CV possible, so the probabilities stay the head's own
    keep = [int(np.flatnonzero(ys == 1)[0]), *np.flatnonzero(ys == 0).tolist()]
    one = FewShotClassifier(model=models["protonet"]).fit([Xs[i] for i in keep], ys[keep])
    assert one.calibration_.n_fit == 0 and one.calibration_.describe() == "none (identity)"
    rate = 0.05  # a screening library's hit rate: the same ranking, probabilities moved from the support's 50%
    screening = FewShotClassifier(model=models["maml"], head="maml", n_folds=5, base_rate=rate).fit(Xs, ys)
    np.testing.assert_allclose(screening.predict_proba(Xq)[:, 1], shift_base_rate(p_cal, float(ys.mean()), rate),
                               rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="base_rate must be a fraction"):
        FewShotClassifier(model=models["protonet"], base_rate=1.0).fit(Xs, ys)
    with pytest.raises(ValueError, match="calibration must be one of"):
        FewShotClassifier(model=models["protonet"], calibration="isotonic").fit(Xs, ys)
