"""Fusion of a molecule's graph-level inputs (ECFP bits, RDKit descriptors) with its GNN readout (FS-Mol's
``gnn+ecfp+fc`` encoder input; MHNfs feeds descriptors beside fingerprints too)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphmeta.nn.descriptors import DescriptorScaler
from graphmeta.nn.taskbatch import TaskLayout, task_mlp

__all__ = ["FingerprintFusion"]


class FingerprintFusion(nn.Module):
    r"""Adds what a molecule's fingerprint and/or descriptors say to its graph embedding:
    :math:`\mathbf{r}'_g = \mathbf{r}_g + W_2\,\mathrm{ReLU}(W_1 [\mathbf{r}_g \,\|\, \mathbf{f}_g \,\|\,
    s(\mathbf{d}_g)] + b_1) + b_2`, with :math:`s` the robust scaling of raw descriptors
    (:class:`~graphmeta.nn.descriptors.DescriptorScaler`, whose statistics are buffers of this module).

    The residual form keeps the GNN path as it is, so a backbone pretrained without these inputs starts from
    its own embedding plus a learned correction. With ``graph_input=False`` there is no GNN embedding: the
    module is an MLP of the fingerprint and descriptors alone,
    :math:`W_2\,\mathrm{ReLU}(W_1 [\mathbf{f}_g \,\|\, s(\mathbf{d}_g)] + b_1) + b_2` (the backbone of
    ``GraphEncoder(num_layers=0)``, as MHNfs's and the multitask probes' encoders read no graph). Weights may be per task (stacked), as everywhere in the
    backbone, so MAML adapts them like any other layer (the scaler's statistics are fixed buffers). With
    fingerprints only, the parameters are exactly those of the fingerprint-only fusion of earlier versions.

    Args:
        channels (int): graph embedding size.
        fingerprint_channels (int, optional): fingerprint length (e.g. 2048 ECFP4 bits; ``0``: none).
            (default: ``0``)
        descriptor_channels (int, optional): number of raw descriptors (``len(DESCRIPTOR_NAMES)``; ``0``: none).
            The scaler must be fitted (:meth:`fit_descriptor_scaler`) before the first forward. (default: ``0``)
        hidden_channels (int, optional): width of the fusion's hidden layer (``0``: ``channels``). A 2,048-bit
            fingerprint squeezed through a 128-wide layer loses much of what it says; FS-Mol's fusion is 1,024
            wide. The output stays ``channels`` wide (the residual). (default: ``0``)
        graph_input (bool, optional): whether a GNN embedding of ``channels`` comes in and is added to (the
            residual); ``False``: none comes in (``x=None``) and the output is the MLP's. (default: ``True``)

    Shapes:
        - **input:** graph embeddings :math:`(G, C)` (``None`` without ``graph_input``), fingerprints :math:`(G, F)` (any dtype; 0/1 bits), raw
          descriptors :math:`(G, D)` (float, NaN allowed)
        - **output:** :math:`(G, C)`
    """

    def __init__(self, channels: int, fingerprint_channels: int = 0, descriptor_channels: int = 0,
                 hidden_channels: int = 0, graph_input: bool = True) -> None:
        super().__init__()
        if channels < 1 or fingerprint_channels < 0 or descriptor_channels < 0 or hidden_channels < 0 or not (
                fingerprint_channels or descriptor_channels):
            raise ValueError(f"need a positive channels and some graph-level input, got channels={channels}, "
                             f"fingerprint_channels={fingerprint_channels}, descriptor_channels={descriptor_channels}, "
                             f"hidden_channels={hidden_channels}")
        self.channels, self.fingerprint_channels = channels, fingerprint_channels
        self.descriptor_channels, self.graph_input = descriptor_channels, graph_input
        self.hidden_channels = hidden_channels or channels
        in_channels = (channels if graph_input else 0) + fingerprint_channels + descriptor_channels
        self.hidden = nn.Linear(in_channels, self.hidden_channels)
        self.out = nn.Linear(self.hidden_channels, channels)
        self.scaler = DescriptorScaler(descriptor_channels) if descriptor_channels else None

    def fit_descriptor_scaler(self, values: Tensor) -> None:
        """Fits the descriptor scaler on raw descriptors ``[n, descriptor_channels]`` of training molecules
        (unsupervised: no labels)."""
        if self.scaler is None:
            raise ValueError("this fusion reads no descriptors (descriptor_channels=0)")
        self.scaler.fit(values)

    def forward(self, x: Tensor | None, fingerprint: Tensor | None = None, layout: TaskLayout | None = None, *,
                descriptors: Tensor | None = None) -> Tensor:
        """``layout``: the task layout of the graphs (needed for per-task weights only); ``x``: ``None`` exactly
        when the module has no ``graph_input``."""
        if (x is None) == self.graph_input:
            raise ValueError("this fusion adds to a GNN embedding: pass x" if self.graph_input
                             else "this fusion reads no GNN embedding (graph_input=False): pass x=None")
        present = next((t for t in (x, fingerprint, descriptors) if t is not None), None)
        n = -1 if present is None or present.dim() == 0 else present.shape[0]
        dtype = x.dtype if x is not None else self.hidden.weight.dtype
        parts = [] if x is None else [x]
        if self.fingerprint_channels:
            if fingerprint is None or fingerprint.dim() != 2 or fingerprint.shape != (n, self.fingerprint_channels):
                got = None if fingerprint is None else tuple(fingerprint.shape)
                raise ValueError(f"expected fingerprints of shape ({n}, {self.fingerprint_channels}), got "
                                 f"{got}: featurize with MoleculeFeaturizer(fingerprint_bits="
                                 f"{self.fingerprint_channels})")
            parts.append(fingerprint.to(dtype))
        if self.scaler is not None:
            if descriptors is None or descriptors.dim() != 2 or descriptors.shape != (n, self.descriptor_channels):
                got = None if descriptors is None else tuple(descriptors.shape)
                raise ValueError(f"expected descriptors of shape ({n}, {self.descriptor_channels}), got "
                                 f"{got}: featurize with MoleculeFeaturizer(descriptors=True)")
            parts.append(self.scaler(descriptors).to(dtype))
        joined = torch.cat(parts, dim=-1)
        layers = [(self.hidden.weight, self.hidden.bias), (self.out.weight, self.out.bias)]
        mlp = task_mlp(joined, layers, layout)
        return mlp if x is None else x + mlp

    def __repr__(self) -> str:
        parts = [str(self.channels)]
        if self.fingerprint_channels:
            parts.append(f"fingerprint_channels={self.fingerprint_channels}")
        if self.descriptor_channels:
            parts.append(f"descriptor_channels={self.descriptor_channels}")
        if self.hidden_channels != self.channels:
            parts.append(f"hidden_channels={self.hidden_channels}")
        if not self.graph_input:
            parts.append("graph_input=False")
        return f"{self.__class__.__name__}({', '.join(parts)})"
