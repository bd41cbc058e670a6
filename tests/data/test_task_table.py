"""Task tables (one row per task x molecule): parsing rules, bad input, Parquet, the CLI, and FS-Mol's full table."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import graphmeta
from graphmeta.cli.main import main
from graphmeta.data.download import DatasetNotFoundError
from graphmeta.data.featurize import InvalidSmilesError, LenientSanitizationWarning
from graphmeta.data.loaders.csv import CSVFormatError
from graphmeta.data.loaders.fsmol_table import write_fsmol_task_table
from graphmeta.data.loaders.task_table import read_task_table
from graphmeta.data.registry import get_info

ROWS = [  # task, smiles, active, pic50
    ("A1", "CCO", "1", "6.1"),
    ("A1", "CCN", "0", "4.0"),
    ("A1", "CCO", "1", "6.3"),          # duplicate of row 2 (same label)
    ("A1", "c1ccccc1", "", "5.0"),      # missing label
    ("B7", "CCN", "1", "7.2"),
    ("B7", "CCC", "0", "3.3"),
    ("B7", "CC(=O)O", "1", "8.0"),
    ("B7", "CC(=O)O", "0", "8.2"),      # conflicts with the row above
    ("B7", "not a smiles", "1", "9.0"),  # invalid SMILES
    ("C2", "CCCl", "0", "2.0"),
]


def _table(path: Path, rows=ROWS) -> Path:
    frame = pd.DataFrame(rows, columns=["assay", "smiles", "active", "pic50"])
    if path.name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def _pairs(collection, task: str) -> dict[str, float]:
    ids, values = collection.labels.task(collection.task_index(task))
    return {collection.smiles[int(g)]: float(v) for g, v in zip(ids, values)}


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_long_table_tasks_molecules_and_every_skip_counted(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"assays{suffix}"
    if suffix == ".csv.gz":
        raw = _table(tmp_path / "plain.csv").read_bytes()
        path.write_bytes(gzip.compress(raw))
    else:
        _table(path)
    with pytest.warns(RuntimeWarning, match="invalid SMILES"):
        c = read_task_table(path, "assay", label_column="active", progress=False, n_jobs=None)
    assert c.task_names == ["A1", "B7", "C2"] and c.task_type == "binary"
    assert sorted(c.smiles) == sorted({"CCO", "CCN", "c1ccccc1", "CCC", "CC(=O)O", "CCCl"})  # one graph per SMILES
    assert _pairs(c, "A1") == {"CCO": 1.0, "CCN": 0.0}
    assert _pairs(c, "B7") == {"CCN": 1.0, "CCC": 0.0}
    assert _pairs(c, "C2") == {"CCCl": 0.0}
    counts = c.skipped.counts()
    assert counts == {"duplicate_in_task": 1, "missing_label": 1, "conflicting_labels": 2, "invalid_smiles": 1}
    assert c.labels.value.numel() + len(c.skipped) == len(ROWS)  # every row is a label or a reported skip
    where = {reason: w for reason, w, _ in c.skipped.entries}
    assert where["duplicate_in_task"].endswith("row 4") and where["missing_label"].endswith("row 5")
    assert where["invalid_smiles"].endswith("row 10")


def test_task_table_is_sanitized_strictly_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("task,smiles,y\nA,CCO,1\nA,C(C)(C)(C)(C)(C)C,0\nB,C(C)(C)(C)(C)(C)C,1\nB,CN,0\n")
    with pytest.warns(RuntimeWarning, match=r"skipped 2 of 4 rows with invalid SMILES \(1 distinct"):
        c = graphmeta.load_task_table(path, cache=False, progress=False, n_jobs=None)
    assert c.n_graphs == 2 and c.skipped.counts() == {"invalid_smiles": 2} and len(c.notes) == 0
    with pytest.warns(LenientSanitizationWarning, match=r"t\.csv: 1 of 3 molecules kept only by lenient sanitization "
                                                        r"\(RDKit's valence check skipped; row 3\)"):
        lenient = graphmeta.load_task_table(path, sanitize="lenient", cache=False, progress=False, n_jobs=None)
    assert lenient.n_graphs == 3 and len(lenient.skipped) == 0
    assert [where for _, where, _ in lenient.notes.entries] == ["t.csv:row 3"]  # the molecule's first row


def test_regression_values_average_repeats_and_auto_type(tmp_path: Path) -> None:
    path = _table(tmp_path / "t.csv")
    with pytest.warns(RuntimeWarning):
        c = read_task_table(path, "assay", label_column="pic50", progress=False, n_jobs=None)
    assert c.task_type == "regression"
    a1 = _pairs(c, "A1")
    assert a1["CCO"] == pytest.approx(6.2) and a1["c1ccccc1"] == pytest.approx(5.0)
    assert _pairs(c, "B7")["CC(=O)O"] == pytest.approx(8.1)  # repeated measurements averaged, not conflicts
    assert c.skipped.counts() == {"duplicate_in_task": 2, "invalid_smiles": 1}


def test_bad_input_names_file_row_and_column(tmp_path: Path) -> None:
    rows = list(ROWS)
    rows[3] = ("A1", "CCCC", "maybe", "1")
    with pytest.raises(CSVFormatError, match=r"t\.csv: row 5, column 'active': 'maybe' is not a number"):
        read_task_table(_table(tmp_path / "t.csv", rows), "assay", label_column="active", progress=False)
    rows[3] = ("", "CCCC", "1", "1")
    with pytest.raises(CSVFormatError, match=r"row 5, column 'assay': empty task id"):
        read_task_table(_table(tmp_path / "t.csv", rows), "assay", label_column="active", progress=False)
    rows[3] = ("A1", "CCCC", "2", "1")
    with pytest.raises(CSVFormatError, match=r"row 5, column 'active': label 2 is not 0 or 1"):
        read_task_table(_table(tmp_path / "t.csv", rows), "assay", label_column="active", task_type="binary",
                        progress=False)
    path = _table(tmp_path / "ok.csv")
    with pytest.raises(CSVFormatError, match=r"say which column holds the labels .*'active', 'pic50'"):
        read_task_table(path, "assay", progress=False)
    with pytest.raises(CSVFormatError, match="no task column 'task'"):
        read_task_table(path, label_column="active", progress=False)
    with pytest.raises(InvalidSmilesError, match=r"ok\.csv: row 10: .*not a smiles"):
        read_task_table(path, "assay", label_column="active", on_invalid="raise", progress=False, n_jobs=None)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(CSVFormatError, match="broken.parquet: cannot be read as Parquet"):
        read_task_table(broken, "assay", progress=False)


def test_public_api_caches_and_cli_trains_from_a_task_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(0)
    alkanes = ["C" * n for n in range(1, 13)] + ["C" * n + "O" for n in range(1, 13)] + ["C" * n + "N" for n in range(1, 13)]
    rows = [(f"T{t}", s, str(int(rng.random() < 0.5)), "0") for t in range(4) for s in alkanes]
    path = _table(tmp_path / "export.parquet", rows)
    first = graphmeta.load_task_table(path, "assay", label_column="active", progress=False)
    again = graphmeta.load_task_table(path, "assay", label_column="active", progress=False)
    assert first.n_tasks == again.n_tasks == 4 and torch.equal(first.labels.value, again.labels.value)
    code = main(["train", str(path), "--task-column", "assay", "--target-columns", "active", "--out",
                 str(tmp_path / "run"), "--shots", "2", "--steps", "2", "--eval-every", "1", "--hidden", "16",
                 "--layers", "2", "--meta-batch-size", "2", "--no-fallback", "--no-progress"])
    assert code == 0 and (tmp_path / "run" / "model.pt").is_file()
    assert "on export: 4 training tasks" in capsys.readouterr().out
    assert main(["data", "summary", str(path), "--task-column", "assay", "--target-columns", "active", "pic50"]) == 2


def test_fsmol_table_builder_reproduces_the_shared_rows(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "sample.csv.gz"
    counts = write_fsmol_task_table(shared_data / "fsmol" / "train", out, progress=False)
    assert counts == {"tasks": 247, "rows": 19011}
    built = gzip.open(out, "rt").read().splitlines()
    tasks = {line.split(",", 1)[0] for line in built[1:]}
    full = gzip.open(shared_data / "fsmol" / "train_full.csv.gz", "rt").read().splitlines()
    assert built == [full[0]] + [line for line in full[1:] if line.split(",", 1)[0] in tasks]


def test_derived_file_missing_gives_its_recipe(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="graphmeta data build fsmol-train-full"):
        graphmeta.load_dataset("fsmol-train-full", data_dir_override=tmp_path)
    with pytest.raises(TypeError, match="unlabelled molecule corpus"):
        graphmeta.load_dataset("moses", data_dir_override=tmp_path)
    moses = get_info("moses")
    assert {f.member for f in moses.files} == {"moses/dataset/data/train.csv.gz", "moses/dataset/data/test.csv.gz"}
    assert all(f.url.endswith("molsets-0.3.1-py3-none-any.whl") and f.compression == "zip" for f in moses.files)


@pytest.mark.slow
def test_fsmol_train_full_counts(shared_data: Path) -> None:
    """All 4,935 FS-Mol training assays: every one of the 412,402 rows is a label or a counted skip, and the
    247 tasks of the jsonl sample carry the same labels as the jsonl loader gives them."""
    full = graphmeta.load_dataset("fsmol-train-full", data_dir_override=shared_data, progress=False)
    assert (full.n_tasks, full.n_graphs) == (4935, 207223)
    assert full.labels.value.numel() + len(full.skipped) == 412402
    assert full.skipped.counts() == {"duplicate_in_task": 5134, "conflicting_labels": 1225}
    assert full.task_groups == {"train": list(range(4935))}
    sample = graphmeta.load_dataset("fsmol", data_dir_override=shared_data, splits=("train",), progress=False)
    for t in range(0, sample.n_tasks, 10):
        name = sample.task_names[t]
        assert _pairs(full, name) == _pairs(sample, name), name
