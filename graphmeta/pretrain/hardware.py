"""Where a pretraining run computes (device); the precision it runs in is :func:`graphmeta.runtime.resolve_precision`'s
(re-exported here for existing imports)."""

from __future__ import annotations

import torch

from graphmeta.runtime import resolve_precision

__all__ = ["resolve_device", "resolve_precision"]


def resolve_device(name: str) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; ``"cuda"`` without a CUDA device is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but no CUDA device is available (torch.cuda.is_available() is False); "
                         "use device='cpu' or 'auto'")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {name!r}")
    return torch.device(name)
