"""Episodes on real Tox21 / ENZYMES: stratification, seed determinism, disjoint support and query, collation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import (KShotSampler, NotEnoughExamplesError, NWayKShotSampler,
                                     StratifiedSupportSampler, collate_episodes, episode_rng, meta_batches,
                                     sample_meta_batch)
from graphmeta.data.splits import par_split, predefined_split


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


@pytest.mark.parametrize("k", [1, 5, 10, 16])
def test_kshot_stratified_disjoint_and_seeded(tox21, k: int) -> None:
    task = 9
    ep = KShotSampler(k).sample(tox21, task, episode_rng(0, 1))
    graphs, values = tox21.labels.task(task)
    label = dict(zip(graphs.tolist(), values.tolist()))
    assert ep.support_y.sum().item() == k and len(ep.support) == 2 * k
    assert [label[g] for g in ep.support.tolist()] == ep.support_y.tolist()
    assert [label[g] for g in ep.query.tolist()] == ep.query_y.tolist()
    assert set(ep.support.tolist()).isdisjoint(ep.query.tolist())
    assert sorted(ep.support.tolist() + ep.query.tolist()) == sorted(graphs.tolist())  # query = all the rest
    again = KShotSampler(k).sample(tox21, task, episode_rng(0, 1))
    assert torch.equal(ep.support, again.support) and torch.equal(ep.query, again.query)
    other = KShotSampler(k).sample(tox21, task, episode_rng(1, 1))
    assert not torch.equal(ep.support, other.support)


def test_fixed_query_and_fsmol_style_support(tox21) -> None:
    ep = KShotSampler(10, n_query=16).sample(tox21, 0, episode_rng(0, 0))
    assert len(ep.query) == 16
    for size in (16, 32, 64, 128, 256):
        ep = StratifiedSupportSampler(size).sample(tox21, 2, episode_rng(0, size))
        graphs, values = tox21.labels.task(2)
        frac = values.mean().item()
        n_pos = int(ep.support_y.sum())
        assert len(ep.support) == size and 1 <= n_pos and abs(n_pos - size * frac) <= 1
        assert set(ep.support.tolist()).isdisjoint(ep.query.tolist())


def test_capped_query_takes_what_a_small_task_has(tox21) -> None:
    n = len(tox21.labels.task(0)[0])
    with pytest.raises(NotEnoughExamplesError, match="query of"):
        KShotSampler(5, n_query=n).sample(tox21, 0, episode_rng(0))
    ep = KShotSampler(5, n_query=n, stratify_query=True, cap_query=True).sample(tox21, 0, episode_rng(0))
    assert len(ep.query) == n - 10 and len(ep.support) == 10
    small = KShotSampler(5, n_query=16, cap_query=True).sample(tox21, 0, episode_rng(0))
    assert len(small.query) == 16  # a bound, not a target: larger tasks are unaffected
    ep = StratifiedSupportSampler(16, n_query=n, cap_query=True).sample(tox21, 0, episode_rng(0))
    assert len(ep.query) == n - 16


def test_not_enough_examples_names_the_task(tox21) -> None:
    with pytest.raises(NotEnoughExamplesError, match=r"tox21 task 0 \(NR-AR\).*needs 1000 positives"):
        KShotSampler(1000).sample(tox21, 0, episode_rng(0))


def test_meta_batch_collation_matches_episodes(tox21) -> None:
    split = par_split(tox21).carve_validation(2, seed=0)
    episodes = sample_meta_batch(tox21, KShotSampler(5, n_query=16), split.train, 8, seed=0, step=3)
    assert [e.task for e in episodes] == [e.task for e in
                                          sample_meta_batch(tox21, KShotSampler(5, n_query=16), split.train, 8, 0, 3)]
    assert all(e.task in split.train for e in episodes)
    mb = collate_episodes(tox21, episodes)
    assert mb.num_tasks == 8 and mb.support.batch.num_graphs == 8 * 10 and mb.query.batch.num_graphs == 8 * 16
    assert torch.equal(mb.support.graph_task, torch.arange(8).repeat_interleave(10))
    assert torch.equal(mb.query.graph_task, torch.arange(8).repeat_interleave(16))
    assert torch.equal(mb.support.y, torch.cat([e.support_y for e in episodes]))
    assert torch.equal(mb.query.y, torch.cat([e.query_y for e in episodes]))
    assert torch.equal(mb.query.node_task, mb.query.graph_task[mb.query.batch.batch])
    stream = meta_batches(tox21, KShotSampler(5, n_query=16), split, "train", 8, seed=0, start=3)
    assert torch.equal(next(stream).query.batch.x, mb.query.batch.x)  # resuming at step 3 gives step 3's batch


def test_nway_episodes_on_fewshot_class_split(shared_data: Path) -> None:
    enzymes = load_dataset("ENZYMES-fewshot", data_dir_override=shared_data, download=False, progress=False)
    split = predefined_split(enzymes)
    assert split.unit == "classes" and split.test == (2, 4)
    ep = NWayKShotSampler(2, 5, 15).sample(enzymes, split.test, episode_rng(0, 0))
    assert set(ep.classes) == {2, 4} and len(ep.support) == 10 and len(ep.query) == 30
    graphs, values = enzymes.labels.task(0)
    label = dict(zip(graphs.tolist(), values.tolist()))
    assert [ep.classes[int(y)] for y in ep.support_y] == [label[g] for g in ep.support.tolist()]
    episodes = sample_meta_batch(enzymes, NWayKShotSampler(3, 5, 15), split.train, 4, 0, 0, unit="classes")
    mb = collate_episodes(enzymes, episodes)
    assert mb.n_way == 3 and mb.support.batch.num_graphs == 4 * 15 and mb.query.batch.num_graphs == 4 * 45
    assert mb.query.y.dtype == torch.long
