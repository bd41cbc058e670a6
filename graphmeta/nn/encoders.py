"""Input encoders: categorical columns (atoms, bonds, TU node labels, degrees) and continuous attributes.

Raw integer features must be embedded, not fed to a sum-aggregating GNN: each categorical column gets its
own embedding table (stored as one table with column offsets, so the lookup is a single op) and the column
embeddings are summed, as in OGB's ``AtomEncoder``. Tables may be per-task (stacked) like every weight.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from graphmeta.nn.taskbatch import TaskLayout, task_embedding, task_linear

__all__ = ["CategoricalEncoder", "ContinuousEncoder"]


class CategoricalEncoder(nn.Module):
    r"""Sum of one embedding per categorical column: :math:`h_i = \sum_c E_c[x_{i,c}]`.

    Args:
        vocab_sizes (Sequence[int]): number of categories of each column.
        out_channels (int): embedding size.

    Shapes:
        - **input:** long :math:`(N, C)` with ``0 <= x[:, c] < vocab_sizes[c]``
        - **output:** :math:`(N, \text{out\_channels})`
    """

    def __init__(self, vocab_sizes: Sequence[int], out_channels: int) -> None:
        super().__init__()
        if not vocab_sizes or min(vocab_sizes) < 1:
            raise ValueError("vocab_sizes must be a non-empty list of positive sizes")
        self.vocab_sizes = tuple(int(v) for v in vocab_sizes)
        self.out_channels = out_channels
        offsets = torch.tensor((0,) + self.vocab_sizes[:-1]).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.weight = nn.Parameter(torch.empty(sum(self.vocab_sizes), out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x: Tensor, layout: TaskLayout | None = None) -> Tensor:
        if x.dim() != 2 or x.shape[1] != len(self.vocab_sizes):
            raise ValueError(f"expected a long tensor of shape (N, {len(self.vocab_sizes)}), got {tuple(x.shape)}")
        return task_embedding(x + self.offsets, self.weight, layout)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({list(self.vocab_sizes)}, {self.out_channels})"


class ContinuousEncoder(nn.Module):
    """A linear map of continuous node attributes (TU ``node_attr``) to the hidden size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels)

    def forward(self, x: Tensor, layout: TaskLayout | None = None) -> Tensor:
        return task_linear(x, self.lin.weight, self.lin.bias, layout)
