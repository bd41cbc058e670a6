"""GAT, GraphSAGE and the readouts: equal to the matching torch_geometric modules with shared weights (float64,
a hand-made graph and a real Tox21 batch); expanded per-task weights equal shared ones; distinct per-task
weights route to the right task; reprs; bad arguments raise clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from torch.func import functional_call
from torch_geometric.nn import GATConv, SAGEConv
from torch_geometric.nn.aggr import AttentionalAggregation

from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler, collate_episodes, episode_rng
from graphmeta.nn import BatchLayout, FewShotModel, GATLayer, GraphEncoder, Readout, SAGELayer, TaskLayout

ATOL = 1e-12


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


@pytest.fixture(scope="module")
def episodes(tox21):
    """Three Tox21 tasks of different support sizes."""
    return [KShotSampler(k, n_query=3).sample(tox21, t, episode_rng(2, t)) for t, k in [(0, 1), (4, 3), (9, 2)]]


def _tiny_graph() -> tuple[torch.Tensor, torch.Tensor]:
    """A path 0-1-2-3, an existing self-loop on 0, a directed edge 4 -> 2 and an isolated node 5."""
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 0, 4], [1, 0, 2, 1, 3, 2, 0, 2]])
    return torch.randn(6, 8, dtype=torch.float64), edge_index


def _tox21_graph(tox21, channels: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random features on the real bonds of a batch of Tox21 molecules (node features, edge index, graph index)."""
    episodes = [KShotSampler(3, n_query=4).sample(tox21, t, episode_rng(1, t)) for t in (0, 2)]
    data = collate_episodes(tox21, episodes).support.batch
    return torch.randn(data.num_nodes, channels, dtype=torch.float64), data.edge_index, data.batch


def _gat_pair(in_channels: int, out_channels: int, heads: int) -> tuple[GATLayer, GATConv]:
    ours = GATLayer(in_channels, out_channels, heads=heads).double()
    with torch.no_grad():  # non-zero bias so it is checked too
        ours.bias.normal_()
    ref = GATConv(in_channels, out_channels, heads=heads).double()  # concat, self-loops, slope 0.2, no dropout
    with torch.no_grad():  # PyG 2.8: a shared `lin` (no bias) for source and target; att_* are [1, H, C]
        ref.lin.weight.copy_(ours.lin.weight)
        ref.att_src.copy_(ours.att_src.unsqueeze(0))
        ref.att_dst.copy_(ours.att_dst.unsqueeze(0))
        ref.bias.copy_(ours.bias)
    return ours, ref


@pytest.mark.parametrize("heads", [1, 3])
def test_gat_layer_equals_pyg_gatconv(tox21, heads: int) -> None:
    torch.manual_seed(0)
    ours, ref = _gat_pair(8, 5, heads)
    x, edge_index = _tiny_graph()
    out = ours(x, edge_index)
    assert out.shape == (6, 5 * heads)
    assert torch.allclose(out, ref(x, edge_index), atol=ATOL)
    x, edge_index, _ = _tox21_graph(tox21)
    loop_index = GATLayer.self_loop_index(edge_index, x.shape[0])
    assert torch.allclose(ours(x, edge_index, loop_index=loop_index), ref(x, edge_index), atol=ATOL)


def test_sage_layer_equals_pyg_sageconv(tox21) -> None:
    torch.manual_seed(0)
    ours = SAGELayer(8, 5).double()
    ref = SAGEConv(8, 5).double()  # mean aggregation, root weight, no normalization
    with torch.no_grad():
        ref.lin_l.weight.copy_(ours.lin_l.weight)
        ref.lin_l.bias.copy_(ours.lin_l.bias)
        ref.lin_r.weight.copy_(ours.lin_r.weight)
    assert ref.lin_r.bias is None
    x, edge_index = _tiny_graph()
    assert torch.allclose(ours(x, edge_index), ref(x, edge_index), atol=ATOL)
    x, edge_index, _ = _tox21_graph(tox21)
    assert torch.allclose(ours(x, edge_index), ref(x, edge_index), atol=ATOL)


def test_attention_readout_equals_pyg_attentional_aggregation(tox21) -> None:
    torch.manual_seed(0)
    ours = Readout("attention", 8).double()
    ref = AttentionalAggregation(gate_nn=torch.nn.Linear(8, 1)).double()
    ref.gate_nn.load_state_dict(ours.gate.state_dict())
    x, _ = _tiny_graph()
    batch = torch.tensor([0, 0, 0, 2, 2, 2])  # graph 1 has no nodes: zeros
    out = ours(x, batch, 3)
    assert torch.allclose(out, ref(x, batch, dim_size=3), atol=ATOL)
    assert torch.equal(out[1], torch.zeros(8, dtype=torch.float64))
    x, _, batch = _tox21_graph(tox21)
    n_graphs = int(batch.max()) + 1
    assert torch.allclose(ours(x, batch, n_graphs), ref(x, batch, dim_size=n_graphs), atol=ATOL)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_weight_free_readouts(mode: str) -> None:
    x = torch.arange(12, dtype=torch.float64).view(6, 2)
    batch = torch.tensor([0, 0, 1, 1, 1, 1])
    reduce = torch.sum if mode == "sum" else torch.mean
    expected = torch.stack([reduce(x[:2], 0), reduce(x[2:], 0)])
    readout = Readout(mode)
    assert list(readout.parameters()) == []
    assert torch.equal(readout(x, batch, 2), expected)


