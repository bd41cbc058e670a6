"""What every meta-learner shares: per-task losses, the choice of adapted parameters, the step interface.

A meta-learner's :meth:`MetaLearner.meta_step` takes a collated :class:`~graphmeta.data.episodes.MetaBatch`
(all tasks at once), accumulates the meta-gradient into the ``.grad`` of the meta-parameters and returns the
query loss and logits; the trainer then steps its optimizer. Task losses are means over each task's graphs,
and the meta-loss is their mean over tasks, so a task's weight does not depend on its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from graphmeta.nn.norm import SupportStatistics

__all__ = ["MetaOutput", "MetaLearner", "task_losses", "adapted_names", "expand_per_task", "support_statistics"]


@dataclass
class MetaOutput:
    """Result of one meta-step: the meta-loss (detached) and the query logits ``[n_query_graphs, n_way]``.

    ``task_loss`` (``[T]``, detached) is each task's query loss and ``inner_finite`` (``[T]`` bool) says whether
    every support loss of the task's inner loop was finite: they let the trainer name the task that diverged
    (``None`` where a learner has no such quantity).
    """

    loss: Tensor
    query_logits: Tensor
    task_loss: Tensor | None = None
    inner_finite: Tensor | None = None


def task_losses(logits: Tensor, task_batch: Any) -> Tensor:
    """Cross-entropy averaged within each task: ``[n_tasks]``."""
    per_graph = F.cross_entropy(logits, task_batch.y.long(), reduction="none")
    return scatter(per_graph, task_batch.graph_task, dim=0, dim_size=task_batch.n_tasks, reduce="mean")


def adapted_names(model: nn.Module, adapt: str | Sequence[str]) -> list[str]:
    """Names of the parameters the inner loop adapts: ``"all"``, ``"head"`` (ANIL) or a list of name prefixes."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if adapt == "all":
        chosen = names
    elif adapt == "head":
        chosen = [n for n in names if n.startswith("head.")]
    else:
        prefixes = [adapt] if isinstance(adapt, str) else list(adapt)
        chosen = [n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)]
    if not chosen:
        raise ValueError(f"adapt={adapt!r} selects no parameter of the model")
    return chosen


def support_statistics(model: nn.Module) -> SupportStatistics | None:
    """An empty record for the support's pass when ``model`` normalizes by task (``norm="task"``), else ``None``.

    Every learner embeds the support first with this record and then the query with it, so a query graph is
    normalized with its task's support statistics and its score never depends on the other query graphs.
    """
    return SupportStatistics() if getattr(model, "normalizes_by_task", False) else None


def expand_per_task(params: dict[str, Tensor], n_tasks: int) -> dict[str, Tensor]:
    """One slice per task of each parameter (``expand``: no copy, gradients flow back to the meta-weights)."""
    return {n: p.unsqueeze(0).expand(n_tasks, *p.shape) for n, p in params.items()}


class MetaLearner(nn.Module):
    """Base class: holds the model; subclasses implement :meth:`meta_step` and :meth:`evaluate`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def meta_step(self, meta_batch: Any) -> MetaOutput:  # pragma: no cover - interface
        """Accumulates the meta-gradient of ``meta_batch`` into ``.grad`` and returns loss and query logits."""
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, meta_batch: Any) -> Tensor:  # pragma: no cover - interface
        """Query logits after adapting to each task's support (no meta-gradient)."""
        raise NotImplementedError
