"""FS-Mol loader: a hand-written tiny dataset (exact labels, de-duplication, skip reasons), malformed files,
and the real staged data (task counts, the rows invariant, the official split)."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from graphmeta.data.featurize import MoleculeFeaturizer
from graphmeta.data.loaders.fsmol import FSMolFormatError, load_fsmol, read_fsmol_task

HEAVY = {"Assay_ID": "CHEMBL0", "fingerprints": [0, 1, 0], "graph": {"adjacency_lists": [[[0, 1]], [], []],
                                                                      "node_features": [[0.0, 1.0], [1.0, 0.0]]}}


def record(smiles: Any, prop: Any, **extra: Any) -> dict[str, Any]:
    return {"SMILES": smiles, "Property": prop, **HEAVY, **extra}


def write_task(path: Path, rows: list[Any]) -> Path:
    """Writes rows (dicts become JSON lines, strings are written verbatim) as a gzip JSON-lines file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


# rows per task (line numbers are 1-based)
TASK1 = [  # train/CHEMBL1
    record("CCO", "1.0"),  # 1
    record("c1ccccc1", "0.0"),  # 2
    record("CCO", "1.0"),  # 3 duplicate_in_task (same label as line 1)
    {"graph": HEAVY["graph"], "Property": 1, "SMILES": "CCN"},  # 4 other key order, numeric label
    record("CCC", "0.0"),  # 5 conflicting_labels
    record("CCC", "1.0"),  # 6 conflicting_labels
]
TASK2 = [  # train/CHEMBL2
    record("c1ccccc1", "1.0"),  # 1 shared with CHEMBL1 (another label in another task is fine)
    record("C1CC", "0.0"),  # 2 invalid_smiles (unclosed ring)
    record("CC(=O)O", 0.0),  # 3
]
TASK3 = [  # test/CHEMBL3
    record("CCO", "0.0"),  # 1 shared with CHEMBL1
    record("C1CC", "1.0"),  # 2 invalid_smiles
    "",  # 3 blank line: not a row
    record("CCCl", "1.0"),  # 4
]
N_ROWS = len(TASK1) + len(TASK2) + len(TASK3) - 1


@pytest.fixture()
def tiny_root(tmp_path: Path) -> Path:
    root = tmp_path / "fsmol"
    write_task(root / "train" / "CHEMBL2.jsonl.gz", TASK2)  # written first: listing order must not matter
    write_task(root / "train" / "CHEMBL1.jsonl.gz", TASK1)
    write_task(root / "test" / "CHEMBL3.jsonl.gz", TASK3)
    return root


def task_dict(collection, t: int) -> dict[str, float]:
    graphs, values = collection.labels.task(t)
    return {collection.smiles[g]: v for g, v in zip(graphs.tolist(), values.tolist())}


# -- read_fsmol_task -----------------------------------------------------------------------------------------
def test_read_task_dedups_within_task(tiny_root: Path) -> None:
    path = tiny_root / "train" / "CHEMBL1.jsonl.gz"
    smiles, labels, skipped = read_fsmol_task(path)
    assert smiles == ["CCO", "c1ccccc1", "CCN"]
    assert labels == [1.0, 0.0, 1.0]
    assert skipped.counts() == {"duplicate_in_task": 1, "conflicting_labels": 2}
    assert [where for _, where, _ in skipped.entries] == [f"{path}:line {n}" for n in (3, 5, 6)]
    assert len(smiles) + len(skipped) == len(TASK1)


def test_read_task_keeps_invalid_smiles_for_the_loader(tiny_root: Path) -> None:
    smiles, labels, skipped = read_fsmol_task(str(tiny_root / "train" / "CHEMBL2.jsonl.gz"))
    assert smiles == ["c1ccccc1", "C1CC", "CC(=O)O"] and labels == [1.0, 0.0, 0.0] and len(skipped) == 0


# -- load_fsmol on the tiny dataset --------------------------------------------------------------------------
def test_load_tiny_exact(tiny_root: Path) -> None:
    c = load_fsmol(tiny_root, ("train", "test"), progress=False)
    assert c.name == "fsmol" and c.task_type == "binary"
    assert c.task_names == ["CHEMBL1", "CHEMBL2", "CHEMBL3"]
    assert c.task_groups == {"train": [0, 1], "test": [2]}
    # one graph per unique valid SMILES, in first-seen order over the tasks
    assert c.smiles == ["CCO", "c1ccccc1", "CCN", "CC(=O)O", "CCCl"]
    assert c.n_graphs == 5
    assert task_dict(c, 0) == {"CCO": 1.0, "c1ccccc1": 0.0, "CCN": 1.0}
    assert task_dict(c, 1) == {"c1ccccc1": 1.0, "CC(=O)O": 0.0}
    assert task_dict(c, 2) == {"CCO": 0.0, "CCCl": 1.0}
    assert c.skipped.counts() == {"duplicate_in_task": 1, "conflicting_labels": 2, "invalid_smiles": 2}
    assert c.labels.value.numel() + len(c.skipped) == N_ROWS


