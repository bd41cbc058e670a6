"""TU few-shot graph classification protocol (GSM class splits): N-way meta-training, held-out-graph selection,
no test class before the final evaluation, accuracy with a 95% CI, tables, plots, CLI."""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from graphmeta.benchmarks import tu as tu_module
from graphmeta.benchmarks.report import plot_tu_curves, tu_markdown_table
from graphmeta.benchmarks.tu import (TU_BENCHMARKS, TUSettings, encoder_inputs, holdout_graphs, run_tu,
                                     tu_class_split)
from graphmeta.cli.main import main
from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import NWayKShotSampler
from graphmeta.data.splits import TaskSplit
from graphmeta.metrics import mean_ci95
from graphmeta.train import MetaTrainer, TrainConfig, sample_class_episodes

GSM_TRIANGLES = {"train": [1, 3, 4, 6, 7, 8, 9], "test": [2, 5, 10]}


@pytest.fixture(scope="module")
def triangles(shared_data: Path):
    return load_dataset("TRIANGLES-fewshot", data_dir_override=shared_data, progress=False)


@pytest.fixture(scope="module")
def enzymes(shared_data: Path):
    return load_dataset("ENZYMES-fewshot", data_dir_override=shared_data, progress=False)


def _quick(**overrides) -> TUSettings:
    return replace(TUSettings.quick(5), **{"seeds": (0,), **overrides})


