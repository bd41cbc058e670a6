"""Data-parallel meta-training over ``torch.distributed``: process-group setup, task sharding, the meta-gradient
all-reduce, and a local launcher.

Every rank draws the same global meta-batch of ``T`` episodes for a step (episodes depend only on the seed and
the step), keeps its contiguous slice of about ``T / world_size`` of them (:func:`shard_bounds`) and runs the
learner's meta-step on it. A learner's meta-loss is the *mean* of per-task terms, so the local gradient is
``(1 / T_r) sum_{t in r} g_t``; :func:`all_reduce_meta_gradient` scales it by ``T_r / T`` and sums over ranks,
which gives ``(1 / T) sum_t g_t``: the single-process meta-gradient of the whole meta-batch (up to float
summation order), also for uneven slices.

The all-reduce is written here instead of wrapping the learner in ``DistributedDataParallel``: MAML's inner
loop calls ``torch.func.functional_call`` on the wrapped model and Reptile writes ``.grad`` without a backward
pass, so DDP's backward hooks would miss or double-count parts of the meta-gradient. One flat buffer per step
carries every gradient, a has-gradient flag per parameter (a parameter without a gradient on every rank keeps
``.grad = None``, as in one process) and the meta-loss.

Launch with ``torchrun`` (it sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``), then call
:func:`init_distributed`; or run a function on local CPU processes with :func:`launch_local`. Without a process
group every helper here is the identity (world size 1, rank 0).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["DistContext", "context", "init_distributed", "shard_bounds", "all_reduce_meta_gradient",
           "broadcast_object", "all_gather_lists", "broadcast_buffers", "main_first", "launch_local"]


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run: ``rank`` of ``world_size`` (``0`` of ``1`` without a process group)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints, writes checkpoints, logs and metrics."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def context() -> DistContext:
    """The current process group's rank and size (rank 0 of 1 when none is initialized)."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size())
    return DistContext()


def init_distributed(backend: str | None = None) -> DistContext:
    """Joins the process group ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1); else does nothing.

    Args:
        backend: ``"gloo"`` (CPU tensors), ``"nccl"`` (CUDA tensors) or ``None``: PyTorch's default, gloo for
            CPU tensors plus NCCL for CUDA tensors where CUDA is available. graphmeta's meta-steps run on CPU, so
            their collectives go through gloo either way.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and not dist.is_initialized():
        missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
        if missing:
            raise RuntimeError(f"WORLD_SIZE={world_size} but {', '.join(missing)} unset: launch with torchrun")
        if os.environ["MASTER_PORT"] == "0":  # torchrun --master_port=0 hands port 0 to the workers: they hang
            raise RuntimeError("MASTER_PORT=0: give torchrun a free --master_port, or use torchrun --standalone")
        dist.init_process_group(backend=backend)
    return context()


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, stop)`` of rank ``rank``'s contiguous slice of ``n`` items (sizes differ by at most one)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside a world of size {world_size}")
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def all_reduce_meta_gradient(parameters: Iterable[nn.Parameter], loss: Tensor, weight: float) -> Tensor:
    """Turns each rank's local meta-gradient into the global one; returns the global meta-loss.

    Every gradient and ``loss`` are scaled by ``weight`` (this rank's share ``T_r / T`` of the meta-batch's
    tasks) and summed over ranks, in one collective. A parameter gets a (summed) gradient if any rank has one.
    Identity without a process group (``weight`` must then be 1).
    """
    ctx = context()
    params = list(parameters)
    if not ctx.distributed:
        if weight != 1:
            raise ValueError(f"a single process holds the whole meta-batch: weight must be 1, got {weight}")
        return loss
    grads = [p.grad for p in params]
    ref = next((g for g in grads if g is not None), loss)
    flat = torch.cat([*(g.reshape(-1) if g is not None else p.new_zeros(p.numel(), dtype=ref.dtype)
                        for p, g in zip(params, grads)),
                      torch.tensor([float(g is not None) for g in grads], dtype=ref.dtype, device=ref.device),
                      loss.detach().reshape(1).to(ref.dtype)])
    flat.mul_(weight)
    dist.all_reduce(flat)
    offset = 0
    for p in params:
        chunk, offset = flat[offset:offset + p.numel()].view_as(p), offset + p.numel()
        if p.grad is not None:
            p.grad.copy_(chunk)
        else:
            p.grad = chunk.to(p.dtype).clone()
    present = flat[offset:offset + len(params)]
    for p, flag in zip(params, present.tolist()):
        if flag == 0:
            p.grad = None
    return flat[-1].to(loss.dtype)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every rank (pickled); identity without a process group."""
    if not context().distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_lists(items: Sequence[Any]) -> list[Any]:
    """Every rank's ``items`` concatenated in rank order (the inverse of :func:`shard_bounds` slicing)."""
    ctx = context()
    if not ctx.distributed:
        return list(items)
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, list(items))
    return [x for part in gathered for x in part]


def broadcast_buffers(module: nn.Module, src: int = 0) -> None:
    """Overwrites ``module``'s buffers (e.g. running normalization statistics) with rank ``src``'s."""
    if not context().distributed:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=src)


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. featurizes and caches a dataset), then the others (reading its cache)."""
    ctx = context()
    if ctx.distributed and not ctx.is_main:
        dist.barrier()
    try:
        yield
    finally:
        if ctx.distributed and ctx.is_main:
            dist.barrier()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _local_worker(rank: int, world_size: int, port: int, backend: str, fn: Callable[..., Any],
                  args: tuple[Any, ...]) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)  # the processes share this machine's cores
    init_distributed(backend)
    try:
        fn(*args)
    finally:
        dist.destroy_process_group()


def launch_local(fn: Callable[..., Any], world_size: int, args: tuple[Any, ...] = (), backend: str = "gloo") -> None:
    """Runs ``fn(*args)`` on ``world_size`` new local processes joined in a process group (what ``torchrun``
    does, from Python: tests, notebooks). ``fn`` must be importable (a module-level function); results come back
    through files. Raises if a process fails."""
    if world_size < 2:
        raise ValueError(f"launch_local needs at least 2 processes, got {world_size}")
    torch.multiprocessing.start_processes(_local_worker, args=(world_size, _free_port(), backend, fn, args),
                                          nprocs=world_size, join=True, start_method="spawn")
