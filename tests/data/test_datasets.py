"""Named datasets from the real data folder: counts, the embedded copy, the cache, downloads by checksum."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from graphmeta.data.api import load_dataset
from graphmeta.data.download import ChecksumError, DatasetNotFoundError
from graphmeta.data.featurize import LenientSanitizationWarning, MoleculeFeaturizer
from graphmeta.data.registry import REGISTRY, get_info, list_datasets

MOLECULENET_COUNTS = {  # name: (molecules, tasks, labels) from ../shared/data/SOURCES.md
    "tox21": (7831, 12, 93972 - 16026),
    "sider": (1427, 27, 1427 * 27),
    "clintox": (1478, 2, 2956),
    "bbbp": (2039, 1, 2039),
    "bace": (1513, 1, 1513),
    "esol": (1128, 1, 1128),
    "freesolv": (642, 1, 642),
    "lipophilicity": (4200, 1, 4200),
}


@pytest.mark.parametrize("name", sorted(MOLECULENET_COUNTS))
def test_moleculenet_counts(shared_data: Path, name: str) -> None:
    c = load_dataset(name, data_dir_override=shared_data, download=False, progress=False)
    n, t, labels = MOLECULENET_COUNTS[name]
    assert (c.n_graphs + len(c.skipped), c.n_tasks, c.labels.value.numel()) == (n, t, labels)
    assert len(c.skipped) == 0  # lenient sanitization keeps every molecule of these files
    assert c.task_type == ("regression" if name in ("esol", "freesolv", "lipophilicity") else "binary")
    assert c.source is not None and c.source.license and c.source.citation


@pytest.mark.slow
@pytest.mark.parametrize("name,n,t,labels", [("muv", 93087, 17, 1582479 - 1332593),
                                             ("toxcast", 8576, 617, 5291392 - 3757732),
                                             ("hiv", 41127, 1, 41127)])
def test_large_moleculenet_counts(shared_data: Path, name: str, n: int, t: int, labels: int) -> None:
    c = load_dataset(name, data_dir_override=shared_data, download=False, progress=False)
    assert (c.n_graphs + len(c.skipped), c.n_tasks, c.labels.value.numel()) == (n, t, labels)


def test_embedded_tox21_needs_no_data_dir(tmp_path: Path) -> None:
    c = load_dataset("tox21", data_dir_override=tmp_path / "empty", download=False, cache=False, progress=False)
    assert (c.n_graphs, c.n_tasks) == (7831, 12)
    assert c.task_names[:2] == ["NR-AR", "NR-AR-LBD"]


def test_builtin_rows_kept_by_lenient_sanitization_are_counted_and_named(tmp_path: Path) -> None:
    """Tox21's 8 aluminium compounds fail RDKit's valence check: the published dataset keeps them, and every load
    says so (count and first rows), from the cache too; sanitize='strict' skips them."""
    options = dict(data_dir_override=tmp_path / "empty", download=False, cache=tmp_path / "cache", progress=False)
    with pytest.warns(LenientSanitizationWarning, match=r"tox21\.csv\.gz: 8 of 7,831 molecules kept only by lenient "
                                                        r"sanitization \(RDKit's valence check skipped; row 1324, row "
                                                        r"2292, row 2299, \.\.\.\)"):
        c = load_dataset("tox21", **options)
    assert (c.n_graphs, len(c.skipped), c.notes.counts()) == (7831, 0, {"lenient_sanitization": 8})
    assert "rows kept with a caveat: 8 (8 lenient sanitization); first: tox21.csv.gz:row 1324" in c.summary()
    with pytest.warns(LenientSanitizationWarning, match=r"tox21: 8 of 7,831 .*tox21\.csv\.gz:row 1324"):
        cached = load_dataset("tox21", **options)
    assert cached.notes.entries == c.notes.entries
    strict = load_dataset("tox21", **{**options, "cache": False}, sanitize="strict")
    assert strict.n_graphs == 7823 and strict.skipped.counts() == {"invalid_smiles": 8} and len(strict.notes) == 0


def test_second_load_comes_from_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_dataset("tox21", data_dir_override=tmp_path, cache=tmp_path / "cache", progress=False)
    monkeypatch.setattr(MoleculeFeaturizer, "featurize_many",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-featurized")))
    second = load_dataset("tox21", data_dir_override=tmp_path, cache=tmp_path / "cache", progress=False)
    assert torch.equal(first.graphs.node_fields["x"], second.graphs.node_fields["x"])
    assert second.smiles == first.smiles
    # a different featurizer configuration is a different cache entry
    with pytest.raises(AssertionError, match="re-featurized"):
        load_dataset("tox21", data_dir_override=tmp_path, cache=tmp_path / "cache", progress=False,
                     featurizer=MoleculeFeaturizer(add_hydrogens=True))


def test_corrupt_cache_file_is_rebuilt(tmp_path: Path) -> None:
    load_dataset("tox21", data_dir_override=tmp_path, cache=tmp_path / "cache", progress=False)
    (cache_entry,) = (tmp_path / "cache").glob("tox21-*")
    cache_file = cache_entry / "collection.pt"
    cache_file.write_bytes(cache_file.read_bytes()[:1000])
    with pytest.warns(RuntimeWarning, match=r"unreadable cache entry.*collection\.pt cannot be read"):
        again = load_dataset("tox21", data_dir_override=tmp_path, cache=tmp_path / "cache", progress=False)
    assert again.n_graphs == 7831


def test_local_file_with_wrong_checksum_is_refused(tmp_path: Path) -> None:
    (tmp_path / "moleculenet").mkdir()
    (tmp_path / "moleculenet" / "sider.csv").write_text("smiles,a\nCCO,1\n")
    with pytest.raises(ChecksumError, match="sider.csv"):
        load_dataset("sider", data_dir_override=tmp_path, cache=False, progress=False)


def test_missing_without_download_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="moleculenet/sider.csv"):
        load_dataset("sider", data_dir_override=tmp_path, download=False, cache=False)


def test_download_from_url_with_checksum(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real download path, fed from a file:// mirror of the upstream files (no internet in tests)."""
    import dataclasses

    info = get_info("bbbp")
    mirror = (shared_data / "moleculenet" / "bbbp.csv").resolve()
    patched = dataclasses.replace(info, files=(dataclasses.replace(info.files[0], url=mirror.as_uri()),))
    monkeypatch.setitem(REGISTRY, "bbbp", patched)
    c = load_dataset("bbbp", data_dir_override=tmp_path / "data", cache=False, progress=False)
    local = tmp_path / "data" / "moleculenet" / "bbbp.csv"
    assert local.is_file() and hashlib.sha256(local.read_bytes()).hexdigest() == info.files[0].sha256
    assert c.n_graphs == 2039


