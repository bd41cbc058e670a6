"""User CSVs: column selection, strict label parsing, task-type detection, invalid SMILES skipped and counted."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from graphmeta.data.api import load_csv
from graphmeta.data.featurize import InvalidSmilesError, LenientSanitizationWarning, MoleculeFeaturizer
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


def test_user_csv_is_sanitized_strictly_unless_asked(tmp_path: Path) -> None:
    """A six-bonded carbon used to load as a valid molecule: now it is an invalid SMILES unless sanitize='lenient',
    which keeps it and names it."""
    path = _write(tmp_path, "smiles,y\nCCO,1\nC(C)(C)(C)(C)(C)C,0\nCN,0\n")
    with pytest.warns(RuntimeWarning, match="skipped 1 of 3 rows"):
        c = load_csv(path, cache=False, progress=False)
    assert c.smiles == ["CCO", "CN"] and c.skipped.counts() == {"invalid_smiles": 1} and len(c.notes) == 0
    assert c.skipped.entries[0][1] == "assay.csv:row 3" and "allowed valence" in c.skipped.entries[0][2]
    with pytest.raises(InvalidSmilesError, match=r"assay\.csv: row 3: .*allowed valence"):
        read_molecule_csv(path, on_invalid="raise", progress=False)
    with pytest.warns(RuntimeWarning, match="skipped 1 of 3 rows"):  # a featurizer's own default does not loosen it
        assert load_csv(path, featurizer=MoleculeFeaturizer(fingerprint_bits=16), cache=False, progress=False).n_graphs == 2
    with pytest.warns(LenientSanitizationWarning, match=r"assay\.csv: 1 of 3 molecules kept only by lenient "
                                                        r"sanitization \(RDKit's valence check skipped; row 3\)"):
        lenient = load_csv(path, sanitize="lenient", cache=tmp_path / "cache", progress=False)
    assert lenient.n_graphs == 3 and len(lenient.skipped) == 0
    assert lenient.notes.entries == [("lenient_sanitization", "assay.csv:row 3", "SMILES 'C(C)(C)(C)(C)(C)C' fails "
                                      "RDKit's valence check; kept by sanitize='lenient'")]
    with pytest.warns(LenientSanitizationWarning, match=r"assay: 1 of 3 .*assay\.csv:row 3"):  # cached: warned again
        again = load_csv(path, sanitize="lenient", cache=tmp_path / "cache", progress=False)
    assert again.notes.entries == lenient.notes.entries


@pytest.mark.parametrize("sep,name", [(";", "semicolons.csv"), ("\t", "tabs.tsv"), ("\t", "tabs.tsv.gz")])
def test_semicolon_and_tab_separated_files_are_detected(tmp_path: Path, sep: str, name: str) -> None:
    from graphmeta.data.loaders.csv import read_smiles_table

    text = sep.join(["id", "smiles", "toxic", "note"]) + "\n" + "\n".join(
        sep.join(row) for row in [("a", "CCO", "1", "x, y"), ("b", "c1ccccc1", "0", ""), ("c", "CC(=O)O", "1", "z")])
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            handle.write(text + "\n")
    else:
        path.write_text(text + "\n")
    frame, smiles, labels = read_smiles_table(path, label_column="toxic")
    assert list(frame.columns) == ["id", "smiles", "toxic", "note"] and smiles == ["CCO", "c1ccccc1", "CC(=O)O"]
    assert labels.tolist() == [1.0, 0.0, 1.0] and frame["note"].tolist() == ["x, y", "", "z"]
    collection = read_molecule_csv(path, smiles_column="smiles", target_columns=["toxic"])
    assert len(collection) == 3 and collection.task_names == ["toxic"]