def test_load_tiny_skip_locations_and_graphs(tiny_root: Path) -> None:
    c = load_fsmol(tiny_root, ("train", "test"), progress=False)
    where = {(reason, w) for reason, w, _ in c.skipped.entries}
    assert where == {
        ("duplicate_in_task", "train/CHEMBL1.jsonl.gz:line 3"),
        ("conflicting_labels", "train/CHEMBL1.jsonl.gz:line 5"),
        ("conflicting_labels", "train/CHEMBL1.jsonl.gz:line 6"),
        ("invalid_smiles", "train/CHEMBL2.jsonl.gz:line 2"),
        ("invalid_smiles", "test/CHEMBL3.jsonl.gz:line 2"),
    }
    assert all(detail for _, _, detail in c.skipped.entries)
    featurizer = MoleculeFeaturizer()
    for i, smiles in enumerate(c.smiles):
        expected = featurizer(smiles)
        assert torch.equal(c.graphs[i].x, expected.x) and torch.equal(c.graphs[i].edge_index, expected.edge_index)
    assert c.featurizer == featurizer.cache_key


def test_load_tiny_source_hashes(tiny_root: Path) -> None:
    c = load_fsmol(tiny_root, ("test", "train"), progress=False)
    assert c.task_names == ["CHEMBL3", "CHEMBL1", "CHEMBL2"]  # split order follows `splits`
    assert c.task_groups == {"test": [0], "train": [1, 2]}
    assert c.source is not None and c.source.name == "fsmol"
    assert c.source.files == {
        rel: hashlib.sha256((tiny_root / rel).read_bytes()).hexdigest()
        for rel in ("test/CHEMBL3.jsonl.gz", "train/CHEMBL1.jsonl.gz", "train/CHEMBL2.jsonl.gz")
    }


def test_single_class_task_is_kept(tmp_path: Path) -> None:
    write_task(tmp_path / "test" / "CHEMBL9.jsonl.gz", [record("CCO", "1.0"), record("CCN", "1.0")])
    c = load_fsmol(tmp_path, ("test",), progress=False)
    assert c.n_tasks == 1 and c.labels.value.tolist() == [1.0, 1.0]


def test_task_files_override(tiny_root: Path) -> None:
    files = {"train": [tiny_root / "train" / "CHEMBL2.jsonl.gz"]}
    c = load_fsmol(tiny_root, ("train", "test"), progress=False, task_files=files)
    assert c.task_names == ["CHEMBL2", "CHEMBL3"]
    assert c.task_groups == {"train": [0], "test": [1]}


def test_missing_or_empty_split(tiny_root: Path) -> None:
    with pytest.raises(FileNotFoundError, match="valid"):
        load_fsmol(tiny_root, ("train", "valid"), progress=False)
    (tiny_root / "valid").mkdir()
    with pytest.raises(FileNotFoundError, match="valid"):
        load_fsmol(tiny_root, ("valid",), progress=False)


def test_same_task_in_two_splits_is_refused(tiny_root: Path) -> None:
    write_task(tiny_root / "test" / "CHEMBL1.jsonl.gz", TASK1)
    with pytest.raises(ValueError, match="CHEMBL1"):
        load_fsmol(tiny_root, ("train", "test"), progress=False)


# -- malformed files -----------------------------------------------------------------------------------------
def test_truncated_gzip(tmp_path: Path) -> None:
    good = write_task(tmp_path / "good.jsonl.gz", [record("CCO", "1.0")] * 50)
    bad = tmp_path / "CHEMBL7.jsonl.gz"
    bad.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(FSMolFormatError, match="CHEMBL7.jsonl.gz.*(corrupt|truncated)"):
        read_fsmol_task(bad)


def test_not_gzip(tmp_path: Path) -> None:
    bad = tmp_path / "test" / "CHEMBL8.jsonl.gz"
    bad.parent.mkdir()
    bad.write_text(json.dumps(record("CCO", "1.0")) + "\n")
    with pytest.raises(FSMolFormatError, match="CHEMBL8.jsonl.gz"):
        load_fsmol(tmp_path, ("test",), progress=False)


@pytest.mark.parametrize("line, message", [
    ('{"SMILES": "CCO", "Property": ', "not valid JSON"),
    ("not json at all", "not valid JSON"),
    ('{"SMILES": "CCO", "Property": "1.0", "graph": {"node_features": [[0.0, 1.0', "not valid JSON"),
    ('["CCO", "1.0"]', "JSON object"),
    ('{"SMILES": "CCO", "fingerprints": [0, 1]}', "Property"),
    ('{"Property": "1.0"}', "SMILES"),
    ('{"SMILES": null, "Property": "1.0"}', "SMILES"),
    ('{"SMILES": "CCO", "Property": "0.5"}', "not a binary label"),
    ('{"SMILES": "CCO", "Property": 2}', "not a binary label"),
    ('{"SMILES": "CCO", "Property": ""}', "not a binary label"),
    ('{"SMILES": "CCO", "Property": true}', "not a binary label"),
])
def test_bad_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write_task(tmp_path / "CHEMBL5.jsonl.gz", [record("CCN", "0.0"), line, record("CCC", "1.0")])
    with pytest.raises(FSMolFormatError, match=message) as info:
        read_fsmol_task(path)
    assert "CHEMBL5.jsonl.gz: line 2:" in str(info.value)
    assert info.value.line == 2 and info.value.path == str(path)


