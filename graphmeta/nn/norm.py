"""Normalization of node features, with the choice meta-learning forces on us.

BatchNorm's batch statistics mix whatever sits in the batch. With all tasks of a meta-batch in one batch
that would let tasks leak into each other, so graphmeta offers four explicit modes:

- ``"task"`` (default): per-task batch statistics, a mean and variance per (task, feature) over the nodes of
  that task's graphs in the current forward pass. Transductive, MAML's usual choice; identical to running
  each task alone through BatchNorm in training mode.
- ``"running"``: normalize with running statistics (buffers). The forward pass never changes them; the
  trainer calls :meth:`TaskNorm.update_running_stats` (no gradient) with per-task statistics, so tasks stay
  independent and results do not depend on how tasks are batched.
- ``"layer"``: LayerNorm over the features of each node (no cross-node statistics at all).
- ``"none"``.

Affine weights may be per-task (stacked ``[T, C]``) like every other parameter.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.utils import scatter

from graphmeta.nn.taskbatch import TaskLayout, is_stacked

__all__ = ["NormMode", "NORM_MODES", "TaskNorm"]

NormMode = Literal["task", "running", "layer", "none"]
NORM_MODES: tuple[str, ...] = ("task", "running", "layer", "none")


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

    def forward(self, x: Tensor, layout: TaskLayout) -> Tensor:
        if self.mode == "none":
            return x
        weight_stacked = is_stacked(self.weight, 1)
        bias = layout.rows(self.bias) if is_stacked(self.bias, 1) else self.bias
        if self.mode == "task":  # the affine weight is folded into the per-task scale: one [N, C] gather
            _, var, centred = self._task_stats(x, layout)
            return torch.addcmul(bias, centred, layout.rows(torch.rsqrt(var + self.eps) * self.weight))
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
