"""Graph readouts (node embeddings -> one embedding per graph), with per-task weights where there are any.

The attention readout is gated pooling after Li et al., "Gated Graph Sequence Neural Networks" (ICLR 2016),
https://arxiv.org/abs/1511.05493, with the gates normalized by a softmax over each graph's nodes, as
:class:`torch_geometric.nn.aggr.AttentionalAggregation` (Li et al., "Graph Matching Networks", ICML 2019,
https://arxiv.org/abs/1904.12787) with a linear gate and no feature network.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn
from torch_geometric.utils import scatter, softmax

from graphmeta.nn.taskbatch import TaskLayout, task_linear

__all__ = ["ReadoutMode", "READOUTS", "Readout"]

ReadoutMode = Literal["mean", "sum", "attention"]
READOUTS: tuple[str, ...] = ("mean", "sum", "attention")


class Readout(nn.Module):
    r"""Pools the node embeddings of each graph:

    - ``"sum"``: :math:`\mathbf{r}_g = \sum_{n \in g} \mathbf{h}_n`;
    - ``"mean"``: :math:`\mathbf{r}_g = \frac{1}{|g|}\sum_{n \in g} \mathbf{h}_n`;
    - ``"attention"``: :math:`\mathbf{r}_g = \sum_{n \in g} \operatorname{softmax}_{n \in g}
      (\mathbf{w}^\top \mathbf{h}_n + c)\, \mathbf{h}_n`, the gate ``gate.weight`` :math:`[1, C]` and
      ``gate.bias`` :math:`[1]` shared or per-task (the node layout says each node's task; graphs never
      cross tasks). With shared weights it equals ``AttentionalAggregation(gate_nn=Linear(C, 1))``.

    ``"sum"`` and ``"mean"`` have no weights. Graphs without nodes get zeros.

    Args:
        mode (str, optional): ``"mean"``, ``"sum"`` or ``"attention"``. (default: ``"mean"``)
        channels (int, optional): node embedding size (needed by ``"attention"`` only). (default: ``None``)

    Shapes:
        - **input:** node embeddings :math:`(N, C)`, graph index :math:`(N)`, the number of graphs :math:`G`
        - **output:** :math:`(G, C)`
    """

    def __init__(self, mode: ReadoutMode = "mean", channels: int | None = None) -> None:
        super().__init__()
        if mode not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {mode!r}")
        if mode == "attention" and (not isinstance(channels, int) or isinstance(channels, bool) or channels < 1):
            raise ValueError(f"the attention readout needs channels, a positive integer; got {channels!r}")
        self.mode, self.channels = mode, channels
        self.gate = nn.Linear(channels, 1) if mode == "attention" else None  # type: ignore[arg-type]

    def reset_parameters(self) -> None:
        if self.gate is not None:
            self.gate.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int, layout: TaskLayout | None = None) -> Tensor:
        """``layout``: the task layout of the nodes (needed for a per-task gate only)."""
        if self.gate is None:
            return scatter(x, batch, dim=0, dim_size=num_graphs, reduce=self.mode)
        score = task_linear(x, self.gate.weight, self.gate.bias, layout)  # [N, 1]
        weight = softmax(score, batch, num_nodes=num_graphs)  # over the nodes of each graph
        return scatter(weight * x, batch, dim=0, dim_size=num_graphs, reduce="sum")

    def __repr__(self) -> str:
        if self.gate is None:
            return f"{self.__class__.__name__}({self.mode!r})"
        return f"{self.__class__.__name__}({self.mode!r}, channels={self.channels})"
