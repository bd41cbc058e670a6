"""Prototypical Networks, all tasks in one forward pass.

Snell et al., "Prototypical Networks for Few-shot Learning" (NeurIPS 2017), https://arxiv.org/abs/1703.05175.
Prototypes are scatter-means of support embeddings per (task, class); a query is scored against the
prototypes of its own task only.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import scatter

from graphmeta.meta.base import MetaLearner, MetaOutput, task_losses
from graphmeta.nn.backbone import FewShotModel

__all__ = ["ProtoNet", "prototype_logits"]


def prototype_logits(support_emb: Tensor, support: Any, query_emb: Tensor, query: Any, n_way: int,
                     distance: Literal["euclidean", "cosine"] = "euclidean", scale: float = 10.0) -> Tensor:
    """Logits ``[n_query, n_way]``: minus squared Euclidean distance (or scaled cosine similarity) to the
    class prototypes of the query's own task."""
    T = support.n_tasks
    slot = support.graph_task * n_way + support.y.long()
    counts = torch.bincount(slot, minlength=T * n_way)
    if bool((counts == 0).any()):
        task = int(torch.nonzero(counts == 0)[0]) // n_way
        raise ValueError(f"task slot {task} has a class without support examples; prototypes need every class")
    protos = scatter(support_emb, slot, dim=0, dim_size=T * n_way, reduce="mean").view(T, n_way, -1)
    mine = protos[query.graph_task]  # [n_query, n_way, d]
    if distance == "euclidean":
        return -(query_emb.unsqueeze(1) - mine).pow(2).sum(-1)
    if distance == "cosine":
        return scale * F.cosine_similarity(query_emb.unsqueeze(1), mine, dim=-1)
    raise ValueError(f"distance must be 'euclidean' or 'cosine', got {distance!r}")


class ProtoNet(MetaLearner):
    """Prototypical network on the model's backbone (the head is unused).

    Args:
        model (FewShotModel): the backbone is ``model.encoder``.
        distance (str, optional): ``"euclidean"`` (squared) or ``"cosine"``. (default: ``"euclidean"``)
        scale (float, optional): temperature of the cosine logits. (default: ``10.0``)
    """

    def __init__(self, model: FewShotModel, distance: Literal["euclidean", "cosine"] = "euclidean",
                 scale: float = 10.0) -> None:
        super().__init__(model)
        if distance not in ("euclidean", "cosine"):
            raise ValueError(f"distance must be 'euclidean' or 'cosine', got {distance!r}")
        self.distance, self.scale = distance, scale

    def _logits(self, meta_batch: Any) -> Tensor:
        s = self.model.embed(meta_batch.support)
        q = self.model.embed(meta_batch.query)
        return prototype_logits(s, meta_batch.support, q, meta_batch.query, meta_batch.n_way, self.distance,
                                self.scale)

    def meta_step(self, meta_batch: Any) -> MetaOutput:
        logits = self._logits(meta_batch)
        per_task = task_losses(logits, meta_batch.query)
        loss = per_task.mean()
        loss.backward()
        return MetaOutput(loss=loss.detach(), query_logits=logits.detach(), task_loss=per_task.detach())

    @torch.no_grad()
    def evaluate(self, meta_batch: Any) -> Tensor:
        return self._logits(meta_batch)
