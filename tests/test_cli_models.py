"""`graphmeta train / predict / embed / evaluate` through subprocesses, as a user runs them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphmeta.data.api import load_dataset
from graphmeta.predictor import FewShotClassifier


SHIPPED = "tox21-protonet"  # a shipped model: the tests of user-input handling need no trained one


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
                  "--label-column", "active", "--head", "superlearner", "--on-invalid", "keep", "--out", str(out))
    table = pd.read_csv(out)
    assert table["id"].tolist() == ["a", "b", "c", "d"]  # every row kept, in order
    assert table["probability"].iloc[:3].between(0, 1).all() and np.isnan(table["probability"].iloc[3])
    assert "C1CC" in table["error"].iloc[3] and set(table["prediction"].iloc[:3]) <= {0, 1}
    assert "scored 3 of 4 query rows (1 invalid SMILES kept with an error)" in result.stderr
    assert "from this support's" in result.stderr or "from the model's cross-task fallback" in result.stderr
    assert "; calibration: Platt scaling fitted to" in result.stderr  # the support has 2+ of each class
    raw = _run("predict", "--model", str(model), "--support", str(support), "--query", str(query), "--label-column",
               "active", "--head", "superlearner", "--on-invalid", "keep", "--calibration", "none")
    assert "; calibration: none (identity), at the support's class balance" in raw.stderr
    rated = _run("predict", "--model", str(model), "--support", str(support), "--query", str(query), "--label-column",
                 "active", "--on-invalid", "keep", "--base-rate", "0.05")
    assert "moved to a base rate of 0.05" in rated.stderr
    assert _run("predict", "--model", str(model), "--support", str(support), "--query", str(query),
                "--label-column", "active", "--base-rate", "2", check=False).returncode == 2
    raw_p = pd.read_csv(io.StringIO(raw.stdout))["probability"].iloc[:3].to_numpy()
    cal_p = table["probability"].iloc[:3].to_numpy()
    assert np.array_equal(np.argsort(raw_p), np.argsort(cal_p)) and not np.allclose(raw_p, cal_p, atol=1e-6)
    # semicolon- and tab-separated files (spreadsheet exports) are read as such, and an existing output column is
    # refused rather than overwritten
    for sep, name in ((";", "semicolon.csv"), ("\t", "tabs.tsv")):
        pd.read_csv(query).to_csv(tmp_path / name, sep=sep, index=False)
        pd.read_csv(support).to_csv(tmp_path / f"support-{name}", sep=sep, index=False)
        again = tmp_path / f"scores-{name}.csv"
        _run("predict", "--model", str(model), "--support", str(tmp_path / f"support-{name}"), "--query",
             str(tmp_path / name), "--label-column", "active", "--head", "superlearner", "--on-invalid", "keep",
             "--out", str(again))
        pd.testing.assert_frame_equal(pd.read_csv(again), table)
    pd.read_csv(query).assign(probability=0.5).to_csv(tmp_path / "taken.csv", index=False)
    taken = _run("predict", "--model", str(model), "--support", str(support), "--query", str(tmp_path / "taken.csv"),
                 "--label-column", "active", "--on-invalid", "keep", check=False)
    assert taken.returncode == 2 and "taken.csv already has column(s) ['probability']" in taken.stderr


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
             "active", "--on-invalid", "keep", "--n-jobs", jobs, "--out", str(out))
        tables.append(pd.read_csv(out))
    errors = tables[1]["error"].notna()
    assert len(tables[1]) == len(smiles) and errors.sum() == 2  # the junk row, and row 1322, an aluminium compound
    assert "allowed valence" in tables[1]["error"].iloc[1322]  # that the default strict sanitization rejects
    np.testing.assert_allclose(tables[1]["probability"], tables[0]["probability"], atol=2e-6)  # 6 decimals


def test_predict_reports_bad_support(model: Path, csvs: tuple[Path, Path], tmp_path: Path) -> None:
    support, query = csvs
    bad = tmp_path / "bad.csv"
    bad.write_text(support.read_text().replace(",1\n", ",\n", 1))
    result = _run("predict", "--model", str(model), "--support", str(bad), "--query", str(query),
                  "--label-column", "active", check=False)
    assert result.returncode == 2
    assert "bad.csv: column 'active': missing label (empty, None or NaN) in support row(s) [2]" in result.stderr
    result = _run("predict", "--model", str(model), "--support", str(support), "--query", str(query),
                  "--label-column", "toxic", check=False)
    assert result.returncode == 2 and "no label column 'toxic'" in result.stderr


def test_embed_and_evaluate(model: Path, csvs: tuple[Path, Path], tmp_path: Path) -> None:
    support, query = csvs
    _run("embed", str(support), "--model", str(model), "--out", str(tmp_path / "emb.npy"))
    assert np.load(tmp_path / "emb.npy").shape == (8, 16)
    bad = _run("embed", str(query), "--model", str(model), "--out", str(tmp_path / "bad.npy"), check=False)
    assert bad.returncode == 2 and "every row needs a valid SMILES" in bad.stderr
    assert "--on-invalid" not in bad.stderr  # embed has no such option
    results = tmp_path / "eval.json"
    result = _run("evaluate", "--model", str(model), "--tasks", "SR-HSE", "--shots", "2", "--draws", "2",
                  "--json", str(results), "--no-progress")
    assert "SR-HSE" in result.stdout and "mean over tasks" in result.stdout and "brier" in result.stdout
    assert "warning" not in result.stderr  # SR-HSE is a test task of the model's split
    own = _run("evaluate", "--model", str(model), "--tasks", "NR-AR", "SR-HSE", "--shots", "2", "--draws", "1",
               "--no-progress")
    assert "warning: the model trained (or selected its checkpoint) on ['NR-AR']" in own.stderr
    episodes = json.loads(results.read_text())["episodes"]
    assert len(episodes) == 2 and all(0 <= e[k] <= 1 for e in episodes for k in ("roc_auc", "brier", "ece"))
    row = next(line for line in result.stdout.splitlines() if line.startswith("SR-HSE")).split()
    assert float(row[3]) == pytest.approx(np.mean([e["brier"] for e in episodes]), abs=1e-4)
    assert float(row[4]) == pytest.approx(np.mean([e["ece"] for e in episodes]), abs=1e-4)


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
    from graphmeta.model_files import load_meta_model

    meta = load_meta_model(tmp_path / "fp" / "model.pt")
    assert meta.learner.model.encoder.config["fingerprint_channels"] == 32
    assert meta.molecule_featurizer().fingerprint_bits == 32  # predict makes the same fingerprints


def test_train_on_a_csv_with_one_label_column_writes_a_model(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """One task leaves nothing for the Super Learner's leave-tasks-out CV: said up front, the model is written,
    and its Super Learner weights come from the support's own CV."""
    from graphmeta.cli.main import main

    tox21 = load_dataset("tox21", progress=False)
    pd.DataFrame({"smiles": tox21.smiles[:60], "active": [i % 2 for i in range(60)]}).to_csv(
        tmp_path / "one.csv", index=False)
    code = main(["train", str(tmp_path / "one.csv"), "--shots", "4", "--steps", "1", "--hidden", "8", "--layers",
                 "1", "--meta-batch-size", "1", "--out", str(tmp_path / "run"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "one training task: no leave-tasks-out CV" in out
    model = str(tmp_path / "run" / "model.pt")
    assert main(["evaluate", "--model", model, "--no-progress"]) == 2  # the CSV is not a registered dataset
    assert "pass the file it was trained from (or another) with --dataset" in capsys.readouterr().err
    assert main(["evaluate", "--model", model, "--dataset", str(tmp_path / "one.csv"), "--tasks", "active",
                 "--shots", "4", "--draws", "1", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "active" in out and "mean over tasks" in out and "warning: the model trained" in err
    support = list(tox21.smiles[:10])
    clf = FewShotClassifier(model=tmp_path / "run" / "model.pt", head="superlearner").fit(support, [0, 1] * 5)
    assert clf.prior_strength_ == 0.0 and clf.predict_proba(list(tox21.smiles[60:65])).shape == (5, 2)


def _predict_args(support: Path, query: Path, *extra: str) -> list[str]:
    return ["predict", "--model", SHIPPED, "--support", str(support), "--query", str(query), "--label-column", "active",
            "--on-invalid", "keep", *extra]


def test_predict_text_labels_follow_the_python_rule(csvs: tuple[Path, Path], tmp_path: Path) -> None:
    """Text labels: refused without --positive-label (the Python API used to sort them, so column 1 could be
    P(inactive)); with it, the same scores as 0/1 labels, here and in Python."""
    support, query = csvs
    text = tmp_path / "text.csv"
    frame = pd.read_csv(support)
    frame["active"] = np.where(frame["active"] == 1, "active", "inactive")
    frame.to_csv(text, index=False)
    failed = _run(*_predict_args(text, query), check=False)
    assert failed.returncode == 2 and len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert "text.csv: column 'active': labels must be 0/1" in failed.stderr
    assert "say which label is the positive class with --positive-label active" in failed.stderr
    _run(*_predict_args(text, query, "--positive-label", "active", "--out", str(tmp_path / "text_scores.csv")))
    _run(*_predict_args(support, query, "--out", str(tmp_path / "scores.csv")))
    scores = pd.read_csv(tmp_path / "text_scores.csv")
    pd.testing.assert_frame_equal(scores, pd.read_csv(tmp_path / "scores.csv"))
    python = FewShotClassifier(model=SHIPPED, positive_label="active").fit(frame.smiles, frame.active)
    np.testing.assert_allclose(scores["probability"].iloc[:3],
                               python.predict_proba(pd.read_csv(query).smiles.iloc[:3])[:, 1], atol=2e-6)


def test_user_smiles_are_read_strictly_unless_sanitize_lenient(csvs: tuple[Path, Path], tmp_path: Path) -> None:
    """A six-bonded carbon used to be featurized, scored and counted as valid."""
    support, query = csvs
    bad = tmp_path / "bad.csv"
    frame = pd.read_csv(support)
    frame.loc[len(frame)] = ["C(C)(C)(C)(C)(C)C", 1]
    frame.to_csv(bad, index=False)
    failed = _run(*_predict_args(bad, query), check=False)
    assert failed.returncode == 2 and len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert (f"bad.csv: row {len(frame) + 1}: RDKit cannot parse or sanitize SMILES 'C(C)(C)(C)(C)(C)C' (an atom beyond "
            f"its allowed valence") in failed.stderr
    _run(*_predict_args(bad, query, "--sanitize", "lenient", "--out", str(tmp_path / "lenient.csv")))
    hypervalent = tmp_path / "q.csv"
    pd.DataFrame({"smiles": ["CCO", "C(C)(C)(C)(C)(C)C"]}).to_csv(hypervalent, index=False)
    result = _run(*_predict_args(support, hypervalent, "--out", str(tmp_path / "q_scores.csv")))
    table = pd.read_csv(tmp_path / "q_scores.csv")
    assert "allowed valence" in table["error"].iloc[1] and np.isnan(table["probability"].iloc[1])
    assert "scored 1 of 2 query rows (1 invalid SMILES kept with an error)" in result.stderr
    # graphmeta train / data summary read a user CSV the same way (one loader for both)
    assays = tmp_path / "assays.csv"
    pd.DataFrame({"smiles": ["CCO", "C(C)(C)(C)(C)(C)C", "CCN"], "y": [0, 1, 1]}).to_csv(assays, index=False)
    strict = _run("data", "summary", str(assays))
    assert "2 graphs" in strict.stdout and "rows skipped: skipped 1 (1 invalid smiles)" in strict.stdout
    lenient = _run("data", "summary", str(assays), "--sanitize", "lenient")
    assert "3 graphs" in lenient.stdout and "rows kept with a caveat: 1 (1 lenient sanitization)" in lenient.stdout
    assert "assays.csv: 1 of 3 molecules kept only by lenient sanitization" in lenient.stderr


def test_output_and_model_file_problems_are_one_line_errors_up_front(csvs: tuple[Path, Path], tmp_path: Path) -> None:
    support, query = csvs
    missing = tmp_path / "nope" / "scores.csv"
    # checked before anything else: the model (which does not exist either) is never loaded, nothing is scored
    result = _run("predict", "--model", "no-such-model", "--support", str(support), "--query", str(query),
                  "--label-column", "active", "--out", str(missing), check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"graphmeta predict: error: --out {missing}: folder {missing.parent} does not "
                                     f"exist (create it first)")
    result = _run("embed", str(query), "--model", "no-such-model", "--out", str(missing.with_suffix(".npy")),
                  check=False)
    assert result.returncode == 2 and "does not exist (create it first)" in result.stderr
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    result = _run("train", "no-such-dataset", "--out", str(a_file), check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"graphmeta train: error: --out {a_file} is a file, not a folder; name a folder "
                                     f"(it is created when missing)")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" + np.random.default_rng(0).bytes(4096))
    result = _run(*_predict_args(support, query), "--model", str(junk), check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"{junk}: not a graphmeta model or checkpoint file" in result.stderr
    assert "weights_only" not in result.stderr and "Traceback" not in result.stderr


def test_output_piped_into_a_reader_that_stops_ends_quietly(csvs: tuple[Path, Path]) -> None:
    """``graphmeta predict ... | head``: no BrokenPipeError traceback when the reader goes away."""
    support, query = csvs
    proc = subprocess.Popen([sys.executable, "-m", "graphmeta", *_predict_args(support, query)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONHASHSEED": "0"})
    proc.stdout.close()  # the reader is gone before anything is written (as `| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err


def test_output_folders_of_long_commands_are_checked_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmark, pretrain and demo check --out before loading any data (not after hours of training)."""
    from graphmeta.cli.main import main

    def no_work(*args: object, **kwargs: object) -> None:
        pytest.fail("data loaded before --out was checked")

    monkeypatch.setattr("graphmeta.cli.benchmark.load_dataset", no_work)
    monkeypatch.setattr("graphmeta.cli.demo.load_dataset", no_work)
    monkeypatch.setattr("graphmeta.cli.pretrain.PretrainCommand._data", no_work)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    for command, out, message in (
            ("benchmark", a_file, f"--out {a_file} is a file, not a folder"),
            ("pretrain", a_file, f"--out {a_file} is a file, not a folder"),
            ("demo", a_file / "runs", f"--out {a_file / 'runs'}: {a_file} is a file, so the folder cannot be created "
                                      f"there")):
        argv = [command, *(["tox21"] if command == "benchmark" else []), "--out", str(out), "--no-progress"]
        assert main(argv) == 2, command
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith(f"graphmeta {command}: error: {message}"), err
