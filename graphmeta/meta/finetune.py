"""The fine-tune / multitask baseline: pretrain the backbone on all training tasks, fit a head per new task.

Training is plain multitask learning in episodic form: the support and query graphs of each sampled
training task are scored by a multitask head (one output per task of the collection) with binary cross
entropy. At evaluation the backbone is frozen and a fresh linear head is fitted on each task's support
embeddings (all tasks of a batch at once: the per-task heads are stacked and their losses summed, so each
gets its own gradient), then scores the query. No meta-learning: the yardstick meta-learners must beat.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphmeta.meta.base import MetaLearner, MetaOutput, support_statistics, task_losses
from graphmeta.nn.backbone import BatchLayout, FewShotModel
from graphmeta.nn.taskbatch import task_linear

__all__ = ["FineTune"]


class FineTune(MetaLearner):
    """Multitask pretraining + per-task linear head fine-tuned on the support.

    Args:
        model (FewShotModel): backbone (its ``head`` is unused).
        n_tasks (int): number of tasks of the training collection (outputs of the multitask head).
        head_steps (int, optional): Adam steps fitting each new task's head. (default: ``100``)
        head_lr (float, optional): their learning rate. (default: ``0.05``)
        head_weight_decay (float, optional): L2 penalty on the new heads. (default: ``1e-2``)
    """

    def __init__(self, model: FewShotModel, n_tasks: int, head_steps: int = 100, head_lr: float = 0.05,
                 head_weight_decay: float = 1e-2) -> None:
        super().__init__(model)
        if n_tasks < 1:
            raise ValueError("n_tasks must be at least 1")
        self.n_tasks, self.head_steps, self.head_lr, self.head_weight_decay = n_tasks, head_steps, head_lr, head_weight_decay
        self.task_head = nn.Linear(model.encoder.hidden_channels, n_tasks)

    def _multitask_loss(self, task_batch: Any, task_ids: Tensor) -> Tensor:
        """Each task's mean binary cross-entropy under the multitask head: ``[T]``."""
        logits = self.task_head(self.model.embed(task_batch))
        column = task_ids[task_batch.graph_task]
        if bool((column < 0).any()) or bool((column >= self.n_tasks).any()):
            raise ValueError(f"task ids must lie in [0, {self.n_tasks}) for the multitask head")
        mine = logits.gather(1, column.unsqueeze(1)).squeeze(1)
        per_graph = F.binary_cross_entropy_with_logits(mine, task_batch.y.to(mine.dtype), reduction="none")
        per_task = torch.zeros(task_batch.n_tasks, dtype=mine.dtype).index_add_(0, task_batch.graph_task, per_graph)
        counts = torch.bincount(task_batch.graph_task, minlength=task_batch.n_tasks).clamp(min=1)
        return per_task / counts

    def meta_step(self, meta_batch: Any) -> MetaOutput:
        per_task = 0.5 * (self._multitask_loss(meta_batch.support, meta_batch.task_ids)
                          + self._multitask_loss(meta_batch.query, meta_batch.task_ids))
        loss = per_task.mean()
        loss.backward()
        return MetaOutput(loss=loss.detach(), query_logits=torch.empty(0), task_loss=per_task.detach())

    def fit_heads(self, support_emb: Tensor, support: Any, layout: BatchLayout) -> tuple[Tensor, Tensor]:
        """Per-task heads ``[T, n_way, d]``, ``[T, n_way]`` fitted on (frozen) support embeddings."""
        T, d, n_way = support.n_tasks, support_emb.shape[1], self.model.n_way
        weight = torch.zeros(T, n_way, d, dtype=support_emb.dtype, requires_grad=True)
        bias = torch.zeros(T, n_way, dtype=support_emb.dtype, requires_grad=True)
        optimizer = torch.optim.Adam([weight, bias], lr=self.head_lr)
        for _ in range(self.head_steps):
            optimizer.zero_grad()
            logits = task_linear(support_emb, weight, bias, layout.graphs)
            loss = task_losses(logits, support).sum() + self.head_weight_decay * 0.5 * weight.pow(2).sum()
            loss.backward()
            optimizer.step()
        return weight.detach(), bias.detach()

    def evaluate(self, meta_batch: Any) -> Tensor:
        s_layout, q_layout = BatchLayout.of(meta_batch.support), BatchLayout.of(meta_batch.query)
        with torch.no_grad():
            statistics = support_statistics(self.model)
            support_emb = self.model.embed(meta_batch.support, s_layout, statistics)
            query_emb = self.model.embed(meta_batch.query, q_layout, statistics)
        with torch.enable_grad():
            weight, bias = self.fit_heads(support_emb, meta_batch.support, s_layout)
        return task_linear(query_emb, weight, bias, q_layout.graphs)
