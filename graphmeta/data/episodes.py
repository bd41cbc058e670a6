"""Few-shot episodes: seeded samplers, and collation of many episodes into one block-diagonal batch.

An :class:`Episode` is one task's support and query graphs. Samplers draw them with an explicit
``numpy.random.Generator``, so the same seed always gives the same episodes:

- :class:`KShotSampler`: binary tasks, a stratified support of ``k_pos`` positives + ``k_neg`` negatives
  (the MoleculeNet few-shot protocol), query = all the rest or a fixed number;
- :class:`StratifiedSupportSampler`: binary tasks, a support of a fixed *size* whose class balance follows
  the task's (the FS-Mol protocol: sizes 16, 32, 64, 128, 256);
- :class:`NWayKShotSampler`: graph classification, ``n_way`` classes x (``k_shot`` support + ``n_query``).

:func:`collate_episodes` puts the support graphs of all episodes of a meta-batch into one PyG ``Batch``
and the query graphs into another (task 0's graphs first, then task 1's...), each with a ``graph_task``
index tensor: the input of the task-batched core. It uses :meth:`GraphStore.gather` (no Python loop per graph),
and a :class:`MetaBatch` can be built once and reused (pre-collated evaluation episodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch

from graphmeta.data.splits import TaskSplit
from graphmeta.data.tasks import TaskCollection

__all__ = [
    "NotEnoughExamplesError",
    "Episode",
    "EpisodeSampler",
    "KShotSampler",
    "StratifiedSupportSampler",
    "NWayKShotSampler",
    "TaskBatch",
    "MetaBatch",
    "collate_episodes",
    "sample_meta_batch",
    "meta_batches",
    "episode_rng",
]


class NotEnoughExamplesError(ValueError):
    """A task (or class) has too few labelled graphs of some class for the requested support/query."""


@dataclass(frozen=True)
class Episode:
    """One few-shot task instance.

    Attributes:
        task: task index in the collection (``-1`` for N-way episodes over classes).
        support, query: graph ids (into ``collection.graphs``).
        support_y, query_y: labels; float 0/1 for binary tasks, long ``0..n_way-1`` for N-way episodes.
        classes: the original class ids behind episode labels ``0..n_way-1`` (``(0, 1)`` for binary tasks).
    """

    task: int
    support: Tensor
    query: Tensor
    support_y: Tensor
    query_y: Tensor
    classes: tuple[int, ...] = (0, 1)

    @property
    def n_way(self) -> int:
        return len(self.classes)


class EpisodeSampler(Protocol):
    """Draws one episode of a task (or of a class set) with the given random generator."""

    def sample(self, collection: TaskCollection, task: int | Sequence[int], rng: np.random.Generator) -> Episode:
        ...


def episode_rng(seed: int, *index: int) -> np.random.Generator:
    """Independent, reproducible generator for episode ``index`` of a run with ``seed`` (order-free, resumable)."""
    return np.random.default_rng([seed, *index])


def _binary_task(collection: TaskCollection, task: int) -> tuple[np.ndarray, np.ndarray]:
    if collection.task_type != "binary":
        raise ValueError(f"{collection.name} has {collection.task_type} tasks; this sampler needs binary tasks")
    graphs, values = collection.labels.task(task)
    graphs_np = graphs.numpy()
    values_np = values.numpy()
    return graphs_np[values_np == 1], graphs_np[values_np == 0]


def _episode(task: int, pos_s: np.ndarray, neg_s: np.ndarray, pos_q: np.ndarray, neg_q: np.ndarray) -> Episode:
    support = np.concatenate([pos_s, neg_s])
    query = np.concatenate([pos_q, neg_q])
    return Episode(
        task=task,
        support=torch.from_numpy(support.astype(np.int64)),
        query=torch.from_numpy(query.astype(np.int64)),
        support_y=torch.cat([torch.ones(len(pos_s)), torch.zeros(len(neg_s))]),
        query_y=torch.cat([torch.ones(len(pos_q)), torch.zeros(len(neg_q))]),
    )


def _split_query(rng: np.random.Generator, pos_rest: np.ndarray, neg_rest: np.ndarray, n_query: int | None,
                 stratified: bool, where: str, cap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Query from the graphs left after the support: all of them, or ``n_query`` (stratified or not); with
    ``cap``, ``n_query`` is an upper bound (a task with fewer graphs left gives them all)."""
    if n_query is None:
        return pos_rest, neg_rest
    available = len(pos_rest) + len(neg_rest)
    if cap and n_query >= available:
        return pos_rest, neg_rest
    if n_query > available:
        raise NotEnoughExamplesError(f"{where}: query of {n_query} requested but only {available} graphs remain")
    if stratified:
        n_pos = int(round(n_query * len(pos_rest) / max(available, 1)))
        n_pos = min(max(n_pos, 1 if len(pos_rest) else 0), len(pos_rest), n_query)
        n_pos = max(n_pos, n_query - len(neg_rest))
        return rng.choice(pos_rest, n_pos, replace=False), rng.choice(neg_rest, n_query - n_pos, replace=False)
    picked = rng.choice(available, n_query, replace=False)
    is_pos = picked < len(pos_rest)
    return pos_rest[picked[is_pos]], neg_rest[picked[~is_pos] - len(pos_rest)]


