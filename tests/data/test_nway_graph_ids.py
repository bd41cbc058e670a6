"""NWayKShotSampler restricted to a graph subset (meta-training graphs vs held-out graphs of the same classes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import NotEnoughExamplesError, NWayKShotSampler, episode_rng


@pytest.fixture(scope="module")
def enzymes(shared_data: Path):
    return load_dataset("ENZYMES-fewshot", data_dir_override=shared_data, progress=False)


def _class_members(collection, classes):
    graphs, values = collection.labels.task(0)
    return {c: set(graphs[values == c].tolist()) for c in classes}


def test_episodes_come_only_from_the_subset(enzymes) -> None:
    classes = [1, 3, 5, 6]
    members = _class_members(enzymes, classes)
    subset = {g for c in classes for g in sorted(members[c])[::3]}  # a third of every class: 33 or 34 graphs
    sampler = NWayKShotSampler(3, 5, 10, graph_ids=tuple(subset))
    seen = set()
    for i in range(40):
        episode = sampler.sample(enzymes, classes, episode_rng(0, i))
        ids = episode.support.tolist() + episode.query.tolist()
        assert set(ids) <= subset and len(set(ids)) == len(ids) == 3 * 15
        for label, c in enumerate(episode.classes):  # labels still follow the episode's classes
            assert set(episode.support[episode.support_y == label].tolist()) <= members[c]
            assert set(episode.query[episode.query_y == label].tolist()) <= members[c]
        seen |= set(ids)
    assert len(seen) > len(subset) // 2  # the subset is actually sampled from, not one fixed corner of it


def test_all_graphs_as_subset_draws_the_same_episodes_as_no_subset(enzymes) -> None:
    everything = tuple(range(len(enzymes)))
    for i in range(5):
        a = NWayKShotSampler(2, 5, 15).sample(enzymes, [2, 4], episode_rng(3, i))
        b = NWayKShotSampler(2, 5, 15, graph_ids=everything).sample(enzymes, [2, 4], episode_rng(3, i))
        assert a.support.tolist() == b.support.tolist() and a.query.tolist() == b.query.tolist()
        assert a.classes == b.classes


def test_subset_is_normalized_and_too_small_subsets_fail_clearly(enzymes) -> None:
    sampler = NWayKShotSampler(2, 1, 1, graph_ids=[5, 3, 3, 9])
    assert sampler.graph_ids == (3, 5, 9) and hash(sampler) == hash(NWayKShotSampler(2, 1, 1, graph_ids=(9, 5, 3)))
    with pytest.raises(ValueError, match="at least one graph"):
        NWayKShotSampler(2, 1, 1, graph_ids=())
    members = _class_members(enzymes, [1, 3])
    small = tuple(sorted(members[1])[:4] + sorted(members[3])[:30])
    with pytest.raises(NotEnoughExamplesError, match=r"class 1: .* has 4 in the sampler's graph subset"):
        NWayKShotSampler(2, 5, 15, graph_ids=small).sample(enzymes, [1, 3], episode_rng(0, 0))
