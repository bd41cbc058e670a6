"""What defines a pretraining run (:class:`PretrainConfig`), and which of its fields a resume may change."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from graphmeta.runtime import PRECISIONS
from graphmeta.schedules import LR_SCHEDULES

__all__ = ["OBJECTIVES", "AUGMENTATIONS", "PRECISIONS", "DEVICES", "LR_SCHEDULES", "PretrainConfig",
           "resume_mismatch"]

#: Training objectives: attribute masking and graph contrastive learning are self-supervised (molecules only);
#: ``"multitask"`` is supervised (labels of the tasks passed to :func:`~graphmeta.pretrain.supervised_pretrain`).
OBJECTIVES: tuple[str, ...] = ("masking", "contrastive", "multitask")
#: GraphCL augmentations; each molecule of a contrastive view gets one of them, drawn uniformly.
AUGMENTATIONS: tuple[str, ...] = ("drop_nodes", "drop_edges", "mask_atoms", "subgraph")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

#: Fields a resumed run may change: its length, its checkpoint interval, free-form notes, and where and in which
#: precision it computes (moving a run to a GPU; the trainer then warns that the result is not bitwise that of an
#: uninterrupted run).
_RESUMABLE_CHANGES = ("steps", "checkpoint_every", "extra", "device", "precision")


@dataclass
class PretrainConfig:
    """A pretraining run; the backbone fields must match the ``TrainConfig`` it will be loaded into.

    ``objectives`` are summed with ``objective_weights`` (default 1 each) in every step; each view of a molecule
    batch is forwarded once. ``precision="auto"`` runs bf16 autocast where the hardware computes bf16 natively
    (a CUDA GPU with bf16, a CPU with AVX-512-BF16 or AMX), else fp32; held-out evaluation always runs in fp32.
    ``init_from``: an ``encoder.pt`` the backbone starts from (e.g. supervised pretraining after a
    self-supervised run).
    """

    steps: int = 5000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "constant"  # or "cosine" (to 0 at `steps`); both after `warmup_steps` of linear warmup
    warmup_steps: int = 0
    objectives: tuple[str, ...] = ("masking",)
    objective_weights: tuple[float, ...] | None = None  # one per objective; None: 1 each
    mask_rate: float = 0.15  # masking objective: fraction of atoms masked
    augmentations: tuple[str, ...] = AUGMENTATIONS  # contrastive: drawn per molecule and view
    augment_rate: float = 0.2  # contrastive: fraction of atoms / bonds dropped or masked (subgraph keeps 1 - rate)
    temperature: float = 0.1  # contrastive: NT-Xent temperature
    eval_every: int = 500
    eval_molecules: int = 2000  # held out from training, scored by every objective
    checkpoint_every: int | None = None  # also write last.pt every N steps (besides every evaluation)
    seed: int = 0
    conv: str = "gin"
    hidden_channels: int = 128
    num_layers: int = 5
    norm: str = "task"
    heads: int = 4
    precision: str = "auto"
    device: str = "auto"
    init_from: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes recorded with the checkpoint

    def __post_init__(self) -> None:
        self.objectives = tuple(self.objectives)
        self.augmentations = tuple(self.augmentations)
        if self.objective_weights is not None:
            self.objective_weights = tuple(float(w) for w in self.objective_weights)
        if not 0.0 < self.mask_rate < 1.0:
            raise ValueError(f"mask_rate must be in (0, 1), got {self.mask_rate}")
        if not 0.0 < self.augment_rate < 1.0:
            raise ValueError(f"augment_rate must be in (0, 1), got {self.augment_rate}")
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError("steps, batch_size and eval_every must be positive")
        if self.num_layers < 1:
            raise ValueError(f"pretraining trains a GNN: num_layers must be at least 1, got {self.num_layers} "
                             f"(a num_layers=0 backbone reads fingerprints/descriptors only and has nothing to pretrain)")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be positive (or None), got {self.checkpoint_every}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not self.objectives or len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objectives must be a non-empty list without repeats, got {list(self.objectives)}")
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown:
            raise ValueError(f"unknown objective(s) {unknown}; choose from {list(OBJECTIVES)}")
        if self.objective_weights is not None and (
                len(self.objective_weights) != len(self.objectives)
                or not all(math.isfinite(w) and w >= 0 for w in self.objective_weights)
                or not any(w > 0 for w in self.objective_weights)):
            raise ValueError(f"objective_weights must be one finite weight >= 0 per objective {list(self.objectives)} "
                             f"(not all 0), got {list(self.objective_weights)}")
        if not self.augmentations or any(a not in AUGMENTATIONS for a in self.augmentations):
            raise ValueError(f"augmentations must be a non-empty subset of {list(AUGMENTATIONS)}, "
                             f"got {list(self.augmentations)}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if "contrastive" in self.objectives and self.batch_size < 2:
            raise ValueError("the contrastive objective needs batch_size >= 2 (the other molecules are its negatives)")
        for name, value, allowed in (("precision", self.precision, PRECISIONS), ("device", self.device, DEVICES),
                                     ("lr_schedule", self.lr_schedule, LR_SCHEDULES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")

    @property
    def weights(self) -> dict[str, float]:
        """Each objective's weight in the summed loss."""
        ws = self.objective_weights or (1.0,) * len(self.objectives)
        return dict(zip(self.objectives, ws))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (tuples as lists), as saved in checkpoints and records."""
        out = asdict(self)
        for key in ("objectives", "augmentations", "objective_weights"):
            if out[key] is not None:
                out[key] = list(out[key])
        return out


def resume_mismatch(saved: dict[str, Any], current: PretrainConfig) -> list[str]:
    """Fields of the config a checkpoint was written with that differ from ``current`` (those a resume may change
    excluded; fields a checkpoint predates count with their default)."""
    defaults = PretrainConfig().to_dict()
    mine = current.to_dict()
    known = {f.name for f in fields(PretrainConfig)}
    theirs = {**defaults, **{k: v for k, v in saved.items() if k in known}}
    extra_saved = sorted(k for k in saved if k not in known)  # a field this graphmeta does not know
    return sorted(k for k in known if k not in _RESUMABLE_CHANGES and _norm(theirs[k]) != _norm(mine[k])) + extra_saved


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
