"""Sequential per-task reference implementations: the yardstick for correctness and speed.

Each function runs one task at a time in a plain Python loop with ``torch.func.functional_call`` over the
same model with ordinary (unstacked) parameters -- the way public meta-learning code adapts tasks -- and
accumulates the meta-gradient into ``.grad`` exactly as the task-batched learner's ``meta_step`` should.
Tests require the two to agree (float64, 1e-6 relative); ``bench/meta_throughput.py`` times both.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from graphmeta.meta.base import support_statistics
from graphmeta.meta.maml import MAML
from graphmeta.meta.protonet import ProtoNet, prototype_logits
from graphmeta.meta.reptile import Reptile

__all__ = ["sequential_meta_step"]


def _adapt_one(learner: MAML, support: Any, create_graph: bool) -> dict[str, Tensor]:
    params = dict(learner.model.named_parameters())
    fast = {n: params[n] for n in learner.adapted}
    for _ in range(learner.inner_steps):
        logits = functional_call(learner.model, fast, (support,))
        loss = F.cross_entropy(logits, support.y.long())
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=create_graph)
        fast = {n: w - learner._step_size(n) * g for (n, w), g in zip(fast.items(), grads)}
    return fast


def _query_logits(learner: MAML, fast: dict[str, Tensor], mb: Any) -> Tensor:
    """One task's query logits under its fast weights; ``norm="task"``: with its support's statistics."""
    statistics = support_statistics(learner.model)
    if statistics is not None:
        functional_call(learner.model, fast, (mb.support,), {"statistics": statistics})
    return functional_call(learner.model, fast, (mb.query,), {"statistics": statistics})


def sequential_meta_step(learner: MAML | Reptile | ProtoNet, task_batches: Sequence[Any]) -> Tensor:
    """Meta-gradient of ``len(task_batches)`` single-task meta-batches, one task at a time, into ``.grad``.

    Returns the meta-loss (mean over tasks of the query loss).
    """
    n = len(task_batches)
    total = torch.zeros(())
    for mb in task_batches:
        if mb.num_tasks != 1:
            raise ValueError("the sequential reference takes one single-task meta-batch per task")
        if isinstance(learner, ProtoNet):
            statistics = support_statistics(learner.model)
            s = learner.model.embed(mb.support, statistics=statistics)
            q = learner.model.embed(mb.query, statistics=statistics)
            logits = prototype_logits(s, mb.support, q, mb.query, mb.n_way, learner.distance, learner.scale)
            loss = F.cross_entropy(logits, mb.query.y.long())
            (loss / n).backward()
        elif isinstance(learner, Reptile):
            fast = _adapt_one(learner, mb.support, create_graph=False)
            params = dict(learner.model.named_parameters())
            with torch.no_grad():
                for name, phi in fast.items():
                    delta = (params[name] - phi) / n
                    params[name].grad = delta.clone() if params[name].grad is None else params[name].grad + delta
                loss = F.cross_entropy(_query_logits(learner, fast, mb), mb.query.y.long())
        else:
            fast = _adapt_one(learner, mb.support, create_graph=not learner.first_order)
            loss = F.cross_entropy(_query_logits(learner, fast, mb), mb.query.y.long())
            (loss / n).backward()
        total = total + loss.detach() / n
    return total
