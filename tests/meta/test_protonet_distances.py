"""ProtoNet's Mahalanobis distance against a per-query formula, query independence, and bf16 inputs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler, collate_episodes, episode_rng
from graphmeta.meta.protonet import mahalanobis_logits, prototype_logits
from graphmeta.nn import FewShotModel, GraphEncoder


@pytest.fixture(scope="module")
def embedded():
    tox21 = load_dataset("tox21", progress=False)
    episodes = [KShotSampler(k, n_query=q).sample(tox21, t, episode_rng(1, t)) for t, k, q in [(0, 3, 6), (4, 1, 5),
                                                                                               (6, 4, 3)]]
    mb = collate_episodes(tox21, episodes)
    torch.manual_seed(0)
    model = FewShotModel(GraphEncoder(hidden_channels=8, num_layers=2, norm="layer")).double()
    with torch.no_grad():
        return tox21, episodes, mb, model.embed(mb.support), model.embed(mb.query), model


def _reference(s, ys, q, ridge=0.1, cap=0.1):
    """One task, one query at a time, with an explicit inverse: the textbook formula."""
    task_cov = torch.cov(s.T)
    out = torch.empty(q.shape[0], 2, dtype=s.dtype)
    for c in range(2):
        members = s[ys == c]
        n = members.shape[0]
        class_cov = torch.cov(members.T) if n > 1 else torch.zeros_like(task_cov)
        lam = min(n / (n + 1), cap)
        precision = torch.linalg.inv(lam * class_cov + (1 - lam) * task_cov + ridge * torch.eye(s.shape[1],
                                                                                                  dtype=s.dtype))
        for i, x in enumerate(q):
            d = x - members.mean(0)
            out[i, c] = -(d @ precision @ d)
    return out


def test_mahalanobis_matches_per_query_formula(embedded) -> None:
    _, _, mb, s, q, _ = embedded
    got = mahalanobis_logits(s, mb.support, q, mb.query, mb.n_way)
    for t in range(mb.num_tasks):
        ss, qq = mb.support.graph_task == t, mb.query.graph_task == t
        want = _reference(s[ss], mb.support.y[ss].long(), q[qq])
        torch.testing.assert_close(got[qq], want, rtol=1e-10, atol=1e-10)


def test_mahalanobis_scores_do_not_depend_on_other_queries(embedded) -> None:
    tox21, episodes, mb, _, _, model = embedded
    full = prototype_logits(model.embed(mb.support), mb.support, model.embed(mb.query), mb.query, 2, "mahalanobis")
    first = episodes[0]
    fewer = collate_episodes(tox21, [dataclasses.replace(first, query=first.query[:2], query_y=first.query_y[:2]),
                                     *episodes[1:]])
    alone = prototype_logits(model.embed(fewer.support), fewer.support, model.embed(fewer.query), fewer.query, 2,
                             "mahalanobis")
    torch.testing.assert_close(alone[:2], full[:2], rtol=1e-10, atol=1e-10)


def test_mahalanobis_promotes_bf16_inputs_and_returns_their_dtype(embedded) -> None:
    _, _, mb, s, q, _ = embedded
    exact = mahalanobis_logits(s.float(), mb.support, q.float(), mb.query, mb.n_way)
    half = mahalanobis_logits(s.bfloat16(), mb.support, q.bfloat16(), mb.query, mb.n_way)
    assert half.dtype == torch.bfloat16 and torch.isfinite(half).all()
    assert torch.corrcoef(torch.stack([half.float().flatten(), exact.flatten()]))[0, 1] > 0.99


def test_unknown_distance_is_named() -> None:
    with pytest.raises(ValueError, match="mahalanobis"):
        from graphmeta.meta import ProtoNet
        ProtoNet(FewShotModel(GraphEncoder(hidden_channels=8, num_layers=1)), distance="manhattan")  # type: ignore[arg-type]