def _models() -> list[tuple[str, str]]:
    return [("gat", "mean"), ("sage", "mean"), ("gin", "attention"), ("gat", "attention")]


@pytest.mark.parametrize("conv,readout", _models())
def test_model_with_expanded_weights_equals_shared(episodes, tox21, conv: str, readout: str) -> None:
    torch.manual_seed(0)
    support = collate_episodes(tox21, episodes).support
    model = FewShotModel(GraphEncoder(conv=conv, hidden_channels=8, num_layers=2, readout=readout, heads=2)).double()
    layout = BatchLayout.of(support)
    stacked = {n: p.unsqueeze(0).expand(support.n_tasks, *p.shape) for n, p in model.named_parameters()}
    out = model(support, layout)
    assert out.shape == (support.batch.num_graphs, 2)
    assert torch.allclose(functional_call(model, stacked, (support, layout)), out, atol=ATOL)


@pytest.mark.parametrize("conv,readout", _models())
def test_distinct_per_task_weights_equal_each_task_alone(episodes, tox21, conv: str, readout: str) -> None:
    """Every task's rows (nodes, edges, graphs) use its own slice: per-task weights route correctly."""
    torch.manual_seed(0)
    model = FewShotModel(GraphEncoder(conv=conv, hidden_channels=8, num_layers=2, readout=readout, heads=2)).double()
    T = len(episodes)
    stacked = {n: p.detach().unsqueeze(0) + 0.1 * torch.randn(T, *p.shape, dtype=p.dtype)
               for n, p in model.named_parameters()}
    out = functional_call(model, stacked, (collate_episodes(tox21, episodes).support,))
    alone = [functional_call(model, {n: w[t] for n, w in stacked.items()},
                             (collate_episodes(tox21, [episodes[t]]).support,)) for t in range(T)]
    assert torch.allclose(out, torch.cat(alone), atol=ATOL)


def test_per_task_weights_need_a_layout() -> None:
    x, edge_index = _tiny_graph()
    layer = GATLayer(8, 4, heads=2).double()
    att = layer.att_src.detach().unsqueeze(0).expand(2, 2, 4)
    with pytest.raises(ValueError, match="TaskLayout"):
        functional_call(layer, {"att_src": att}, (x, edge_index))
    layout = TaskLayout.from_row_task(torch.tensor([0, 0, 0, 0, 1, 1]), 2)
    assert functional_call(layer, {"att_src": att}, (x, edge_index, None, layout)).shape == (6, 8)
    gate = Readout("attention", 8).double()
    with pytest.raises(ValueError, match="TaskLayout"):
        functional_call(gate, {"gate.weight": gate.gate.weight.detach().expand(2, 1, 8)},
                        (x, torch.zeros(6, dtype=torch.long), 1))


def test_reprs() -> None:
    assert repr(GATLayer(8, 4)) == "GATLayer(8, 4, heads=1)"
    assert repr(GATLayer(8, 4, heads=2)) == "GATLayer(8, 4, heads=2)"
    assert repr(SAGELayer(8, 5)) == "SAGELayer(8, 5, aggr=mean)"
    assert repr(Readout()) == "Readout('mean')"
    assert repr(Readout("attention", 8)) == "Readout('attention', channels=8)"


@pytest.mark.parametrize("make,message", [
    (lambda: GATLayer(0, 4), "in_channels must be a positive integer"),
    (lambda: GATLayer(8, 4, heads=0), "heads must be a positive integer"),
    (lambda: GATLayer(8, 4, negative_slope=-0.1), "negative_slope"),
    (lambda: SAGELayer(8, -1), "out_channels must be a positive integer"),
    (lambda: Readout("max"), "readout must be one of"),  # type: ignore[arg-type]
    (lambda: Readout("attention"), "attention readout needs channels"),
    (lambda: GraphEncoder(conv="gatv2"), "conv must be one of"),  # type: ignore[arg-type]
    (lambda: GraphEncoder(readout="max"), "readout must be one of"),  # type: ignore[arg-type]
    (lambda: GraphEncoder(conv="gat", hidden_channels=10, heads=4), "positive divisor of hidden_channels"),
])
def test_bad_arguments_raise(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("conv", ["gin", "gcn", "gat", "sage"])
def test_config_is_json_safe_and_rebuilds(conv: str) -> None:
    encoder = GraphEncoder(conv=conv, hidden_channels=8, num_layers=2, readout="attention", heads=2)
    config = json.loads(json.dumps(encoder.config))
    assert config["conv"] == conv and config["readout"] == "attention" and config["heads"] == 2
    rebuilt = GraphEncoder(**config)
    assert rebuilt.config == encoder.config
    shapes = {n: p.shape for n, p in encoder.state_dict().items()}
    assert {n: p.shape for n, p in rebuilt.state_dict().items()} == shapes
    uses_bonds = any(n.startswith("bond_encoders.") for n in encoder.state_dict())
    assert uses_bonds == (conv == "gin")
