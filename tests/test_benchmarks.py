"""Benchmark protocols: the PAR MoleculeNet protocol end to end (quick), CV step selection, tables, plots, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from graphmeta.benchmarks import molnet
from graphmeta.benchmarks.molnet import MolnetSettings, cross_validate_steps, run_molnet
from graphmeta.benchmarks.report import markdown_table, plot_learning_curves
from graphmeta.cli.main import main
from graphmeta.data.api import load_dataset
from graphmeta.data.splits import par_split


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


def test_cross_validation_picks_the_best_mean_held_out_step(tox21, monkeypatch: pytest.MonkeyPatch) -> None:
    curves = iter([{2: 0.60, 4: 0.70, 6: 0.65}, {2: 0.62, 4: 0.64, 6: 0.72},  # grid entry 0: means .61 .67 .685
                   {2: 0.50, 4: 0.55, 6: 0.52}, {2: 0.58, 4: 0.50, 6: 0.51}])  # grid entry 1: worse everywhere
    seen = []

    class FakeTrainer:
        def __init__(self, collection, split, config, progress=False):
            seen.append((split, config))

        def fit(self):
            curve = next(curves)
            return SimpleNamespace(history=[{"step": s, "val_roc_auc": v} for s, v in curve.items()])

    monkeypatch.setattr(molnet, "MetaTrainer", FakeTrainer)
    split = par_split(tox21)
    settings = MolnetSettings(max_steps=6, eval_every=2, n_folds=2, grid=({}, {"outer_lr": 0.01}))
    cv = cross_validate_steps(tox21, split, "protonet", settings, seed=0)
    assert cv["chosen"]["best_step"] == 6 and cv["chosen"]["grid_index"] == 0
    assert cv["chosen"]["best_cv_roc_auc"] == pytest.approx(0.685)
    assert [c["best_step"] for c in cv["candidates"]] == [6, 2]
    for fold_split, config in seen:  # every fold trains and validates on training tasks only
        assert set(fold_split.train) | set(fold_split.valid) <= set(split.train) and not fold_split.test
        assert config.steps == 6
    assert seen[2][1].outer_lr == 0.01


def test_quick_protocol_runs_end_to_end_and_is_deterministic(tox21, tmp_path: Path) -> None:
    settings = MolnetSettings.quick(shots=10)
    result = run_molnet(tox21, "protonet", settings, progress=False)
    assert result["split"]["train"] == list(range(9)) and result["split"]["test"] == [9, 10, 11]
    assert [s["seed"] for s in result["seeds"]] == [0, 1]
    for seed in result["seeds"]:
        assert set(seed["test_per_task"]) == {"9", "10", "11"}
        assert 0 <= seed["test_roc_auc"] <= 1 and 0 <= seed["train_roc_auc"] <= 1
        assert seed["steps"] in (2, 4)
        history = seed["retrain_history"]
        assert history[-1]["step"] == seed["steps"]
        assert all(0 <= h["train_roc_auc"] <= 1 and 0 <= h["test_roc_auc"] <= 1 for h in history)
    assert set(result["cv"]["folds"][0]["held_out"]) <= set(range(9))
    assert result["compute_seconds"] == pytest.approx(result["cv"]["seconds"] + sum(s["seconds"] for s in result["seeds"]))
    s = result["summary"]
    assert s["n_seeds"] == 2
    assert s["gap"]["mean"] == pytest.approx(s["train_roc_auc"]["mean"] - s["test_roc_auc"]["mean"])
    for key in ("test_brier", "test_ece"):  # calibration of P(active) beside the ranking metric
        assert all(0 <= seed[key] <= 1 for seed in result["seeds"])
        assert s[key]["mean"] == pytest.approx(sum(seed[key] for seed in result["seeds"]) / 2)
    assert result["published"]["PAR"] == 82.06
    again = run_molnet(tox21, "protonet", settings, progress=False)
    assert [x["test_roc_auc"] for x in again["seeds"]] == [x["test_roc_auc"] for x in result["seeds"]]
    png = plot_learning_curves(result, tmp_path / "curves.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_baseline_sees_the_same_test_supports_and_has_no_curves(tox21) -> None:
    settings = MolnetSettings.quick(shots=10)
    rf = run_molnet(tox21, "rf", settings, progress=False)
    assert all("cv" not in s for s in rf["seeds"])
    assert plot_learning_curves(rf, "unused.png") is None
    table = markdown_table([rf])
    assert "| graphmeta rf |" in table and "| published PAR | 82.06 |" in table


def test_bad_requests_fail_clearly(tox21) -> None:
    with pytest.raises(KeyError, match="unknown method"):
        run_molnet(tox21, "svm", MolnetSettings.quick(), progress=False)
    with pytest.raises(KeyError, match="no PAR protocol"):
        run_molnet(SimpleNamespace(name="HIV", task_type="binary"), "rf", MolnetSettings.quick(), progress=False)


@pytest.mark.slow
def test_cli_quick_writes_records_table_and_plots(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "bench"
    code = main(["benchmark", "sider", "--quick", "--method", "maml", "knn", "--shots", "1", "--out", str(out),
                 "--data-dir", str(shared_data), "--no-progress", "--norm", "task", "layer"])
    assert code == 0
    record = json.loads((out / "sider_1shot_maml_quick.json").read_text())
    assert record["results"]["settings"]["grid"] == [{"norm": "task"}, {"norm": "layer"}]
    assert [c["overrides"] for c in record["results"]["cv"]["candidates"]] == [{"norm": "task"}, {"norm": "layer"}]
    assert record["command"].startswith(("graphmeta", "python", "pytest")) and record["commit"]
    assert record["results"]["split"]["test"] == list(range(21, 27))
    assert record["wall_seconds"] > 0
    assert (out / "sider_1shot_maml_quick.png").is_file() and not (out / "sider_1shot_knn_quick.png").exists()
    table = (out / "sider_quick.md").read_text()
    assert "graphmeta maml" in table and "graphmeta knn" in table and "| published MAML | 67.81 |" in table


def test_cli_first_seed_splits_a_run_that_the_plain_command_gathers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Seeds 1 (``--first-seed 1``) and 0 run separately; ``--seeds 2`` then recomputes neither (embedded Tox21)."""
    common = ["benchmark", "tox21", "--quick", "--method", "knn", "--shots", "1", "--out", str(tmp_path),
              "--no-progress"]
    assert main([*common, "--seeds", "1", "--first-seed", "1"]) == 0
    record = json.loads((tmp_path / "tox21_1shot_knn_quick.json").read_text())
    assert [s["seed"] for s in record["results"]["seeds"]] == [1]
    printed = capsys.readouterr().out
    assert "over 1 seeds" in printed and "nan" not in printed  # one seed: the mean alone, no "+- nan"
    assert record["results"]["seeds"][0]["machine"]["torch"] == torch.__version__
    assert main([*common, "--seeds", "1"]) == 0
    calls = []
    monkeypatch.setattr(molnet, "_run_baseline_seed", lambda *a, **k: calls.append(a))
    assert main([*common, "--seeds", "2"]) == 0
    gathered = json.loads((tmp_path / "tox21_1shot_knn_quick.json").read_text())["results"]["seeds"]
    assert calls == [] and [s["seed"] for s in gathered] == [0, 1] and gathered[1] == record["results"]["seeds"][0]
    results = json.loads((tmp_path / "tox21_1shot_knn_quick.json").read_text())["results"]
    assert results["compute_seconds"] == pytest.approx(sum(s["seconds"] for s in gathered))
    assert main([*common, "--first-seed", "-1"]) != 0