def test_registry_entries_are_complete() -> None:
    names = list_datasets()
    for expected in ("tox21", "sider", "muv", "toxcast", "clintox", "bbbp", "bace", "hiv", "esol", "freesolv",
                     "lipophilicity", "fsmol", "ENZYMES", "TRIANGLES", "COIL-DEL", "ENZYMES-fewshot",
                     "fsmol-train-full", "moses"):
        assert expected in names
    for info in REGISTRY.values():
        assert info.license and info.citation and info.files
        for f in info.files:  # a URL to fetch it from, or (a derived file) the command that builds it
            assert (f.url.startswith("https://") or f.recipe.startswith("graphmeta data build")) and len(f.sha256) == 64
    with pytest.raises(KeyError, match="unknown dataset 'qm9'"):
        get_info("qm9")
    with pytest.raises(TypeError, match="unknown option"):
        load_dataset("tox21", split="train")


def test_registry_checksums_match_the_shared_manifest(shared_data: Path) -> None:
    manifest = {}
    for line in (shared_data / "MANIFEST.tsv").read_text().splitlines()[1:]:
        path, _, sha = line.split("\t")
        manifest[path] = sha
    for info in REGISTRY.values():
        for f in info.files:
            assert manifest[f.path] == f.sha256, f.path


def test_fsmol_through_load_dataset(shared_data: Path) -> None:
    c = load_dataset("fsmol", data_dir_override=shared_data, download=False, progress=False, splits=("valid",))
    assert c.n_tasks == 39 and c.task_groups == {"valid": list(range(39))}


@pytest.mark.parametrize("name,graphs,classes", [("ENZYMES", 600, 6), ("MUTAG", 188, 2), ("IMDB-BINARY", 1000, 2),
                                                 ("Letter-high", 2250, 15)])
def test_tu_through_load_dataset(shared_data: Path, name: str, graphs: int, classes: int) -> None:
    c = load_dataset(name, data_dir_override=shared_data, download=False, progress=False)
    assert c.n_graphs == graphs and len(c.classes()) == classes and c.task_type == "multiclass"


def test_gin_fewshot_carries_its_class_split(shared_data: Path) -> None:
    c = load_dataset("ENZYMES-fewshot", data_dir_override=shared_data, download=False, progress=False)
    assert c.n_graphs == 600 and c.task_groups == {"train": [1, 3, 5, 6], "test": [2, 4]}


@pytest.mark.slow
def test_triangles_all_splits(shared_data: Path) -> None:
    c = load_dataset("TRIANGLES", data_dir_override=shared_data, download=False, progress=False)
    assert c.n_graphs == 45000 and c.classes() == list(range(1, 11))
    val = load_dataset("TRIANGLES", data_dir_override=shared_data, download=False, progress=False, split="val")
    assert val.n_graphs == 5000 and val.name == "TRIANGLES-val"