@dataclass(frozen=True)
class KShotSampler:
    """Support of ``k_pos`` positives + ``k_neg`` negatives; query = the rest (``n_query=None``) or ``n_query``.

    Args:
        k_pos: positives in the support (K of "K-shot").
        k_neg: negatives in the support (default: ``k_pos``).
        n_query: query size (default ``None``: every remaining labelled graph, the PAR test protocol).
        stratify_query: keep the task's class balance in a fixed-size query (default ``False``).
        cap_query: ``n_query`` is an upper bound: a task with fewer graphs left uses them all (default ``False``:
            such a task raises :class:`NotEnoughExamplesError`).
    """

    k_pos: int
    k_neg: int | None = None
    n_query: int | None = None
    stratify_query: bool = False
    cap_query: bool = False

    def __post_init__(self) -> None:
        if self.k_pos < 1 or (self.k_neg is not None and self.k_neg < 1):
            raise ValueError("k_pos and k_neg must be at least 1")
        if self.n_query is not None and self.n_query < 1:
            raise ValueError("n_query must be at least 1 (or None for all remaining graphs)")

    def sample(self, collection: TaskCollection, task: int | Sequence[int], rng: np.random.Generator) -> Episode:
        t = int(task)  # type: ignore[arg-type]
        pos, neg = _binary_task(collection, t)
        k_neg = self.k_neg if self.k_neg is not None else self.k_pos
        where = f"{collection.name} task {t} ({collection.task_names[t]})"
        if len(pos) < self.k_pos or len(neg) < k_neg:
            raise NotEnoughExamplesError(
                f"{where}: a {self.k_pos}+{k_neg} support needs {self.k_pos} positives and {k_neg} negatives, "
                f"the task has {len(pos)} and {len(neg)}")
        pos = rng.permutation(pos)
        neg = rng.permutation(neg)
        pos_q, neg_q = _split_query(rng, pos[self.k_pos:], neg[k_neg:], self.n_query, self.stratify_query, where,
                                    self.cap_query)
        if len(pos_q) + len(neg_q) == 0:
            raise NotEnoughExamplesError(f"{where}: no graphs left for the query")
        return _episode(t, pos[: self.k_pos], neg[:k_neg], pos_q, neg_q)


