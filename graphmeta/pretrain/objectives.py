"""The pretraining model (backbone + a head per objective) and the objectives' losses.

- ``"masking"``: attribute masking (Hu et al., "Strategies for Pre-training Graph Neural Networks", ICLR 2020,
  https://arxiv.org/abs/1905.12265): a fraction of the atoms has its input embedding replaced by a learned mask
  token, and a linear head on the node embeddings predicts the masked atoms' element (first atom column).
- ``"contrastive"``: GraphCL (You et al., NeurIPS 2020, https://arxiv.org/abs/2010.13902): two augmented views
  of each molecule (:mod:`.augment`), mean readout, a two-layer projection head, and the NT-Xent loss of SimCLR
  (Chen et al., ICML 2020): for each of the ``2N`` views, cross-entropy of picking its partner among the other
  ``2N - 1`` views of the batch by cosine similarity / temperature.
- ``"multitask"``: supervised multitask pretraining (Hu et al. 2020, graph-level): mean readout, a linear head
  with one logit per task, binary cross-entropy averaged over the (graph, task) pairs that have a label.

Every view is forwarded once per step; the objectives' losses are then summed with their weights by the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch

from graphmeta.data.episodes import TaskBatch
from graphmeta.nn.backbone import GraphEncoder
from graphmeta.pretrain.augment import FieldNames, View, atom_mask, augment
from graphmeta.pretrain.config import PretrainConfig
from graphmeta.pretrain.labels import GraphLabels

__all__ = ["PretrainModel", "AttributeMasking", "StepInputs", "ObjectiveOutput", "draw_inputs", "run_objectives",
           "nt_xent", "masked_bce"]


class PretrainModel(nn.Module):
    """A backbone, the learned mask token and the heads of ``objectives``.

    Parameter names: ``encoder.*`` (what ``encoder.pt`` exports), ``mask_token``, ``head.*`` (element logits of
    masked atoms), ``projection.*`` (contrastive), ``task_head.*`` (multitask, ``n_tasks`` outputs).
    """

    def __init__(self, encoder: GraphEncoder, objectives: tuple[str, ...] = ("masking",), n_tasks: int = 0) -> None:
        super().__init__()
        d = encoder.hidden_channels
        self.encoder, self.objectives = encoder, tuple(objectives)
        self.mask_token = nn.Parameter(torch.zeros(d))
        if "masking" in self.objectives:
            if encoder.atom_encoder is None:
                raise ValueError("attribute masking needs categorical atom features (atom_vocab)")
            self.head = nn.Linear(d, encoder.atom_encoder.vocab_sizes[0])
        if "contrastive" in self.objectives:
            self.projection = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))
        if "multitask" in self.objectives:
            if n_tasks < 1:
                raise ValueError("the multitask objective needs at least one task")
            self.task_head = nn.Linear(d, n_tasks)

    def node_embeddings(self, batch: Batch, mask: Tensor | None = None) -> Tensor:
        """Node embeddings ``[n_nodes, d]``; atoms where ``mask`` is set enter the layers as the mask token."""
        n_graphs = int(batch.num_graphs)
        task_batch = TaskBatch(batch=batch, graph_task=batch.batch.new_zeros(n_graphs),
                               y=batch.batch.new_zeros(n_graphs, dtype=torch.float), n_tasks=1)
        hook = None
        if mask is not None:
            hook = lambda h0: torch.where(mask[:, None], self.mask_token.to(h0.dtype), h0)  # noqa: E731
        return self.encoder.node_embeddings(task_batch, input_hook=hook)

    def graph_embeddings(self, batch: Batch, h: Tensor) -> Tensor:
        """Mean of each graph's node embeddings ``[n_graphs, d]`` (the backbone's readout)."""
        return self.encoder.readout(h, batch.batch, int(batch.num_graphs))


class AttributeMasking(PretrainModel):
    """Backbone + learned mask token + linear head predicting the element (first atom column) of masked atoms."""

    def __init__(self, encoder: GraphEncoder) -> None:
        super().__init__(encoder, ("masking",))

    def forward(self, batch: Any, mask: Tensor) -> Tensor:
        """Element logits ``[n_masked, n_elements]`` of the atoms where ``mask`` (``[n_nodes]`` bool) is set."""
        return self.head(self.node_embeddings(batch, mask)[mask])


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """NT-Xent loss of ``N`` positive pairs ``(z1[i], z2[i])``, and the number of views whose most similar other
    view is their partner (top-1 retrieval among the ``2N - 1`` others)."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = (z @ z.t()) / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, target), (sim.argmax(1) == target).sum()