def test_cli_fingerprint_bits_feed_ecfp4_beside_the_gnn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--quick", "--out", str(tmp_path), "--no-progress"]  # embedded Tox21; TRIANGLES is refused unread
    assert main(["benchmark", "tox21", "--method", "maml", "--shots", "1", "--seeds", "1", "--fingerprint-bits", "64",
                 *common]) == 0
    record = json.loads((tmp_path / "tox21_1shot_maml_quick.json").read_text())
    assert record["results"]["settings"]["fingerprint_bits"] == 64
    assert 0 <= record["results"]["seeds"][0]["test_roc_auc"] <= 1
    assert main(["benchmark", "triangles", "--method", "protonet", "--fingerprint-bits", "64", *common]) != 0
    assert "--fingerprint-bits is for molecules" in capsys.readouterr().err


@pytest.fixture(scope="module")
def fsmol(shared_data: Path):
    return load_dataset("fsmol", data_dir_override=shared_data, progress=False)


def test_fsmol_quick_selects_on_valid_tasks_and_never_trains_on_test_tasks(fsmol, monkeypatch) -> None:
    from graphmeta.benchmarks import fsmol as fsmol_module
    from graphmeta.data import episodes as episodes_module

    test_tasks = set(fsmol.task_groups["test"])
    training = {"on": False}
    originals = {cls: cls.sample for cls in (episodes_module.KShotSampler, episodes_module.StratifiedSupportSampler)}

    def guard(cls):
        def sample(self, collection, task, rng):
            assert not (training["on"] and int(task) in test_tasks), f"test task {task} seen during meta-training"
            return originals[cls](self, collection, task, rng)
        return sample

    for cls in originals:
        monkeypatch.setattr(cls, "sample", guard(cls))
    fit = fsmol_module.MetaTrainer.fit

    def guarded_fit(self, *a, **k):
        assert set(self.split.valid) <= set(fsmol.task_groups["valid"]) and not set(self.split.train) & test_tasks
        assert self.config.norm == "layer" == self.learner.model.encoder.config["norm"]  # the settings' mode
        training["on"] = True
        try:
            return fit(self, *a, **k)
        finally:
            training["on"] = False

    monkeypatch.setattr(fsmol_module.MetaTrainer, "fit", guarded_fit)
    settings = fsmol_module.FsmolSettings.quick()
    settings.norm = "layer"
    result = fsmol_module.run_fsmol(fsmol, "protonet", settings, progress=False)
    assert result["settings"]["norm"] == "layer"
    seed = result["seeds"][0]
    assert set(seed["by_size"]) == {"16", "32"} and result["test_tasks"] == 4 and result["train_tasks"] == 247
    for size in seed["by_size"].values():
        assert size["n_tasks"] + len(size["skipped"]) == 4
        assert all(-1 <= v <= 1 for v in size["per_task"].values())
    assert all("val_delta_auprc" in h and "train_delta_auprc" in h for h in seed["history"])
    assert seed["best_step"] in (2, 4)
    assert result["summary"]["by_size"]["16"]["mean"] == pytest.approx(seed["by_size"]["16"]["delta_auprc"])
    assert 0 <= seed["by_size"]["16"]["test_ece"] <= 1 and 0 <= seed["by_size"]["16"]["test_brier"] <= 1
    assert result["summary"]["calibration_by_size"]["16"]["test_ece"]["mean"] == seed["by_size"]["16"]["test_ece"]