@dataclass(frozen=True)
class StratifiedSupportSampler:
    """Support of ``support_size`` graphs keeping the task's positive fraction (at least one of each class).

    This is FS-Mol's protocol (support sizes 16/32/64/128/256, query = the rest); ``n_query`` fixes the query size
    (an upper bound with ``cap_query``).
    """

    support_size: int
    n_query: int | None = None
    stratify_query: bool = True
    cap_query: bool = False

    def __post_init__(self) -> None:
        if self.support_size < 2:
            raise ValueError("support_size must be at least 2 (one graph of each class)")

    def sample(self, collection: TaskCollection, task: int | Sequence[int], rng: np.random.Generator) -> Episode:
        t = int(task)  # type: ignore[arg-type]
        pos, neg = _binary_task(collection, t)
        where = f"{collection.name} task {t} ({collection.task_names[t]})"
        total = len(pos) + len(neg)
        if not pos.size or not neg.size or total <= self.support_size:
            raise NotEnoughExamplesError(
                f"{where}: a stratified support of {self.support_size} plus a query needs more than "
                f"{self.support_size} graphs with both classes; the task has {len(pos)} positives, {len(neg)} negatives")
        n_pos = int(round(self.support_size * len(pos) / total))
        n_pos = min(max(n_pos, 1), self.support_size - 1, len(pos))
        n_neg = self.support_size - n_pos
        if n_neg > len(neg):
            n_neg, n_pos = len(neg), self.support_size - len(neg)
        pos = rng.permutation(pos)
        neg = rng.permutation(neg)
        pos_q, neg_q = _split_query(rng, pos[n_pos:], neg[n_neg:], self.n_query, self.stratify_query, where,
                                    self.cap_query)
        return _episode(t, pos[:n_pos], neg[:n_neg], pos_q, neg_q)


@dataclass(frozen=True)
class NWayKShotSampler:
    """``n_way`` classes drawn from a class set, each with ``k_shot`` support and ``n_query`` query graphs.

    ``graph_ids`` restricts every episode to a subset of the graphs (default ``None``: all graphs of a class),
    e.g. the meta-training graphs of the training classes while their held-out graphs are kept for model
    selection; stored sorted and deduplicated.
    """

    n_way: int
    k_shot: int
    n_query: int
    graph_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.n_way < 2 or self.k_shot < 1 or self.n_query < 1:
            raise ValueError("need n_way >= 2, k_shot >= 1 and n_query >= 1")
        if self.graph_ids is not None:
            ids = tuple(sorted({int(g) for g in self.graph_ids}))
            if not ids:
                raise ValueError("graph_ids must name at least one graph (or be None for all graphs)")
            object.__setattr__(self, "graph_ids", ids)

    def sample(self, collection: TaskCollection, task: int | Sequence[int], rng: np.random.Generator) -> Episode:
        if collection.task_type != "multiclass":
            raise ValueError(f"{collection.name} has {collection.task_type} tasks; N-way episodes need multiclass data")
        class_set = [int(c) for c in (task if isinstance(task, Sequence) else [task])]
        if len(class_set) < self.n_way:
            raise NotEnoughExamplesError(f"{self.n_way}-way episodes need at least {self.n_way} classes, "
                                         f"got {class_set}")
        graphs, values = collection.labels.task(0)
        graphs_np, values_np = graphs.numpy(), values.numpy()
        if self.graph_ids is not None:
            keep = np.isin(graphs_np, np.asarray(self.graph_ids, dtype=graphs_np.dtype))
            graphs_np, values_np = graphs_np[keep], values_np[keep]
        classes = tuple(int(c) for c in rng.choice(class_set, self.n_way, replace=False))
        need = self.k_shot + self.n_query
        support, query = [], []
        for c in classes:
            members = graphs_np[values_np == c]
            if len(members) < need:
                subset = "" if self.graph_ids is None else " in the sampler's graph subset"
                raise NotEnoughExamplesError(f"{collection.name} class {c}: {self.k_shot}-shot with {self.n_query} "
                                             f"queries needs {need} graphs, the class has {len(members)}{subset}")
            picked = rng.choice(members, need, replace=False)
            support.append(picked[: self.k_shot])
            query.append(picked[self.k_shot:])
        labels = torch.arange(self.n_way)
        return Episode(
            task=-1,
            support=torch.from_numpy(np.concatenate(support).astype(np.int64)),
            query=torch.from_numpy(np.concatenate(query).astype(np.int64)),
            support_y=labels.repeat_interleave(self.k_shot),
            query_y=labels.repeat_interleave(self.n_query),
            classes=classes,
        )


