"""`graphmeta train / predict / embed / evaluate` through subprocesses, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphmeta.data.api import load_dataset


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "graphmeta", *args], capture_output=True, text=True,
                            env={**os.environ, "PYTHONHASHSEED": "0"}, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train")
    result = _run("train", "tox21", "--learner", "maml", "--steps", "2", "--eval-every", "2", "--meta-batch-size", "2",
                  "--hidden", "16", "--layers", "2", "--norm", "running", "--valid-tasks", "NR-AR",
                  "--out", str(out), "--no-progress")
    assert "8 training tasks (the published split's training tasks), 1 validation tasks" in result.stdout
    assert (out / "model.pt").is_file() and (out / "metrics.csv").is_file()
    record = json.loads((out / "model.json").read_text())
    assert record["provenance"]["command"].startswith("graphmeta train tox21")
    assert record["split"]["train"] == list(range(1, 9)) and record["split"]["valid"] == [0]
    assert set(record["superlearner_fallback"]["weights"]) == {"protonet", "maml", "logreg", "knn", "rf"}
    prior = record["superlearner_prior"]
    assert prior["tasks"] == list(range(1, 9)) and prior["shots"] == 10 and prior["prior_strength"] in prior["grid"]
    assert prior["log_loss"][prior["grid"].index(prior["prior_strength"])] == min(prior["log_loss"])
    assert f"prior strength {prior['prior_strength']:g}" in result.stdout
    return out / "model.pt"


@pytest.fixture(scope="module")
def csvs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tox21 = load_dataset("tox21", progress=False)
    ids, y = tox21.labels.task(9)
    ids, y = ids.numpy(), y.numpy()
    pick = np.r_[np.flatnonzero(y == 1)[:4], np.flatnonzero(y == 0)[:4]]
    out = tmp_path_factory.mktemp("csv")
    pd.DataFrame({"smiles": [tox21.smiles[i] for i in ids[pick]], "active": y[pick].astype(int)}).to_csv(
        out / "support.csv", index=False)
    pd.DataFrame({"id": ["a", "b", "c", "d"], "smiles": [tox21.smiles[i] for i in ids[20:23]] + ["C1CC"]}).to_csv(
        out / "query.csv", index=False)
    return out / "support.csv", out / "query.csv"


def test_predict_writes_one_row_per_query_row(model: Path, csvs: tuple[Path, Path], tmp_path: Path) -> None:
    support, query = csvs
    failed = _run("predict", "--model", str(model), "--support", str(support), "--query", str(query),
                  "--label-column", "active", check=False)
    assert failed.returncode == 2 and "query.csv: 1 invalid SMILES (row 5:" in failed.stderr
    out = tmp_path / "scores.csv"
    result = _run("predict", "--model", str(model), "--support", str(support), "--query", str(query),
                  "--label-column", "active", "--head", "superlearner", "--on-invalid", "skip", "--out", str(out))
    table = pd.read_csv(out)
    assert table["id"].tolist() == ["a", "b", "c", "d"]  # every row kept, in order
    assert table["probability"].iloc[:3].between(0, 1).all() and np.isnan(table["probability"].iloc[3])
    assert "C1CC" in table["error"].iloc[3] and set(table["prediction"].iloc[:3]) <= {0, 1}
    assert "scored 3 of 4 query rows (1 invalid SMILES kept with an error)" in result.stderr


def test_predict_n_jobs_scores_a_long_query_like_one_process(model: Path, csvs: tuple[Path, Path],
                                                             tmp_path: Path) -> None:
    from graphmeta.data.featurize import PARALLEL_MIN

    support, _ = csvs
    tox21 = load_dataset("tox21", progress=False)
    query = tmp_path / "long.csv"
    smiles = list(tox21.smiles[:PARALLEL_MIN + 50])
    smiles[PARALLEL_MIN + 10] = "not a molecule"
    pd.DataFrame({"smiles": smiles}).to_csv(query, index=False)
    tables = []
    for jobs in ("1", "2"):
        out = tmp_path / f"scores{jobs}.csv"
        _run("predict", "--model", str(model), "--support", str(support), "--query", str(query), "--label-column",
             "active", "--on-invalid", "skip", "--n-jobs", jobs, "--out", str(out))
        tables.append(pd.read_csv(out))
    assert len(tables[1]) == len(smiles) and tables[1]["error"].notna().sum() == 1
    np.testing.assert_allclose(tables[1]["probability"], tables[0]["probability"], atol=2e-6)  # 6 decimals


def test_predict_reports_bad_support(model: Path, csvs: tuple[Path, Path], tmp_path: Path) -> None:
    support, query = csvs
    bad = tmp_path / "bad.csv"
    bad.write_text(support.read_text().replace(",1\n", ",\n", 1))
    result = _run("predict", "--model", str(model), "--support", str(bad), "--query", str(query),
                  "--label-column", "active", check=False)
    assert result.returncode == 2 and "bad.csv: empty label in row(s) [2]" in result.stderr
    result = _run("predict", "--model", str(model), "--support", str(support), "--query", str(query),
                  "--label-column", "toxic", check=False)
    assert result.returncode == 2 and "no label column 'toxic'" in result.stderr


def test_embed_and_evaluate(model: Path, csvs: tuple[Path, Path], tmp_path: Path) -> None:
    support, _ = csvs
    _run("embed", str(support), "--model", str(model), "--out", str(tmp_path / "emb.npy"))
    assert np.load(tmp_path / "emb.npy").shape == (8, 16)
    results = tmp_path / "eval.json"
    result = _run("evaluate", "--model", str(model), "--tasks", "SR-HSE", "--shots", "2", "--draws", "2",
                  "--json", str(results), "--no-progress")
    assert "SR-HSE" in result.stdout and "mean over tasks" in result.stdout
    episodes = json.loads(results.read_text())["episodes"]
    assert len(episodes) == 2 and all(0 <= e["roc_auc"] <= 1 for e in episodes)


def test_train_on_a_csv_skips_and_reports_tasks_too_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from graphmeta.cli.main import main

    tox21 = load_dataset("tox21", progress=False)
    rows = pd.DataFrame({"smiles": tox21.smiles[:60], "big": [i % 2 for i in range(60)],
                         "rare": [1 if i < 3 else 0 for i in range(60)]})
    rows.to_csv(tmp_path / "assays.csv", index=False)
    code = main(["train", str(tmp_path / "assays.csv"), "--shots", "4", "--steps", "1", "--hidden", "8",
                 "--layers", "1", "--meta-batch-size", "1", "--no-fallback", "--out", str(tmp_path / "run"),
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "skipped 1 training task(s) with fewer than 4 positives or negatives" in out
    assert "1 training tasks (all tasks)" in out and (tmp_path / "run" / "model.pt").is_file()
    code = main(["train", str(tmp_path / "assays.csv"), "--shots", "4", "--steps", "1", "--hidden", "8",
                 "--layers", "1", "--meta-batch-size", "1", "--no-fallback", "--fingerprint-bits", "32",
                 "--out", str(tmp_path / "fp"), "--no-progress"])
    assert code == 0
    from graphmeta.models import load_meta_model

    meta = load_meta_model(tmp_path / "fp" / "model.pt")
    assert meta.learner.model.encoder.config["fingerprint_channels"] == 32
    assert meta.molecule_featurizer().fingerprint_bits == 32  # predict makes the same fingerprints
