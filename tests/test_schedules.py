"""The shared learning-rate schedule: warmup, constant, cosine to 0, and the pretraining trainer's use of it."""

from __future__ import annotations

import math

import pytest

from graphmeta.pretrain.config import PretrainConfig
from graphmeta.pretrain.trainer import lr_factor
from graphmeta.schedules import lr_multiplier


def test_warmup_then_constant_or_cosine() -> None:
    assert [lr_multiplier(s, 10, 4) for s in range(6)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    cosine = [lr_multiplier(s, 10, 2, "cosine") for s in range(12)]
    assert cosine[:3] == pytest.approx([0.5, 1.0, 1.0])
    assert all(a >= b for a, b in zip(cosine[2:], cosine[3:])) and cosine[10] == cosine[11] == pytest.approx(0.0)
    assert lr_multiplier(6, 10, 2, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    with pytest.raises(ValueError, match="schedule"):
        lr_multiplier(0, 10, 0, "step")


def test_pretraining_uses_the_shared_schedule() -> None:
    config = PretrainConfig(steps=20, lr_schedule="cosine", warmup_steps=3)
    assert [lr_factor(s, config) for s in range(20)] == [lr_multiplier(s, 20, 3, "cosine") for s in range(20)]
