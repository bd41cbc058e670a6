"""Many graphs stored as a few flat tensors, and fast vectorized gathering into one PyG batch.

A :class:`GraphStore` is the on-disk and in-memory form of a dataset's graphs: node fields concatenated
over all graphs, edge fields likewise, ``edge_index`` with *local* node indices, and two pointer vectors.
:meth:`GraphStore.gather` builds one :class:`~torch_geometric.data.Batch` for any list of graph ids with a
handful of tensor ops (no Python loop per graph), which is what the episode collation of the task-batched
core relies on.

:meth:`GraphStore.save` writes the flat tensors as a folder of ``.npy`` files (atomically) and
:meth:`GraphStore.load` maps them back (:mod:`graphmeta.data.arrayfiles`): a mapped store holds only its two
pointer vectors in memory, and a gather reads only the rows of the graphs it picks, so datasets of hundreds of
thousands of molecules are meta-trained on without reading all graphs into memory.
"""

from __future__ import annotations

import os
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from graphmeta.safe_write import atomic_directory
from graphmeta.data.arrayfiles import ArrayFileError, read_arrays, write_arrays

if TYPE_CHECKING:
    from graphmeta.data.featurize import FeaturizedMolecules

__all__ = ["GRAPH_LEVEL_FIELDS", "GraphStore", "segment_arange"]

#: ``Data`` attributes that hold one row per graph (``[1, F]`` in a ``Data``), e.g. a molecule's fingerprint or
#: its RDKit descriptors.
GRAPH_LEVEL_FIELDS: frozenset[str] = frozenset({"fingerprint", "descriptors"})


def segment_arange(counts: Tensor) -> Tensor:
    """``cat([arange(c) for c in counts])`` without a Python loop."""
    total = int(counts.sum())
    starts = torch.cumsum(counts, 0) - counts
    return torch.arange(total, dtype=torch.long) - torch.repeat_interleave(starts, counts, output_size=total)


#: Integer dtypes a store may keep its local edge indices in (:meth:`GraphStore.compact` narrows them).
_INDEX_DTYPES = (torch.int16, torch.int32, torch.int64)
_NARROW_INTS = (torch.uint8, torch.int8, torch.int16, torch.int32)


def _widen(value: Tensor) -> Tensor:
    """Narrow integer node/edge features (a compact store's) as int64, what embeddings and indexing expect."""
    return value.long() if value.dtype in _NARROW_INTS else value


def _as_tensor(value: np.ndarray | Tensor) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value


