"""Distributed meta-training: 2 gloo ranks x 8 tasks give the meta-gradient and weights of 1 process x 16 tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from graphmeta.cli.main import main
from graphmeta.data.api import load_dataset
from graphmeta.data.splits import par_split
from graphmeta.distributed import all_gather_lists, all_reduce_meta_gradient, context, launch_local, shard_bounds
from graphmeta.train import MetaTrainer, TrainConfig

#: learners whose meta-gradients are compared (MAML: second order through the inner loop; Reptile writes .grad)
LEARNERS = ("protonet", "maml", "reptile")


def _config(learner: str, **overrides: Any) -> TrainConfig:
    base: dict[str, Any] = dict(learner=learner, steps=4, eval_every=2, hidden_channels=8, num_layers=2,
                                meta_batch_size=16, k_shot=2, n_query=4, val_draws=1, val_query=16, seed=5)
    if learner != "protonet":
        base.update(inner_steps=2, inner_lr=0.1)
    return TrainConfig(**{**base, **overrides})


def _trainer(tox21: Any, config: TrainConfig, out_dir: Path | None = None) -> MetaTrainer:
    """A float64 trainer (so "equal up to summation order" means ~1e-15 relative)."""
    trainer = MetaTrainer(tox21, par_split(tox21).carve_validation(3, seed=0), config, out_dir, progress=False)
    trainer.learner.double()
    return trainer


def _meta_gradient(trainer: MetaTrainer, step: int) -> dict[str, Any]:
    loss, episodes, meta_batch = trainer.meta_gradient(step)
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in trainer.learner.named_parameters()}
    return {"loss": loss, "grads": grads, "tasks": meta_batch.task_ids.tolist(), "all_tasks": [e.task for e in episodes]}


def _run(tox21: Any, out: Path) -> dict[str, Any]:
    """What both the ranks and the single-process reference compute: meta-gradients of step 1 per learner, a
    2-step ProtoNet run with running normalization statistics, and a 4-step MAML run (validating and
    checkpointing every 2 steps) done as 2 steps + a resume to 4."""
    record: dict[str, Any] = {learner: _meta_gradient(_trainer(tox21, _config(learner)), step=1)
                              for learner in LEARNERS}
    running = _trainer(tox21, _config("protonet", norm="running", steps=2))
    running.fit()
    record["running"] = {k: v.clone() for k, v in running.learner.state_dict().items()}
    _trainer(tox21, _config("maml", steps=2), out).fit()
    resumed = _trainer(tox21, _config("maml"), out)
    record["history"] = resumed.fit(resume=True).history
    record["weights"] = {k: v.clone() for k, v in resumed.learner.state_dict().items()}
    return record


def _worker(folder: Path) -> None:
    """One rank of the 2-process run; each rank gets its own run folder so rank 1's stays provably empty."""
    rank = context().rank
    tox21 = load_dataset("tox21", progress=False)
    record = _run(tox21, folder / f"run-rank{rank}")
    torch.save(record, folder / f"rank{rank}.pt")


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