def test_numeric_and_string_labels_are_equivalent(tmp_path: Path) -> None:
    rows = [record("C", "0"), record("CC", 1), record("CCC", 0.0), record("CCCC", " 1.0 ")]
    assert read_fsmol_task(write_task(tmp_path / "t.jsonl.gz", rows))[1] == [0.0, 1.0, 0.0, 1.0]


# -- real data -----------------------------------------------------------------------------------------------
def fsmol_root(shared_data: Path) -> Path:
    root = shared_data / "fsmol"
    if not (root / "test").is_dir():
        pytest.skip("FS-Mol is not in the shared data folder")
    return root


def count_lines(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with gzip.open(path, "rb") as handle:
            total += sum(1 for line in handle if line.strip())
    return total


@pytest.fixture(scope="module")
def fsmol_test(shared_data: Path):
    return load_fsmol(fsmol_root(shared_data), ("test",), progress=False)


@pytest.mark.slow
def test_real_test_split(shared_data: Path, fsmol_test) -> None:
    c = fsmol_test
    files = sorted((fsmol_root(shared_data) / "test").glob("*.jsonl.gz"))
    assert c.n_tasks == 157 and c.task_groups == {"test": list(range(157))}
    assert c.task_names == [f.name[: -len(".jsonl.gz")] for f in files]
    assert count_lines(files) == 56_220
    assert c.labels.value.numel() + len(c.skipped) == 56_220  # nothing dropped silently
    assert set(c.skipped.counts()) <= {"duplicate_in_task", "conflicting_labels", "invalid_smiles"}
    counts = c.labels.task_ptr[1:] - c.labels.task_ptr[:-1]
    assert int(counts.min()) >= 16
    assert len(set(c.smiles)) == c.n_graphs  # one graph per unique SMILES
    assert set(c.labels.value.unique().tolist()) <= {0.0, 1.0}
    assert set(c.source.files) == {f"test/{f.name}" for f in files}


@pytest.mark.slow
def test_real_labels_match_read_fsmol_task(shared_data: Path, fsmol_test) -> None:
    """Spot check: a task's labels in the collection are exactly the file's kept rows with valid SMILES."""
    c = fsmol_test
    for t in (0, 78, 156):
        smiles, labels, _ = read_fsmol_task(fsmol_root(shared_data) / "test" / f"{c.task_names[t]}.jsonl.gz")
        expected = {s: v for s, v in zip(smiles, labels) if s in set(c.smiles)}
        assert task_dict(c, t) == expected


@pytest.mark.slow
def test_real_valid_split(shared_data: Path) -> None:
    root = fsmol_root(shared_data)
    files = sorted((root / "valid").glob("*.jsonl.gz"))
    c = load_fsmol(root, ("valid",), progress=False)
    assert c.n_tasks == 39 and c.task_groups == {"valid": list(range(39))}
    assert c.labels.value.numel() + len(c.skipped) == count_lines(files)


@pytest.mark.slow
def test_fast_line_parser_agrees_with_json(shared_data: Path) -> None:
    """The parser decodes only the leading keys of each line; it must agree with a full ``json.loads``."""
    for path in sorted((fsmol_root(shared_data) / "test").glob("*.jsonl.gz"))[:6]:
        rows = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8") if line.strip()]
        pairs: dict[str, set[float]] = {}
        for row in rows:
            pairs.setdefault(row["SMILES"], set()).add(float(row["Property"]))
        smiles, labels, skipped = read_fsmol_task(path)
        assert len(smiles) + len(skipped) == len(rows)
        assert dict(zip(smiles, labels)) == {s: v.pop() for s, v in pairs.items() if len(v) == 1}


def test_official_split_matches_the_data_folders(shared_data: Path) -> None:
    root = fsmol_root(shared_data)
    official = json.loads((root / "fsmol-0.1.json").read_text())
    stems = {split: {f.name[: -len(".jsonl.gz")] for f in (root / split).glob("*.jsonl.gz")}
             for split in ("train", "valid", "test")}
    assert len(stems["test"]) == 157 and stems["test"] == set(official["test"])
    assert stems["valid"] <= set(official["valid"]) and len(stems["valid"]) == 39
    assert stems["train"] <= set(official["train"])
    assert not (stems["train"] & stems["valid"] or stems["train"] & stems["test"] or stems["valid"] & stems["test"])
