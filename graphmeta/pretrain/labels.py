"""Labels of supervised multitask pretraining: the (graph, task, value) pairs of the tasks passed in, looked up
per batch of graphs without a dense ``[graphs, tasks]`` matrix, and ROC-AUC of every task at once.

FS-Mol's 4,935 training assays over ~200k molecules would be a 4 GB dense label matrix of which ~0.05% is filled;
the pairs are stored sorted by graph (a CSR layout) and a batch's pairs are gathered with a few tensor ops.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from graphmeta.data.graphs import segment_arange
from graphmeta.data.tasks import TaskCollection

__all__ = ["GraphLabels", "training_tasks", "per_task_roc_auc"]

#: Task groups whose labels pretraining must never see (FS-Mol's protocol keeps them for evaluation).
_EVALUATION_GROUPS = ("valid", "validation", "test")


def training_tasks(collection: TaskCollection, tasks: Sequence[int | str] | None) -> list[int]:
    """Task indices supervised pretraining may use: ``tasks`` (names or indices), by default the collection's
    ``"train"`` task group when it has task groups, else all its tasks. A task of a validation or test group is
    refused (its labels would leak into every later evaluation on it)."""
    if collection.task_type != "binary":
        raise ValueError(f"multitask pretraining needs binary tasks; {collection.name} has {collection.task_type} tasks")
    groups = collection.task_groups
    if tasks is None:
        if groups and "train" not in groups:
            raise ValueError(f"{collection.name} has task groups {sorted(groups)} but no 'train' group: pass the "
                             f"training tasks explicitly")
        ids = list(groups["train"]) if groups else list(range(collection.n_tasks))
    else:
        ids = [collection.task_index(t) for t in tasks]
    ids = [int(t) for t in ids]
    if not ids:
        raise ValueError(f"no tasks of {collection.name} to pretrain on")
    if len(set(ids)) != len(ids):
        raise ValueError(f"tasks of {collection.name} are listed twice: {sorted({t for t in ids if ids.count(t) > 1})}")
    for group in _EVALUATION_GROUPS:
        leaked = sorted(set(ids) & {int(t) for t in groups.get(group, ())})
        if leaked:
            names = ", ".join(repr(collection.task_names[t]) for t in leaked[:5])
            raise ValueError(f"{len(leaked)} of the tasks passed belong to {collection.name}'s {group!r} group "
                             f"({names}{', ...' if len(leaked) > 5 else ''}): pretraining on their labels would leak "
                             f"them into the evaluation; pass training tasks only")
    return ids


@dataclass
class GraphLabels:
    """Binary labels of ``n_tasks`` tasks as (graph, task, value) pairs sorted by graph.

    Attributes:
        graph_ptr: ``[n_graphs + 1]``, the pairs of graph ``g`` are ``graph_ptr[g]:graph_ptr[g + 1]``.
        task: ``[n_pairs]`` long, column ``0..n_tasks-1`` (the position of the task in the list passed in).
        value: ``[n_pairs]`` float 0/1.
        n_tasks: number of tasks (outputs of the multitask head).
        digest: sha256 of the task names and pairs (a resume checks it trains on the same labels).
    """

    graph_ptr: Tensor
    task: Tensor
    value: Tensor
    n_tasks: int
    digest: str

    @classmethod
    def from_collection(cls, collection: TaskCollection, tasks: Sequence[int]) -> "GraphLabels":
        """The labels of ``tasks`` (indices into ``collection``) only; no other task's labels are read."""
        selected = collection.labels.select([int(t) for t in tasks])
        counts = selected.task_ptr[1:] - selected.task_ptr[:-1]
        column = torch.repeat_interleave(torch.arange(len(tasks)), counts)
        order = torch.argsort(selected.graph, stable=True)
        graph = selected.graph[order]
        per_graph = torch.bincount(graph, minlength=collection.n_graphs)
        digest = hashlib.sha256(json.dumps([collection.task_names[int(t)] for t in tasks]).encode())
        for tensor in (graph, column[order], selected.value[order]):
            digest.update(tensor.numpy().tobytes())
        return cls(graph_ptr=torch.cat([per_graph.new_zeros(1), per_graph.cumsum(0)]), task=column[order],
                   value=selected.value[order].float(), n_tasks=len(tasks), digest=digest.hexdigest())

    @property
    def n_pairs(self) -> int:
        return int(self.task.numel())

    def labelled_graphs(self) -> Tensor:
        """Ids of the graphs with at least one label, ascending."""
        return torch.nonzero(self.graph_ptr[1:] > self.graph_ptr[:-1]).flatten()

    def pairs(self, graph_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(row, task, value)`` of every label of the graphs ``graph_ids``: ``row`` is the position in
        ``graph_ids``, so ``logits[row, task]`` are the scored pairs."""
        ids = torch.as_tensor(graph_ids, dtype=torch.long)
        start, counts = self.graph_ptr[ids], self.graph_ptr[ids + 1] - self.graph_ptr[ids]
        index = torch.repeat_interleave(start, counts) + segment_arange(counts)
        return torch.repeat_interleave(torch.arange(len(ids)), counts), self.task[index], self.value[index]


def per_task_roc_auc(task: Tensor, score: Tensor, target: Tensor, n_tasks: int) -> Tensor:
    """ROC-AUC of every task from its (score, 0/1 target) pairs, ``[n_tasks]`` float64, NaN for a task without
    both classes; ties count one half (the Mann-Whitney U statistic with average ranks, as scikit-learn)."""
    score, target = score.detach().double().cpu(), target.detach().double().cpu()
    task = task.cpu()
    by_score = torch.argsort(score, stable=True)
    order = by_score[torch.argsort(task[by_score], stable=True)]  # by task, then score
    t, s, y = task[order], score[order], target[order]
    counts = torch.bincount(t, minlength=n_tasks)
    starts = torch.cumsum(counts, 0) - counts
    rank = (torch.arange(len(t)) - starts[t] + 1).double()  # 1-based rank within the task
    if len(t):
        tie_start = torch.ones(len(t), dtype=torch.bool)
        tie_start[1:] = (t[1:] != t[:-1]) | (s[1:] != s[:-1])
        tie = torch.cumsum(tie_start, 0) - 1
        rank = scatter(rank, tie, dim=0, reduce="mean")[tie]  # tied scores share their mean rank
    positives = scatter(y, t, dim=0, dim_size=n_tasks, reduce="sum")
    negatives = counts.double() - positives
    u = scatter(rank * y, t, dim=0, dim_size=n_tasks, reduce="sum") - positives * (positives + 1) / 2
    auc = u / (positives * negatives)
    return torch.where((positives > 0) & (negatives > 0), auc, torch.full_like(auc, float("nan")))
