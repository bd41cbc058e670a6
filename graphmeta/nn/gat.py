"""Graph attention (GAT) with per-task weights.

Velickovic et al., "Graph Attention Networks" (ICLR 2018), https://arxiv.org/abs/1710.10903.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import add_self_loops, remove_self_loops, scatter, softmax

from graphmeta.nn.taskbatch import TaskLayout, add_task_bias, is_stacked, task_linear

__all__ = ["GATLayer"]


class GATLayer(nn.Module):
    r"""Multi-head graph attention, heads concatenated, self-loops added; edge features are not used:

    .. math::
        \mathbf{x}'_i = \big\Vert_{k=1}^{K} \sum_{j \in \mathcal{N}(i) \cup \{i\}} \alpha^k_{ij}\,
        W^k \mathbf{x}_j + b, \qquad
        \alpha^k_{ij} = \operatorname{softmax}_j\Big(\mathrm{LeakyReLU}\big(
        \mathbf{a}^{k\top}_{src} W^k \mathbf{x}_j + \mathbf{a}^{k\top}_{dst} W^k \mathbf{x}_i\big)\Big)

    :math:`W` (``lin.weight``, :math:`[K C_{out}, C_{in}]`), the attention vectors ``att_src`` and ``att_dst``
    (:math:`[K, C_{out}]`) and ``bias`` (:math:`[K C_{out}]`) may be per-task (a leading task dimension
    :math:`T`). Given the scores, the softmax over each node's incoming edges has no weights and runs once
    for all tasks. An edge's score uses its target's task; as edges never cross tasks, that is also its
    source's task, so the per-node terms :math:`\mathbf{a}^\top W \mathbf{x}` are computed with each node's
    own task's vectors. With shared weights it equals :class:`torch_geometric.nn.GATConv` (``concat=True``,
    ``add_self_loops=True``, no dropout).

    Args:
        in_channels (int): input size.
        out_channels (int): output size of each head.
        heads (int, optional): number of attention heads :math:`K`. (default: ``1``)
        negative_slope (float, optional): LeakyReLU slope of the scores. (default: ``0.2``)

    Shapes:
        - **input:** node features :math:`(N, C_{in})`, edge index :math:`(2, E)`
        - **output:** :math:`(N, K \cdot C_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1, negative_slope: float = 0.2) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("heads", heads)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GATLayer: {name} must be a positive integer, got {value!r}")
        if not negative_slope >= 0:
            raise ValueError(f"GATLayer: negative_slope must be non-negative, got {negative_slope!r}")
        self.in_channels, self.out_channels, self.heads = in_channels, out_channels, heads
        self.negative_slope = float(negative_slope)
        self.lin = nn.Linear(in_channels, heads * out_channels, bias=False)
        self.att_src = nn.Parameter(torch.empty(heads, out_channels))
        self.att_dst = nn.Parameter(torch.empty(heads, out_channels))
        self.bias = nn.Parameter(torch.empty(heads * out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # as GATConv: glorot weights and attention vectors (fans H and C for [H, C]), zero bias
        nn.init.xavier_uniform_(self.lin.weight)
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        nn.init.zeros_(self.bias)

    @staticmethod
    def self_loop_index(edge_index: Tensor, num_nodes: int) -> Tensor:
        """The edge index the attention runs over: existing self-loops removed, one per node added (as GATConv)."""
        edge_index, _ = remove_self_loops(edge_index)
        edge_index, _ = add_self_loops(edge_index, num_nodes=num_nodes)
        return edge_index

    def _node_scores(self, h: Tensor, att: Tensor, layout: TaskLayout | None) -> Tensor:
        """:math:`\\mathbf{a}^{k\\top} h^k_n` for every node and head, ``[N, H]`` (``att`` shared or per task)."""
        if is_stacked(att, 2):
            if layout is None:
                raise ValueError("per-task attention vectors need a TaskLayout")
            att = layout.rows(att)  # [N, H, C]: each node uses its own task's vectors
        return (h * att).sum(-1)

    def forward(self, x: Tensor, edge_index: Tensor, edge_emb: Tensor | None = None,
                layout: TaskLayout | None = None, loop_index: Tensor | None = None) -> Tensor:
        """``loop_index``: :meth:`self_loop_index` of ``edge_index``, when precomputed (shared by all layers)."""
        n, H, C = x.shape[0], self.heads, self.out_channels
        index = loop_index if loop_index is not None else self.self_loop_index(edge_index, n)
        src, dst = index[0], index[1]
        h = task_linear(x, self.lin.weight, None, layout).view(n, H, C)
        alpha_src = self._node_scores(h, self.att_src, layout)
        alpha_dst = self._node_scores(h, self.att_dst, layout)
        alpha = F.leaky_relu(alpha_src[src] + alpha_dst[dst], self.negative_slope)
        alpha = softmax(alpha, dst, num_nodes=n)  # [E, H], over the incoming edges of each target
        out = scatter(alpha.unsqueeze(-1) * h[src], dst, dim=0, dim_size=n, reduce="sum")
        return add_task_bias(out.reshape(n, H * C), self.bias, layout)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, heads={self.heads})"
