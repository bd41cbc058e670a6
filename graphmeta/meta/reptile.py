"""Reptile, all tasks of a meta-batch at once.

Nichol, Achiam, Schulman, "On First-Order Meta-Learning Algorithms" (2018), https://arxiv.org/abs/1803.02999.
Each task takes ``inner_steps`` plain SGD steps on its support set from the meta-weights; the meta-gradient
written into ``.grad`` is :math:`\\theta - \\frac{1}{T}\\sum_t \\phi_t`, so an SGD outer step with rate
:math:`\\epsilon` is Reptile's update :math:`\\theta \\leftarrow \\theta + \\epsilon(\\bar\\phi - \\theta)`.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

from graphmeta.meta.base import MetaOutput, task_losses
from graphmeta.meta.maml import MAML
from graphmeta.nn.backbone import FewShotModel

__all__ = ["Reptile"]


class Reptile(MAML):
    """Reptile (first-order by construction); shares MAML's task-batched inner loop.

    Args:
        model (FewShotModel): backbone + head.
        inner_lr (float, optional): inner SGD step size. (default: ``0.1``)
        inner_steps (int, optional): inner SGD steps. (default: ``5``)
        adapt (str or list, optional): adapted parameters (``"all"``, ``"head"`` or prefixes). (default: ``"all"``)
    """

    def __init__(self, model: FewShotModel, inner_lr: float = 0.1, inner_steps: int = 5,
                 adapt: str | Sequence[str] = "all") -> None:
        super().__init__(model, inner_lr=inner_lr, inner_steps=inner_steps, first_order=True, adapt=adapt)

    def meta_step(self, meta_batch: Any) -> MetaOutput:
        fast, finite = self._inner_loop(meta_batch.support, create_graph=False)
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, phi in fast.items():
                theta = params[name]
                delta = theta - phi.mean(0)
                theta.grad = delta.clone() if theta.grad is None else theta.grad + delta
            logits = self.query_logits(fast, meta_batch.query, meta_batch.support)
            per_task = task_losses(logits, meta_batch.query)
        return MetaOutput(loss=per_task.mean(), query_logits=logits, task_loss=per_task, inner_finite=finite)

    def evaluate(self, meta_batch: Any) -> Tensor:
        return MAML.evaluate(self, meta_batch)
