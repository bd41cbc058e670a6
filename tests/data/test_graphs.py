"""GraphStore: vectorized gather equals PyG's Batch.from_data_list, validation, subset and round trip."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphmeta.data.graphs import GraphStore, segment_arange


def _graphs() -> list[Data]:
    g = torch.Generator().manual_seed(0)
    out = []
    for n in (3, 1, 4, 2):
        m = max(n - 1, 0)
        src = torch.arange(m)
        edge_index = torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])
        out.append(Data(x=torch.randint(0, 5, (n, 2), generator=g), edge_index=edge_index,
                        edge_attr=torch.randint(0, 3, (2 * m, 1), generator=g), num_nodes=n))
    return out


def test_segment_arange() -> None:
    assert segment_arange(torch.tensor([2, 0, 3])).tolist() == [0, 1, 0, 1, 2]


def test_gather_equals_batch_from_data_list() -> None:
    graphs = _graphs()
    store = GraphStore.from_data_list(graphs)
    ids = [2, 0, 2, 3, 1]
    got = store.gather(ids)
    ref = Batch.from_data_list([graphs[i] for i in ids])
    for key in ("x", "edge_index", "edge_attr", "batch", "ptr"):
        assert torch.equal(got[key], ref[key]), key
    assert got.num_graphs == len(ids)


def test_getitem_subset_concat_and_state_round_trip() -> None:
    graphs = _graphs()
    store = GraphStore.from_data_list(graphs)
    assert len(store) == 4 and store.num_nodes.tolist() == [3, 1, 4, 2]
    assert torch.equal(store[2].x, graphs[2].x) and torch.equal(store[-1].edge_index, graphs[3].edge_index)
    sub = store.subset([3, 0])
    assert torch.equal(sub[0].x, graphs[3].x) and torch.equal(sub[1].edge_attr, graphs[0].edge_attr)
    both = GraphStore.concat([store, sub])
    assert len(both) == 6 and torch.equal(both[5].x, graphs[0].x)
    again = GraphStore.from_state_dict(store.state_dict())
    assert torch.equal(again.gather([0, 1]).x, store.gather([0, 1]).x)
    with pytest.raises(IndexError):
        store[4]
    with pytest.raises(IndexError):
        store.gather([5])


def test_validation_catches_inconsistent_stores() -> None:
    good = GraphStore.from_data_list(_graphs()).state_dict()
    bad_edges = dict(good, edge_index=good["edge_index"].clone())
    bad_edges["edge_index"][0, 0] = 3  # graph 0 has 3 nodes: index 3 belongs to graph 1
    with pytest.raises(ValueError, match="outside its own graph"):
        GraphStore.from_state_dict(bad_edges)
    with pytest.raises(ValueError, match="node field 'x'"):
        GraphStore.from_state_dict(dict(good, node_fields={"x": torch.zeros(3, 2)}))
    with pytest.raises(ValueError, match="edge_ptr"):
        GraphStore.from_state_dict(dict(good, edge_ptr=good["edge_ptr"][:-1]))


def test_compact_store_narrows_dtypes_and_gathers_the_same_int64_batches(tmp_path) -> None:
    graphs = _graphs()
    graphs[1].x = graphs[1].x + 300  # a column value beyond uint8: that field must stay wider
    store = GraphStore.from_data_list(graphs)
    store.node_fields["t"] = torch.rand(int(store.node_ptr[-1]), 2)  # float fields are left alone
    small = store.compact()
    assert small.edge_index.dtype == torch.int16 and small.edge_fields["edge_attr"].dtype == torch.uint8
    assert small.node_fields["x"].dtype == torch.int16 and small.node_fields["t"].dtype == torch.float32
    ids = [3, 0, 2, 2, 1]
    for key in ("x", "edge_index", "edge_attr", "batch", "ptr", "t"):
        assert torch.equal(small.gather(ids)[key], store.gather(ids)[key]), key
        assert small.gather(ids)[key].dtype == store.gather(ids)[key].dtype, key
    assert torch.equal(small[2].edge_index, store[2].edge_index) and small[2].x.dtype == torch.int64
    mapped = GraphStore.load(small.save(tmp_path / "small"))
    assert mapped.edge_index.dtype == torch.int16 and torch.equal(mapped.gather(ids).x, store.gather(ids).x)
    assert torch.equal(GraphStore.concat([small, small.subset([1])]).gather([4]).x, store.gather([1]).x)