@contextmanager
def _one_thread():
    """Bitwise-reproducible runs: with several threads some CPU kernels sum in a run-dependent order (seen on
    the binary MoleculeNet path as well), which moves weights in the last bits and, through Adam, further."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def single_thread():
    with _one_thread():
        yield


@pytest.fixture(scope="module")
def quick_result(triangles):
    with _one_thread():
        return run_tu(triangles, "triangles", "protonet", _quick(), progress=False)


def _weights(trainer: MetaTrainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.learner.state_dict().items()}


# -- the protocol end to end ---------------------------------------------------------------------------------------
def test_quick_protocol_runs_end_to_end_and_is_deterministic(triangles, quick_result, single_thread) -> None:
    r = quick_result
    assert r["n_way"] == 3 and {k: r["split"][k] for k in ("train", "test")} == GSM_TRIANGLES
    assert r["inputs"] == {"atom_vocab": None, "bond_vocab": None, "degree_vocab": 11}  # featureless: degrees
    seed = r["seeds"][0]
    assert seed["n_test_episodes"] == 8 and seed["episodes"] == {"train_query": 15, "valid_query": 15, "test_query": 15}
    assert seed["holdout"] == {"fraction": 0.2, "meta_training_graphs": 7 * 161, "held_out_graphs": 7 * 40}
    assert [h["step"] for h in seed["history"]] == [2, 4] and seed["best_step"] in (2, 4)
    for h in seed["history"]:
        assert {"val_accuracy", "train_accuracy", "test_accuracy"} <= set(h)
        assert all(0.0 <= h[k] <= 1.0 for k in ("val_accuracy", "train_accuracy", "test_accuracy"))
    assert seed["best_valid_accuracy"] == max(h["val_accuracy"] for h in seed["history"])
    # accuracy over 3-way episodes with 15 queries per class is far above chance (1/3) even for a tiny model
    # on degree inputs; misaligned labels would sit near 1/3
    assert 0.45 < seed["test_accuracy"] <= 1.0 and 0.0 < seed["test_ci95"] < 0.2
    assert seed["gap"] == pytest.approx(seed["train_accuracy"] - seed["test_accuracy"])
    assert r["summary"]["test_accuracy"]["mean"] == pytest.approx(100 * seed["test_accuracy"])
    assert math.isnan(r["summary"]["test_accuracy"]["std"])  # one seed
    assert r["published"] == {"AS-MAML": 86.5} and "upper reference" in r["published_source"].lower()
    json.dumps(r)  # JSON-safe
    again = run_tu(triangles, "triangles", "protonet", _quick(), progress=False)
    for key in ("test_accuracy", "test_ci95", "train_accuracy", "best_step", "history"):
        assert again["seeds"][0][key] == seed[key], key
    other = run_tu(triangles, "triangles", "protonet", _quick(seeds=(1,)), progress=False)
    assert other["seeds"][0]["history"] != seed["history"]  # the seed matters


def test_accuracy_ci_gap_and_summary_follow_the_episode_scores(triangles, monkeypatch) -> None:
    """The numbers reported are mean_ci95 of the per-episode test accuracies, the training-class mean and their
    difference; the summary is mean ± std over seeds x 100."""
    test_scores = {0: [0.5, 0.7, 0.9, 0.3, 0.6, 0.8, 0.4, 0.6], 1: [0.9, 0.8, 0.7, 0.9, 0.6, 0.8, 0.9, 0.7]}
    calls = {"n": 0}
    current = {"seed": 0}

    def fake_accuracies(trainer, collection, episodes, batch):
        calls["n"] += 1
        if calls["n"] % 2 == 1:  # the test episodes are scored first
            assert len(episodes) == 8 and all(set(e.classes) <= set(GSM_TRIANGLES["test"]) for e in episodes)
            return test_scores[current["seed"]]
        assert len(episodes) == 3 and all(set(e.classes) <= set(GSM_TRIANGLES["train"]) for e in episodes)
        return [0.9, 0.95, 1.0]

    monkeypatch.setattr(tu_module, "_accuracies", fake_accuracies)
    seeds = []
    for s in (0, 1):
        current["seed"] = s
        seeds += run_tu(triangles, "triangles", "protonet", _quick(seeds=(s,), steps=2), progress=False)["seeds"]
    for s, out in zip((0, 1), seeds):
        mean, ci = mean_ci95(test_scores[s])
        assert out["test_accuracy"] == pytest.approx(mean) and out["test_ci95"] == pytest.approx(ci)
        assert out["train_accuracy"] == pytest.approx(0.95) and out["gap"] == pytest.approx(0.95 - mean)
    assert seeds[0]["test_ci95"] == pytest.approx(1.96 * np.std(test_scores[0], ddof=1) / math.sqrt(8))
    summary = tu_module.summarize_tu_seeds(seeds)
    assert summary["test_accuracy"]["mean"] == pytest.approx(100 * (0.6 + 0.7875) / 2)
    assert summary["test_accuracy"]["std"] == pytest.approx(100 * np.std([0.6, 0.7875], ddof=1))
    assert summary["gap"]["mean"] == pytest.approx(100 * (0.95 - (0.6 + 0.7875) / 2))
    assert summary["test_ci95_mean"] == pytest.approx(100 * (seeds[0]["test_ci95"] + seeds[1]["test_ci95"]) / 2)


# -- no test class, no held-out graph where it does not belong ---------------------------------------------------------
def test_selection_and_training_never_see_test_classes_or_held_out_graphs(triangles, monkeypatch,
                                                                         single_thread) -> None:
    test_classes = set(GSM_TRIANGLES["test"])
    meta_graphs, held_graphs = (set(g) for g in holdout_graphs(triangles, GSM_TRIANGLES["train"], 0.2, seed=0))
    phase = {"now": "setup"}
    log: list[tuple[str, tuple[int, ...], set[int]]] = []
    original = NWayKShotSampler.sample

    def guarded(self, collection, task, rng):
        episode = original(self, collection, task, rng)
        log.append((phase["now"], episode.classes, set(episode.support.tolist() + episode.query.tolist())))
        return episode

    monkeypatch.setattr(NWayKShotSampler, "sample", guarded)
    fit = tu_module.MetaTrainer.fit

    def guarded_fit(self, *a, **k):
        assert not self.split.valid and set(self.split.train) == set(GSM_TRIANGLES["train"])
        assert set(self.train_sampler.graph_ids) == meta_graphs
        for e in self.val_episodes:  # selection: training classes, held-out graphs only
            assert not set(e.classes) & test_classes
            assert set(e.support.tolist() + e.query.tolist()) <= held_graphs
        phase["now"] = "fit"
        try:
            return fit(self, *a, **k)
        finally:
            phase["now"] = "final"

    monkeypatch.setattr(tu_module.MetaTrainer, "fit", guarded_fit)
    blind = run_tu(triangles, "triangles", "protonet", _quick(monitor_test=False), progress=False)
    assert {p for p, _, _ in log} == {"setup", "fit", "final"}
    for p, classes, ids in log:
        if p != "final":  # before the final evaluation: training classes only
            assert not set(classes) & test_classes, f"test class sampled during {p}"
        if p == "fit":  # meta-training episodes: meta-training graphs only, never a held-out graph
            assert ids <= meta_graphs and not ids & held_graphs
    assert any(set(c) <= test_classes for p, c, _ in log if p == "final")
    # the test-class monitor is report only: the same run with it selects and scores the same
    monitored = run_tu(triangles, "triangles", "protonet", _quick(), progress=False)
    a, b = blind["seeds"][0], monitored["seeds"][0]
    assert "test_accuracy" in b["history"][0] and "test_accuracy" not in a["history"][0]
    assert [h["val_accuracy"] for h in a["history"]] == [h["val_accuracy"] for h in b["history"]]
    assert a["best_step"] == b["best_step"] and a["test_accuracy"] == b["test_accuracy"]


def test_held_out_graphs_are_seeded_disjoint_and_cover_the_training_classes(triangles) -> None:
    train = GSM_TRIANGLES["train"]
    meta, held = holdout_graphs(triangles, train, 0.2, seed=0)
    graphs, values = triangles.labels.task(0)
    of_train = set(graphs[torch.isin(values, torch.tensor(train, dtype=values.dtype))].tolist())
    assert not set(meta) & set(held) and set(meta) | set(held) == of_train
    label = dict(zip(graphs.tolist(), values.long().tolist()))
    assert {c: sum(label[g] == c for g in held) for c in train} == {c: 40 for c in train}  # round(0.2 * 201)
    assert holdout_graphs(triangles, train, 0.2, seed=0) == (meta, held)
    assert holdout_graphs(triangles, train, 0.2, seed=1)[1] != held
    with pytest.raises(ValueError, match="holdout_fraction"):
        holdout_graphs(triangles, train, 1.0, seed=0)


# -- inputs, class splits, bad requests ------------------------------------------------------------------------------
def test_inputs_and_class_splits(triangles, enzymes, shared_data: Path) -> None:
    assert encoder_inputs(enzymes) == {"atom_vocab": [7], "bond_vocab": None, "degree_vocab": 0}  # node tags 1..6
    split = tu_class_split(enzymes, TU_BENCHMARKS["enzymes"])
    assert split.train == (1, 3, 5, 6) and split.test == (2, 4) and not split.valid and split.unit == "classes"
    coil = load_dataset("COIL-DEL", data_dir_override=shared_data, progress=False)
    assert encoder_inputs(coil) == {"atom_vocab": None, "bond_vocab": [2], "degree_vocab": 15}
    spec = TU_BENCHMARKS["coil-del"]
    a, b = tu_class_split(coil, spec, 0), tu_class_split(coil, spec, 1)
    assert len(a.test) == 20 and len(a.train) == 80 and set(a.train) | set(a.test) == set(range(1, 101))
    assert a == tu_class_split(coil, spec, 0) and a.test != b.test and "seed 0" in a.description


def test_bad_requests_fail_clearly(triangles, enzymes) -> None:
    for baseline in ("rf", "knn"):
        with pytest.raises(ValueError, match="not molecules"):
            run_tu(triangles, "triangles", baseline, _quick(), progress=False)
    with pytest.raises(ValueError, match="finetune"):
        run_tu(triangles, "triangles", "finetune", _quick(), progress=False)
    with pytest.raises(KeyError, match="no TU protocol"):
        run_tu(triangles, "imdb", "protonet", _quick(), progress=False)
    with pytest.raises(ValueError, match="runs on ENZYMES-fewshot"):
        run_tu(triangles, "enzymes", "protonet", _quick(), progress=False)
    with pytest.raises(ValueError, match="too few"):  # 5% of 100 graphs held out: no room for 5 shots + a query
        run_tu(enzymes, "enzymes", "protonet", _quick(holdout_fraction=0.05), progress=False)
    with pytest.raises(ValueError, match="accuracy"):
        TrainConfig(n_way=3)
    with pytest.raises(ValueError, match="n_way must be at least 2"):
        TrainConfig(n_way=1, val_metric="accuracy")
    tox_like = TaskSplit(train=(1, 3, 4), test=(2,), unit="tasks")
    with pytest.raises(ValueError, match="class split"):
        MetaTrainer(triangles, tox_like, TrainConfig(n_way=3, val_metric="accuracy"), progress=False)
    with pytest.raises(ValueError, match="binary tasks"):
        MetaTrainer(triangles, tox_like, TrainConfig(), progress=False)


# -- the N-way meta-trainer --------------------------------------------------------------------------------------------
def _nway_config(**overrides) -> TrainConfig:
    base = dict(learner="maml", steps=4, eval_every=2, meta_batch_size=2, k_shot=2, n_query=3, n_way=3,
                val_metric="accuracy", inner_steps=1, inner_lr=0.1, hidden_channels=8, num_layers=2, seed=4,
                encoder_options={"atom_vocab": None, "bond_vocab": None, "degree_vocab": 11})
    return TrainConfig(**{**base, **overrides})


def test_nway_trainer_resumes_exactly_and_refuses_other_episodes(triangles, tmp_path: Path, single_thread) -> None:
    split = TaskSplit(train=GSM_TRIANGLES["train"], test=GSM_TRIANGLES["test"], unit="classes")
    meta, held = holdout_graphs(triangles, split.train, 0.2, seed=0)
    sampler = NWayKShotSampler(3, 2, 3, graph_ids=meta)
    val = sample_class_episodes(triangles, split.train, NWayKShotSampler(3, 2, 3, graph_ids=held), 3, seed=0)

    def trainer(config: TrainConfig, folder: str, train_sampler=sampler) -> MetaTrainer:
        return MetaTrainer(triangles, split, config, tmp_path / folder, progress=False, train_sampler=train_sampler,
                           val_episodes=val)

    full = trainer(_nway_config(), "full")
    result = full.fit()
    assert full.learner.model.n_way == 3 and full.learner.model.head.out_features == 3
    assert [h["step"] for h in result.history] == [2, 4] and all(0 <= h["val_accuracy"] <= 1 for h in result.history)
    assert (tmp_path / "full" / "metrics.csv").read_text().splitlines()[0] == "step,train_loss,val_accuracy,best"
    config = json.loads((tmp_path / "full" / "config.json").read_text())
    assert config["n_way"] == 3 and config["train"]["n_way"] == 3 and config["split"]["unit"] == "classes"
    assert config["encoder"]["degree_vocab"] == 11 and config["encoder"]["atom_vocab"] is None
    assert config["episodes"]["train_graph_ids"]["n"] == len(meta) and config["episodes"]["val_episodes"]["n"] == 3
    trainer(_nway_config(steps=2), "resumed").fit()
    resumed = trainer(_nway_config(), "resumed")
    out = resumed.fit(resume=True)
    assert out.history == result.history
    for k, v in _weights(full).items():
        assert torch.equal(v, _weights(resumed)[k]), k
    other = trainer(_nway_config(), "other", NWayKShotSampler(3, 2, 3, graph_ids=held))
    with pytest.raises(ValueError, match="different training sampler"):
        other.load(tmp_path / "resumed" / "last.pt")
    with pytest.raises(ValueError, match="2-way"):
        MetaTrainer(triangles, split, _nway_config(), progress=False, train_sampler=NWayKShotSampler(2, 2, 3))
    with pytest.raises(ValueError, match="either"):
        MetaTrainer(triangles, TaskSplit(train=(1, 3, 4, 6), valid=(7, 8, 9), test=(2, 5, 10), unit="classes"),
                    _nway_config(), progress=False, val_episodes=val)


def test_nway_trainer_without_injection_validates_on_valid_classes(triangles, monkeypatch) -> None:
    split = TaskSplit(train=(1, 3, 4, 6, 7), valid=(8, 9), test=GSM_TRIANGLES["test"], unit="classes")
    seen: list[tuple[int, ...]] = []
    original = NWayKShotSampler.sample

    def spy(self, collection, task, rng):
        episode = original(self, collection, task, rng)
        seen.append(episode.classes)
        return episode

    monkeypatch.setattr(NWayKShotSampler, "sample", spy)
    trainer = MetaTrainer(triangles, split, _nway_config(n_way=2, val_draws=4, learner="protonet", inner_steps=None,
                                                         inner_lr=None), progress=False)
    assert len(trainer.val_episodes) == 4 and all(set(e.classes) == {8, 9} for e in trainer.val_episodes)
    result = trainer.fit()
    assert result.best_step in (2, 4) and 0 <= result.best_metric <= 1
    assert all(not set(c) & set(GSM_TRIANGLES["test"]) for c in seen)
    assert any(set(c) <= set(split.train) for c in seen)


# -- table, plot, CLI ------------------------------------------------------------------------------------------------
def test_table_and_plot(quick_result, tmp_path: Path) -> None:
    table = tu_markdown_table([quick_result])
    assert "**triangles, 3-way 5-shot**" in table and "| graphmeta protonet |" in table
    assert "| published AS-MAML (upper reference) | 86.50 |" in table
    assert f"{quick_result['summary']['test_accuracy']['mean']:.2f}" in table
    png = plot_tu_curves(quick_result, tmp_path / "curve.png")
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_cli_quick_writes_records_table_and_plots(tmp_path: Path, shared_data: Path, capsys) -> None:
    out = tmp_path / "tu"
    code = main(["benchmark", "triangles", "--quick", "--method", "protonet", "rf", "--out", str(out),
                 "--data-dir", str(shared_data), "--no-progress"])
    assert code == 2 and "not molecules" in capsys.readouterr().err
    assert not out.exists()  # refused before anything ran
    code = main(["benchmark", "triangles", "--quick", "--method", "protonet", "maml", "--shots", "5", "--seeds", "1",
                 "--out", str(out), "--data-dir", str(shared_data), "--no-progress"])
    assert code == 0
    for method in ("protonet", "maml"):
        record = json.loads((out / f"triangles_5shot_{method}_quick.json").read_text())
        assert record["benchmark"] == "triangles-5shot" and record["wall_seconds"] > 0 and record["commit"]
        results = record["results"]
        assert results["split"]["test"] == GSM_TRIANGLES["test"] and results["n_way"] == 3
        assert results["summary"]["n_seeds"] == 1 and results["seeds"][0]["n_test_episodes"] == 8
        assert (out / f"triangles_5shot_{method}_quick.png").is_file()
    table = (out / "triangles_quick.md").read_text()
    assert "| graphmeta protonet |" in table and "| graphmeta maml |" in table
    assert "| published AS-MAML (upper reference) | 86.50 |" in table