@dataclass
class TaskBatch:
    """Graphs of ``n_tasks`` tasks in one block-diagonal PyG batch, grouped by task (task 0's graphs first).

    Attributes:
        batch: PyG ``Batch`` of the graphs.
        graph_task: ``[n_graphs]`` long, task slot ``0..n_tasks-1`` of each graph (non-decreasing).
        y: ``[n_graphs]`` labels (float 0/1 for binary tasks, long class-in-episode for N-way).
        n_tasks: number of task slots (a slot may hold no graph).
    """

    batch: Batch
    graph_task: Tensor
    y: Tensor
    n_tasks: int

    @property
    def node_task(self) -> Tensor:
        """``[n_nodes]`` task slot of every node (nodes of a task are contiguous)."""
        return self.graph_task[self.batch.batch]

    def to(self, device: torch.device | str) -> "TaskBatch":
        return TaskBatch(batch=self.batch.to(device), graph_task=self.graph_task.to(device), y=self.y.to(device),
                         n_tasks=self.n_tasks)


@dataclass
class MetaBatch:
    """The support and query graphs of ``T`` episodes, each side one :class:`TaskBatch`.

    Support and query are separate batches because the inner loop of MAML-style learners forwards only the
    support graphs (and per-task normalization statistics must come from the graphs being forwarded).

    Attributes:
        support, query: the two sides, task slot ``t`` of both is episode ``t``.
        task_ids: ``[T]`` long, the collection's task index of each episode (``-1`` for N-way).
        n_way: classes per episode.
    """

    support: TaskBatch
    query: TaskBatch
    task_ids: Tensor
    n_way: int

    @property
    def num_tasks(self) -> int:
        return int(self.task_ids.numel())

    def to(self, device: torch.device | str) -> "MetaBatch":
        return MetaBatch(support=self.support.to(device), query=self.query.to(device),
                         task_ids=self.task_ids.to(device), n_way=self.n_way)


def _task_batch(collection: TaskCollection, ids: Sequence[Tensor], labels: Sequence[Tensor]) -> TaskBatch:
    counts = torch.tensor([len(i) for i in ids], dtype=torch.long)
    return TaskBatch(
        batch=collection.graphs.gather(torch.cat(list(ids))),
        graph_task=torch.repeat_interleave(torch.arange(len(ids)), counts),
        y=torch.cat(list(labels)),
        n_tasks=len(ids),
    )


def collate_episodes(collection: TaskCollection, episodes: Sequence[Episode]) -> MetaBatch:
    """One :class:`MetaBatch` holding every graph of ``episodes`` (vectorized gather, no per-graph loop)."""
    if not episodes:
        raise ValueError("cannot collate an empty list of episodes")
    n_way = episodes[0].n_way
    if any(e.n_way != n_way for e in episodes):
        raise ValueError("all episodes of a meta-batch must have the same number of classes")
    return MetaBatch(
        support=_task_batch(collection, [e.support for e in episodes], [e.support_y for e in episodes]),
        query=_task_batch(collection, [e.query for e in episodes], [e.query_y for e in episodes]),
        task_ids=torch.tensor([e.task for e in episodes], dtype=torch.long),
        n_way=n_way,
    )


def sample_meta_batch(collection: TaskCollection, sampler: EpisodeSampler, split_part: Sequence[int],
                      meta_batch_size: int, seed: int, step: int, unit: str = "tasks") -> list[Episode]:
    """The ``meta_batch_size`` episodes of meta-training step ``step`` (deterministic in ``seed`` and ``step``).

    Binary tasks: tasks are drawn from ``split_part`` without replacement when there are enough, else with.
    Classes (``unit="classes"``): every episode draws its classes from the whole class set ``split_part``.
    """
    rng = episode_rng(seed, step)
    if unit == "classes":
        return [sampler.sample(collection, list(split_part), rng) for _ in range(meta_batch_size)]
    replace = meta_batch_size > len(split_part)
    tasks = rng.choice(np.asarray(split_part), meta_batch_size, replace=replace)
    return [sampler.sample(collection, int(t), rng) for t in tasks]


def meta_batches(collection: TaskCollection, sampler: EpisodeSampler, split: TaskSplit, part: str = "train",
                 meta_batch_size: int = 16, seed: int = 0, start: int = 0) -> Iterator[MetaBatch]:
    """Endless stream of collated meta-batches from one part of a split; ``start`` resumes at a step."""
    items = getattr(split, part)
    step = start
    while True:
        episodes = sample_meta_batch(collection, sampler, items, meta_batch_size, seed, step, split.unit)
        yield collate_episodes(collection, episodes)
        step += 1
