"""Input-dependent gate for the Super Learner (a mixture of experts over its base learners).

Instead of one set of convex weights per task, a small network reads a molecule's backbone embedding and gives
that molecule its own convex weights over the ``L`` base learners (softmax output), so that, say, the random
forest can be trusted on some chemotypes and the MAML head on others. The gate is **meta-trained across tasks**:
on meta-training episodes every base learner is fitted on the support and scores the query; the gate learns to
weight those query predictions (log loss of the combination, on the same logit or probability scale as the
Super Learner). It is then fixed and used on new tasks, whose supports it never needs to cross-validate.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from graphmeta.meta.convex import EPS

__all__ = ["StackingGate", "gated_log_loss", "fit_gate"]


class StackingGate(nn.Module):
    """``[n, d]`` embeddings -> ``[n, L]`` convex weights (a two-layer MLP and a softmax).

    Args:
        in_channels: embedding width.
        n_learners: number of base learners ``L``.
        hidden_channels: width of the hidden layer.
    """

    def __init__(self, in_channels: int, n_learners: int, hidden_channels: int = 32) -> None:
        super().__init__()
        if n_learners < 1:
            raise ValueError("the gate needs at least one base learner")
        self.in_channels, self.n_learners = in_channels, n_learners
        self.net = nn.Sequential(nn.Linear(in_channels, hidden_channels), nn.ReLU(),
                                 nn.Linear(hidden_channels, n_learners))
        nn.init.zeros_(self.net[-1].weight)  # starts as the uniform combination
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, embeddings: Tensor) -> Tensor:
        return torch.softmax(self.net(embeddings), dim=-1)


def _features(Z: Tensor, scale: str) -> Tensor:
    Z = Z.clamp(EPS, 1 - EPS)
    return torch.logit(Z) if scale == "logit" else Z


def gated_log_loss(weights: Tensor, Z: Tensor, y: Tensor, scale: str = "logit") -> Tensor:
    """Mean log loss of the per-row convex combination ``weights`` ``[n, L]`` of probabilities ``Z`` ``[n, L]``."""
    s = (weights * _features(Z, scale)).sum(-1)
    if scale == "logit":
        return nn.functional.binary_cross_entropy_with_logits(s, y)
    return nn.functional.binary_cross_entropy(s.clamp(EPS, 1 - EPS), y)


def fit_gate(gate: StackingGate, samples: Sequence[tuple[Tensor, np.ndarray, np.ndarray]], scale: str = "logit",
             epochs: int = 300, lr: float = 1e-2, weight_decay: float = 1e-4, seed: int = 0) -> list[float]:
    """Trains ``gate`` (full batch, AdamW) on ``(query embeddings [n, d], base probabilities [n, L], labels [n])``
    of meta-training episodes; returns the loss per epoch. Deterministic for a ``seed``."""
    if not samples:
        raise ValueError("fit_gate needs at least one episode")
    X = torch.cat([torch.as_tensor(e, dtype=torch.float32) for e, _, _ in samples])
    Z = torch.cat([torch.as_tensor(z, dtype=torch.float32) for _, z, _ in samples])
    y = torch.cat([torch.as_tensor(t, dtype=torch.float32) for _, _, t in samples])
    if X.shape[1] != gate.in_channels or Z.shape[1] != gate.n_learners:
        raise ValueError(f"gate expects {gate.in_channels}-d embeddings and {gate.n_learners} base learners, got "
                         f"{X.shape[1]} and {Z.shape[1]}")
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(gate.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    gate.train()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = gated_log_loss(gate(X), Z, y, scale)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    gate.eval()
    torch.random.set_rng_state(generator_state)
    return losses
