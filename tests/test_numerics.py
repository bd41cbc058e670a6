"""Numerical guards of meta-training: a diverging task is named, NaNs never reach the meta-weights, clipping."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from graphmeta.data.api import load_csv, load_dataset
from graphmeta.data.splits import TaskSplit, par_split
from graphmeta.nn.encoders import CategoricalEncoder
from graphmeta.numerics import DivergenceError
from graphmeta.train import MetaTrainer, TrainConfig


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


def _config(**overrides) -> TrainConfig:
    base = dict(learner="maml", steps=3, eval_every=3, hidden_channels=8, num_layers=2, meta_batch_size=3, k_shot=2,
                n_query=4, inner_steps=3, inner_lr=0.1, val_draws=1, val_query=32, seed=3, norm="layer")
    base.update(overrides)
    return TrainConfig(**base)


def _weights(trainer: MetaTrainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.learner.state_dict().items()}


@pytest.mark.parametrize("learner", ["maml", "reptile"])
def test_diverging_inner_loop_is_named_and_never_reaches_the_meta_weights(tox21, learner: str) -> None:
    trainer = MetaTrainer(tox21, par_split(tox21), _config(learner=learner, inner_lr=1e12), progress=False)
    before = _weights(trainer)
    with pytest.raises(DivergenceError, match=r"meta-step 0 diverged: task \d+ 'NR-[^']+' \(slot 0\): inner-loop "
                                              r"support loss became non-finite") as caught:
        trainer.fit()
    assert isinstance(caught.value, FloatingPointError) and isinstance(caught.value, ValueError)  # CLI: one line
    assert "inner_lr" in str(caught.value)
    after = _weights(trainer)
    assert all(torch.equal(v, after[k]) for k, v in before.items())  # the optimizer never stepped
    assert all(bool(torch.isfinite(v).all()) for v in after.values() if v.is_floating_point())


def _two_task_collection(tmp_path: Path):
    """Task ``plain`` on hydrocarbons/alcohols, task ``selenium`` labelled only on molecules with a Se atom."""
    plain = [f"{'C' * i}O" for i in range(1, 9)] + [f"{'C' * i}N" for i in range(1, 9)]
    selenium = [f"{'C' * i}[Se]{'C' * j}" for i in range(1, 5) for j in range(1, 5)]
    rows = ([{"smiles": s, "plain": i % 2, "selenium": ""} for i, s in enumerate(plain)]
            + [{"smiles": s, "plain": "", "selenium": i % 2} for i, s in enumerate(selenium)])
    pd.DataFrame(rows).to_csv(tmp_path / "two.csv", index=False)
    return load_csv(tmp_path / "two.csv", progress=False)


@pytest.mark.parametrize("learner", ["protonet", "anil"])
def test_only_the_task_that_produced_nan_is_named(tmp_path: Path, learner: str) -> None:
    """A NaN in the selenium embedding reaches only molecules with Se (ANIL: the shared backbone embeds them;
    full MAML's per-task embedding tables are multi-hot products, where 0 * NaN spreads to every task)."""
    collection = _two_task_collection(tmp_path)
    assert collection.task_names == ["plain", "selenium"]
    inner = {} if learner == "anil" else dict(inner_lr=None, inner_steps=None)
    trainer = MetaTrainer(collection, TaskSplit(train=(0, 1), test=()),
                          _config(learner=learner, meta_batch_size=4, **inner), progress=False)
    atoms = next(m for m in trainer.learner.modules() if isinstance(m, CategoricalEncoder))
    with torch.no_grad():
        atoms.weight[34] = float("nan")  # the selenium embedding: only the molecules of task 1 read it
    with pytest.raises(DivergenceError) as caught:
        trainer.fit()
    message = str(caught.value)
    assert "task 1 'selenium'" in message and "'plain'" not in message
    reason = "inner-loop support loss became non-finite" if learner == "anil" else "query loss nan"
    assert reason in message


def test_non_finite_gradient_with_finite_loss_is_caught_before_the_optimizer_step(tox21) -> None:
    trainer = MetaTrainer(tox21, par_split(tox21), _config(learner="protonet", inner_lr=None, inner_steps=None),
                          progress=False)
    name, param = next((n, p) for n, p in trainer.learner.named_parameters() if n.endswith("weight"))
    param.register_hook(lambda grad: grad * float("nan"))  # the loss stays finite, this gradient does not
    before = _weights(trainer)
    with pytest.raises(DivergenceError, match=rf"non-finite meta-gradient at meta-step 0 in {name} \(tasks task"):
        trainer.fit()
    after = _weights(trainer)
    assert all(torch.equal(v, after[k]) for k, v in before.items())


def _grad_norms_at_optimizer_steps(trainer: MetaTrainer) -> list[float]:
    norms: list[float] = []
    step = trainer.optimizer.step

    def recording_step(*args, **kwargs):
        grads = [p.grad for p in trainer.learner.parameters() if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return step(*args, **kwargs)

    trainer.optimizer.step = recording_step  # type: ignore[method-assign]
    trainer.fit()
    return norms


def test_gradient_clipping_bounds_the_norm_the_optimizer_sees(tox21) -> None:
    free = _grad_norms_at_optimizer_steps(MetaTrainer(tox21, par_split(tox21), _config(grad_clip=None),
                                                      progress=False))
    max_norm = min(free) / 4  # below every unclipped norm, so clipping acts at every step
    clipped = _grad_norms_at_optimizer_steps(MetaTrainer(tox21, par_split(tox21), _config(grad_clip=max_norm),
                                                         progress=False))
    assert len(free) == len(clipped) == 3
    assert all(n <= max_norm * (1 + 1e-5) for n in clipped)
    assert clipped[0] == pytest.approx(max_norm, rel=1e-4)  # same first gradient, scaled down to the bound
    with pytest.raises(ValueError, match="grad_clip must be positive"):
        _config(grad_clip=0.0)


def test_cli_exposes_grad_clip_and_checkpoint_every(tmp_path: Path) -> None:
    from graphmeta.cli.main import main

    common = ["train", "tox21", "--steps", "2", "--eval-every", "2", "--hidden", "8", "--layers", "1",
              "--meta-batch-size", "1", "--shots", "2", "--no-fallback", "--no-progress"]
    assert main([*common, "--grad-clip", "0.5", "--checkpoint-every", "1", "--out", str(tmp_path / "a")]) == 0
    saved = json.loads((tmp_path / "a" / "config.json").read_text())["train"]
    assert saved["grad_clip"] == 0.5 and saved["checkpoint_every"] == 1
    assert main([*common, "--grad-clip", "0", "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["train"]["grad_clip"] is None
    assert main([*common, "--grad-clip", "-1", "--out", str(tmp_path / "c")]) == 2
