"""Memory-mapped graph stores: round trip, lazy mapping, clear errors on damaged files, same training losses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphmeta.safe_write import atomic_directory
from graphmeta.data.api import load_dataset
from graphmeta.data.arrayfiles import ArrayFileError
from graphmeta.data.graphs import GraphStore
from graphmeta.data.splits import par_split
from graphmeta.data.tasks import TaskCollection, TaskLabels
from graphmeta.train import MetaTrainer, TrainConfig


def _store() -> GraphStore:
    """Five small graphs (one without edges) with an int node field, a float node field and an edge field."""
    g = torch.Generator().manual_seed(1)
    graphs = []
    for n in (3, 1, 5, 2, 4):
        m = max(n - 1, 0)
        src = torch.arange(m)
        graphs.append(Data(x=torch.randint(0, 9, (n, 3), generator=g), pos=torch.randn(n, 2, generator=g),
                           edge_index=torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])]),
                           edge_attr=torch.randint(0, 4, (2 * m, 2), generator=g), num_nodes=n))
    return GraphStore.from_data_list(graphs)


def _assert_same_batch(a, b) -> None:
    """Field by field, dtypes included."""
    assert set(a.keys()) == set(b.keys()) and {"x", "edge_index", "edge_attr", "batch", "ptr"} <= set(a.keys())
    for key in a.keys():
        if torch.is_tensor(a[key]):
            assert a[key].dtype == b[key].dtype, key
            assert torch.equal(a[key], b[key]), key
    assert a.num_graphs == b.num_graphs and a.num_nodes == b.num_nodes


@pytest.fixture(scope="module")
def tox21() -> TaskCollection:
    return load_dataset("tox21", progress=False, cache=False)


@pytest.mark.parametrize("mmap", [True, False])
def test_saved_store_gathers_the_same_batch(tmp_path: Path, mmap: bool) -> None:
    store = _store()
    store.save(tmp_path / "store")
    again = GraphStore.load(tmp_path / "store", mmap=mmap)
    assert len(again) == len(store) and torch.equal(again.num_edges, store.num_edges)
    for ids in ([4, 0, 1, 4, 2], [1], [3, 3]):
        _assert_same_batch(again.gather(ids), store.gather(ids))
        assert "pos" in again.gather(ids).keys()
    assert torch.equal(again[2].pos, store[2].pos) and again[1].edge_index.shape == (2, 0)
    assert torch.equal(again.subset([2, 0]).gather([0, 1]).x, store.gather([2, 0]).x)


def test_real_collection_round_trip_is_mapped_and_copy_on_write(tox21: TaskCollection, tmp_path: Path) -> None:
    tox21.save(tmp_path / "tox21")
    mapped = TaskCollection.load(tmp_path / "tox21")
    assert mapped.smiles == tox21.smiles and mapped.task_names == tox21.task_names
    assert torch.equal(mapped.labels.graph, tox21.labels.graph) and torch.equal(mapped.labels.value, tox21.labels.value)
    ids = torch.from_numpy(np.random.default_rng(0).choice(tox21.n_graphs, 300))
    _assert_same_batch(mapped.graphs.gather(ids), tox21.graphs.gather(ids))
    maps = Path("/proc/self/maps")
    if maps.is_file():  # every field is the mapping of its file, not a copy in memory
        graphs = mapped.graphs
        for name, tensor in [("edge_index", graphs.edge_index), ("node.x", graphs.node_fields["x"]),
                             ("edge.edge_attr", graphs.edge_fields["edge_attr"])]:
            assert _mapping_of(maps, tensor.data_ptr()) == str(tmp_path / "tox21" / "graphs" / f"{name}.npy")
    original = tox21.graphs.node_fields["x"][0].clone()
    mapped.graphs.node_fields["x"][0] += 7  # a private copy of the page: the file is unchanged
    assert torch.equal(TaskCollection.load(tmp_path / "tox21").graphs.node_fields["x"][0], original)


def test_save_replaces_a_folder_atomically(tmp_path: Path) -> None:
    store = _store()
    store.save(tmp_path / "s")
    store.subset([0, 1]).save(tmp_path / "s")
    assert len(GraphStore.load(tmp_path / "s")) == 2

    def fail(folder: Path) -> None:
        (folder / "partial").write_text("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed"):
        atomic_directory(tmp_path / "s", fail)
    assert len(GraphStore.load(tmp_path / "s")) == 2  # the previous folder is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no temporary folder left behind


def _mapping_of(maps: Path, address: int) -> str | None:
    """The file mapped at ``address`` in this process (``/proc/self/maps``), ``None`` for anonymous memory."""
    for line in maps.read_text().splitlines():
        fields = line.split()
        start, end = (int(a, 16) for a in fields[0].split("-"))
        if start <= address < end:
            return fields[5] if len(fields) > 5 else None
    return None


def _saved(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    _store().save(folder)
    return folder


def test_missing_file_is_named(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    (folder / "edge.edge_attr.npy").unlink()
    with pytest.raises(ArrayFileError, match=r"edge\.edge_attr\.npy is missing"):
        GraphStore.load(folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(ArrayFileError, match=r"manifest\.json is missing"):
        GraphStore.load(folder)


@pytest.mark.parametrize("mmap", [True, False])
def test_truncated_file_is_named(tmp_path: Path, mmap: bool) -> None:
    folder = _saved(tmp_path)
    path = folder / "node.x.npy"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(ArrayFileError, match=r"node\.x\.npy is truncated: \d+ bytes, expected \d+"):
        GraphStore.load(folder, mmap=mmap)


def test_mismatched_or_foreign_file_is_named(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    np.save(folder / "edge_index.npy", np.zeros((2, 3), dtype=np.int64))  # an array of another store
    with pytest.raises(ArrayFileError, match=r"edge_index\.npy holds int64 of shape \(2, 3\), the manifest expects"):
        GraphStore.load(folder)
    shutil.rmtree(folder)
    folder = _saved(tmp_path)
    (folder / "node_ptr.npy").write_bytes(b"not an npy file at all")
    with pytest.raises(ArrayFileError, match=r"node_ptr\.npy is not a valid \.npy file"):
        GraphStore.load(folder)


def test_corrupt_bytes_are_caught_by_verify(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    path = folder / "edge.edge_attr.npy"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF  # same size, valid header: only the checksum can tell
    path.write_bytes(bytes(raw))
    assert len(GraphStore.load(folder)) == 5  # the cheap checks read headers and sizes only
    with pytest.raises(ArrayFileError, match=r"edge\.edge_attr\.npy is corrupt: its sha256"):
        GraphStore.load(folder, verify=True)


def test_files_that_do_not_fit_together_are_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    ptr = np.load(folder / "node_ptr.npy")
    ptr[2:4] = ptr[2:4][::-1].copy()  # a decreasing pointer, with the manifest updated to match the file
    (folder / "node_ptr.npy").unlink()
    np.save(folder / "node_ptr.npy", ptr)
    manifest["arrays"]["node_ptr"]["sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArrayFileError, match=r"store.*node_ptr must start at 0 and never decrease"):
        GraphStore.load(folder)


def test_collection_metadata_must_match_its_graphs(tox21: TaskCollection, tmp_path: Path) -> None:
    tox21.save(tmp_path / "a")
    small = TaskCollection(name="small", graphs=tox21.graphs.subset([0, 1, 2]),
                           labels=TaskLabels.from_tasks([(torch.tensor([0]), torch.tensor([1.0]))], 3),
                           task_names=["t"], task_type="binary")
    small.save(tmp_path / "b")
    shutil.copy(tmp_path / "b" / "collection.pt", tmp_path / "a" / "collection.pt")  # labels of 3 graphs
    with pytest.raises(ArrayFileError, match=r"collection\.pt does not match the graphs"):
        TaskCollection.load(tmp_path / "a")


def test_load_dataset_maps_its_cache_and_rebuilds_a_damaged_one(tmp_path: Path) -> None:
    first = load_dataset("tox21", data_dir_override=tmp_path, cache=tmp_path / "cache", progress=False)
    (entry,) = (tmp_path / "cache").glob("tox21-*")
    mapped = load_dataset("tox21", data_dir_override=tmp_path, cache=tmp_path / "cache", progress=False)
    in_memory = load_dataset("tox21", data_dir_override=tmp_path, cache=tmp_path / "cache", progress=False, mmap=False)
    ids = list(range(0, 7831, 97))
    _assert_same_batch(mapped.graphs.gather(ids), first.graphs.gather(ids))
    _assert_same_batch(in_memory.graphs.gather(ids), first.graphs.gather(ids))
    shard = entry / "graphs" / "edge_index.npy"
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.warns(RuntimeWarning, match=r"edge_index\.npy is truncated.*rebuilding"):
        again = load_dataset("tox21", data_dir_override=tmp_path, cache=tmp_path / "cache", progress=False)
    assert again.n_graphs == 7831
    assert len(GraphStore.load(entry / "graphs", verify=True)) == 7831  # the rebuilt entry is whole


def test_meta_training_from_the_mapped_store_gives_the_same_losses(tox21: TaskCollection, tmp_path: Path) -> None:
    tox21.save(tmp_path / "tox21")
    mapped = TaskCollection.load(tmp_path / "tox21")
    split = par_split(tox21).carve_validation(2, seed=0)
    config = TrainConfig(learner="protonet", steps=4, eval_every=2, hidden_channels=16, num_layers=2,
                         meta_batch_size=3, k_shot=2, n_query=8, val_draws=1, val_query=32, seed=5)
    results, weights = [], []
    for collection in (tox21, mapped):
        trainer = MetaTrainer(collection, split, config, progress=False)
        results.append(trainer.fit())
        weights.append(trainer.learner.state_dict())
    memory, mmap = results
    assert [h["train_loss"] for h in mmap.history] == [h["train_loss"] for h in memory.history]
    assert [h["val_roc_auc"] for h in mmap.history] == [h["val_roc_auc"] for h in memory.history]
    assert all(np.isfinite(h["train_loss"]) for h in memory.history)
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key
