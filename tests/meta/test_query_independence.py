"""A query graph's score never depends on the other query graphs, in every normalization mode.

``norm="task"`` normalizes with the support's statistics (TaskNorm): checked against ``batch_norm`` fed the
support's moments, and, for every learner, by scoring each task's query whole, halved and reversed.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler, collate_episodes, episode_rng
from graphmeta.meta import MAML, FineTune, ProtoNet, Reptile
from graphmeta.nn import NORM_MODES, FewShotModel, GraphEncoder, SupportStatistics, TaskNorm
from graphmeta.nn.taskbatch import TaskLayout

LEARNERS = {
    "maml": lambda m: MAML(m, inner_lr=0.3, inner_steps=2),
    "anil": lambda m: MAML(m, inner_lr=0.3, inner_steps=2, adapt="head"),
    "reptile": lambda m: Reptile(m, inner_lr=0.3, inner_steps=2),
    "protonet": lambda m: ProtoNet(m),
    "protonet-mahalanobis": lambda m: ProtoNet(m, distance="mahalanobis"),
    "finetune": lambda m: FineTune(m, n_tasks=12, head_steps=5),
}


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


@pytest.fixture(scope="module")
def episodes(tox21):
    return [KShotSampler(k, n_query=q).sample(tox21, t, episode_rng(1, t)) for t, k, q in [(0, 2, 6), (4, 3, 8)]]


def _with_query(episode, keep: torch.Tensor):
    return dataclasses.replace(episode, query=episode.query[keep], query_y=episode.query_y[keep])


def test_task_norm_with_support_moments_is_batch_norm_with_the_supports_statistics() -> None:
    torch.manual_seed(0)
    norm = TaskNorm(5, "task").double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.normal_()
    support = [torch.randn(7, 5, dtype=torch.float64) * 3 + 1, torch.randn(4, 5, dtype=torch.float64)]
    query = [torch.randn(3, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64) - 2]
    layout = lambda parts: TaskLayout.from_row_task(  # noqa: E731
        torch.cat([torch.full((len(p),), t) for t, p in enumerate(parts)]), len(parts))
    statistics = SupportStatistics()
    s_out = norm(torch.cat(support), layout(support), statistics.moments(norm, torch.cat(support), layout(support), 0))
    statistics.complete = True
    q_out = norm(torch.cat(query), layout(query), statistics.moments(norm, torch.cat(query), layout(query), 0))
    for t in range(2):
        mean, var = support[t].mean(0), support[t].var(0, unbiased=False)
        expected_q = F.batch_norm(query[t], mean, var, norm.weight, norm.bias, training=False, eps=norm.eps)
        expected_s = F.batch_norm(support[t], None, None, norm.weight, norm.bias, training=True, eps=norm.eps)
        rows = slice(sum(len(q) for q in query[:t]), sum(len(q) for q in query[:t + 1]))
        torch.testing.assert_close(q_out[rows], expected_q, rtol=1e-12, atol=1e-12)
        rows = slice(sum(len(s) for s in support[:t]), sum(len(s) for s in support[:t + 1]))
        torch.testing.assert_close(s_out[rows], expected_s, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="cover 2 tasks, this batch has 1"):
        statistics.moments(norm, query[0], layout(query[:1]), 0)


@pytest.mark.parametrize("norm", NORM_MODES)
@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_query_scores_do_not_depend_on_the_other_queries(tox21, episodes, norm: str, name: str) -> None:
    torch.manual_seed(0)
    model = FewShotModel(GraphEncoder(hidden_channels=16, num_layers=2, norm=norm)).double()
    learner = LEARNERS[name](model).double()
    learner.eval()
    whole = learner.evaluate(collate_episodes(tox21, episodes))
    halves = [torch.arange(len(e.query)) < len(e.query) // 2 for e in episodes]
    first = learner.evaluate(collate_episodes(tox21, [_with_query(e, h) for e, h in zip(episodes, halves)]))
    reversed_ = learner.evaluate(collate_episodes(
        tox21, [_with_query(e, torch.arange(len(e.query) - 1, -1, -1)) for e in episodes]))
    offsets = [0, len(episodes[0].query)]
    expected_first = torch.cat([whole[o:o + len(e.query)][h] for o, e, h in zip(offsets, episodes, halves)])
    expected_reversed = torch.cat([whole[o:o + len(e.query)].flip(0) for o, e in zip(offsets, episodes)])
    torch.testing.assert_close(first, expected_first, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(reversed_, expected_reversed, rtol=1e-9, atol=1e-9)


def test_task_norm_query_embeddings_use_the_support_statistics(tox21, episodes) -> None:
    """The record holds one pair per layer, and the query is normalized with it, not with its own statistics:
    another support (same query) moves the query's embeddings, a reordered one does not."""
    torch.manual_seed(0)
    model = FewShotModel(GraphEncoder(hidden_channels=16, num_layers=3, norm="task")).double()

    def query_embeddings(eps):
        meta_batch = collate_episodes(tox21, eps)
        statistics = SupportStatistics()
        model.embed(meta_batch.support, statistics=statistics)
        assert statistics.complete and len(statistics.layers) == 3
        return model.embed(meta_batch.query, statistics=statistics), model.embed(meta_batch.query)

    with_support, own = query_embeddings(episodes)
    assert not torch.allclose(with_support, own)
    rolled, _ = query_embeddings([dataclasses.replace(e, support=e.support.roll(1)) for e in episodes])
    torch.testing.assert_close(rolled, with_support, rtol=1e-12, atol=1e-12)
    fewer, own_again = query_embeddings([dataclasses.replace(e, support=e.support[:-1]) for e in episodes])
    assert not torch.allclose(fewer, with_support)
    torch.testing.assert_close(own_again, own, rtol=0, atol=0)