def test_fsmol_support_too_large_is_skipped_and_counted(fsmol) -> None:
    from graphmeta.benchmarks.fsmol import sample_stratified_episodes

    test = list(fsmol.task_groups["test"][:3])
    episodes, skipped = sample_stratified_episodes(fsmol, test, 100_000, 1, seed=0)
    assert not episodes and [s["task"] for s in skipped] == test
    assert "100000" in skipped[0]["reason"]
    episodes, skipped = sample_stratified_episodes(fsmol, test, 16, 2, seed=0)
    assert len(episodes) == 6 and not skipped and all(len(e.support) == 16 for e in episodes)
    again, _ = sample_stratified_episodes(fsmol, test, 16, 2, seed=0)
    assert all(a.support.tolist() == b.support.tolist() for a, b in zip(episodes, again))


@pytest.mark.slow
def test_cli_fsmol_quick_rf_table_has_published_numbers(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "fs"
    assert main(["benchmark", "fsmol", "--quick", "--method", "rf", "--support-sizes", "16", "--out", str(out),
                 "--data-dir", str(shared_data), "--no-progress"]) == 0
    record = json.loads((out / "fsmol_rf_quick.json").read_text())
    assert record["results"]["summary"]["by_size"].keys() == {"16"}
    table = (out / "fsmol_quick.md").read_text()
    assert "| graphmeta rf |" in table and "| published ProtoNet | 0.2059 |" in table
    from graphmeta.benchmarks.report import fsmol_markdown_table

    assert fsmol_markdown_table([record["results"]]) == table  # the stored record rebuilds the same table


def test_command_line_is_what_a_user_retypes(monkeypatch: pytest.MonkeyPatch) -> None:
    import graphmeta.cli.main as cli_main
    from graphmeta.benchmarks.record import command_line

    monkeypatch.setattr("sys.argv", [cli_main.__file__, "benchmark", "tox21", "--quick"])
    assert command_line() == "graphmeta benchmark tox21 --quick"
    monkeypatch.setattr("sys.argv", ["bench/meta_throughput.py", "--regimes", "a"])
    assert command_line() == "python bench/meta_throughput.py --regimes a"
    monkeypatch.setattr("sys.argv", ["/usr/local/bin/graphmeta", "demo"])
    assert command_line() == "graphmeta demo"


def test_one_shared_cv_by_default_or_one_per_seed(tox21, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = molnet.cross_validate_steps
    monkeypatch.setattr(molnet, "cross_validate_steps", lambda *a, **k: calls.append(a[4]) or original(*a, **k))
    shared = run_molnet(tox21, "protonet", MolnetSettings.quick(shots=10), progress=False, seed_dir=tmp_path)
    assert calls == [0] and (tmp_path / "tox21_10shot_protonet_cv.json").is_file()
    assert all("cv" not in s and s["steps"] == shared["cv"]["chosen"]["best_step"] for s in shared["seeds"])
    again = run_molnet(tox21, "protonet", MolnetSettings.quick(shots=10), progress=False, seed_dir=tmp_path)
    assert calls == [0] and again["seeds"] == shared["seeds"]  # CV and seeds reused from the folder
    per_seed = MolnetSettings.quick(shots=10)
    per_seed.cv_seed = None
    calls.clear()
    result = run_molnet(tox21, "protonet", per_seed, progress=False)
    assert calls == [0, 1] and "cv" not in result and all(s["steps"] == s["cv"]["chosen"]["best_step"]
                                                          for s in result["seeds"])
    assert plot_learning_curves(result, tmp_path / "per_seed.png").is_file()
    assert plot_learning_curves(shared, tmp_path / "shared.png").is_file()


def test_interrupted_run_reuses_finished_seeds(tox21, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = MolnetSettings.quick(shots=10)
    full = run_molnet(tox21, "protonet", settings, progress=False, seed_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["tox21_10shot_protonet_cv.json",
                                                               "tox21_10shot_protonet_seed0.json",
                                                               "tox21_10shot_protonet_seed1.json"]
    (tmp_path / "tox21_10shot_protonet_seed1.json").unlink()  # as if killed during seed 1
    calls = []
    original = molnet._run_meta_seed
    monkeypatch.setattr(molnet, "_run_meta_seed", lambda *a, **k: calls.append(a[4]) or original(*a, **k))
    resumed = run_molnet(tox21, "protonet", settings, progress=False, seed_dir=tmp_path)
    assert calls == [1]  # seed 0 was reused, seed 1 recomputed
    assert [s["test_roc_auc"] for s in resumed["seeds"]] == [s["test_roc_auc"] for s in full["seeds"]]
    other = MolnetSettings.quick(shots=10)
    other.max_steps = 6
    with pytest.raises(ValueError, match="different settings"):
        run_molnet(tox21, "protonet", other, progress=False, seed_dir=tmp_path)


def test_fsmol_cli_takes_one_norm_mode(tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["benchmark", "fsmol", "--quick", "--method", "protonet", "--norm", "task", "layer",
                 "--out", str(tmp_path), "--data-dir", str(shared_data), "--no-progress"])
    assert code != 0 and "fsmol takes one --norm mode" in capsys.readouterr().err


@pytest.mark.slow
def test_extra_training_tasks_never_bring_fsmol_evaluation_molecules(fsmol, shared_data: Path) -> None:
    from graphmeta.benchmarks.extra_tasks import add_training_tasks
    from graphmeta.data.canonical import canonical_smiles
    from graphmeta.data.featurize import MoleculeFeaturizer

    sider = load_dataset("sider", data_dir_override=shared_data, progress=False)
    combined, report = add_training_tasks(fsmol, [sider], min_per_class=9)
    groups = combined.task_groups
    assert groups["valid"] == fsmol.task_groups["valid"] and groups["test"] == fsmol.task_groups["test"]
    assert combined.task_names[:fsmol.n_tasks] == fsmol.task_names  # FS-Mol's tasks keep their indices
    for t in (0, fsmol.task_groups["test"][0]):
        assert torch.equal(combined.labels.task(t)[1], fsmol.labels.task(t)[1])
    added = groups["train"][len(fsmol.task_groups["train"]):]
    r = report["sider"]
    assert len(added) == r["tasks_added"] and r["tasks_added"] + r["tasks_too_small"] == sider.n_tasks
    assert all(combined.task_names[t].startswith("sider:") for t in added)
    held_ids = {g for t in (*fsmol.task_groups["valid"], *fsmol.task_groups["test"])
                for g in fsmol.labels.task(t)[0].tolist()}
    held = set(canonical_smiles([fsmol.smiles[g] for g in sorted(held_ids)]))
    added_graphs = sorted({g for t in added for g in combined.labels.task(t)[0].tolist()})
    assert added_graphs and min(added_graphs) >= len(fsmol.graphs)
    assert not held & set(canonical_smiles([combined.smiles[g] for g in added_graphs]))
    sider_canonical = canonical_smiles(sider.smiles)
    expected_dropped = sum(sider_canonical[g] in held for t in range(sider.n_tasks)
                           for g in sider.labels.task(t)[0].tolist())
    assert r["labels_dropped_fsmol_evaluation_molecules"] == expected_dropped > 0
    for t in added[:3]:  # an added task's labels are its SIDER labels minus the FS-Mol evaluation molecules
        source = sider.task_names.index(combined.task_names[t].split(":", 1)[1])
        ids, values = sider.labels.task(source)
        keep = [i for i, g in enumerate(ids.tolist()) if sider_canonical[g] not in held]
        assert torch.equal(combined.labels.task(t)[1], values[keep])
        assert [combined.smiles[g] for g in combined.labels.task(t)[0].tolist()] == [
            sider.smiles[g] for g in ids[keep].tolist()]
    assert add_training_tasks(fsmol, [sider], min_per_class=10**6)[1]["sider"]["tasks_added"] == 0
    other = load_dataset("sider", data_dir_override=shared_data, progress=False,
                         featurizer=MoleculeFeaturizer(fingerprint_bits=16))
    with pytest.raises(ValueError, match="same featurizer"):
        add_training_tasks(fsmol, [other], min_per_class=9)


@pytest.mark.slow
def test_fsmol_cli_extra_train_records_what_was_added(tmp_path: Path, shared_data: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--quick", "--out", str(tmp_path), "--data-dir", str(shared_data), "--no-progress"]
    assert main(["benchmark", "fsmol", "--method", "protonet", "--extra-train", "sider", *common]) == 0
    record = json.loads((tmp_path / "fsmol_protonet_quick.json").read_text())["results"]
    assert record["settings"]["extra_train"] == ["sider"] and record["extra_train_report"]["sider"]["tasks_added"] > 0
    assert record["train_tasks"] == record["task_groups_present"]["train"] > 247
    assert main(["benchmark", "tox21", "--method", "rf", "--extra-train", "sider", *common]) != 0
    assert "--extra-train adds meta-training tasks to fsmol only" in capsys.readouterr().err


@pytest.mark.slow
def test_full_training_set_replaces_the_sample_and_keeps_the_evaluation_assays(fsmol, shared_data: Path) -> None:
    from graphmeta.benchmarks.extra_tasks import use_full_training_set

    full = load_dataset("fsmol-train-full", data_dir_override=shared_data, progress=False)
    combined, report = use_full_training_set(fsmol, full)
    groups = combined.task_groups
    assert len(groups["train"]) == report["training_assays"] == 4935 and report["replaced_sample_assays"] == 247
    smallest = min(min(int((full.labels.task(t)[1] == c).sum()) for c in (0, 1)) for t in range(full.n_tasks))
    trimmed, trimmed_report = use_full_training_set(fsmol, full, min_per_class=smallest + 1)
    assert 0 < trimmed_report["training_assays_too_small"] == 4935 - len(trimmed.task_groups["train"])
    assert 0 < report["training_molecules_also_in_evaluation_assays"] < report["training_molecules"] == 207223
    for group in ("valid", "test"):
        assert [combined.task_names[t] for t in groups[group]] == [fsmol.task_names[t] for t in fsmol.task_groups[group]]
    for new, old in ((groups["test"][0], fsmol.task_groups["test"][0]), (groups["valid"][-1], fsmol.task_groups["valid"][-1])):
        a_ids, a_values = combined.labels.task(new)
        b_ids, b_values = fsmol.labels.task(old)
        assert torch.equal(a_ids, b_ids) and torch.equal(a_values, b_values)
        assert torch.equal(combined.graphs.gather(a_ids).x, fsmol.graphs.gather(b_ids).x)
    name = full.task_names[100]
    ids, values = combined.labels.task(combined.task_names.index(name))
    full_ids, full_values = full.labels.task(100)
    assert [combined.smiles[i] for i in ids.tolist()] == [full.smiles[i] for i in full_ids.tolist()]
    assert torch.equal(values, full_values)
    with pytest.raises(ValueError, match=r"lacks 24\d training assay"):
        use_full_training_set(fsmol, full.select_tasks(range(10)))


@pytest.mark.slow
def test_fsmol_cli_meta_trains_on_all_training_assays(tmp_path: Path, shared_data: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--quick", "--out", str(tmp_path), "--data-dir", str(shared_data), "--no-progress"]
    assert main(["benchmark", "fsmol", "--method", "protonet", "--train-assays", "full", *common]) == 0
    record = json.loads((tmp_path / "fsmol_protonet_quick.json").read_text())["results"]
    assert record["settings"]["train_assays"] == "full"
    full = record["extra_train_report"]["fsmol-train-full"]
    assert record["train_tasks"] == full["training_assays"] == 4935 - full["training_assays_too_small"]
    assert full["min_per_class"] == record["settings"]["train_shots"] + 1
    assert f"meta-training on {full['training_assays']:,} FS-Mol training assays" in capsys.readouterr().out
    assert main(["benchmark", "tox21", "--method", "rf", "--train-assays", "full", *common]) != 0
    assert "fsmol only" in capsys.readouterr().err


def test_cli_molnet_protonet_takes_the_distance_and_fusion_width(tmp_path: Path, shared_data: Path) -> None:
    args = ["benchmark", "tox21", "--quick", "--method", "protonet", "--shots", "1", "--seeds", "1", "--out",
            str(tmp_path), "--data-dir", str(shared_data), "--no-progress", "--distance", "mahalanobis",
            "--fingerprint-bits", "64", "--fusion-width", "32"]
    assert main(args) == 0
    results = json.loads((tmp_path / "tox21_1shot_protonet_quick.json").read_text())["results"]
    assert results["settings"]["distance"] == "mahalanobis" and results["settings"]["fusion_channels"] == 32
    assert 0 <= results["seeds"][0]["test_roc_auc"] <= 1


@pytest.mark.parametrize("native", [True, False])
def test_cli_precision_bf16_only_where_native(tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch,
                                              native: bool) -> None:
    import graphmeta.runtime as runtime
    from graphmeta.train import MetaTrainer

    monkeypatch.setattr(runtime, "cpu_supports_bf16", lambda: native)
    seen: list[str] = []
    original = MetaTrainer.__init__

    def spy(self, collection, split, config, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(config.precision)
        original(self, collection, split, config, *args, **kwargs)

    monkeypatch.setattr(MetaTrainer, "__init__", spy)
    args = ["benchmark", "tox21", "--quick", "--method", "protonet", "--shots", "1", "--seeds", "1", "--out",
            str(tmp_path), "--data-dir", str(shared_data), "--no-progress", "--precision", "bf16"]
    if native:
        assert main(args) == 0
    else:
        with pytest.warns(RuntimeWarning, match="running in fp32"):
            assert main(args) == 0
    expected = "bf16" if native else "fp32"
    record = json.loads((tmp_path / "tox21_1shot_protonet_quick.json").read_text())
    assert record["results"]["settings"]["precision"] == expected
    assert seen and set(seen) == {expected}


def test_cli_fsmol_meta_training_options_reach_the_trainer(tmp_path: Path, shared_data: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from graphmeta.train import MetaTrainer

    seen: list[Any] = []
    original = MetaTrainer.__init__

    def spy(self, collection, split, config, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, collection, split, config, *args, **kwargs)
        seen.append((config, self.learner))

    monkeypatch.setattr(MetaTrainer, "__init__", spy)
    common = ["--quick", "--out", str(tmp_path), "--data-dir", str(shared_data), "--no-progress"]
    assert main(["benchmark", "fsmol", "--method", "protonet", "--support-sizes", "16", "--distance", "mahalanobis",
                 "--fingerprint-bits", "64", "--fusion-width", "24", "--lr-schedule", "cosine", "--warmup-steps", "1",
                 "--train-shots", "3", "--train-query", "5", "--meta-batch-size", "3", *common]) == 0
    config, learner = seen[0]
    assert (config.lr_schedule, config.warmup_steps, config.k_shot, config.n_query, config.meta_batch_size) == (
        "cosine", 1, 3, 5, 3)
    assert learner.distance == "mahalanobis" and learner.model.encoder.fingerprint.hidden_channels == 24
    settings = json.loads((tmp_path / "fsmol_protonet_quick.json").read_text())["results"]["settings"]
    assert settings["distance"] == "mahalanobis" and settings["fusion_channels"] == 24
    assert main(["benchmark", "fsmol", "--method", "maml", "--distance", "mahalanobis", *common]) != 0
    assert "maml has no prototypes" in capsys.readouterr().err
    with pytest.raises(ValueError, match="ProtoNet option"):
        from graphmeta.benchmarks.methods import method_overrides

        method_overrides("anil", "cosine")
    assert main(["benchmark", "triangles", "--method", "protonet", "--fusion-width", "8", *common]) != 0
    assert "--fusion-width: options of the molecular protocols" in capsys.readouterr().err
    assert main(["benchmark", "tox21", "--method", "protonet", "--lr-schedule", "cosine", *common]) != 0
    assert "fsmol only" in capsys.readouterr().err
    assert main(["benchmark", "fsmol", "--method", "protonet", "--train-query", "0", *common]) != 0
    assert "--train-query must be positive" in capsys.readouterr().err


def test_fsmol_run_dir_shows_the_curve_and_a_rerun_resumes_instead_of_retraining(fsmol, tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from graphmeta.benchmarks import fsmol as fsmol_module

    settings = fsmol_module.FsmolSettings.quick()
    settings.support_sizes = (16,)
    first = fsmol_module.run_fsmol(fsmol, "protonet", settings, progress=False, run_dir=tmp_path)
    run = tmp_path / "protonet_seed0"
    assert {"last.pt", "best.pt", "history.json"} <= {p.name for p in run.iterdir()}
    assert [h["step"] for h in json.loads((run / "history.json").read_text())] == [2, 4]

    def no_training(self, step):  # type: ignore[no-untyped-def]
        raise AssertionError(f"meta-step {step} rerun although the run had finished")

    monkeypatch.setattr(fsmol_module.MetaTrainer, "meta_gradient", no_training)
    again = fsmol_module.run_fsmol(fsmol, "protonet", settings, progress=False, run_dir=tmp_path)
    assert again["summary"]["by_size"] == first["summary"]["by_size"]
    assert again["seeds"][0]["history"] == first["seeds"][0]["history"]
    settings.steps = 6  # a longer run continues from the finished one's last checkpoint
    monkeypatch.undo()
    longer = fsmol_module.run_fsmol(fsmol, "protonet", settings, progress=False, run_dir=tmp_path)
    assert [h["step"] for h in longer["seeds"][0]["history"]] == [2, 4, 6]
    settings.train_query = 3  # other settings: refused, named
    with pytest.raises(ValueError, match="n_query"):
        fsmol_module.run_fsmol(fsmol, "protonet", settings, progress=False, run_dir=tmp_path)
