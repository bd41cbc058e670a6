"""Process-level settings for meta-training: reproducible kernels, and CPU memory kept for reuse.

Reproducibility: with several threads, PyTorch's CPU ``index_put_``/``scatter_add_`` kernels (the backward of
gathers, message-passing sums) accumulate in an order that depends on thread scheduling, so the same seed gave
different weights (~1e-3 relative after a few MAML steps) whenever the machine was busy. :func:`deterministic`
switches PyTorch to its deterministic kernels for a block of code (about 2% slower on a 1-shot MAML meta-step
here); the meta-trainer, evaluation and pretraining run inside it.

Speed: a task-batched meta-step allocates and frees many large temporaries (padded blocks of all tasks, tens of MB
each). glibc's ``malloc`` returns such blocks to the kernel when they are freed (``mmap``/``munmap``, or by
trimming the heap), so the next step touches fresh pages again: on a 2-core CPU that was ~230,000 page faults
and ~10% of a 1-shot MAML meta-step's time. :func:`retain_freed_memory` tells glibc to keep freed memory in
the process instead (the usual advice for PyTorch CPU training is an allocator such as jemalloc, which needs
``LD_PRELOAD``; this needs nothing). The price: the process keeps its peak memory until it exits.

Precision: :func:`cpu_supports_bf16` says whether this CPU runs bfloat16 matmuls natively (AVX-512-BF16 or AMX).
Without them ``torch.autocast("cpu", torch.bfloat16)`` is emulated and was ~20x slower than fp32 here.
:func:`resolve_precision` turns a requested precision (``"auto"``, ``"fp32"``, ``"bf16"``) into the one that runs,
for meta-training, pretraining and the benchmarks alike.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

__all__ = ["retain_freed_memory", "deterministic", "cpu_supports_bf16", "BF16_CPU_FLAGS", "PRECISIONS",
           "resolve_precision"]

#: Precisions a run may request: ``"auto"`` resolves to bf16 where it is native, else fp32 (:func:`resolve_precision`).
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")

# mallopt parameters (glibc <malloc.h>)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's upper limit on 64-bit systems
_KEEP = 2**31 - 1  # largest int mallopt takes: trim the heap only beyond 2 GiB of free memory at its top

_applied = False


def retain_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse (allocations up to 32 MiB from the heap, heap never trimmed).

    Returns ``True`` when the setting is in effect (Linux with glibc), ``False`` elsewhere (nothing changes).
    Idempotent; process-wide.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # only glibc has mallopt with these parameters
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX), (_M_TRIM_THRESHOLD, _KEEP),
        (_M_TOP_PAD, 64 * 1024 * 1024)))
    _applied = ok
    return ok


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Runs the block with ``torch.use_deterministic_algorithms(True)`` (ops without a deterministic kernel
    warn instead of failing), then restores the previous setting. ``enabled=False`` changes nothing."""
    if not enabled:
        yield
        return
    previous, previous_warn = torch.are_deterministic_algorithms_enabled(), \
        torch.is_deterministic_algorithms_warn_only_enabled()
    previous_fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)
    # Deterministic mode also fills every new tensor with NaN (a debugging aid against reads of uninitialized
    # memory): a quarter of a GIN forward's time here, and nothing in graphmeta reads memory it did not write
    # (padding is zeroed explicitly; the same-seed tests would catch a read).
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)
        torch.utils.deterministic.fill_uninitialized_memory = previous_fill


#: ``/proc/cpuinfo`` flags of x86 CPUs that run bfloat16 matmuls natively (any one suffices).
BF16_CPU_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16")


def cpu_supports_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bfloat16 natively (an x86 ``avx512_bf16`` or ``amx_bf16`` flag).

    Why: on a CPU without them, ``torch.autocast("cpu", torch.bfloat16)`` is emulated, and a GNN training step ran
    ~20x slower than in fp32 on a 2-core AVX2 EPYC. Linux: reads the ``flags`` lines of ``cpuinfo``. Elsewhere (no
    such file): ``True`` only when ``torch.backends.cpu.get_cpu_capability()`` reports AMX, else ``False`` (not
    sure is not native).
    """
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        try:
            return "AMX" in str(torch.backends.cpu.get_cpu_capability()).upper()
        except (AttributeError, RuntimeError):
            return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            if flags.intersection(BF16_CPU_FLAGS):
                return True
    return False


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
        raise ValueError(f"precision must be one of {PRECISIONS}, got {name!r}")
    if native:
        return "bf16"
    if device.type == "cuda":
        why = "this CUDA device has no bfloat16 support (torch.cuda.is_bf16_supported() is False)"
    else:
        why = f"this CPU lacks the {' / '.join(BF16_CPU_FLAGS)} flags (no native bfloat16 matmuls)"
    warnings.warn(f"precision='bf16' requested but {why}: emulated bf16 autocast was ~20x slower than fp32 on such "
                  f"a CPU; running in fp32", RuntimeWarning, stacklevel=3)
    return "fp32"
