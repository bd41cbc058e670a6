"""Graph convolution (GCN) with per-task weights.

Kipf and Welling, "Semi-Supervised Classification with Graph Convolutional Networks" (ICLR 2017),
https://arxiv.org/abs/1609.02907.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import scatter

from graphmeta.nn.taskbatch import TaskLayout, add_task_bias, task_linear

__all__ = ["GCNLayer"]


class GCNLayer(nn.Module):
    r"""Graph convolution :math:`\mathbf{X}' = \hat{D}^{-1/2}\hat{A}\hat{D}^{-1/2}\mathbf{X}W^\top + b` with
    :math:`\hat{A} = A + I`; edge features are not used.

    The normalized adjacency has no weights and is shared by all tasks; :math:`W` and :math:`b` may be per-task.
    With shared weights it equals :class:`torch_geometric.nn.GCNConv`.

    Args:
        in_channels (int): input size.
        out_channels (int): output size.

    Shapes:
        - **input:** node features :math:`(N, C_{in})`, edge index :math:`(2, E)`
        - **output:** :math:`(N, C_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lin = nn.Linear(in_channels, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.lin.weight)  # as GCNConv (glorot weights, zero bias)
        nn.init.zeros_(self.lin.bias)

    @staticmethod
    def normalized_adjacency(edge_index: Tensor, num_nodes: int, dtype) -> tuple[Tensor, Tensor]:
        """Edge index with self-loops and the symmetric normalization weight of each edge."""
        return gcn_norm(edge_index, None, num_nodes, add_self_loops=True, dtype=dtype)

    def forward(self, x: Tensor, edge_index: Tensor, edge_emb: Tensor | None = None,
                layout: TaskLayout | None = None, adjacency: tuple[Tensor, Tensor] | None = None) -> Tensor:
        index, weight = adjacency if adjacency is not None else self.normalized_adjacency(
            edge_index, x.shape[0], x.dtype)
        h = task_linear(x, self.lin.weight, None, layout)
        out = scatter(h[index[0]] * weight.unsqueeze(-1), index[1], dim=0, dim_size=x.shape[0], reduce="sum")
        return add_task_bias(out, self.lin.bias, layout)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"
