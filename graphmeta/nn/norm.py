"""Normalization of node features, with the choice meta-learning forces on us.

BatchNorm's batch statistics mix whatever sits in the batch. With all tasks of a meta-batch in one batch
that would let tasks leak into each other, so graphmeta offers four explicit modes:

- ``"task"`` (default): per-task statistics, a mean and variance per (task, feature) over the nodes of that
  task's *support* graphs, as TaskNorm does (Bronskill et al., "TaskNorm: Rethinking Batch Normalization for
  Meta-Learning", ICML 2020, https://arxiv.org/abs/2003.03284). A pass over a support set uses its own
  statistics (identical to running each task alone through BatchNorm in training mode) and can record them in
  a :class:`SupportStatistics`; a pass over query graphs given that record normalizes with the support's
  statistics, so a query graph's output never depends on the other query graphs. The learners and the
  predictor always pass the record; a pass without one (e.g. multitask training) uses its own statistics.
- ``"running"``: normalize with running statistics (buffers). The forward pass never changes them; the
  trainer calls :meth:`TaskNorm.update_running_stats` (no gradient) with per-task statistics, so tasks stay
  independent and results do not depend on how tasks are batched.
- ``"layer"``: LayerNorm over the features of each node (no cross-node statistics at all).
- ``"none"``.

Affine weights may be per-task (stacked ``[T, C]``) like every other parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.utils import scatter

from graphmeta.nn.taskbatch import TaskLayout, is_stacked

__all__ = ["NormMode", "NORM_MODES", "TaskNorm", "SupportStatistics"]

NormMode = Literal["task", "running", "layer", "none"]
NORM_MODES: tuple[str, ...] = ("task", "running", "layer", "none")


@dataclass
class SupportStatistics:
    """``"task"``-mode statistics of a support set, one ``(mean, variance)`` pair ``[T, C]`` per norm layer.

    Pass an empty record with the support's forward pass: each ``"task"`` norm appends the statistics it
    normalized with, and the record is ``complete`` after the pass. Pass the complete record with the query's
    forward pass (same tasks, same order): each layer normalizes with the support's statistics. The tensors
    keep their autograd history, so a meta-gradient flows through them (as TaskNorm's does).
    """

    layers: list[tuple[Tensor, Tensor]] = field(default_factory=list)
    complete: bool = False

    def moments(self, norm: "TaskNorm", x: Tensor, layout: TaskLayout, index: int) -> tuple[Tensor, Tensor]:
        """The statistics layer ``index`` normalizes with: recorded ones, or those of ``x`` (then recorded)."""
        if self.complete:
            if index >= len(self.layers):
                raise ValueError(f"the support statistics have {len(self.layers)} layers; layer {index} asked for")
            mean, var = self.layers[index]
            if mean.shape[0] != layout.n_tasks:
                raise ValueError(f"the support statistics cover {mean.shape[0]} tasks, this batch has "
                                 f"{layout.n_tasks}: pass the query of the same tasks, in the same order")
            return mean, var
        mean, var = norm.task_moments(x, layout)
        self.layers.append((mean, var))
        return mean, var


class TaskNorm(nn.Module):
    r"""Feature normalization in one of the modes above, followed by an optional affine map.

    Args:
        channels (int): number of features.
        mode (str, optional): ``"task"``, ``"running"``, ``"layer"`` or ``"none"``. (default: ``"task"``)
        eps (float, optional): added to the variance. (default: ``1e-5``)
        momentum (float, optional): running-statistics update rate (``"running"`` mode). (default: ``0.1``)

    Shapes:
        - **input:** :math:`(N, C)` node features and a :class:`TaskLayout` over the nodes
        - **output:** :math:`(N, C)`
    """

    def __init__(self, channels: int, mode: NormMode = "task", eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        if mode not in NORM_MODES:
            raise ValueError(f"norm mode must be one of {NORM_MODES}, got {mode!r}")
        self.channels, self.mode, self.eps, self.momentum = channels, mode, eps, momentum
        if mode != "none":
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))
        if mode == "running":
            self.register_buffer("running_mean", torch.zeros(channels))
            self.register_buffer("running_var", torch.ones(channels))

    def _task_stats(self, x: Tensor, layout: TaskLayout) -> tuple[Tensor, Tensor, Tensor]:
        """Per-task mean and biased variance ``[T, C]``, and ``x`` centred by its task's mean ``[N, C]``."""
        mean = scatter(x, layout.row_task, dim=0, dim_size=layout.n_tasks, reduce="mean")
        centred = x - layout.rows(mean)
        var = scatter(centred.pow(2), layout.row_task, dim=0, dim_size=layout.n_tasks, reduce="mean")
        return mean, var, centred

    def task_moments(self, x: Tensor, layout: TaskLayout) -> tuple[Tensor, Tensor]:
        """Per-task mean and biased variance ``[T, C]`` of ``x`` (what ``"task"`` mode normalizes with)."""
        mean, var, _ = self._task_stats(_at_least_float32(x), layout)
        return mean, var

    def forward(self, x: Tensor, layout: TaskLayout, moments: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Normalized ``x``; ``moments``: ``"task"`` mode's per-task ``(mean, var)`` taken from elsewhere (the
        support), instead of those of ``x`` itself."""
        if self.mode == "none":
            return x
        weight_stacked = is_stacked(self.weight, 1)
        bias = layout.rows(self.bias) if is_stacked(self.bias, 1) else self.bias
        if self.mode == "task":  # the affine weight is folded into the per-task scale: one [N, C] gather
            x = _at_least_float32(x)  # moments of a few support graphs in bf16 would be too coarse
            if moments is None:
                _, var, centred = self._task_stats(x, layout)
            else:
                mean, var = moments
                centred = x - layout.rows(mean.to(x.dtype))
            return torch.addcmul(bias, centred, layout.rows(torch.rsqrt(var.to(x.dtype) + self.eps) * self.weight))
        if self.mode == "layer":  # fused kernel; the affine part is folded in when it is shared by all tasks
            if not weight_stacked and not is_stacked(self.bias, 1):
                return F.layer_norm(x, (self.channels,), self.weight, self.bias, self.eps)
            out = F.layer_norm(x, (self.channels,), eps=self.eps)
        else:
            out = (x - self.running_mean) * torch.rsqrt(self.running_var + self.eps)
        return torch.addcmul(bias, out, layout.rows(self.weight) if weight_stacked else self.weight)

    @torch.no_grad()
    def update_running_stats(self, x: Tensor, layout: TaskLayout) -> None:
        """``"running"`` mode: move the buffers towards the mean of the per-task statistics of ``x``."""
        if self.mode != "running":
            return
        mean, var, _ = self._task_stats(x.detach(), layout)
        present = layout.counts > 0
        self.running_mean.lerp_(mean[present].mean(0).to(self.running_mean.dtype), self.momentum)
        self.running_var.lerp_(var[present].mean(0).to(self.running_var.dtype), self.momentum)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, mode={self.mode!r})"


def _at_least_float32(x: Tensor) -> Tensor:
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
