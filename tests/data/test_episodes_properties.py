"""Property-based tests (hypothesis) of the few-shot episode samplers and of episode collation.

Small synthetic :class:`TaskCollection` objects are built directly: every graph has 1-3 nodes whose
features identify it (column 0 = graph id, column 1 = node index), path edges in both directions, and
labels drawn as a random 0/1/NaN matrix (binary) or a column of class ids (multiclass). The expected
outcome of every sampler call (episode or :class:`NotEnoughExamplesError`) is derived from that matrix,
independently of the sampler code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch, Data

from graphmeta.data.episodes import (
    Episode,
    TaskBatch,
    KShotSampler,
    NotEnoughExamplesError,
    NWayKShotSampler,
    StratifiedSupportSampler,
    collate_episodes,
    episode_rng,
    sample_meta_batch,
)
from graphmeta.data.graphs import GraphStore
from graphmeta.data.tasks import TaskCollection, TaskLabels

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COLLATE_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = st.integers(0, 2**32 - 1)


# -- synthetic collections --------------------------------------------------------------------------------------
def _graphs(sizes: np.ndarray) -> GraphStore:
    graphs = []
    for g, n in enumerate(sizes.tolist()):
        x = torch.zeros(n, 8, dtype=torch.long)
        x[:, 0] = g
        x[:, 1] = torch.arange(n)
        src = torch.arange(n - 1)
        edge_index = torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])]).long()
        edge_attr = torch.full((edge_index.shape[1], 4), g, dtype=torch.long)
        graphs.append(Data(x=x, edge_index=edge_index, edge_attr=edge_attr))
    return GraphStore.from_data_list(graphs)


@dataclass
class Synthetic:
    collection: TaskCollection
    matrix: np.ndarray  # [n_graphs, n_tasks], NaN = unlabelled

    def labelled(self, t: int) -> set[int]:
        return set(np.flatnonzero(~np.isnan(self.matrix[:, t])).tolist())

    def members(self, t: int, value: float) -> set[int]:
        return set(np.flatnonzero(self.matrix[:, t] == value).tolist())


def _binary(matrix: np.ndarray, sizes: np.ndarray, name: str = "toy") -> Synthetic:
    collection = TaskCollection(
        name=name, graphs=_graphs(sizes), labels=TaskLabels.from_dense(matrix),
        task_names=[f"assay_{t}" for t in range(matrix.shape[1])], task_type="binary")
    return Synthetic(collection, matrix)


@st.composite
def binary_collections(draw, max_graphs: int = 40, max_tasks: int = 4, min_per_class: int = 0) -> Synthetic:
    """A random binary collection; each task gets at least ``min_per_class`` positives and negatives."""
    n_graphs = draw(st.integers(max(2, 2 * min_per_class), max_graphs))
    n_tasks = draw(st.integers(1, max_tasks))
    rng = np.random.default_rng(draw(SEEDS))
    p_pos = draw(st.lists(st.sampled_from([0.0, 0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0]), min_size=n_tasks,
                          max_size=n_tasks))
    p_missing = draw(st.sampled_from([0.0, 0.2, 0.5]))
    matrix = (rng.random((n_graphs, n_tasks)) < np.asarray(p_pos)).astype(np.float32)
    matrix[rng.random((n_graphs, n_tasks)) < p_missing] = np.nan
    for t in range(n_tasks):
        rows = rng.choice(n_graphs, 2 * min_per_class, replace=False)
        matrix[rows[:min_per_class], t] = 1.0
        matrix[rows[min_per_class:], t] = 0.0
    return _binary(matrix, rng.integers(1, 4, n_graphs))


@st.composite
def multiclass_collections(draw) -> tuple[Synthetic, dict[int, int]]:
    """One task of (non-contiguous) class ids, some graphs unlabelled; returns the class counts too."""
    class_ids = draw(st.lists(st.integers(0, 30), min_size=2, max_size=7, unique=True))
    counts = {c: draw(st.sampled_from([0, 2, 5, 6, 8, 10, 12])) for c in class_ids}
    rng = np.random.default_rng(draw(SEEDS))
    n_unlabelled = draw(st.integers(0, 5))
    values = np.concatenate([np.full(n, c, dtype=np.float32) for c, n in counts.items()]
                            + [np.full(n_unlabelled, np.nan, dtype=np.float32)])
    if values.size == 0:
        values = np.full(1, np.nan, dtype=np.float32)
    values = rng.permutation(values)
    collection = TaskCollection(
        name="toy-classes", graphs=_graphs(rng.integers(1, 4, len(values))),
        labels=TaskLabels.from_dense(values[:, None]), task_names=["class"], task_type="multiclass")
    return Synthetic(collection, values[:, None]), counts


def _ids(t: torch.Tensor) -> list[int]:
    return [int(i) for i in t.tolist()]


def _assert_same_episode(a: Episode, b: Episode) -> None:
    assert a.task == b.task and a.classes == b.classes
    for field in ("support", "query", "support_y", "query_y"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field


def _same_episode(a: Episode, b: Episode) -> bool:
    return (a.task == b.task and a.classes == b.classes and torch.equal(a.support, b.support)
            and torch.equal(a.query, b.query))


def _check_binary_episode(syn: Synthetic, ep: Episode, t: int) -> None:
    support, query = _ids(ep.support), _ids(ep.query)
    assert ep.task == t and ep.classes == (0, 1) and ep.n_way == 2
    assert ep.support.dtype == ep.query.dtype == torch.long
    assert len(set(support)) == len(support) and len(set(query)) == len(query)
    assert not set(support) & set(query)
    assert set(support) | set(query) <= syn.labelled(t)
    assert ep.support_y.shape == ep.support.shape and ep.query_y.shape == ep.query.shape
    assert ep.support_y.tolist() == syn.matrix[support, t].tolist()
    assert ep.query_y.tolist() == syn.matrix[query, t].tolist()


# -- 1. KShotSampler ---------------------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(st.data())
def test_kshot_sampler(data: st.DataObject) -> None:
    syn = data.draw(binary_collections())
    coll = syn.collection
    t = data.draw(st.integers(0, coll.n_tasks - 1))
    k_pos = data.draw(st.integers(1, 4))
    k_neg_arg = data.draw(st.none() | st.integers(1, 4))
    n_query = data.draw(st.none() | st.integers(1, 10))
    stratify = data.draw(st.booleans())
    seed, index = data.draw(SEEDS), data.draw(st.integers(0, 1000))
    sampler = KShotSampler(k_pos, k_neg_arg, n_query, stratify)
    k_neg = k_pos if k_neg_arg is None else k_neg_arg
    pos, neg = syn.members(t, 1.0), syn.members(t, 0.0)
    rest = len(pos) - k_pos + len(neg) - k_neg

    if len(pos) < k_pos or len(neg) < k_neg or rest <= 0 or (n_query is not None and n_query > rest):
        event("not enough examples")
        with pytest.raises(NotEnoughExamplesError, match=f"task {t} \\(assay_{t}\\)"):
            sampler.sample(coll, t, episode_rng(seed, index))
        return

    ep = sampler.sample(coll, t, episode_rng(seed, index))
    _check_binary_episode(syn, ep, t)
    support, query = _ids(ep.support), _ids(ep.query)
    assert len(support) == k_pos + k_neg
    assert ep.support_y.tolist() == [1.0] * k_pos + [0.0] * k_neg
    assert len(set(support) & pos) == k_pos and len(set(support) & neg) == k_neg
    if n_query is None:
        assert set(support) | set(query) == syn.labelled(t)
    else:
        assert len(query) == n_query
        if stratify:
            frac = (len(pos) - k_pos) / rest
            assert abs(int(ep.query_y.sum()) - round(n_query * frac)) <= 1
    _assert_same_episode(ep, sampler.sample(coll, t, episode_rng(seed, index)))


@settings(max_examples=50, deadline=None)
@given(SEEDS, st.integers(1, 5))
def test_kshot_sampler_seeds(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = np.concatenate([np.ones(40), np.zeros(40)]).astype(np.float32)[rng.permutation(80), None]
    syn = _binary(matrix, np.ones(80, dtype=np.int64))
    sampler = KShotSampler(k, n_query=10)
    episodes = [sampler.sample(syn.collection, 0, episode_rng(seed + s, 0)) for s in range(6)]
    _assert_same_episode(episodes[0], sampler.sample(syn.collection, 0, episode_rng(seed, 0)))
    assert not all(torch.equal(e.support, episodes[0].support) for e in episodes[1:])
    # the episode index matters as much as the seed
    others = [sampler.sample(syn.collection, 0, episode_rng(seed, i)) for i in range(1, 6)]
    assert not all(torch.equal(e.support, episodes[0].support) for e in others)


# -- 2. not enough examples ---------------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(st.integers(0, 6), st.integers(0, 6), st.integers(1, 6), SEEDS)
def test_not_enough_examples_names_the_task(n_pos: int, n_neg: int, k: int, seed: int) -> None:
    # task 0 is fully labelled with n_pos/n_neg, task 1 has plenty of both (it must not matter)
    n = max(n_pos + n_neg, 2 * k + 2)
    col0 = np.full(n, np.nan, dtype=np.float32)
    col0[:n_pos], col0[n_pos:n_pos + n_neg] = 1.0, 0.0
    col1 = np.arange(n, dtype=np.float32) % 2
    syn = _binary(np.stack([col0, col1], 1), np.full(n, 2))
    sampler = KShotSampler(k)
    if n_pos < k or n_neg < k or n_pos + n_neg == 2 * k:
        with pytest.raises(NotEnoughExamplesError, match="assay_0") as err:
            sampler.sample(syn.collection, 0, episode_rng(seed))
        assert "task 0" in str(err.value) and "toy" in str(err.value)
    else:
        _check_binary_episode(syn, sampler.sample(syn.collection, 0, episode_rng(seed)), 0)
    with pytest.raises(NotEnoughExamplesError, match="assay_0"):
        StratifiedSupportSampler(n + 1).sample(syn.collection, 0, episode_rng(seed))


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_one_class_task_raises(value: float) -> None:
    matrix = np.full((20, 2), value, dtype=np.float32)
    matrix[:, 1] = np.arange(20) % 2
    syn = _binary(matrix, np.ones(20, dtype=np.int64))
    for sampler in (KShotSampler(1), KShotSampler(1, n_query=3), StratifiedSupportSampler(4)):
        with pytest.raises(NotEnoughExamplesError, match=r"toy task 0 \(assay_0\)"):
            sampler.sample(syn.collection, 0, episode_rng(0))
        sampler.sample(syn.collection, 1, episode_rng(0))  # the two-class task works


def test_binary_samplers_reject_multiclass_collections() -> None:
    values = np.arange(12, dtype=np.float32)[:, None] % 3
    coll = TaskCollection(name="classes", graphs=_graphs(np.ones(12, dtype=np.int64)),
                          labels=TaskLabels.from_dense(values), task_names=["class"], task_type="multiclass")
    for sampler in (KShotSampler(1), StratifiedSupportSampler(2)):
        with pytest.raises(ValueError, match="binary"):
            sampler.sample(coll, 0, episode_rng(0))


# -- 3. StratifiedSupportSampler ------------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(st.data())
def test_stratified_support_sampler(data: st.DataObject) -> None:
    syn = data.draw(binary_collections(max_graphs=60))
    coll = syn.collection
    t = data.draw(st.integers(0, coll.n_tasks - 1))
    size = data.draw(st.integers(2, 16))
    n_query = data.draw(st.none() | st.integers(1, 10))
    stratify = data.draw(st.booleans())
    seed, index = data.draw(SEEDS), data.draw(st.integers(0, 1000))
    sampler = StratifiedSupportSampler(size, n_query, stratify)
    pos, neg = syn.members(t, 1.0), syn.members(t, 0.0)
    total = len(pos) + len(neg)

    if not pos or not neg or total <= size or (n_query is not None and n_query > total - size):
        event("not enough examples")
        with pytest.raises(NotEnoughExamplesError, match=f"task {t} \\(assay_{t}\\)"):
            sampler.sample(coll, t, episode_rng(seed, index))
        return

    ep = sampler.sample(coll, t, episode_rng(seed, index))
    _check_binary_episode(syn, ep, t)
    n_pos = int(ep.support_y.sum())
    assert len(ep.support) == size
    assert 1 <= n_pos <= size - 1
    assert abs(n_pos - round(size * len(pos) / total)) <= 1
    if n_query is None:
        assert set(_ids(ep.support)) | set(_ids(ep.query)) == syn.labelled(t)
    else:
        assert len(ep.query) == n_query
    _assert_same_episode(ep, sampler.sample(coll, t, episode_rng(seed, index)))


@settings(max_examples=30, deadline=None)
@given(SEEDS, st.sampled_from([4, 8, 16]))
def test_stratified_support_sampler_seeds(seed: int, size: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = (rng.random((120, 1)) < 0.3).astype(np.float32)
    matrix[:2, 0] = [0.0, 1.0]
    syn = _binary(matrix, np.ones(120, dtype=np.int64))
    sampler = StratifiedSupportSampler(size)
    first = sampler.sample(syn.collection, 0, episode_rng(seed, 0))
    _assert_same_episode(first, sampler.sample(syn.collection, 0, episode_rng(seed, 0)))
    others = [sampler.sample(syn.collection, 0, episode_rng(seed, i)) for i in range(1, 6)]
    assert not all(torch.equal(e.support, first.support) for e in others)


# -- 4. NWayKShotSampler ----------------------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(st.data())
def test_nway_kshot_sampler(data: st.DataObject) -> None:
    syn, counts = data.draw(multiclass_collections())
    class_set = data.draw(st.lists(st.sampled_from(sorted(counts)), min_size=min(2, len(counts)), unique=True))
    n_way = data.draw(st.integers(2, min(len(class_set) + 1, 4)))  # one more than available: the error path
    k_shot, n_query = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    seed = data.draw(SEEDS)
    sampler = NWayKShotSampler(n_way, k_shot, n_query)
    need = k_shot + n_query

    if len(class_set) < n_way:
        event("fewer classes than n_way")
        with pytest.raises(NotEnoughExamplesError):
            sampler.sample(syn.collection, class_set, episode_rng(seed))
        return
    try:
        ep = sampler.sample(syn.collection, class_set, episode_rng(seed))
    except NotEnoughExamplesError:
        event("not enough examples")
        assert any(counts[c] < need for c in class_set), "raised although every class has enough graphs"
        return

    values = syn.matrix[:, 0]
    assert ep.task == -1 and ep.n_way == n_way
    assert len(set(ep.classes)) == n_way and set(ep.classes) <= set(class_set)
    assert all(counts[c] >= need for c in ep.classes)
    support, query = _ids(ep.support), _ids(ep.query)
    assert len(support) == n_way * k_shot and len(query) == n_way * n_query
    assert len(set(support)) == len(support) and len(set(query)) == len(query)
    assert not set(support) & set(query)
    assert ep.support_y.dtype == ep.query_y.dtype == torch.long
    assert ep.support_y.tolist() == [c for c in range(n_way) for _ in range(k_shot)]
    assert ep.query_y.tolist() == [c for c in range(n_way) for _ in range(n_query)]
    # episode label i means original class classes[i]
    assert [int(values[g]) for g in support] == [ep.classes[y] for y in ep.support_y.tolist()]
    assert [int(values[g]) for g in query] == [ep.classes[y] for y in ep.query_y.tolist()]
    _assert_same_episode(ep, sampler.sample(syn.collection, class_set, episode_rng(seed)))


def test_nway_kshot_sampler_seeds_and_errors() -> None:
    values = (np.arange(100) % 10 * 3).astype(np.float32)[:, None]  # classes 0, 3, ..., 27; 10 graphs each
    coll = TaskCollection(name="classes", graphs=_graphs(np.ones(100, dtype=np.int64)),
                          labels=TaskLabels.from_dense(values), task_names=["class"], task_type="multiclass")
    sampler = NWayKShotSampler(3, 2, 2)
    classes = [0, 3, 6, 9, 12, 15]
    first = sampler.sample(coll, classes, episode_rng(5, 0))
    _assert_same_episode(first, sampler.sample(coll, classes, episode_rng(5, 0)))
    others = [sampler.sample(coll, classes, episode_rng(5, i)) for i in range(1, 6)]
    assert not all(_same_episode(e, first) for e in others)
    with pytest.raises(NotEnoughExamplesError):
        sampler.sample(coll, [0, 3], episode_rng(0))
    with pytest.raises(NotEnoughExamplesError, match="class 1"):
        sampler.sample(coll, [0, 1, 3], episode_rng(0))  # class 1 has no graphs; all three are drawn
    with pytest.raises(ValueError, match="multiclass"):
        sampler.sample(_binary(np.ones((4, 1), dtype=np.float32), np.ones(4, dtype=np.int64)).collection,
                       [0, 1], episode_rng(0))


# -- 5. collate_episodes ---------------------------------------------------------------------------------------------
def _check_side(coll: TaskCollection, side: TaskBatch, parts: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    ids = [g for graphs, _ in parts for g in _ids(graphs)]
    expected = Batch.from_data_list([coll.graphs[i] for i in ids])
    for key in ("x", "edge_index", "edge_attr", "batch", "ptr"):
        assert torch.equal(side.batch[key], expected[key]), key
    assert side.batch.num_graphs == len(ids) and side.batch.num_nodes == expected.num_nodes
    # graphs really are the requested ones, in order (x column 0 holds the graph id)
    assert side.batch.x[side.batch.ptr[:-1], 0].tolist() == ids
    sizes = [len(graphs) for graphs, _ in parts]
    assert side.graph_task.dtype == torch.long and side.n_tasks == len(parts)
    assert side.graph_task.tolist() == [slot for slot, n in enumerate(sizes) for _ in range(n)]
    assert torch.bincount(side.graph_task, minlength=len(parts)).tolist() == sizes
    assert torch.equal(side.y, torch.cat([labels for _, labels in parts]))
    node_counts = coll.graphs.num_nodes[torch.tensor(ids, dtype=torch.long)]
    assert torch.equal(side.node_task, torch.repeat_interleave(side.graph_task, node_counts))
    assert torch.equal(side.node_task, side.graph_task[expected.batch])


def _check_meta_batch(coll: TaskCollection, episodes: list[Episode]) -> None:
    mb = collate_episodes(coll, episodes)
    _check_side(coll, mb.support, [(ep.support, ep.support_y) for ep in episodes])
    _check_side(coll, mb.query, [(ep.query, ep.query_y) for ep in episodes])
    assert mb.task_ids.tolist() == [ep.task for ep in episodes]
    assert mb.num_tasks == len(episodes) and mb.n_way == episodes[0].n_way
    moved = mb.to("cpu")
    assert torch.equal(moved.query.graph_task, mb.query.graph_task)
    assert torch.equal(moved.support.batch.x, mb.support.batch.x)


@COLLATE_SETTINGS
@given(st.data())
def test_collate_binary_episodes(data: st.DataObject) -> None:
    syn = data.draw(binary_collections(min_per_class=3))
    coll = syn.collection
    tasks = data.draw(st.lists(st.integers(0, coll.n_tasks - 1), min_size=1, max_size=5))
    sampler = data.draw(st.sampled_from([KShotSampler(1), KShotSampler(2, 1, n_query=2), KShotSampler(1, 2),
                                         StratifiedSupportSampler(3), StratifiedSupportSampler(4, n_query=1)]))
    seed = data.draw(SEEDS)
    episodes = [sampler.sample(coll, t, episode_rng(seed, i)) for i, t in enumerate(tasks)]
    _check_meta_batch(coll, episodes)


@COLLATE_SETTINGS
@given(st.data())
def test_collate_nway_episodes(data: st.DataObject) -> None:
    syn, counts = data.draw(multiclass_collections())
    k_shot, n_query = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    usable = [c for c, n in counts.items() if n >= k_shot + n_query]
    n_way = data.draw(st.integers(2, 3))
    if len(usable) < n_way:
        event("not enough usable classes")
        return
    sampler = NWayKShotSampler(n_way, k_shot, n_query)
    seed, n_episodes = data.draw(SEEDS), data.draw(st.integers(1, 4))
    episodes = [sampler.sample(syn.collection, usable, episode_rng(seed, i)) for i in range(n_episodes)]
    _check_meta_batch(syn.collection, episodes)
    assert collate_episodes(syn.collection, episodes).query.y.dtype == torch.long


def test_collate_errors() -> None:
    syn = _binary(np.tile(np.arange(10) % 2, (2, 1)).T.astype(np.float32), np.ones(10, dtype=np.int64))
    with pytest.raises(ValueError, match="empty"):
        collate_episodes(syn.collection, [])
    binary = KShotSampler(1).sample(syn.collection, 0, episode_rng(0))
    three_way = Episode(task=-1, support=torch.tensor([0, 1, 2]), query=torch.tensor([3, 4, 5]),
                        support_y=torch.arange(3), query_y=torch.arange(3), classes=(0, 1, 2))
    with pytest.raises(ValueError, match="same number of classes"):
        collate_episodes(syn.collection, [binary, three_way])


# -- 6. sample_meta_batch -----------------------------------------------------------------------------------------------
def _big_binary(seed: int) -> Synthetic:
    rng = np.random.default_rng(seed)
    matrix = (rng.random((80, 6)) < 0.5).astype(np.float32)
    matrix[rng.random((80, 6)) < 0.2] = np.nan
    matrix[:10] = np.tile([[1.0], [0.0]], (5, 6))  # >= 5 of each class in every task
    return _binary(matrix, rng.integers(1, 4, 80))


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.integers(0, 10**6), st.integers(1, 8), st.lists(st.integers(0, 5), min_size=1, max_size=6, unique=True))
def test_sample_meta_batch_deterministic_in_seed_and_step(seed: int, step: int, size: int, tasks: list[int]) -> None:
    syn = _big_binary(seed % 1000)
    sampler = KShotSampler(2, n_query=4)
    batch = sample_meta_batch(syn.collection, sampler, tasks, size, seed, step)
    again = sample_meta_batch(syn.collection, sampler, tasks, size, seed, step)
    assert len(batch) == size
    for a, b in zip(batch, again):
        _assert_same_episode(a, b)
    assert all(ep.task in tasks for ep in batch)
    if size <= len(tasks):  # without replacement when there are enough tasks
        assert len({ep.task for ep in batch}) == size
    for ep in batch:
        _check_binary_episode(syn, ep, ep.task)
    # other steps (and other seeds) give other meta-batches
    for other in (sample_meta_batch(syn.collection, sampler, tasks, size, seed, step + 1),
                  sample_meta_batch(syn.collection, sampler, tasks, size, seed + 1, step)):
        assert not all(_same_episode(a, b) for a, b in zip(batch, other))


def test_sample_meta_batch_classes() -> None:
    values = (np.arange(120) % 12).astype(np.float32)[:, None]
    coll = TaskCollection(name="classes", graphs=_graphs(np.ones(120, dtype=np.int64)),
                          labels=TaskLabels.from_dense(values), task_names=["class"], task_type="multiclass")
    sampler = NWayKShotSampler(3, 2, 3)
    classes = list(range(0, 12, 2))
    steps = [sample_meta_batch(coll, sampler, classes, 4, 7, s, unit="classes") for s in range(4)]
    for a, b in zip(steps[0], sample_meta_batch(coll, sampler, classes, 4, 7, 0, unit="classes")):
        _assert_same_episode(a, b)
    assert all(set(ep.classes) <= set(classes) for batch in steps for ep in batch)
    assert not all(all(_same_episode(a, b) for a, b in zip(steps[0], other)) for other in steps[1:])
    _check_meta_batch(coll, steps[0])
