"""User CSVs: column selection, strict label parsing, task-type detection, invalid SMILES skipped and counted."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from graphmeta.data.api import load_csv
from graphmeta.data.featurize import InvalidSmilesError
from graphmeta.data.loaders.csv import CSVFormatError, read_molecule_csv


def _write(tmp_path: Path, text: str, name: str = "assay.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_columns_missing_labels_and_binary_detection(tmp_path: Path) -> None:
    path = _write(tmp_path, "id,SMILES,a,b\n1,CCO,1,\n2,c1ccccc1,0,1\n3,CN,,0\n")
    c = read_molecule_csv(path, target_columns=["a", "b"], progress=False)
    assert c.task_type == "binary" and c.task_names == ["a", "b"] and c.n_graphs == 3
    assert c.smiles == ["CCO", "c1ccccc1", "CN"]
    assert c.labels.task(0)[0].tolist() == [0, 1] and c.labels.task(1)[1].tolist() == [1, 0]


def test_regression_detected_and_never_thresholded(tmp_path: Path) -> None:
    path = _write(tmp_path, "smiles,logS\nCCO,-0.5\nCN,1.25\n")
    c = read_molecule_csv(path, progress=False)
    assert c.task_type == "regression" and c.labels.value.tolist() == [-0.5, 1.25]
    with pytest.raises(CSVFormatError, match="row 2, column 'logS'.*not 0 or 1"):
        read_molecule_csv(path, task_type="binary", progress=False)


def test_bad_values_name_file_row_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "smiles,y\nCCO,1\nCN,yes\n")
    with pytest.raises(CSVFormatError, match=r"assay.csv: row 3, column 'y': 'yes' is not a number"):
        read_molecule_csv(path, progress=False)
    with pytest.raises(CSVFormatError, match="no column 'smi'"):
        read_molecule_csv(path, smiles_column="smi", progress=False)
    with pytest.raises(CSVFormatError, match=r"target column\(s\) \['z'\] not found"):
        read_molecule_csv(path, target_columns=["z"], progress=False)
    empty = _write(tmp_path, "smiles,y\n", "empty.csv")
    with pytest.raises(CSVFormatError, match="no data rows"):
        read_molecule_csv(empty, progress=False)


def test_invalid_smiles_skipped_counted_or_raised(tmp_path: Path) -> None:
    path = _write(tmp_path, "smiles,y\nCCO,1\nC1CC,0\n,1\nCN,0\n")
    with pytest.warns(RuntimeWarning, match="skipped 2 of 4 rows"):
        c = read_molecule_csv(path, progress=False)
    assert c.n_graphs == 2 and c.smiles == ["CCO", "CN"]
    assert c.skipped.counts() == {"invalid_smiles": 2}
    assert [where for _, where, _ in c.skipped.entries] == ["assay.csv:row 3", "assay.csv:row 4"]
    with pytest.raises(InvalidSmilesError, match="row 3"):
        read_molecule_csv(path, on_invalid="raise", progress=False)


def test_gzipped_csv_and_cached_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "assay.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("smiles,y\nCCO,1\nCN,0\nc1ccccc1,1\n")
    first = load_csv(path, cache=tmp_path / "cache", progress=False)
    from graphmeta.data.featurize import MoleculeFeaturizer

    def fail(*args, **kwargs):
        raise AssertionError("featurized again: the cache was not used")

    monkeypatch.setattr(MoleculeFeaturizer, "featurize_many", fail)
    second = load_csv(path, cache=tmp_path / "cache", progress=False)
    assert second.smiles == first.smiles and second.labels.value.tolist() == first.labels.value.tolist()
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_csv(tmp_path / "nope.csv")
