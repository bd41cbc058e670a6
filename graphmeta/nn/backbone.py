"""The backbone (a stack of GNN layers with encoders, normalization and readout) and the few-shot model.

:class:`GraphEncoder` maps a :class:`~graphmeta.data.episodes.TaskBatch` to one embedding per graph;
:class:`FewShotModel` adds a linear head (``n_way`` logits). Both are ordinary ``nn.Module`` objects; their
parameters may be swapped for per-task stacked tensors with ``torch.func.functional_call`` (that is how
MAML's fast weights run), because every weighted op accepts stacked weights (see :mod:`.taskbatch`).
The constructor arguments are kept in :attr:`GraphEncoder.config` (JSON-safe) so a checkpoint can rebuild it.

Layers (:data:`CONVS`): ``"gin"`` (:class:`~.gin.GINELayer`, the only one that uses bond features),
``"gcn"`` (:class:`~.gcn.GCNLayer`), ``"gat"`` (:class:`~.gat.GATLayer`, heads concatenated) and ``"sage"``
(:class:`~.sage.SAGELayer`). Readouts (:data:`~.readout.READOUTS`): ``"mean"``, ``"sum"`` and ``"attention"``
(:class:`~.readout.Readout`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.utils import degree

from graphmeta.data.vocab import ATOM_VOCAB, BOND_VOCAB
from graphmeta.nn.encoders import CategoricalEncoder, ContinuousEncoder
from graphmeta.nn.fingerprint import FingerprintFusion
from graphmeta.nn.gat import GATLayer
from graphmeta.nn.gcn import GCNLayer
from graphmeta.nn.gin import GINELayer
from graphmeta.nn.norm import NormMode, SupportStatistics, TaskNorm
from graphmeta.nn.readout import READOUTS, Readout, ReadoutMode
from graphmeta.nn.sage import SAGELayer
from graphmeta.nn.taskbatch import TaskLayout, task_linear

__all__ = ["BatchLayout", "GraphEncoder", "FewShotModel", "CONVS"]

ConvName = Literal["gin", "gcn", "gat", "sage"]
CONVS: tuple[str, ...] = ("gin", "gcn", "gat", "sage")


def _make_layer(conv: str, channels: int, heads: int) -> nn.Module:
    """One message-passing layer, ``channels`` in and out (GAT: ``heads`` heads of ``channels // heads``)."""
    if conv == "gin":
        return GINELayer(channels)
    if conv == "gcn":
        return GCNLayer(channels, channels)
    if conv == "gat":
        return GATLayer(channels, channels // heads, heads=heads)
    return SAGELayer(channels, channels)


def _structure(conv: str, edge_index: Tensor, num_nodes: int, dtype: torch.dtype) -> dict[str, Any]:
    """Weight-free graph structure a layer kind reuses across layers (computed once per forward)."""
    if conv == "gcn":
        return {"adjacency": GCNLayer.normalized_adjacency(edge_index, num_nodes, dtype)}
    if conv == "gat":
        return {"loop_index": GATLayer.self_loop_index(edge_index, num_nodes)}
    return {}


@dataclass(frozen=True)
class BatchLayout:
    """Task layouts of the nodes and of the graphs of one task batch (computed once, reused every step)."""

    nodes: TaskLayout
    graphs: TaskLayout

    @classmethod
    def of(cls, task_batch: Any) -> "BatchLayout":
        """From a :class:`~graphmeta.data.episodes.TaskBatch`."""
        return cls(nodes=TaskLayout.from_row_task(task_batch.node_task, task_batch.n_tasks),
                   graphs=TaskLayout.from_row_task(task_batch.graph_task, task_batch.n_tasks))


class GraphEncoder(nn.Module):
    r"""GNN backbone: input encoders, ``num_layers`` message-passing layers, normalization, readout.

    Args:
        conv (str, optional): ``"gin"`` (GINE, uses bond features; default), ``"gcn"``, ``"gat"`` or ``"sage"``
            (these three ignore edge features).
        hidden_channels (int, optional): embedding size. (default: ``128``)
        num_layers (int, optional): message-passing layers; ``0``: no GNN at all, the embedding is an MLP of the
            molecule's fingerprint and/or descriptors (``fingerprint_channels``/``descriptor_channels`` required;
            node and edge inputs, ``norm`` and ``readout`` unused, ``norm`` recorded as ``"none"``): the fast
            backbone of MHNfs-style and multitask-probe models, which read no graph. (default: ``5``)
        atom_vocab (Sequence[int], optional): vocabulary sizes of the categorical node columns ``x``
            (default: the molecular featurizer's; ``None`` for graphs without categorical node features).
        bond_vocab (Sequence[int], optional): vocabulary sizes of the categorical edge columns ``edge_attr``
            (default: the featurizer's; ``None``: no edge features).
        node_attr_channels (int, optional): size of continuous node attributes ``node_attr`` (``0``: none).
        degree_vocab (int, optional): embed node degrees clipped to ``degree_vocab - 1`` (``0``: off); the input
            of featureless graphs such as IMDB.
        norm (str, optional): ``"task"``, ``"running"``, ``"layer"`` or ``"none"`` (see :mod:`.norm`).
        readout (str, optional): ``"mean"``, ``"sum"`` or ``"attention"`` (gated) pooling. (default: ``"mean"``)
        heads (int, optional): attention heads of ``"gat"``, concatenated, each of size
            ``hidden_channels // heads`` (must divide ``hidden_channels``); unused by other layers. (default: ``4``)
        fingerprint_channels (int, optional): also read each graph's ``fingerprint`` field (e.g. ECFP4 bits from
            ``MoleculeFeaturizer(fingerprint_bits=...)``) and fuse it with the readout
            (:class:`~.fingerprint.FingerprintFusion`); ``0``: the GNN alone. (default: ``0``)
        descriptor_channels (int, optional): also read each graph's ``descriptors`` field (raw RDKit descriptors from
            ``MoleculeFeaturizer(descriptors=True)``, ``len(DESCRIPTOR_NAMES)`` of them), scale them robustly and
            fuse them with the readout, beside the fingerprint if any (one fusion). The scaler's statistics must be
            fitted on training molecules first (:meth:`fit_descriptor_scaler`; the meta-trainer does it); they are
            buffers, saved with the weights. ``0``: none. (default: ``0``)
        fusion_channels (int, optional): hidden width of that fusion (``0``: ``hidden_channels``); the embedding
            stays ``hidden_channels`` wide. (default: ``0``)

    The fusion module is the attribute ``fingerprint`` (named so for the state-dict keys of earlier models; it
    fuses descriptors too).

    Shapes:
        - **input:** a task batch with ``batch.batch``, ``edge_index`` and the node/edge fields above
        - **output:** :math:`(G, \text{hidden\_channels})`
    """

    def __init__(
        self,
        conv: ConvName = "gin",
        hidden_channels: int = 128,
        num_layers: int = 5,
        atom_vocab: Sequence[int] | None = ATOM_VOCAB,
        bond_vocab: Sequence[int] | None = BOND_VOCAB,
        node_attr_channels: int = 0,
        degree_vocab: int = 0,
        norm: NormMode = "task",
        readout: ReadoutMode = "mean",
        heads: int = 4,
        fingerprint_channels: int = 0,
        descriptor_channels: int = 0,
        fusion_channels: int = 0,
    ) -> None:
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"conv must be one of {CONVS}, got {conv!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if conv == "gat" and (not isinstance(heads, int) or heads < 1 or hidden_channels % heads):
            raise ValueError(f"GAT heads must be a positive divisor of hidden_channels={hidden_channels}, got {heads}")
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f"num_layers must be a non-negative integer, got {num_layers!r}")
        for name, value in (("fingerprint_channels", fingerprint_channels),
                            ("descriptor_channels", descriptor_channels), ("fusion_channels", fusion_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if fusion_channels and not (fingerprint_channels or descriptor_channels):
            raise ValueError(f"fusion_channels={fusion_channels} sizes the fusion of fingerprints/descriptors, but the "
                             f"encoder reads neither (fingerprint_channels=0, descriptor_channels=0)")
        graphless = num_layers == 0
        if graphless and not (fingerprint_channels or descriptor_channels):
            raise ValueError("num_layers=0 (no GNN) embeds graph-level inputs only: set fingerprint_channels and/or "
                             "descriptor_channels")
        if not graphless and not atom_vocab and not node_attr_channels and not degree_vocab:
            raise ValueError("the encoder needs some node input: atom_vocab, node_attr_channels or degree_vocab")
        if graphless:  # nothing of the graph is read: no node inputs, no normalization
            atom_vocab, bond_vocab, node_attr_channels, degree_vocab, norm = None, None, 0, 0, "none"
        self.config: dict[str, Any] = {
            "conv": conv, "hidden_channels": hidden_channels, "num_layers": num_layers,
            "atom_vocab": list(atom_vocab) if atom_vocab else None, "bond_vocab": list(bond_vocab) if bond_vocab else None,
            "node_attr_channels": node_attr_channels, "degree_vocab": degree_vocab, "norm": norm, "readout": readout,
            "heads": heads, "fingerprint_channels": fingerprint_channels, "descriptor_channels": descriptor_channels,
            "fusion_channels": fusion_channels,
        }
        self.conv, self.hidden_channels, self.norm = conv, hidden_channels, norm
        self.atom_encoder = CategoricalEncoder(atom_vocab, hidden_channels) if atom_vocab else None
        self.attr_encoder = ContinuousEncoder(node_attr_channels, hidden_channels) if node_attr_channels else None
        self.degree_encoder = CategoricalEncoder([degree_vocab], hidden_channels) if degree_vocab else None
        use_bonds = conv == "gin" and bool(bond_vocab)
        self.bond_encoders = nn.ModuleList(
            [CategoricalEncoder(bond_vocab, hidden_channels) for _ in range(num_layers)]) if use_bonds else None
        self.layers = nn.ModuleList([_make_layer(conv, hidden_channels, heads) for _ in range(num_layers)])
        self.norms = nn.ModuleList([TaskNorm(hidden_channels, norm) for _ in range(num_layers)])
        self.readout = None if graphless else Readout(readout, hidden_channels)
        self.fingerprint = (FingerprintFusion(hidden_channels, fingerprint_channels, descriptor_channels, fusion_channels,
                                              graph_input=not graphless)
                            if fingerprint_channels or descriptor_channels else None)

    def fit_descriptor_scaler(self, values: Tensor) -> None:
        """Fits the robust scaling of the raw descriptors ``[n, descriptor_channels]`` (NaN allowed) of training
        molecules, e.g. ``store.graph_fields["descriptors"][train_ids]``. Unsupervised: it reads no label."""
        if self.fingerprint is None or self.fingerprint.scaler is None:
            raise ValueError("this backbone reads no descriptors (descriptor_channels=0): nothing to fit")
        self.fingerprint.fit_descriptor_scaler(values)

    def _encode_nodes(self, data: Any, layout: TaskLayout) -> Tensor:
        parts = []
        if self.atom_encoder is not None:
            parts.append(self.atom_encoder(data.x, layout))
        if self.attr_encoder is not None:
            parts.append(self.attr_encoder(data.node_attr, layout))
        if self.degree_encoder is not None:
            deg = degree(data.edge_index[1], data.num_nodes, dtype=torch.long)
            deg = deg.clamp(max=self.degree_encoder.vocab_sizes[0] - 1).unsqueeze(-1)
            parts.append(self.degree_encoder(deg, layout))
        return torch.stack(parts).sum(0) if len(parts) > 1 else parts[0]

    def node_embeddings(self, task_batch: Any, layout: BatchLayout | None = None, update_running_stats: bool = False,
                        input_hook: Callable[[Tensor], Tensor] | None = None,
                        statistics: SupportStatistics | None = None) -> Tensor:
        """Node embeddings ``[n_nodes, hidden_channels]`` after the last layer (before the readout).

        ``input_hook`` maps the input node embeddings to what the layers see: self-supervised pretraining uses
        it to replace masked atoms by a learned mask token. ``statistics`` (``"task"`` norm): an empty record
        collects this pass's per-task statistics (pass the support), a complete one normalizes with them (pass
        the query); see :class:`~graphmeta.nn.norm.SupportStatistics`.
        """
        if self.readout is None:
            raise ValueError("this backbone has no message-passing layers (num_layers=0): it embeds whole molecules "
                             "from their fingerprints/descriptors and has no node embeddings")
        layout = layout or BatchLayout.of(task_batch)
        data = task_batch.batch
        h = self._encode_nodes(data, layout.nodes)
        if input_hook is not None:
            h = input_hook(h)
        edge_layout = None
        if self.bond_encoders is not None:
            edge_layout = TaskLayout.from_row_task(layout.nodes.row_task[data.edge_index[1]], layout.nodes.n_tasks)
        structure = _structure(self.conv, data.edge_index, h.shape[0], h.dtype)
        for i, (conv, norm) in enumerate(zip(self.layers, self.norms)):
            edge_emb = None
            if self.conv == "gin":
                edge_emb = (self.bond_encoders[i](data.edge_attr, edge_layout) if self.bond_encoders is not None
                            else h.new_zeros(data.edge_index.shape[1], h.shape[1]))
            h = conv(h, data.edge_index, edge_emb, layout.nodes, **structure)
            if update_running_stats:
                norm.update_running_stats(h, layout.nodes)
            if statistics is not None and norm.mode == "task":
                h = norm(h, layout.nodes, statistics.moments(norm, h, layout.nodes, i))
            else:
                h = norm(h, layout.nodes)
            if i < len(self.layers) - 1:
                h = torch.relu_(h)  # in place on the norm's fresh output (autograd-safe)
        if statistics is not None and self.norm == "task":
            statistics.complete = True
        return h

    def forward(self, task_batch: Any, layout: BatchLayout | None = None, update_running_stats: bool = False,
                statistics: SupportStatistics | None = None) -> Tensor:
        """Graph embeddings ``[n_graphs, hidden_channels]`` of a task batch.

        ``update_running_stats=True`` (no gradient needed) moves ``"running"``-mode statistics towards this
        batch's per-task statistics; the meta-trainer calls it once per outer step. ``statistics``: see
        :meth:`node_embeddings`.
        """
        layout = layout or BatchLayout.of(task_batch)
        graphs = None
        if self.readout is not None:
            h = self.node_embeddings(task_batch, layout, update_running_stats, statistics=statistics)
            graphs = self.readout(h, task_batch.batch.batch, int(task_batch.graph_task.numel()), layout.nodes)
        if self.fingerprint is None:
            return graphs
        fusion = self.fingerprint
        fingerprint, bits = getattr(task_batch.batch, "fingerprint", None), fusion.fingerprint_channels
        if bits and fingerprint is None:
            raise ValueError(f"this backbone reads fingerprints (fingerprint_channels={bits}) but the graphs have "
                             f"none: featurize the molecules with MoleculeFeaturizer(fingerprint_bits={bits})")
        descriptors = getattr(task_batch.batch, "descriptors", None)
        if fusion.descriptor_channels and descriptors is None:
            raise ValueError(f"this backbone reads descriptors (descriptor_channels={fusion.descriptor_channels}) but "
                             f"the graphs have none: featurize the molecules with MoleculeFeaturizer(descriptors=True)")
        return fusion(graphs, fingerprint if bits else None, layout.graphs,
                      descriptors=descriptors if fusion.descriptor_channels else None)


class FewShotModel(nn.Module):
    """A backbone and a linear head giving ``n_way`` logits per graph (2 for binary tasks).

    ``head.*`` parameters are what ANIL adapts; ``encoder.*`` is the backbone.
    """

    def __init__(self, encoder: GraphEncoder, n_way: int = 2) -> None:
        super().__init__()
        if n_way < 2:
            raise ValueError("n_way must be at least 2")
        self.encoder, self.n_way = encoder, n_way
        self.head = nn.Linear(encoder.hidden_channels, n_way)

    def embed(self, task_batch: Any, layout: BatchLayout | None = None,
              statistics: SupportStatistics | None = None) -> Tensor:
        """Graph embeddings; ``statistics``: record the support's ``"task"``-norm statistics, or use them."""
        return self.encoder(task_batch, layout, statistics=statistics)

    @property
    def normalizes_by_task(self) -> bool:
        """Whether the backbone uses ``"task"`` norm, whose query passes need the support's statistics."""
        return self.encoder.norm == "task"

    def classify(self, embeddings: Tensor, layout: BatchLayout) -> Tensor:
        """Head logits of given embeddings (per-task head weights use the graph layout)."""
        return task_linear(embeddings, self.head.weight, self.head.bias, layout.graphs)

    def forward(self, task_batch: Any, layout: BatchLayout | None = None,
                statistics: SupportStatistics | None = None) -> Tensor:
        layout = layout or BatchLayout.of(task_batch)
        return self.classify(self.embed(task_batch, layout, statistics), layout)
