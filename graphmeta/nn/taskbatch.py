"""Per-task weights: the performance core of task-batched meta-learning.

Every weighted op of graphmeta's layers accepts either an ordinary parameter (shared by all tasks) or a
*stacked* one with a leading task dimension ``T`` (one slice per task, e.g. MAML's fast weights). Rows of
the input (nodes or graphs) know their task through a :class:`TaskLayout`; rows of one task are contiguous.

Stacked linear maps cut each task's rows into blocks, pad the blocks to ``[n_blocks, block, d_in]`` and run one
``torch.bmm`` with each block's task slice of the weight; stacked embedding tables run as a multi-hot matrix
times the per-task tables (the same ``bmm``). With shared parameters the ops are the plain
``F.linear`` / ``F.embedding``, so a model with ordinary parameters is an ordinary PyTorch model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["TaskLayout", "choose_chunk_size", "task_linear", "task_embedding", "task_mlp", "add_task_bias", "is_stacked"]


#: Cost of gathering one task's weight slice for a chunk, in padded rows of matmul work (see
#: :func:`choose_chunk_size`). Tuned on a 2-core CPU with bench/meta_throughput.py regime (b): 32-64 were
#: fastest; 8 and below made small blocks, slower than no blocking at all.
CHUNK_GATHER_COST_ROWS = 32


def choose_chunk_size(counts: list[int], gather_cost_rows: float | None = None) -> int:
    """Rows per padded block that minimize padded rows + ``gather_cost_rows`` x blocks.

    One block per task (size = the largest task) wastes most of the ``bmm`` on padding when task sizes differ
    (few-shot supports of 2 molecules: 20 to 150 atoms); many small blocks waste little padding but gather a
    weight slice per block. Candidates are multiples of 8 up to the largest task, and the largest task itself.
    ``gather_cost_rows`` defaults to :data:`CHUNK_GATHER_COST_ROWS`.
    """
    if gather_cost_rows is None:
        gather_cost_rows = CHUNK_GATHER_COST_ROWS
    if not counts:
        return 1
    n_max = max(max(counts), 1)
    sizes = torch.tensor(counts, dtype=torch.float64).clamp(min=1)
    candidates = torch.tensor(sorted(set(range(8, n_max, 8)) | {n_max}), dtype=torch.float64)
    blocks = torch.ceil(sizes.unsqueeze(0) / candidates.unsqueeze(1)).sum(1)
    cost = blocks * candidates + gather_cost_rows * blocks
    return int(candidates[int(torch.argmin(cost))])


@dataclass(frozen=True)
class TaskLayout:
    """Which task each row belongs to, and where it sits in the padded blocks that per-task matmuls use.

    A task's rows (contiguous) are cut into blocks of ``chunk_size`` rows. Block ``t < T`` is task ``t``'s
    first block; the blocks after them are the tasks' further blocks, block ``T + j`` belonging to task
    ``extra_task[j]``. Stacked weights are applied as one ``bmm`` over ``[n_chunks, chunk_size, d]`` with each
    block's task slice of the weight, so padding is at most ``chunk_size - 1`` rows per task instead of
    ``n_max - n_t``. When every task is one block the weight is used as is (no gather).

    Attributes:
        row_task: ``[n_rows]`` long, task slot of each row (non-decreasing).
        n_tasks: number of task slots ``T``.
        counts: ``[T]`` rows per task.
        chunk_size: rows per padded block.
        n_chunks: number of blocks.
        extra_task: ``[n_chunks - T]`` long, task of each block after the first ``T``; ``None`` when there are none.
        flat_pos: ``[n_rows]`` long, the row's place in the flattened ``[n_chunks * chunk_size]`` padded rows.
    """

    row_task: Tensor
    n_tasks: int
    counts: Tensor
    chunk_size: int
    n_chunks: int
    extra_task: Tensor | None
    flat_pos: Tensor

    @classmethod
    def from_row_task(cls, row_task: Tensor, n_tasks: int, chunk_size: int | None = None) -> "TaskLayout":
        """Layout of rows whose task slots ``row_task`` are non-decreasing; ``chunk_size`` defaults to
        :func:`choose_chunk_size` of the task sizes (one host sync, once per batch)."""
        counts = torch.bincount(row_task, minlength=n_tasks)
        starts = torch.cumsum(counts, 0) - counts
        row_pos = torch.arange(row_task.numel(), device=row_task.device) - starts[row_task]
        if chunk_size is None:
            chunk_size = choose_chunk_size(counts.tolist())
        chunks_per_task = torch.div(counts + chunk_size - 1, chunk_size, rounding_mode="floor").clamp(min=1)
        extra = chunks_per_task - 1  # blocks beyond a task's first
        n_chunks = n_tasks + int(extra.sum()) if n_tasks else 0
        # block t is task t's first block; the extra blocks follow, in task order
        block = torch.div(row_pos, chunk_size, rounding_mode="floor")
        first_extra = n_tasks + torch.cumsum(extra, 0) - extra
        row_chunk = torch.where(block == 0, row_task, first_extra[row_task] + block - 1)
        extra_task = None if n_chunks == n_tasks else torch.repeat_interleave(
            torch.arange(n_tasks, device=row_task.device), extra)
        return cls(row_task=row_task, n_tasks=n_tasks, counts=counts, chunk_size=chunk_size, n_chunks=n_chunks,
                   extra_task=extra_task, flat_pos=row_chunk * chunk_size + row_pos % chunk_size)

    def pad(self, x: Tensor) -> Tensor:
        """``[n_rows, d]`` -> ``[n_chunks, chunk_size, d]`` (zeros where a block is not full)."""
        flat = x.new_zeros((self.n_chunks * self.chunk_size,) + tuple(x.shape[1:]))
        return flat.index_copy_(0, self.flat_pos, x).view((self.n_chunks, self.chunk_size) + tuple(x.shape[1:]))

    def unpad(self, x: Tensor) -> Tensor:
        """``[n_chunks, chunk_size, d]`` -> ``[n_rows, d]``."""
        return x.reshape((-1,) + tuple(x.shape[2:])).index_select(0, self.flat_pos)

    def per_chunk(self, per_task: Tensor) -> Tensor:
        """``[T, ...]`` -> ``[n_chunks, ...]``: each block gets its task's slice.

        The first ``T`` blocks are the tasks' first blocks, so this is ``per_task`` itself followed by the
        slices of the extra blocks; the backward adds the few extra blocks' gradients with a small
        ``index_add`` instead of scattering every block's.
        """
        if self.extra_task is None:
            return per_task
        return torch.cat([per_task, per_task.index_select(0, self.extra_task)])

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
        weight_t = layout.per_chunk(weight).transpose(1, 2)
        if bias_stacked:  # one fused op: bias + x @ W^T per block
            return layout.unpad(torch.baddbmm(layout.per_chunk(bias).unsqueeze(1), padded, weight_t))  # type: ignore[union-attr]
        out = layout.unpad(torch.bmm(padded, weight_t))
    elif bias is not None and not bias_stacked:
        return F.linear(x, weight, bias)  # one fused addmm
    else:
        out = F.linear(x, weight)
    return out if bias is None else add_task_bias(out, bias, layout)


def task_mlp(x: Tensor, layers: Sequence[tuple[Tensor, Tensor | None]], layout: TaskLayout | None) -> Tensor:
    """``Linear -> ReLU -> ... -> Linear`` with each ``(weight, bias)`` as in :func:`task_linear`.

    When every weight is per task, the rows are padded once, the layers run as ``baddbmm``/``bmm`` on the
    padded blocks and the result is unpadded once (padding rows compute garbage that is never read), instead
    of a pad/unpad round trip per layer.
    """
    if not all(is_stacked(w, 2) for w, _ in layers):
        for i, (weight, bias) in enumerate(layers):
            x = task_linear(x, weight, bias, layout)
            x = torch.relu_(x) if i < len(layers) - 1 else x  # in place on a fresh output (autograd-safe)
        return x
    layout = _need_layout(layout, "weights")
    h = layout.pad(x)
    for i, (weight, bias) in enumerate(layers):
        weight_t = layout.per_chunk(weight).transpose(1, 2)
        if bias is None:
            h = torch.bmm(h, weight_t)
        else:
            h = torch.baddbmm((layout.per_chunk(bias) if is_stacked(bias, 1) else bias).unsqueeze(-2), h, weight_t)
        h = torch.relu(h) if i < len(layers) - 1 else h
    return layout.unpad(h)


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
        cols = index.unsqueeze(-1) if index.dim() == 1 else index  # [N, C]; N may be 0 (graphs without bonds)
        hot = table.new_zeros(cols.shape[0], table.shape[1]).scatter_add_(
            1, cols, table.new_ones(cols.shape))  # counts, so a repeated category adds twice like the gather
        return task_linear(hot, table.transpose(1, 2), None, layout)
    if index.dim() == 2 and not torch.is_grad_enabled():  # inference: one fused lookup-and-sum (no [N, C, d]
        return F.embedding_bag(index, table, mode="sum")  # intermediate); it has no double backward, hence not here
    out = F.embedding(index, table)
    return out.sum(dim=1) if index.dim() == 2 else out
