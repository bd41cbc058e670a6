"""Layers: equal to the matching torch_geometric layer with shared weights; stacked weights equal per-task
shared runs; per-task normalization equals BatchNorm on each task alone."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import GCNConv, GINEConv

from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler, collate_episodes, episode_rng
from graphmeta.nn import BatchLayout, FewShotModel, GCNLayer, GINELayer, GraphEncoder, TaskLayout, TaskNorm
from graphmeta.nn.taskbatch import choose_chunk_size, task_embedding, task_linear


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


def _tiny_graph() -> tuple[torch.Tensor, torch.Tensor]:
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    return torch.randn(4, 8, dtype=torch.float64), edge_index


def test_gine_layer_equals_pyg_gineconv() -> None:
    torch.manual_seed(0)
    x, edge_index = _tiny_graph()
    edge_emb = torch.randn(edge_index.shape[1], 8, dtype=torch.float64)
    ours = GINELayer(8, eps=0.25, train_eps=True).double()
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8)).double()
    ref = GINEConv(mlp, eps=0.25, train_eps=True).double()  # (its constructor re-initializes mlp)
    mlp[0].load_state_dict(ours.lin1.state_dict())
    mlp[2].load_state_dict(ours.lin2.state_dict())
    assert torch.allclose(ours(x, edge_index, edge_emb), ref(x, edge_index, edge_emb), atol=1e-12)
    assert repr(ours) == "GINELayer(8, hidden=16)"


def test_gcn_layer_equals_pyg_gcnconv() -> None:
    torch.manual_seed(0)
    x, edge_index = _tiny_graph()
    ours = GCNLayer(8, 5).double()
    ref = GCNConv(8, 5).double()
    ref.lin.weight.data.copy_(ours.lin.weight)
    ref.bias.data.copy_(ours.lin.bias)
    assert torch.allclose(ours(x, edge_index), ref(x, edge_index), atol=1e-12)
    assert repr(ours) == "GCNLayer(8, 5)"


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 3, 5])
def test_task_linear_equal_per_task_for_every_block_size(chunk_size: int | None) -> None:
    torch.manual_seed(0)
    row_task = torch.tensor([0, 0, 0, 1, 3, 3, 3, 3, 3])  # task 2 has no rows
    layout = TaskLayout.from_row_task(row_task, 4, chunk_size=chunk_size)
    x = torch.randn(9, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 5, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    out = task_linear(x, w, b, layout)
    expected = torch.stack([x[i] @ w[t].T + b[t] for i, t in enumerate(row_task.tolist())])
    assert torch.allclose(out, expected, atol=1e-12)
    assert layout.pad(x).shape == (layout.n_chunks, layout.chunk_size, 4)
    assert torch.equal(layout.unpad(layout.pad(x)), x)
    grads = torch.autograd.grad(out.square().sum(), (x, w, b))
    ref_grads = torch.autograd.grad(expected.square().sum(), (x, w, b))
    assert all(torch.allclose(g, r, atol=1e-12) for g, r in zip(grads, ref_grads))
    assert grads[1][2].abs().sum() == 0  # the empty task gets no gradient


def test_choose_chunk_size_trades_padding_for_gathers() -> None:
    assert choose_chunk_size([10, 10, 10], gather_cost_rows=8) == 10  # equal tasks: one block each
    assert choose_chunk_size([150, 20, 20, 20, 20, 20], gather_cost_rows=8) == 24  # one big task: cut it
    assert choose_chunk_size([150, 20, 20, 20, 20, 20], gather_cost_rows=1e6) == 150  # gathers dear: no cut
    assert choose_chunk_size([3, 5]) == 5 and choose_chunk_size([]) == 1


def test_task_linear_and_embedding_stacked_equal_shared_per_task() -> None:
    torch.manual_seed(0)
    row_task = torch.tensor([0, 0, 0, 1, 2, 2])
    layout = TaskLayout.from_row_task(row_task, 3)
    assert layout.n_chunks == 3 and layout.extra_task is None and layout.chunk_size == 3
    x = torch.randn(6, 4, dtype=torch.float64)
    w, b = torch.randn(3, 5, 4, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    out = task_linear(x, w, b, layout)
    for t in range(3):
        rows = row_task == t
        assert torch.allclose(out[rows], task_linear(x[rows], w[t], b[t], None))
    assert torch.allclose(task_linear(x, w[0], b, layout)[3], x[3] @ w[0].T + b[1])  # shared weight, per-task bias
    table = torch.randn(3, 7, 2)
    idx = torch.randint(0, 7, (6, 3))
    emb = task_embedding(idx, table, layout)  # the 3 column embeddings of a row are summed
    assert torch.allclose(emb[4], table[2][idx[4]].sum(0))
    assert torch.allclose(task_embedding(idx, table[1], None)[0], table[1][idx[0]].sum(0))
    with torch.no_grad():  # the inference path (fused embedding_bag) equals the differentiable one
        assert torch.allclose(task_embedding(idx, table[1], None), table[1][idx].sum(1))
    repeated = torch.tensor([[1, 1], [2, 3]])
    assert torch.allclose(task_embedding(repeated, table[:2], TaskLayout.from_row_task(torch.tensor([0, 1]), 2))[0],
                          2 * table[0][1])
    with pytest.raises(ValueError, match="TaskLayout"):
        task_linear(x, w, None, None)
    empty = TaskLayout.from_row_task(torch.zeros(0, dtype=torch.long), 3)  # e.g. the bonds of bond-free molecules
    for index in (torch.zeros(0, 4, dtype=torch.long), torch.zeros(0, dtype=torch.long)):
        assert task_embedding(index, table, empty).shape == (0, 2)
        assert task_embedding(index, table[0], None).shape == (0, 2)


def test_maml_adapts_to_a_support_without_any_bond() -> None:
    """Per-task bond embedding tables on a meta-batch with no edges at all (salts, single atoms)."""
    from graphmeta import FewShotClassifier

    clf = FewShotClassifier("tox21-maml", head="maml").fit(["C", "[Na+].[Cl-]"], [0, 1])
    proba = clf.predict_proba(["CCO", "O", "[K+].[Br-]"])
    assert proba.shape == (3, 2) and torch.isfinite(torch.as_tensor(proba)).all()


def test_task_norm_equals_batchnorm_per_task() -> None:
    torch.manual_seed(0)
    row_task = torch.tensor([0] * 5 + [1] * 3)
    x = torch.randn(8, 4, dtype=torch.float64)
    norm = TaskNorm(4, "task").double()
    out = norm(x, TaskLayout.from_row_task(row_task, 2))
    bn = torch.nn.BatchNorm1d(4, track_running_stats=False).double().train()
    for t in range(2):
        assert torch.allclose(out[row_task == t], bn(x[row_task == t]), atol=1e-12)
    with pytest.raises(ValueError, match="norm mode"):
        TaskNorm(4, "batch")  # type: ignore[arg-type]


def test_running_norm_changes_only_when_asked() -> None:
    x = torch.randn(6, 3) * 3 + 1
    layout = TaskLayout.from_row_task(torch.tensor([0, 0, 0, 1, 1, 1]), 2)
    norm = TaskNorm(3, "running", momentum=0.5)
    norm(x, layout)
    assert torch.equal(norm.running_mean, torch.zeros(3))
    norm.update_running_stats(x, layout)
    assert not torch.equal(norm.running_mean, torch.zeros(3))


@pytest.mark.parametrize("conv", ["gin", "gcn"])
def test_model_with_expanded_weights_equals_shared(tox21, conv: str) -> None:
    from torch.func import functional_call

    torch.manual_seed(0)
    episodes = [KShotSampler(2, n_query=3).sample(tox21, t, episode_rng(1, t)) for t in (0, 5)]
    support = collate_episodes(tox21, episodes).support
    model = FewShotModel(GraphEncoder(conv=conv, hidden_channels=8, num_layers=2)).double()
    stacked = {n: p.unsqueeze(0).expand(2, *p.shape) for n, p in model.named_parameters()}
    layout = BatchLayout.of(support)
    assert torch.allclose(functional_call(model, stacked, (support, layout)), model(support, layout), atol=1e-12)
    assert model(support).shape == (support.batch.num_graphs, 2)


def test_tu_style_inputs(tox21) -> None:
    """Degree and continuous inputs work without categorical atom features (featureless TU graphs)."""
    torch.manual_seed(0)
    episodes = [KShotSampler(1, n_query=2).sample(tox21, 0, episode_rng(0))]
    support = collate_episodes(tox21, episodes).support
    support.batch.node_attr = torch.randn(support.batch.num_nodes, 3)
    encoder = GraphEncoder(atom_vocab=None, bond_vocab=None, node_attr_channels=3, degree_vocab=6, hidden_channels=8,
                           num_layers=2)
    assert encoder(support).shape == (2, 8)
    with pytest.raises(ValueError, match="node input"):
        GraphEncoder(atom_vocab=None, bond_vocab=None)


def test_model_code_does_not_import_a_chemistry_toolkit() -> None:
    """The backbone's default vocabulary sizes come from graphmeta.data.vocab, not the RDKit featurizer."""
    import subprocess
    import sys

    script = "import sys, graphmeta.nn, graphmeta.meta; print('rdkit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    from graphmeta.data.featurize import MoleculeFeaturizer
    from graphmeta.nn import GraphEncoder

    assert GraphEncoder().config["atom_vocab"] == list(MoleculeFeaturizer.atom_vocab)
    assert GraphEncoder().config["bond_vocab"] == list(MoleculeFeaturizer.bond_vocab)
