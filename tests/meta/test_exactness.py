"""The task-batched meta-gradient equals the sequential per-task reference (float64, 1e-6 relative).

For second-order MAML, first-order MAML, ANIL, Meta-SGD, Reptile and ProtoNet, with GIN, GCN, GAT and SAGE
backbones (mean readout) and GIN with the attention readout, in every normalization mode, on real Tox21
molecules, with tasks of different support/query sizes.
"""

from __future__ import annotations

import copy

import pytest
import torch

from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler, collate_episodes, episode_rng
from graphmeta.meta import MAML, ProtoNet, Reptile
from graphmeta.meta.reference import sequential_meta_step
from graphmeta.nn import NORM_MODES, FewShotModel, GraphEncoder

LEARNERS = {
    "maml": lambda m: MAML(m, inner_lr=0.3, inner_steps=3),
    "fomaml": lambda m: MAML(m, inner_lr=0.3, inner_steps=3, first_order=True),
    "anil": lambda m: MAML(m, inner_lr=0.3, inner_steps=3, adapt="head"),
    "metasgd": lambda m: MAML(m, inner_lr=0.3, inner_steps=3, learn_inner_lr=True),
    "reptile": lambda m: Reptile(m, inner_lr=0.3, inner_steps=3),
    "protonet": lambda m: ProtoNet(m),
    "protonet-cosine": lambda m: ProtoNet(m, distance="cosine"),
    "protonet-mahalanobis": lambda m: ProtoNet(m, distance="mahalanobis"),
}


@pytest.fixture(scope="module")
def batches():
    tox21 = load_dataset("tox21", progress=False)
    # tasks of different support and query sizes (so different graph and node counts per task)
    episodes = [KShotSampler(k, n_query=q).sample(tox21, t, episode_rng(0, t))
                for t, k, q in [(0, 1, 3), (3, 2, 5), (7, 1, 4), (8, 3, 2)]]
    return collate_episodes(tox21, episodes), [collate_episodes(tox21, [e]) for e in episodes]


def _flat_grads(learner: torch.nn.Module) -> torch.Tensor:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for p in learner.parameters()])


@pytest.mark.parametrize("conv,readout", [("gin", "mean"), ("gcn", "mean"), ("gat", "mean"), ("sage", "mean"),
                                          ("gin", "attention")])
@pytest.mark.parametrize("norm", NORM_MODES)
@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_batched_meta_gradient_equals_sequential(batches, conv: str, readout: str, norm: str, name: str) -> None:
    meta_batch, singles = batches
    torch.manual_seed(0)
    model = FewShotModel(GraphEncoder(conv=conv, hidden_channels=16, num_layers=2, norm=norm, readout=readout)).double()
    with torch.no_grad():  # non-trivial running statistics so "running" mode is really exercised
        for module in model.modules():
            if hasattr(module, "running_mean"):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
    batched = LEARNERS[name](copy.deepcopy(model))
    reference = copy.deepcopy(batched)
    out = batched.meta_step(meta_batch)
    ref_loss = sequential_meta_step(reference, singles)
    g, g_ref = _flat_grads(batched), _flat_grads(reference)
    assert g_ref.norm() > 0
    assert torch.allclose(out.loss, ref_loss.to(out.loss.dtype), rtol=1e-9, atol=0)
    assert ((g - g_ref).norm() / g_ref.norm()).item() < 1e-6
    # every parameter, relative to the overall gradient scale (some are exactly zero in theory, e.g. a bias
    # right before per-task normalization, and only rounding noise in practice)
    for (pname, p), (_, q) in zip(batched.named_parameters(), reference.named_parameters()):
        a = p.grad if p.grad is not None else torch.zeros_like(p)
        b = q.grad if q.grad is not None else torch.zeros_like(q)
        assert (a - b).abs().max().item() <= 1e-9 * g_ref.abs().max().item(), pname


def test_gradients_reach_every_meta_parameter(batches) -> None:
    meta_batch, _ = batches
    torch.manual_seed(0)
    learner = MAML(FewShotModel(GraphEncoder(hidden_channels=16, num_layers=2, norm="layer")).double(),
                   inner_lr=0.3, inner_steps=2, learn_inner_lr=True)
    learner.meta_step(meta_batch)
    missing = [n for n, p in learner.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert missing == []
