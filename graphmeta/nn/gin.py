"""GIN with edge features (GINE), the default molecular backbone layer, with per-task weights.

Hu et al., "Strategies for Pre-training Graph Neural Networks" (ICLR 2020), https://arxiv.org/abs/1905.12265;
Xu et al., "How Powerful are Graph Neural Networks?" (ICLR 2019), https://arxiv.org/abs/1810.00826.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphmeta.nn.taskbatch import TaskLayout, is_stacked, task_mlp

__all__ = ["GINELayer"]


class GINELayer(nn.Module):
    r"""Graph isomorphism layer with edge features:

    .. math::
        \mathbf{x}'_i = \mathrm{MLP}\Big((1 + \epsilon)\,\mathbf{x}_i + \sum_{j \in \mathcal{N}(i)}
        \mathrm{ReLU}(\mathbf{x}_j + \mathbf{e}_{j,i})\Big), \quad
        \mathrm{MLP}(\mathbf{z}) = W_2\,\mathrm{ReLU}(W_1 \mathbf{z} + b_1) + b_2

    The aggregation has no weights and is computed once for all tasks (edges never cross graphs, so never
    tasks); the MLP weights may be per-task. With shared weights it equals
    :class:`torch_geometric.nn.GINEConv` with ``nn = Sequential(Linear, ReLU, Linear)``.

    Args:
        channels (int): input and output size.
        hidden_channels (int, optional): MLP hidden size. (default: ``2 * channels``)
        eps (float, optional): initial :math:`\epsilon`. (default: ``0.0``)
        train_eps (bool, optional): learn :math:`\epsilon`. (default: ``False``)

    Shapes:
        - **input:** node features :math:`(N, C)`, edge index :math:`(2, E)`, edge embeddings :math:`(E, C)`
        - **output:** :math:`(N, C)`
    """

    def __init__(self, channels: int, hidden_channels: int | None = None, eps: float = 0.0,
                 train_eps: bool = False) -> None:
        super().__init__()
        hidden = hidden_channels or 2 * channels
        self.channels, self.hidden_channels = channels, hidden
        self.lin1 = nn.Linear(channels, hidden)
        self.lin2 = nn.Linear(hidden, channels)
        if train_eps:
            self.eps = nn.Parameter(torch.tensor([float(eps)]))
        else:
            self.register_buffer("eps", torch.tensor([float(eps)]))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()

    def aggregate(self, x: Tensor, edge_index: Tensor, edge_emb: Tensor, layout: TaskLayout | None = None) -> Tensor:
        """The neighbour sum :math:`\\sum_j \\mathrm{ReLU}(x_j + e_{j,i})` plus :math:`(1+\\epsilon) x_i`
        (:math:`\\epsilon` may be per-task)."""
        # In-place on fresh [E, C] / [N, C] buffers (autograd-safe: no consumer needs the overwritten values):
        # half the memory traffic of out-of-place ops, which dominate this memory-bound step.
        messages = x.index_select(0, edge_index[0]).add_(edge_emb).relu_()
        aggr = x.new_zeros(x.shape).index_add_(0, edge_index[1], messages)
        eps = self.eps  # [1] shared, or [T, 1] per task
        if is_stacked(eps, 1):
            if layout is None:
                raise ValueError("a per-task epsilon needs a TaskLayout")
            eps = layout.rows(eps)
        return torch.addcmul(aggr, 1 + eps, x)

    def forward(self, x: Tensor, edge_index: Tensor, edge_emb: Tensor, layout: TaskLayout | None = None) -> Tensor:
        z = self.aggregate(x, edge_index, edge_emb, layout)
        return task_mlp(z, [(self.lin1.weight, self.lin1.bias), (self.lin2.weight, self.lin2.bias)], layout)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, hidden={self.hidden_channels})"
