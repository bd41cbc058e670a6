"""GraphSAGE with mean aggregation and per-task weights.

Hamilton et al., "Inductive Representation Learning on Large Graphs" (NeurIPS 2017),
https://arxiv.org/abs/1706.02216.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.utils import scatter

from graphmeta.nn.taskbatch import TaskLayout, task_linear

__all__ = ["SAGELayer"]


class SAGELayer(nn.Module):
    r"""GraphSAGE layer :math:`\mathbf{x}'_i = W_l \operatorname{mean}_{j \in \mathcal{N}(i)} \mathbf{x}_j + b
    + W_r \mathbf{x}_i`; edge features are not used.

    The neighbour mean has no weights and is computed once for all tasks (nodes without in-neighbours get
    zero); :math:`W_l` (``lin_l``, with the bias :math:`b`) and :math:`W_r` (``lin_r``, no bias) may be per-task.
    With shared weights it equals :class:`torch_geometric.nn.SAGEConv` (``aggr="mean"``, ``root_weight=True``,
    ``normalize=False``).

    Args:
        in_channels (int): input size.
        out_channels (int): output size.

    Shapes:
        - **input:** node features :math:`(N, C_{in})`, edge index :math:`(2, E)`
        - **output:** :math:`(N, C_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SAGELayer: {name} must be a positive integer, got {value!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lin_l = nn.Linear(in_channels, out_channels)
        self.lin_r = nn.Linear(in_channels, out_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin_l.reset_parameters()  # as SAGEConv (PyG's Linear defaults to torch's initialization)
        self.lin_r.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_emb: Tensor | None = None,
                layout: TaskLayout | None = None) -> Tensor:
        mean = scatter(x[edge_index[0]], edge_index[1], dim=0, dim_size=x.shape[0], reduce="mean")
        return (task_linear(mean, self.lin_l.weight, self.lin_l.bias, layout)
                + task_linear(x, self.lin_r.weight, None, layout))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, aggr=mean)"
