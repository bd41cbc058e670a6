"""Numerical guards of a meta-step: a diverging task is named, and nothing non-finite reaches the meta-weights.

The trainer calls :func:`check_meta_step` after the learner's ``meta_step`` (which wrote the meta-gradient into
``.grad``) and :func:`checked_grad_norm` before ``optimizer.step()``; either raises :class:`DivergenceError`, so
the meta-parameters (and the checkpoints) keep their last finite values.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import Tensor, nn

from graphmeta.data.episodes import Episode
from graphmeta.data.tasks import TaskCollection
from graphmeta.meta.base import MetaOutput

__all__ = ["DivergenceError", "describe_episode", "check_meta_step", "checked_grad_norm"]

_ADVICE = "lower inner_lr / outer_lr, or set grad_clip"


class DivergenceError(FloatingPointError, ValueError):
    """A meta-step produced a non-finite loss or gradient; the message names the step and the task(s)."""


def describe_episode(collection: TaskCollection, episode: Episode) -> str:
    """``task 3 'NR-AhR'`` for a binary task, ``classes (0, 4, 7)`` for an N-way episode over classes."""
    if episode.task >= 0:
        return f"task {episode.task} {collection.task_names[episode.task]!r}"
    return f"classes {tuple(int(c) for c in episode.classes)}"


def check_meta_step(out: MetaOutput, episodes: Sequence[Episode], collection: TaskCollection, step: int) -> None:
    """Raises :class:`DivergenceError` naming every task of the meta-batch whose inner loop or query loss was
    non-finite (or the whole batch when the learner reports no per-task losses)."""
    reasons: dict[int, str] = {}
    if out.task_loss is not None:
        for slot in torch.nonzero(~torch.isfinite(out.task_loss)).flatten().tolist():
            reasons[slot] = f"query loss {float(out.task_loss[slot])}"
    if out.inner_finite is not None:  # the cause, where the inner loop diverged first
        for slot in torch.nonzero(~out.inner_finite).flatten().tolist():
            reasons[slot] = "inner-loop support loss became non-finite"
    bad = [f"{describe_episode(collection, episodes[slot])} (slot {slot}): {why}" for slot, why in sorted(reasons.items())]
    if bad:
        raise DivergenceError(f"meta-step {step} diverged: " + "; ".join(bad) + f"; {_ADVICE}")
    if not bool(torch.isfinite(out.loss)):
        names = ", ".join(describe_episode(collection, e) for e in episodes)
        raise DivergenceError(f"non-finite meta-loss {float(out.loss)} at meta-step {step} (tasks {names}); {_ADVICE}")


def checked_grad_norm(named_parameters: Iterable[tuple[str, nn.Parameter]], max_norm: float | None, step: int,
                      episodes: Sequence[Episode], collection: TaskCollection) -> Tensor:
    """The total 2-norm of the meta-gradient, clipped to ``max_norm`` (``None``: not clipped).

    Raises :class:`DivergenceError` (before any clipping) when a gradient holds NaN or infinity, naming the
    parameters and the meta-batch's tasks.
    """
    named = [(n, p) for n, p in named_parameters if p.grad is not None]
    grads = [p.grad for _, p in named]
    norm = torch.nn.utils.get_total_norm(grads, norm_type=2.0)  # type: ignore[arg-type]
    if not bool(torch.isfinite(norm)):
        params = [n for n, p in named if not bool(torch.isfinite(p.grad).all())]  # type: ignore[arg-type]
        where = ("in " + ", ".join(params[:5]) + (f" and {len(params) - 5} more" if len(params) > 5 else "")
                 if params else f"(finite entries, but their norm overflows {norm.dtype})")
        names = ", ".join(describe_episode(collection, e) for e in episodes)
        raise DivergenceError(f"non-finite meta-gradient at meta-step {step} {where} (tasks {names}); {_ADVICE}")
    if max_norm is not None:
        torch.nn.utils.clip_grads_with_norm_([p for _, p in named], max_norm, norm)
    return norm
