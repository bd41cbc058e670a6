"""Learning-rate schedules shared by pretraining and meta-training: one definition, stateless in the step, so a
resumed run follows exactly the schedule an uninterrupted one would."""

from __future__ import annotations

import math

__all__ = ["LR_SCHEDULES", "lr_multiplier"]

#: ``"constant"``: the base rate after warmup; ``"cosine"``: a half cosine from the base rate to 0 at the last step.
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")


def lr_multiplier(step: int, steps: int, warmup_steps: int = 0, schedule: str = "constant") -> float:
    """Multiplier of the base learning rate for (0-based) step ``step`` of a ``steps``-step run: linear warmup over
    ``warmup_steps``, then ``schedule`` (see :data:`LR_SCHEDULES`)."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"schedule must be one of {LR_SCHEDULES}, got {schedule!r}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
