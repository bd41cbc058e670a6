"""Stochastic views of molecules for contrastive pretraining (GraphCL), vectorized over one gathered PyG batch.

You et al., "Graph Contrastive Learning with Augmentations" (NeurIPS 2020), https://arxiv.org/abs/2010.13902:
two views of each molecule, each made by one augmentation drawn per molecule from

- ``"drop_nodes"``: every atom is dropped with probability ``rate`` (with its bonds);
- ``"drop_edges"``: every bond (both directions together) is dropped with probability ``rate``;
- ``"mask_atoms"``: every atom is masked with probability ``rate`` (its input embedding becomes the mask token);
- ``"subgraph"``: the ``floor((1 - rate) * n)`` atoms nearest (in bonds) to a random atom are kept, ties at the
  last distance broken at random (a breadth-first search run for all molecules at once).

Every molecule keeps at least one atom (a random anchor atom always survives atom dropping; a subgraph keeps its
start atom), and kept bonds join kept atoms of the same molecule. All random numbers come from the numpy generator
passed in, in a fixed order, so a step's views depend only on ``episode_rng(seed, step)`` (exact resume).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch

from graphmeta.data.graphs import GraphStore

__all__ = ["FieldNames", "View", "atom_mask", "augment", "keep_parts"]


@dataclass(frozen=True)
class FieldNames:
    """Names of the per-node, per-edge and per-graph fields of the graphs (what a compacted view must carry)."""

    node: tuple[str, ...]
    edge: tuple[str, ...]
    graph: tuple[str, ...]

    @classmethod
    def of(cls, store: GraphStore) -> "FieldNames":
        return cls(tuple(store.node_fields), tuple(store.edge_fields), tuple(store.graph_fields))


@dataclass
class View:
    """One view of a batch of molecules: the graphs, and the atoms whose input embedding is the mask token."""

    batch: Batch
    mask: Tensor | None = None  # [n_nodes] bool, or None: nothing masked

    def to(self, device: torch.device) -> "View":
        return View(self.batch.to(device), None if self.mask is None else self.mask.to(device))


def atom_mask(n_nodes: int, rate: float, rng: np.random.Generator) -> Tensor:
    """``[n_nodes]`` bool: each atom masked with probability ``rate``, at least one atom in all."""
    mask = rng.random(n_nodes) < rate
    if not mask.any():
        mask[rng.integers(n_nodes)] = True
    return torch.from_numpy(mask)


def keep_parts(batch: Batch, keep_nodes: Tensor, keep_edges: Tensor, fields: FieldNames) -> Batch:
    """The batch with only the kept nodes and edges (an edge needs both ends kept), indices renumbered; every
    graph stays (possibly smaller), so graph ``i`` of the result is graph ``i`` of ``batch``."""
    keep_edges = keep_edges & keep_nodes[batch.edge_index[0]] & keep_nodes[batch.edge_index[1]]
    new_id = torch.cumsum(keep_nodes, 0) - 1
    graph_of_node = batch.batch[keep_nodes]
    counts = torch.bincount(graph_of_node, minlength=batch.num_graphs)
    out: dict[str, Tensor] = {k: batch[k][keep_nodes] for k in fields.node}
    out.update({k: batch[k][keep_edges] for k in fields.edge})
    out.update({k: batch[k] for k in fields.graph})
    return Batch(edge_index=new_id[batch.edge_index[:, keep_edges]], batch=graph_of_node,
                 ptr=torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)]), num_nodes=int(keep_nodes.sum()),
                 **out)


def _hop_distance(edge_index: Tensor, seeds: Tensor, graph: Tensor, need: Tensor, n_nodes: int) -> Tensor:
    """Bonds from the nearest seed to every node (``n_nodes + 1`` when not reached), expanding one hop at a time
    over all graphs together and stopping once every graph has reached ``need[g]`` nodes or nothing is left."""
    far = n_nodes + 1
    dist = torch.full((n_nodes,), far, dtype=torch.long)
    reached = torch.zeros(n_nodes, dtype=torch.bool)
    dist[seeds], reached[seeds] = 0, True
    src, dst = edge_index
    hop = 0
    while True:
        if bool((torch.bincount(graph[reached], minlength=len(need)) >= need).all()):
            return dist
        frontier = reached[src] & ~reached[dst]
        if not bool(frontier.any()):
            return dist
        hop += 1
        new = dst[frontier]
        dist[new], reached[new] = hop, True


def _rank_in_graph(graph: Tensor, ptr: Tensor, key: Tensor) -> Tensor:
    """Rank (0 = smallest ``key``) of every node among the nodes of its graph (graphs contiguous in ``graph``)."""
    order = torch.argsort(graph.double() * (float(key.max()) + 1.0 if key.numel() else 1.0) + key, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))
    return rank - ptr[graph]


def augment(batch: Batch, fields: FieldNames, augmentations: Sequence[str], rate: float,
            rng: np.random.Generator) -> View:
    """One random view of every molecule of ``batch`` (see the module docstring); the result has the same graphs
    in the same order."""
    n, n_graphs, n_edges = int(batch.num_nodes), int(batch.num_graphs), int(batch.edge_index.shape[1])
    choice = torch.from_numpy(rng.integers(len(augmentations), size=n_graphs))
    u_graph = torch.from_numpy(rng.random(n_graphs))
    u_node = torch.from_numpy(rng.random(n))
    u_edge = torch.from_numpy(rng.random(n_edges))

    def chosen(name: str) -> Tensor:  # [n_graphs] bool: the graphs this augmentation applies to
        return choice == augmentations.index(name) if name in augmentations else torch.zeros(n_graphs, dtype=torch.bool)

    graph, ptr = batch.batch, batch.ptr
    counts = ptr[1:] - ptr[:-1]
    present = counts > 0
    anchor = ptr[:-1] + torch.minimum((u_graph * counts).long(), (counts - 1).clamp(min=0))  # a random atom per graph
    keep = torch.ones(n, dtype=torch.bool)
    drop_nodes = chosen("drop_nodes")
    if bool(drop_nodes.any()):
        keep &= ~(drop_nodes[graph] & (u_node < rate))
        keep[anchor[drop_nodes & present]] = True
    subgraph = chosen("subgraph")
    if bool(subgraph.any()):
        size = torch.where(subgraph & present, ((1.0 - rate) * counts).long().clamp(min=1), 0)
        dist = _hop_distance(batch.edge_index, anchor[subgraph & present], graph, size, n)
        rank = _rank_in_graph(graph, ptr, dist.double() + u_node)  # nearest first, random among equals
        keep = torch.where(subgraph[graph], rank < size[graph], keep)
    keep_edges = torch.ones(n_edges, dtype=torch.bool)
    drop_edges = chosen("drop_edges")
    if bool(drop_edges.any()) and n_edges:
        src, dst = batch.edge_index
        pair = torch.minimum(src, dst) * n + torch.maximum(src, dst)  # both directions of a bond share one draw
        _, bond = torch.unique(pair, return_inverse=True)
        keep_edges = ~(drop_edges[graph[src]] & (u_edge[bond] < rate))
    mask = None
    if "mask_atoms" in augmentations:
        mask = chosen("mask_atoms")[graph] & (u_node < rate)
    view = keep_parts(batch, keep, keep_edges, fields)
    return View(view, None if mask is None else mask[keep])
