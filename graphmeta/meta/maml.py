"""MAML and its variants, all tasks of a meta-batch at once.

Finn et al., "Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks" (ICML 2017),
https://arxiv.org/abs/1703.03400; first-order MAML (same paper); ANIL: Raghu et al., "Rapid Learning or
Feature Reuse?" (ICLR 2020), https://arxiv.org/abs/1909.09157; Meta-SGD: Li et al. (2017),
https://arxiv.org/abs/1707.09835.

Fast weights are the meta-weights expanded to ``[T, ...]``; the support loss is the *sum* of per-task mean
losses, so one ``torch.autograd.grad`` returns every task's own gradient in its slice (tasks share no
computation that mixes them). All slices are updated at once; the query loss is averaged over tasks.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from graphmeta.meta.base import (MetaLearner, MetaOutput, adapted_names, expand_per_task, support_statistics,
                                 task_losses)
from graphmeta.nn.backbone import BatchLayout, FewShotModel
from graphmeta.nn.norm import SupportStatistics
from graphmeta.nn.taskbatch import task_linear

__all__ = ["MAML"]


class MAML(MetaLearner):
    r"""Task-batched MAML.

    Args:
        model (FewShotModel): backbone + head.
        inner_lr (float, optional): inner-loop step size (initial value when learned). (default: ``0.1``)
        inner_steps (int, optional): inner-loop gradient steps. (default: ``5``)
        first_order (bool, optional): drop second-order terms (FOMAML). (default: ``False``)
        adapt (str or list, optional): adapted parameters: ``"all"``, ``"head"`` (ANIL) or name prefixes.
            (default: ``"all"``)
        learn_inner_lr (bool, optional): Meta-SGD, one learned step size per adapted parameter entry.
            (default: ``False``)
    """

    def __init__(self, model: FewShotModel, inner_lr: float = 0.1, inner_steps: int = 5, first_order: bool = False,
                 adapt: str | Sequence[str] = "all", learn_inner_lr: bool = False) -> None:
        super().__init__(model)
        if inner_steps < 1:
            raise ValueError("inner_steps must be at least 1")
        self.inner_lr, self.inner_steps, self.first_order = inner_lr, inner_steps, first_order
        self.adapt, self.learn_inner_lr = adapt, learn_inner_lr
        self.adapted = adapted_names(model, adapt)
        self.head_only = all(n.startswith("head.") for n in self.adapted)
        params = dict(model.named_parameters())
        self.inner_lrs = nn.ParameterDict(
            {_key(n): nn.Parameter(torch.full_like(params[n], inner_lr)) for n in self.adapted}
        ) if learn_inner_lr else None

    def _step_size(self, name: str) -> Tensor | float:
        return self.inner_lrs[_key(name)] if self.inner_lrs is not None else self.inner_lr

    def _logits(self, fast: dict[str, Tensor], task_batch: Any, layout: BatchLayout, embeddings: Tensor | None,
                statistics: SupportStatistics | None = None) -> Tensor:
        if embeddings is not None:  # ANIL: the backbone is not adapted, only the head runs per step
            return task_linear(embeddings, fast["head.weight"], fast["head.bias"], layout.graphs)
        return functional_call(self.model, fast, (task_batch, layout), {"statistics": statistics})

    def adapt_to(self, support: Any, layout: BatchLayout | None = None,
                 create_graph: bool | None = None) -> dict[str, Tensor]:
        """Fast weights ``{name: [T, ...]}`` after ``inner_steps`` steps on each task's support set."""
        return self._inner_loop(support, layout, create_graph)[0]

    def _inner_loop(self, support: Any, layout: BatchLayout | None = None,
                    create_graph: bool | None = None) -> tuple[dict[str, Tensor], Tensor]:
        """Fast weights, and ``[T]`` bool: whether each task's support loss stayed finite at every step."""
        layout = layout or BatchLayout.of(support)
        create_graph = (not self.first_order) if create_graph is None else create_graph
        params = dict(self.model.named_parameters())
        fast = expand_per_task({n: params[n] for n in self.adapted}, support.n_tasks)
        embeddings = self.model.embed(support, layout) if self.head_only else None
        finite = torch.ones(support.n_tasks, dtype=torch.bool, device=support.graph_task.device)
        for _ in range(self.inner_steps):
            per_task = task_losses(self._logits(fast, support, layout, embeddings), support)
            finite &= torch.isfinite(per_task.detach())
            grads = torch.autograd.grad(per_task.sum(), list(fast.values()), create_graph=create_graph)
            fast = {n: w - self._step_size(n) * g for (n, w), g in zip(fast.items(), grads)}
        return fast, finite

    def query_logits(self, fast: dict[str, Tensor], query: Any, support: Any, layout: BatchLayout | None = None) -> Tensor:
        """Query logits under the fast weights. With ``norm="task"`` the query is normalized with the support's
        statistics under the same weights (one more pass over the support), never with the other queries'."""
        layout = layout or BatchLayout.of(query)
        statistics = support_statistics(self.model)
        if statistics is not None:
            if self.head_only:
                self.model.embed(support, statistics=statistics)
            else:
                functional_call(self.model.encoder, _encoder_params(fast), (support,), {"statistics": statistics})
        embeddings = self.model.embed(query, layout, statistics) if self.head_only else None
        return self._logits(fast, query, layout, embeddings, statistics)

    def meta_step(self, meta_batch: Any) -> MetaOutput:
        fast, finite = self._inner_loop(meta_batch.support)
        logits = self.query_logits(fast, meta_batch.query, meta_batch.support)
        per_task = task_losses(logits, meta_batch.query)
        loss = per_task.mean()
        loss.backward()
        return MetaOutput(loss=loss.detach(), query_logits=logits.detach(), task_loss=per_task.detach(),
                          inner_finite=finite)

    def evaluate(self, meta_batch: Any) -> Tensor:
        with torch.enable_grad():
            fast = {n: w.detach() for n, w in self.adapt_to(meta_batch.support, create_graph=False).items()}
        with torch.no_grad():
            return self.query_logits(fast, meta_batch.query, meta_batch.support)


def _key(name: str) -> str:
    return name.replace(".", "__")  # ParameterDict keys cannot contain dots


def _encoder_params(fast: dict[str, Tensor]) -> dict[str, Tensor]:
    """The backbone's entries of a model's fast weights, named as in ``model.encoder``."""
    return {n[len("encoder."):]: w for n, w in fast.items() if n.startswith("encoder.")}
