"""Pretraining corpora: sharded, resumable featurization, de-duplication and FS-Mol evaluation molecules removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from rdkit import Chem

from graphmeta.cli.main import main
from graphmeta.data import corpus as corpus_module
from graphmeta.data.corpus import build_corpus, corpus_source, fsmol_evaluation_smiles, load_corpus_dir
from graphmeta.data.featurize import MoleculeFeaturizer

SMILES = ["CCO", "OCC", "c1ccccc1", "not a smiles", "CC(=O)O", "CCN", "C1CC1", "CC(C)C", "[Na+].[Cl-]", "CCCC"]


def _csv(path: Path, smiles: list[str]) -> Path:
    path.write_text("SMILES\n" + "".join(f"{s}\n" for s in smiles))
    return path


def test_corpus_from_csvs_dedups_counts_and_matches_the_featurizer(tmp_path: Path) -> None:
    first = _csv(tmp_path / "a.csv", SMILES)
    second = _csv(tmp_path / "b.csv", ["CCCC", "C(C)CC", "O=C=O"])  # two repeats of a.csv's CCCC, one new
    folder = build_corpus([str(first), str(second)], tmp_path / "corpus", exclude=(), shard_size=4, n_jobs=2,
                          progress=False)
    record = json.loads((folder / "corpus.json").read_text())
    assert record["invalid"] == 1 and "3" in record["invalid_first"]  # row 3 of the corpus: 'not a smiles'
    assert record["sources"]["a.csv"] == {**record["sources"]["a.csv"], "rows": 10, "invalid": 1, "duplicates": 1,
                                          "kept": 8}  # OCC is CCO
    assert record["sources"]["b.csv"]["duplicates"] == 2 and record["sources"]["b.csv"]["kept"] == 1
    corpus = load_corpus_dir(folder)
    expected = ["CCO", "c1ccccc1", "CC(=O)O", "CCN", "C1CC1", "CC(C)C", "[Na+].[Cl-]", "CCCC", "O=C=O"]
    assert corpus.smiles == [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in expected]
    assert corpus.sources == {"a.csv": 8, "b.csv": 1} and not (folder / "shards").exists()
    reference = MoleculeFeaturizer().featurize_many(expected)[0]
    from graphmeta.data.graphs import GraphStore

    want = GraphStore.from_featurized(reference).gather(list(range(len(expected))))
    got = corpus.graphs.gather(list(range(len(expected))))
    for key in ("x", "edge_index", "edge_attr", "batch"):
        assert torch.equal(got[key], want[key]), key


def test_interrupted_build_resumes_at_the_first_missing_shard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _csv(tmp_path / "a.csv", [f"C{'C' * n}O" for n in range(12)])
    written: list[int] = []
    real = corpus_module._write_shard

    def crash_on_third(folder, featurizer, smiles, start, workers):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(start)
        real(folder, featurizer, smiles, start, workers)

    monkeypatch.setattr(corpus_module, "_write_shard", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        build_corpus([str(source)], tmp_path / "c", exclude=(), shard_size=4, n_jobs=None, progress=False)
    with pytest.raises(FileNotFoundError, match="interrupted build: run the build again to resume"):
        load_corpus_dir(tmp_path / "c")
    monkeypatch.setattr(corpus_module, "_write_shard", lambda *a: (written.append(a[3]), real(*a)))
    folder = build_corpus([str(source)], tmp_path / "c", exclude=(), shard_size=4, n_jobs=None, progress=False)
    assert written == [0, 4, 8]  # the third shard only, on the second run
    record = json.loads((folder / "corpus.json").read_text())
    assert record["molecules_featurized_this_run"] == 4 and len(load_corpus_dir(folder)) == 12


@pytest.mark.slow
def test_fsmol_evaluation_molecules_are_removed(shared_data: Path, tmp_path: Path) -> None:
    held = fsmol_evaluation_smiles(shared_data, download=False, progress=False)
    assert len(held) > 30000
    some = sorted(held)[:3]
    source = _csv(tmp_path / "mix.csv", some + ["CCO", "CCN"])
    folder = build_corpus([str(source)], tmp_path / "c", shard_size=100, n_jobs=None, data_dir=shared_data,
                          download=False, progress=False)
    record = json.loads((folder / "corpus.json").read_text())
    assert record["excluded_evaluation"] == 3 and load_corpus_dir(folder).smiles == ["CCO", "CCN"]


@pytest.mark.slow
def test_registered_sources_and_cli(shared_data: Path, tmp_path: Path) -> None:
    moses = corpus_source("moses", shared_data, download=False, progress=False)
    assert len(moses.smiles) == 1_584_663 + 176_074
    table = corpus_source("fsmol-train-full", shared_data, download=False, progress=False)
    assert len(table.smiles) == 207_223
    out = tmp_path / "cli"
    assert main(["data", "corpus", "moses", "--out", str(out), "--limit", "300", "--shard-size", "200",
                 "--data-dir", str(shared_data), "--no-progress"]) == 0
    record = json.loads((out / "corpus.json").read_text())
    assert record["sources"]["moses"]["rows"] == 300 and record["molecules"] + record["excluded_evaluation"] \
        + record["duplicates"] + record["invalid"] == 300