@dataclass
class GraphStore:
    """Graphs concatenated into flat tensors.

    Attributes:
        node_fields: per-node tensors (``x``, ``node_attr``...), first dimension = total number of nodes.
        edge_fields: per-edge tensors (``edge_attr``...), first dimension = total number of edges.
        edge_index: ``[2, n_edges]`` long, node indices local to each graph.
        node_ptr: ``[n_graphs + 1]`` long, graph ``i`` owns nodes ``node_ptr[i]:node_ptr[i+1]``.
        edge_ptr: ``[n_graphs + 1]`` long, graph ``i`` owns edges ``edge_ptr[i]:edge_ptr[i+1]``.
        graph_fields: per-graph tensors (``fingerprint``...), first dimension = number of graphs.

    ``check_edges=False`` (constructor only) skips the scan of every edge index in :meth:`validate`; a store
    mapped from files uses it so that opening reads no edge (the files were checked when written).
    """

    edge_index: Tensor
    node_ptr: Tensor
    edge_ptr: Tensor
    node_fields: dict[str, Tensor] = field(default_factory=dict)
    edge_fields: dict[str, Tensor] = field(default_factory=dict)
    graph_fields: dict[str, Tensor] = field(default_factory=dict)
    check_edges: InitVar[bool] = True

    def __post_init__(self, check_edges: bool) -> None:
        self.edge_index = _as_tensor(self.edge_index)
        if self.edge_index.dtype not in _INDEX_DTYPES:
            self.edge_index = self.edge_index.long()
        self.node_ptr = _as_tensor(self.node_ptr).long()
        self.edge_ptr = _as_tensor(self.edge_ptr).long()
        self.node_fields = {k: _as_tensor(v) for k, v in self.node_fields.items()}
        self.edge_fields = {k: _as_tensor(v) for k, v in self.edge_fields.items()}
        self.graph_fields = {k: _as_tensor(v) for k, v in self.graph_fields.items()}
        self.validate(edges=check_edges)

    def validate(self, edges: bool = True) -> None:
        """Checks that pointers, fields and edge indices are consistent (raises ``ValueError``).

        ``edges=False`` checks pointers and shapes only (nothing proportional to the number of edges is read).
        """
        n_graphs = len(self.node_ptr) - 1
        if n_graphs < 0 or len(self.edge_ptr) != n_graphs + 1:
            raise ValueError("node_ptr and edge_ptr must both have n_graphs + 1 entries")
        for name, ptr in (("node_ptr", self.node_ptr), ("edge_ptr", self.edge_ptr)):
            if int(ptr[0]) != 0 or bool((ptr[1:] < ptr[:-1]).any()):
                raise ValueError(f"{name} must start at 0 and never decrease")
        n_nodes, n_edges = int(self.node_ptr[-1]), int(self.edge_ptr[-1])
        if self.edge_index.dim() != 2 or self.edge_index.shape != (2, n_edges):
            raise ValueError(f"edge_index has shape {tuple(self.edge_index.shape)}, expected (2, {n_edges})")
        for name, value in self.node_fields.items():
            if value.shape[0] != n_nodes:
                raise ValueError(f"node field {name!r} has {value.shape[0]} rows, expected {n_nodes}")
        for name, value in self.edge_fields.items():
            if value.shape[0] != n_edges:
                raise ValueError(f"edge field {name!r} has {value.shape[0]} rows, expected {n_edges}")
        for name, value in self.graph_fields.items():
            if value.shape[0] != n_graphs:
                raise ValueError(f"graph field {name!r} has {value.shape[0]} rows, expected {n_graphs}")
        if edges and n_edges:
            sizes = (self.node_ptr[1:] - self.node_ptr[:-1]).repeat_interleave(self.edge_ptr[1:] - self.edge_ptr[:-1])
            if bool((self.edge_index < 0).any()) or bool((self.edge_index >= sizes).any()):
                raise ValueError("edge_index refers to a node outside its own graph")

    # -- construction --------------------------------------------------------------------------------------
    @classmethod
    def from_data_list(cls, graphs: Sequence[Data]) -> "GraphStore":
        """Builds a store from PyG ``Data`` objects (all with the same fields; :data:`GRAPH_LEVEL_FIELDS` are
        per-graph rows)."""
        if not graphs:
            raise ValueError("cannot build a GraphStore from an empty list of graphs")
        first = graphs[0]
        tensors = [k for k in first.keys() if k != "edge_index" and torch.is_tensor(first[k])]
        graph_keys = [k for k in tensors if k in GRAPH_LEVEL_FIELDS]
        node_keys = [k for k in tensors if k not in GRAPH_LEVEL_FIELDS and first.is_node_attr(k)]
        edge_keys = [k for k in tensors if k not in GRAPH_LEVEL_FIELDS and first.is_edge_attr(k)]
        node_counts = torch.tensor([g.num_nodes for g in graphs], dtype=torch.long)
        edge_counts = torch.tensor([g.num_edges for g in graphs], dtype=torch.long)
        return cls(
            edge_index=torch.cat([g.edge_index for g in graphs], dim=1),
            node_ptr=torch.cat([torch.zeros(1, dtype=torch.long), node_counts.cumsum(0)]),
            edge_ptr=torch.cat([torch.zeros(1, dtype=torch.long), edge_counts.cumsum(0)]),
            node_fields={k: torch.cat([g[k] for g in graphs]) for k in node_keys},
            edge_fields={k: torch.cat([g[k] for g in graphs]) for k in edge_keys},
            graph_fields={k: torch.cat([g[k].reshape(1, -1) for g in graphs]) for k in graph_keys},
        )

    @classmethod
    def from_featurized(cls, feats: "FeaturizedMolecules") -> "GraphStore":
        """The store of molecules featurized by :meth:`MoleculeFeaturizer.featurize_many` (``x``, ``edge_attr``
        and, from a featurizer with them, ``fingerprint`` and ``descriptors``)."""
        graph_fields = {name: value for name, value in (("fingerprint", feats.fingerprint),
                                                        ("descriptors", feats.descriptors)) if value is not None}
        return cls(edge_index=feats.edge_index, node_ptr=feats.node_ptr, edge_ptr=feats.edge_ptr,
                   node_fields={"x": feats.x}, edge_fields={"edge_attr": feats.edge_attr}, graph_fields=graph_fields)

    @classmethod
    def concat(cls, stores: Sequence["GraphStore"]) -> "GraphStore":
        """Concatenates stores with the same fields, graphs in order."""
        def cat_ptr(ptrs: list[Tensor]) -> Tensor:
            out, offset = [torch.zeros(1, dtype=torch.long)], 0
            for ptr in ptrs:
                out.append(ptr[1:] + offset)
                offset += int(ptr[-1])
            return torch.cat(out)

        return cls(
            edge_index=torch.cat([s.edge_index for s in stores], dim=1),
            node_ptr=cat_ptr([s.node_ptr for s in stores]),
            edge_ptr=cat_ptr([s.edge_ptr for s in stores]),
            node_fields={k: torch.cat([s.node_fields[k] for s in stores]) for k in stores[0].node_fields},
            edge_fields={k: torch.cat([s.edge_fields[k] for s in stores]) for k in stores[0].edge_fields},
            graph_fields={k: torch.cat([s.graph_fields[k] for s in stores]) for k in stores[0].graph_fields},
        )

    def compact(self) -> "GraphStore":
        """The same graphs with integer fields in the narrowest dtype that holds their values (``uint8`` atom and
        bond categories, ``int16`` local edge indices for graphs under 32,768 nodes...): a molecule then takes a
        few hundred bytes instead of a few kilobytes, which is what lets millions of them be mapped from disk.
        :meth:`gather` and indexing give int64 back, so a compact store is a drop-in replacement."""
        def narrow(value: Tensor, types: tuple[torch.dtype, ...]) -> Tensor:
            if value.is_floating_point() or value.dtype == torch.bool or not value.numel():
                return value
            low, high = int(value.min()), int(value.max())
            for dtype in types:
                info = torch.iinfo(dtype)
                if info.min <= low and high <= info.max:
                    return value.to(dtype)
            return value

        ints = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
        return GraphStore(
            edge_index=narrow(self.edge_index, _INDEX_DTYPES), node_ptr=self.node_ptr, edge_ptr=self.edge_ptr,
            node_fields={k: narrow(v, ints) for k, v in self.node_fields.items()},
            edge_fields={k: narrow(v, ints) for k, v in self.edge_fields.items()},
            graph_fields=dict(self.graph_fields), check_edges=False)

    # -- access --------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.node_ptr) - 1

    @property
    def num_nodes(self) -> Tensor:
        """Number of nodes of each graph, ``[n_graphs]``."""
        return self.node_ptr[1:] - self.node_ptr[:-1]

    @property
    def num_edges(self) -> Tensor:
        """Number of directed edges of each graph, ``[n_graphs]``."""
        return self.edge_ptr[1:] - self.edge_ptr[:-1]

    def __getitem__(self, index: int) -> Data:
        """Graph ``index`` as a PyG ``Data`` (tensors are views into the store)."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"graph index {index} out of range for {n} graphs")
        index %= n
        n0, n1 = int(self.node_ptr[index]), int(self.node_ptr[index + 1])
        e0, e1 = int(self.edge_ptr[index]), int(self.edge_ptr[index + 1])
        data = Data(edge_index=self.edge_index[:, e0:e1].long(), num_nodes=n1 - n0)
        for key, value in self.node_fields.items():
            data[key] = _widen(value[n0:n1])
        for key, value in self.edge_fields.items():
            data[key] = _widen(value[e0:e1])
        for key, value in self.graph_fields.items():
            data[key] = value[index:index + 1]
        return data

    def subset(self, graph_ids: Tensor | Sequence[int]) -> "GraphStore":
        """A new store with only ``graph_ids`` (in that order)."""
        ids = torch.as_tensor(graph_ids, dtype=torch.long)
        node_idx, edge_idx, node_counts, edge_counts = self._gather_index(ids)
        return GraphStore(
            edge_index=self.edge_index[:, edge_idx],
            node_ptr=torch.cat([torch.zeros(1, dtype=torch.long), node_counts.cumsum(0)]),
            edge_ptr=torch.cat([torch.zeros(1, dtype=torch.long), edge_counts.cumsum(0)]),
            node_fields={k: v[node_idx] for k, v in self.node_fields.items()},
            edge_fields={k: v[edge_idx] for k, v in self.edge_fields.items()},
            graph_fields={k: v[ids] for k, v in self.graph_fields.items()},
        )

    def _gather_index(self, ids: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= len(self)):
            raise IndexError(f"graph ids must lie in [0, {len(self)})")
        node_counts = self.node_ptr[ids + 1] - self.node_ptr[ids]
        edge_counts = self.edge_ptr[ids + 1] - self.edge_ptr[ids]
        node_idx = torch.repeat_interleave(self.node_ptr[ids], node_counts) + segment_arange(node_counts)
        edge_idx = torch.repeat_interleave(self.edge_ptr[ids], edge_counts) + segment_arange(edge_counts)
        return node_idx, edge_idx, node_counts, edge_counts

    def gather(self, graph_ids: Tensor | Sequence[int]) -> Batch:
        """One PyG ``Batch`` of the graphs ``graph_ids`` (repeats allowed), built without per-graph loops.

        The result has the fields of the store plus ``edge_index`` (global node indices), ``batch`` and
        ``ptr``; it equals ``Batch.from_data_list([store[i] for i in graph_ids])`` field by field.
        """
        ids = torch.as_tensor(graph_ids, dtype=torch.long)
        node_idx, edge_idx, node_counts, edge_counts = self._gather_index(ids)
        new_node_ptr = torch.cat([torch.zeros(1, dtype=torch.long), node_counts.cumsum(0)])
        offsets = torch.repeat_interleave(new_node_ptr[:-1], edge_counts, output_size=int(edge_counts.sum()))
        fields: dict[str, Tensor] = {k: _widen(v[node_idx]) for k, v in self.node_fields.items()}
        fields.update({k: _widen(v[edge_idx]) for k, v in self.edge_fields.items()})
        fields.update({k: v[ids] for k, v in self.graph_fields.items()})
        return Batch(
            edge_index=self.edge_index[:, edge_idx].long() + offsets,
            batch=torch.repeat_interleave(torch.arange(len(ids)), node_counts, output_size=int(node_counts.sum())),
            ptr=new_node_ptr,
            num_nodes=int(new_node_ptr[-1]),
            **fields,
        )

    # -- serialization ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, object]:
        """Plain tensors and dicts, loadable with ``torch.load(weights_only=True)``."""
        return {
            "edge_index": self.edge_index,
            "node_ptr": self.node_ptr,
            "edge_ptr": self.edge_ptr,
            "node_fields": dict(self.node_fields),
            "edge_fields": dict(self.edge_fields),
            "graph_fields": dict(self.graph_fields),
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, object]) -> "GraphStore":
        return cls(**state)  # type: ignore[arg-type]

    def save(self, folder: str | os.PathLike) -> Path:
        """Writes the store as a memory-mappable folder of ``.npy`` files, atomically (replacing ``folder``)."""
        return atomic_directory(folder, self.write_folder)

    def write_folder(self, folder: str | os.PathLike) -> Path:
        """Writes the store's files into a new, empty ``folder`` (not atomic: :meth:`save` is)."""
        arrays = {"edge_index": self.edge_index, "node_ptr": self.node_ptr, "edge_ptr": self.edge_ptr}
        arrays.update({f"node.{k}": v for k, v in self.node_fields.items()})
        arrays.update({f"edge.{k}": v for k, v in self.edge_fields.items()})
        arrays.update({f"graph.{k}": v for k, v in self.graph_fields.items()})
        meta = {"kind": "graph-store", "n_graphs": len(self), "node_fields": list(self.node_fields),
                "edge_fields": list(self.edge_fields), "graph_fields": list(self.graph_fields)}
        return write_arrays(folder, arrays, meta)

    @classmethod
    def load(cls, folder: str | os.PathLike, mmap: bool = True, verify: bool = False) -> "GraphStore":
        """The store saved in ``folder`` by :meth:`save`.

        Args:
            folder: the store's folder.
            mmap: map the field files (default): only the pointer vectors are read, each gather reads the rows
                it needs. ``False`` reads everything into memory and checks every edge, like a fresh store.
            verify: also check each file's sha256 and every edge index (reads the whole store once).

        Raises:
            ArrayFileError: a file is missing, truncated, corrupt or inconsistent with the others (named).
        """
        arrays, meta = read_arrays(folder, mmap=mmap, verify=verify)
        if meta.get("kind") != "graph-store":
            raise ArrayFileError(f"{folder} does not hold a graph store (its manifest says {meta.get('kind')!r})")
        try:
            return cls(edge_index=arrays["edge_index"], node_ptr=arrays["node_ptr"].clone(),
                       edge_ptr=arrays["edge_ptr"].clone(),
                       node_fields={k: arrays[f"node.{k}"] for k in meta["node_fields"]},
                       edge_fields={k: arrays[f"edge.{k}"] for k in meta["edge_fields"]},
                       graph_fields={k: arrays[f"graph.{k}"] for k in meta.get("graph_fields", [])},
                       check_edges=verify or not mmap)
        except KeyError as err:
            raise ArrayFileError(f"{folder}: the manifest lists no array {err}") from None
        except ValueError as err:
            raise ArrayFileError(f"{folder}: its files do not form one graph store ({err})") from None
