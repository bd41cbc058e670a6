"""Fusion of a molecule's fingerprint with its GNN readout (FS-Mol's ``gnn+ecfp+fc`` encoder input)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphmeta.nn.taskbatch import TaskLayout, task_mlp

__all__ = ["FingerprintFusion"]


class FingerprintFusion(nn.Module):
    r"""Adds what a fingerprint says to a graph embedding:
    :math:`\mathbf{r}'_g = \mathbf{r}_g + W_2\,\mathrm{ReLU}(W_1 [\mathbf{r}_g \,\|\, \mathbf{f}_g] + b_1) + b_2`.

    The residual form keeps the GNN path as it is, so a backbone pretrained without fingerprints starts from
    its own embedding plus a learned correction. Weights may be per task (stacked), as everywhere in the
    backbone, so MAML adapts them like any other layer.

    Args:
        channels (int): graph embedding size.
        fingerprint_channels (int): fingerprint length (e.g. 2048 ECFP4 bits).

    Shapes:
        - **input:** graph embeddings :math:`(G, C)`, fingerprints :math:`(G, F)` (any dtype; 0/1 bits)
        - **output:** :math:`(G, C)`
    """

    def __init__(self, channels: int, fingerprint_channels: int) -> None:
        super().__init__()
        if channels < 1 or fingerprint_channels < 1:
            raise ValueError(f"need positive sizes, got channels={channels}, "
                             f"fingerprint_channels={fingerprint_channels}")
        self.channels, self.fingerprint_channels = channels, fingerprint_channels
        self.hidden = nn.Linear(channels + fingerprint_channels, channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: Tensor, fingerprint: Tensor, layout: TaskLayout | None = None) -> Tensor:
        """``layout``: the task layout of the graphs (needed for per-task weights only)."""
        if fingerprint.dim() != 2 or fingerprint.shape != (x.shape[0], self.fingerprint_channels):
            raise ValueError(f"expected fingerprints of shape ({x.shape[0]}, {self.fingerprint_channels}), got "
                             f"{tuple(fingerprint.shape)}: featurize with MoleculeFeaturizer(fingerprint_bits="
                             f"{self.fingerprint_channels})")
        joined = torch.cat([x, fingerprint.to(x.dtype)], dim=-1)
        layers = [(self.hidden.weight, self.hidden.bias), (self.out.weight, self.out.bias)]
        return x + task_mlp(joined, layers, layout)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, fingerprint_channels={self.fingerprint_channels})"