def test_shard_bounds_cover_in_order() -> None:
    for n in (1, 7, 8, 16, 17):
        for world in (1, 2, 3):
            if n < world:
                continue
            bounds = [shard_bounds(n, r, world) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            sizes = [stop - start for start, stop in bounds]
            assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    assert shard_bounds(16, 1, 2) == (8, 16)
    with pytest.raises(ValueError, match="rank 2 outside"):
        shard_bounds(4, 2, 2)


def test_single_process_helpers_are_identities() -> None:
    assert context().world_size == 1 and context().is_main
    param = torch.nn.Parameter(torch.ones(3))
    param.grad = torch.full((3,), 2.0)
    loss = torch.tensor(0.5)
    assert all_reduce_meta_gradient([param], loss, 1.0) is loss and torch.equal(param.grad, torch.full((3,), 2.0))
    with pytest.raises(ValueError, match="weight must be 1"):
        all_reduce_meta_gradient([param], loss, 0.5)
    assert all_gather_lists((1, 2)) == [1, 2]


def test_meta_batch_smaller_than_world_is_refused(tox21, monkeypatch: pytest.MonkeyPatch) -> None:
    from graphmeta import distributed, train

    monkeypatch.setattr(train, "context", lambda: distributed.DistContext(rank=0, world_size=4))
    with pytest.raises(ValueError, match="meta_batch_size 3 is smaller than the 4 processes"):
        _trainer(tox21, _config("protonet", meta_batch_size=3))


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process(tox21, tmp_path: Path) -> None:
    launch_local(_worker, 2, args=(tmp_path,))
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    reference = _run(tox21, tmp_path / "single")
    for learner in LEARNERS:
        ref, r0, r1 = reference[learner], ranks[0][learner], ranks[1][learner]
        # the same 16 episodes everywhere, rank 0 ran the first 8, rank 1 the last 8
        assert r0["all_tasks"] == r1["all_tasks"] == ref["all_tasks"] == ref["tasks"]
        assert r0["tasks"] == ref["tasks"][:8] and r1["tasks"] == ref["tasks"][8:]
        assert set(r0["grads"]) == set(ref["grads"])
        for name, g in ref["grads"].items():
            if g is None:  # e.g. ProtoNet's unused head: no gradient on any rank either
                assert r0["grads"][name] is None and r1["grads"][name] is None, (learner, name)
                continue
            assert torch.equal(r0["grads"][name], r1["grads"][name]), (learner, name)
            torch.testing.assert_close(r0["grads"][name], g, rtol=1e-9, atol=1e-12, msg=f"{learner} {name}")
        assert any(g is not None and g.abs().max() > 1e-6 for g in ref["grads"].values())  # a real gradient
        assert torch.equal(r0["loss"], r1["loss"])
        torch.testing.assert_close(r0["loss"], ref["loss"], rtol=1e-12, atol=0)
    # 2 steps + resume to 4, sharded validation: identical weights on both ranks, equal to one process; running
    # normalization statistics (buffers) too. atol 1e-9 (a millionth of a step): a bias feeding a task norm has a
    # gradient that is zero in theory, rounding noise in practice, which depends on the summation order and which
    # Adam's normalized step turns into ~1e-10 weight differences
    for run in ("weights", "running"):
        for name, w in reference[run].items():
            assert torch.equal(ranks[0][run][name], ranks[1][run][name]), (run, name)
            torch.testing.assert_close(ranks[0][run][name], w, rtol=1e-9, atol=1e-9, msg=f"{run} {name}")
    assert any("running_mean" in name for name in reference["running"])
    assert not torch.equal(reference["weights"]["model.head.weight"],
                           _trainer(tox21, _config("maml")).learner.state_dict()["model.head.weight"])  # it trained
    for got, want in zip(ranks[0]["history"], reference["history"]):
        assert got["step"] == want["step"] and got["best"] == want["best"]
        assert got["val_roc_auc"] == pytest.approx(want["val_roc_auc"], abs=1e-6)
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-9)
    assert ranks[0]["history"] == ranks[1]["history"] and len(ranks[0]["history"]) == 2
    # only rank 0 wrote config, logs and checkpoints
    written = {p.name for p in (tmp_path / "run-rank0").iterdir()}
    assert {"config.json", "metrics.csv", "history.json", "last.pt", "best.pt"} <= written
    assert not (tmp_path / "run-rank1").exists()


@pytest.mark.slow
def test_torchrun_cli_train_matches_one_process(tox21, tmp_path: Path) -> None:
    args = ["train", "tox21", "--learner", "protonet", "--steps", "4", "--eval-every", "2", "--meta-batch-size", "4",
            "--hidden", "8", "--layers", "2", "--shots", "2", "--no-fallback", "--no-progress", "--valid-tasks", "NR-AR"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
                           "graphmeta.cli.main", *args, "--out", str(tmp_path / "two")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("meta-training protonet") == 1 and proc.stdout.count("wrote ") == 1  # rank 0 only
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    two, one = (json.loads((tmp_path / run / "history.json").read_text()) for run in ("two", "one"))
    assert [h["step"] for h in two] == [h["step"] for h in one] == [2, 4]
    for got, want in zip(two, one):
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-5)
        assert got["val_roc_auc"] == pytest.approx(want["val_roc_auc"], abs=1e-3)
    assert (tmp_path / "two" / "model.pt").is_file() and (tmp_path / "two" / "model.json").is_file()