def masked_bce(logits: Tensor, row: Tensor, task: Tensor, value: Tensor) -> Tensor:
    """Mean binary cross-entropy of ``logits[row, task]`` against ``value``: only labelled pairs count."""
    return F.binary_cross_entropy_with_logits(logits[row, task].float(), value.float())


@dataclass
class StepInputs:
    """Everything one step (or one held-out batch) forwards: the graphs, the masking objective's masked atoms, the
    two contrastive views and the multitask label pairs (``None`` for an objective not trained)."""

    batch: Batch
    mask: Tensor | None = None
    views: tuple[View, View] | None = None
    pairs: tuple[Tensor, Tensor, Tensor] | None = None

    def to(self, device: torch.device) -> "StepInputs":
        if device.type == "cpu":
            return self
        views = None if self.views is None else (self.views[0].to(device), self.views[1].to(device))
        return StepInputs(self.batch.to(device), None if self.mask is None else self.mask.to(device), views,
                          None if self.pairs is None else tuple(p.to(device) for p in self.pairs))  # type: ignore[arg-type]


def draw_inputs(batch: Batch, ids: Tensor, config: PretrainConfig, rng: np.random.Generator, fields: FieldNames,
                labels: GraphLabels | None) -> StepInputs:
    """The random parts of a step, on the CPU, from ``rng`` in a fixed order: the masked atoms, then the two
    contrastive views."""
    inputs = StepInputs(batch)
    if "masking" in config.objectives:
        inputs.mask = atom_mask(int(batch.num_nodes), config.mask_rate, rng)
    if "contrastive" in config.objectives:
        inputs.views = tuple(augment(batch, fields, config.augmentations, config.augment_rate, rng)  # type: ignore[assignment]
                             for _ in range(2))
    if "multitask" in config.objectives:
        if labels is None:
            raise ValueError("the multitask objective needs labels: use supervised_pretrain")
        inputs.pairs = labels.pairs(ids)
    return inputs


@dataclass
class ObjectiveOutput:
    """One objective on one batch: its mean ``loss`` over ``count`` items (masked atoms, views or labelled pairs),
    ``correct`` items (masking: right element; contrastive: partner retrieved), and multitask's pair logits."""

    loss: Tensor
    count: int
    correct: Tensor | None = None
    scores: Tensor | None = None


def run_objectives(model: PretrainModel, inputs: StepInputs, temperature: float) -> dict[str, ObjectiveOutput]:
    """Forwards each view once and returns every trained objective's output."""
    out: dict[str, ObjectiveOutput] = {}
    batch = inputs.batch
    if inputs.mask is not None:
        logits = model.head(model.node_embeddings(batch, inputs.mask)[inputs.mask]).float()
        target = batch.x[inputs.mask, 0]
        out["masking"] = ObjectiveOutput(F.cross_entropy(logits, target), int(target.numel()),
                                         (logits.argmax(-1) == target).sum())
    if inputs.views is not None:
        z = [model.projection(model.graph_embeddings(v.batch, model.node_embeddings(v.batch, v.mask)))
             for v in inputs.views]
        loss, correct = nt_xent(z[0], z[1], temperature)
        out["contrastive"] = ObjectiveOutput(loss, 2 * int(z[0].shape[0]), correct)
    if inputs.pairs is not None:
        row, task, value = inputs.pairs
        logits = model.task_head(model.graph_embeddings(batch, model.node_embeddings(batch))).float()
        out["multitask"] = ObjectiveOutput(masked_bce(logits, row, task, value), int(row.numel()),
                                           scores=logits[row, task].detach())
    return out
