"""Where a pretraining run computes (device) and in which precision (bf16 autocast only where it is native)."""

from __future__ import annotations

import warnings

import torch

from graphmeta.runtime import BF16_CPU_FLAGS, cpu_supports_bf16

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


def _native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return cpu_supports_bf16()


def resolve_precision(name: str, device: torch.device) -> str:
    """The precision that runs: ``"bf16"`` or ``"fp32"``.

    ``"auto"`` is bf16 where the device computes it natively (a CUDA GPU with bf16; a CPU with AVX-512-BF16 or
    AMX), else fp32. An explicit ``"bf16"`` without native support warns and falls back to fp32: emulated bf16
    autocast made a GNN training step ~20x slower than fp32 on a 2-core AVX2 EPYC.
    """
    if name == "fp32":
        return "fp32"
    native = _native_bf16(device)
    if name == "auto":
        return "bf16" if native else "fp32"
    if name != "bf16":
        raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {name!r}")
    if native:
        return "bf16"
    if device.type == "cuda":
        why = "this CUDA device has no bfloat16 support (torch.cuda.is_bf16_supported() is False)"
    else:
        why = f"this CPU lacks the {' / '.join(BF16_CPU_FLAGS)} flags (no native bfloat16 matmuls)"
    warnings.warn(f"precision='bf16' requested but {why}: emulated bf16 autocast was ~20x slower than fp32 on such "
                  f"a CPU; running in fp32", RuntimeWarning, stacklevel=3)
    return "fp32"
