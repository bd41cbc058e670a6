"""Per-task weights: the performance core of task-batched meta-learning.

Every weighted op of graphmeta's layers accepts either an ordinary parameter (shared by all tasks) or a
*stacked* one with a leading task dimension ``T`` (one slice per task, e.g. MAML's fast weights). Rows of
the input (nodes or graphs) know their task through a :class:`TaskLayout`; rows of one task are contiguous.

Stacked linear maps group rows by task, pad them to ``[T, n_max, d_in]`` and run one ``torch.bmm``;
stacked embedding tables are indexed by ``(task, category)``. With shared parameters the ops are the plain
``F.linear`` / ``F.embedding``, so a model with ordinary parameters is an ordinary PyTorch model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["TaskLayout", "task_linear", "task_embedding", "add_task_bias", "is_stacked"]


@dataclass(frozen=True)
class TaskLayout:
    """Which task each row belongs to, and where it sits inside its task's padded block.

    Attributes:
        row_task: ``[n_rows]`` long, task slot of each row (non-decreasing).
        n_tasks: number of task slots ``T``.
        row_pos: ``[n_rows]`` long, position of each row within its task.
        n_max: largest number of rows of one task.
        counts: ``[T]`` rows per task.
        flat_pos: ``[n_rows]`` long, ``row_task * n_max + row_pos``: the row's place in the flattened padded block.
    """

    row_task: Tensor
    n_tasks: int
    row_pos: Tensor
    n_max: int
    counts: Tensor
    flat_pos: Tensor

    @classmethod
    def from_row_task(cls, row_task: Tensor, n_tasks: int) -> "TaskLayout":
        counts = torch.bincount(row_task, minlength=n_tasks)
        starts = torch.cumsum(counts, 0) - counts
        row_pos = torch.arange(row_task.numel(), device=row_task.device) - starts[row_task]
        n_max = int(counts.max()) if counts.numel() else 0
        return cls(row_task=row_task, n_tasks=n_tasks, row_pos=row_pos, n_max=n_max, counts=counts,
                   flat_pos=row_task * n_max + row_pos)

    def pad(self, x: Tensor) -> Tensor:
        """``[n_rows, d]`` -> ``[T, n_max, d]`` (zeros where a task has fewer rows)."""
        flat = x.new_zeros((self.n_tasks * self.n_max,) + tuple(x.shape[1:]))
        return flat.index_copy(0, self.flat_pos, x).view((self.n_tasks, self.n_max) + tuple(x.shape[1:]))

    def unpad(self, x: Tensor) -> Tensor:
        """``[T, n_max, d]`` -> ``[n_rows, d]``."""
        return x.reshape((-1,) + tuple(x.shape[2:])).index_select(0, self.flat_pos)

    def rows(self, per_task: Tensor) -> Tensor:
        """``[T, ...]`` -> ``[n_rows, ...]``: each row gets its task's slice (backward is one ``index_add``)."""
        return per_task.index_select(0, self.row_task)


def is_stacked(param: Tensor, base_dim: int) -> bool:
    """True when ``param`` carries a leading task dimension on top of its ``base_dim`` dimensions."""
    if param.dim() == base_dim:
        return False
    if param.dim() == base_dim + 1:
        return True
    raise ValueError(f"parameter of shape {tuple(param.shape)} has neither {base_dim} nor {base_dim + 1} dimensions")


def _need_layout(layout: TaskLayout | None, what: str) -> TaskLayout:
    if layout is None:
        raise ValueError(f"per-task {what} need a TaskLayout")
    return layout


def task_linear(x: Tensor, weight: Tensor, bias: Tensor | None, layout: TaskLayout | None) -> Tensor:
    """``x @ W^T + b`` with ``W`` ``[d_out, d_in]`` (shared) or ``[T, d_out, d_in]`` (per task), ``b`` likewise."""
    bias_stacked = bias is not None and is_stacked(bias, 1)
    if is_stacked(weight, 2):
        layout = _need_layout(layout, "weights")
        padded = layout.pad(x)
        if bias_stacked:  # one fused op: bias + x @ W^T per task
            return layout.unpad(torch.baddbmm(bias.unsqueeze(1), padded, weight.transpose(1, 2)))  # type: ignore[union-attr]
        out = layout.unpad(torch.bmm(padded, weight.transpose(1, 2)))
    else:
        out = F.linear(x, weight)
    return out if bias is None else add_task_bias(out, bias, layout)


def add_task_bias(x: Tensor, bias: Tensor, layout: TaskLayout | None) -> Tensor:
    """``x + b`` with ``b`` ``[d]`` (shared) or ``[T, d]`` (per task: row ``i`` gets its task's slice)."""
    if is_stacked(bias, 1):
        return x + _need_layout(layout, "biases").rows(bias)
    return x + bias


def task_embedding(index: Tensor, table: Tensor, layout: TaskLayout | None) -> Tensor:
    """Embedding lookup in ``table`` ``[V, d]`` (shared) or ``[T, V, d]`` (per task, row ``i`` uses its task's).

    ``index`` is ``[N]`` or ``[N, C]`` (then the ``C`` embeddings of a row are *summed*: a multi-column
    categorical encoder). Per-task tables run as a multi-hot ``[N, V]`` matrix times each task's table with
    :func:`task_linear` (one ``bmm``): much faster than gathering ``table[task, index]``, whose backward is a
    serial accumulating scatter, and still twice differentiable.
    """
    if is_stacked(table, 2):
        layout = _need_layout(layout, "embedding tables")
        cols = index.view(index.shape[0], -1)
        hot = table.new_zeros(cols.shape[0], table.shape[1]).scatter_add_(
            1, cols, table.new_ones(cols.shape))  # counts, so a repeated category adds twice like the gather
        return task_linear(hot, table.transpose(1, 2), None, layout)
    out = F.embedding(index, table)
    return out.sum(dim=1) if index.dim() == 2 else out
