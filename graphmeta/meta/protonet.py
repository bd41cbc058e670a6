"""Prototypical Networks, all tasks in one forward pass.

Snell et al., "Prototypical Networks for Few-shot Learning" (NeurIPS 2017), https://arxiv.org/abs/1703.05175.
Prototypes are scatter-means of support embeddings per (task, class); a query is scored against the
prototypes of its own task only. The ``"mahalanobis"`` distance measures query-to-prototype distances in the
metric of each class's shrunk support covariance (Bateni et al., "Improved Few-Shot Visual Classification",
CVPR 2020, https://arxiv.org/abs/1912.03432; the distance FS-Mol's ProtoNet uses).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import scatter, to_dense_batch

from graphmeta.meta.base import MetaLearner, MetaOutput, support_statistics, task_losses
from graphmeta.nn.backbone import FewShotModel

__all__ = ["ProtoNet", "prototype_logits", "mahalanobis_logits", "DISTANCES"]

#: Query-to-prototype distances of :func:`prototype_logits`.
DISTANCES: tuple[str, ...] = ("euclidean", "cosine", "mahalanobis")
Distance = Literal["euclidean", "cosine", "mahalanobis"]


def _scatter_covariance(x: Tensor, group: Tensor, n_groups: int) -> tuple[Tensor, Tensor, Tensor]:
    """Means ``[n_groups, d]``, unbiased covariances ``[n_groups, d, d]`` (zero for groups of one) and sizes of the
    rows of ``x`` grouped by ``group``."""
    counts = torch.bincount(group, minlength=n_groups).to(x.dtype)
    means = scatter(x, group, dim=0, dim_size=n_groups, reduce="mean")
    centred = x - means[group]
    outer = scatter(centred.unsqueeze(-1) * centred.unsqueeze(-2), group, dim=0, dim_size=n_groups, reduce="sum")
    return means, outer / (counts - 1).clamp(min=1).view(-1, 1, 1), counts


def mahalanobis_logits(support_emb: Tensor, support: Any, query_emb: Tensor, query: Any, n_way: int,
                       ridge: float = 0.1, max_class_weight: float = 0.1) -> Tensor:
    r"""Logits ``[n_query, n_way]``: minus the squared Mahalanobis distance of each query to its task's class
    means, :math:`-(\mathbf{q}-\boldsymbol\mu_c)^\top \Sigma_c^{-1}(\mathbf{q}-\boldsymbol\mu_c)` with
    :math:`\Sigma_c = \lambda_c \hat\Sigma_c + (1-\lambda_c)\hat\Sigma_\text{task} + \text{ridge}\,I`, the class
    covariance shrunk towards the task's (all support molecules) and regularized, :math:`\lambda_c =
    \min(n_c/(n_c+1), \text{max\_class\_weight})` (Simple CNAPS' estimator, as in FS-Mol's ProtoNet).

    All tasks at once: one Cholesky factor per (task, class), queries packed per task, one batched triangular
    solve. Computed in at least float32 (bf16 inputs, e.g. under autocast, are promoted: factorizations need it).
    Support rows only shape the metric, so a query's logits do not depend on the other queries.
    """
    T, dtype = support.n_tasks, support_emb.dtype
    work = torch.promote_types(dtype, torch.float32)
    with torch.autocast(support_emb.device.type, enabled=False):
        s, q = support_emb.to(work), query_emb.to(work)
        slot = support.graph_task * n_way + support.y.long()
        class_mean, class_cov, class_n = _scatter_covariance(s, slot, T * n_way)
        _, task_cov, _ = _scatter_covariance(s, support.graph_task, T)
        weight = torch.clamp(class_n / (class_n + 1), max=max_class_weight).view(T, n_way, 1, 1)
        eye = torch.eye(s.shape[1], dtype=s.dtype, device=s.device)
        cov = (weight * class_cov.view(T, n_way, *eye.shape) + (1 - weight) * task_cov.unsqueeze(1) + ridge * eye)
        factor = torch.linalg.cholesky(cov)  # [T, n_way, d, d]
        packed, mask = to_dense_batch(q, query.graph_task, batch_size=T)  # [T, Q, d]
        diff = packed.unsqueeze(1) - class_mean.view(T, n_way, 1, -1)  # [T, n_way, Q, d]
        z = torch.linalg.solve_triangular(factor, diff.transpose(-1, -2), upper=False)  # [T, n_way, d, Q]
        distance = z.pow(2).sum(-2).transpose(1, 2)  # [T, Q, n_way]
        return (-distance[mask]).to(dtype)


def prototype_logits(support_emb: Tensor, support: Any, query_emb: Tensor, query: Any, n_way: int,
                     distance: Distance = "euclidean", scale: float = 10.0) -> Tensor:
    """Logits ``[n_query, n_way]``: minus squared Euclidean distance (or scaled cosine similarity, or minus squared
    Mahalanobis distance: :func:`mahalanobis_logits`) to the class prototypes of the query's own task."""
    T = support.n_tasks
    slot = support.graph_task * n_way + support.y.long()
    counts = torch.bincount(slot, minlength=T * n_way)
    if bool((counts == 0).any()):
        task = int(torch.nonzero(counts == 0)[0]) // n_way
        raise ValueError(f"task slot {task} has a class without support examples; prototypes need every class")
    if distance == "mahalanobis":
        return mahalanobis_logits(support_emb, support, query_emb, query, n_way)
    protos = scatter(support_emb, slot, dim=0, dim_size=T * n_way, reduce="mean").view(T, n_way, -1)
    mine = protos[query.graph_task]  # [n_query, n_way, d]
    if distance == "euclidean":
        return -(query_emb.unsqueeze(1) - mine).pow(2).sum(-1)
    if distance == "cosine":
        return scale * F.cosine_similarity(query_emb.unsqueeze(1), mine, dim=-1)
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


class ProtoNet(MetaLearner):
    """Prototypical network on the model's backbone (the head is unused).

    Args:
        model (FewShotModel): the backbone is ``model.encoder``.
        distance (str, optional): ``"euclidean"`` (squared), ``"cosine"`` or ``"mahalanobis"`` (squared, in the
            shrunk covariance of the support: :func:`mahalanobis_logits`). (default: ``"euclidean"``)
        scale (float, optional): temperature of the cosine logits. (default: ``10.0``)
    """

    def __init__(self, model: FewShotModel, distance: Distance = "euclidean", scale: float = 10.0) -> None:
        super().__init__(model)
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        self.distance, self.scale = distance, scale

    def _logits(self, meta_batch: Any) -> Tensor:
        statistics = support_statistics(self.model)
        s = self.model.embed(meta_batch.support, statistics=statistics)
        q = self.model.embed(meta_batch.query, statistics=statistics)
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
