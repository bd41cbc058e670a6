"""Meta-trainer: determinism, exact resume, atomic checkpoints, validation-only model selection, logs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from graphmeta.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler
from graphmeta.data.splits import TaskSplit, par_split
from graphmeta.evaluate import sample_eval_episodes
from graphmeta.train import MetaTrainer, TrainConfig


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


def _config(**overrides) -> TrainConfig:
    base = dict(learner="maml", steps=6, eval_every=3, hidden_channels=8, num_layers=2, meta_batch_size=3, k_shot=2,
                n_query=4, inner_steps=2, inner_lr=0.1, val_draws=1, val_query=32, seed=3)
    base.update(overrides)
    return TrainConfig(**base)


def _weights(trainer: MetaTrainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.learner.state_dict().items()}


def test_same_seed_same_result_and_resume_equals_uninterrupted(tox21, tmp_path: Path) -> None:
    split = par_split(tox21).carve_validation(2, seed=0)
    full = MetaTrainer(tox21, split, _config(), tmp_path / "full", progress=False)
    result = full.fit()
    again = MetaTrainer(tox21, split, _config(), tmp_path / "again", progress=False)
    again.fit()
    for k, v in _weights(full).items():
        assert torch.equal(v, _weights(again)[k]), k
    # stop after 3 steps (as if killed after the checkpoint), then resume to 6 in a new trainer
    first = MetaTrainer(tox21, split, _config(steps=3), tmp_path / "resumed", progress=False)
    first.fit()
    other = MetaTrainer(tox21, split, _config(outer_lr=0.5), tmp_path / "other", progress=False)
    with pytest.raises(ValueError, match=r"different TrainConfig \(outer_lr\)"):
        other.load(tmp_path / "resumed" / "last.pt")
    resumed = MetaTrainer(tox21, split, _config(), tmp_path / "resumed", progress=False)  # only `steps` differs
    out = resumed.fit(resume=True)
    assert out.steps_done == 6 and resumed.step == 6
    for k, v in _weights(full).items():
        assert torch.equal(v, _weights(resumed)[k]), k
    assert [h["step"] for h in out.history] == [h["step"] for h in result.history] == [3, 6]
    assert out.history == result.history


def test_run_folder_contents_and_best_checkpoint(tox21, tmp_path: Path) -> None:
    split = par_split(tox21).carve_validation(2, seed=0)
    trainer = MetaTrainer(tox21, split, _config(learner="protonet", inner_steps=None, inner_lr=None), tmp_path,
                          progress=False)
    result = trainer.fit()
    for name in ("config.json", "metrics.csv", "history.json", "last.pt", "best.pt"):
        assert (tmp_path / name).is_file(), name
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["train"]["learner"] == "protonet" and config["split"]["valid"] == list(split.valid)
    blob = load_checkpoint(tmp_path / "best.pt", kind="meta-trainer")
    assert blob["state"]["step"] == result.best_step
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0] == "step,train_loss,val_roc_auc,best"


def test_selection_never_touches_test_tasks(tox21, monkeypatch: pytest.MonkeyPatch) -> None:
    split = par_split(tox21).carve_validation(2, seed=0)
    from graphmeta.data import episodes as episodes_module

    original = episodes_module.KShotSampler.sample

    def guarded(self, collection, task, rng):
        assert int(task) not in split.test, f"test task {task} was sampled during training"
        return original(self, collection, task, rng)

    monkeypatch.setattr(episodes_module.KShotSampler, "sample", guarded)
    MetaTrainer(tox21, split, _config(steps=3), progress=False).fit()


def test_without_validation_tasks_last_is_best_and_monitors_are_logged_only(tox21, tmp_path: Path) -> None:
    split = par_split(tox21)  # no validation tasks: a retraining for a step count chosen beforehand
    sampler = KShotSampler(2, n_query=16)
    monitor = {"train": sample_eval_episodes(tox21, split.train[:2], sampler, 1, seed=5),
               "test": sample_eval_episodes(tox21, split.test[:1], sampler, 1, seed=5)}
    trainer = MetaTrainer(tox21, split, _config(steps=4, eval_every=2), tmp_path, progress=False, monitor=monitor)
    result = trainer.fit()
    assert result.best_step == 4 and math.isnan(result.best_metric)
    assert [h["val_roc_auc"] for h in result.history] == [None, None]
    for h in result.history:
        assert 0.0 <= h["train_roc_auc"] <= 1.0 and 0.0 <= h["test_roc_auc"] <= 1.0
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0] == "step,train_loss,val_roc_auc,train_roc_auc,test_roc_auc,best"
    # monitored test episodes never steer selection: the same run without them ends with the same weights
    plain = MetaTrainer(tox21, split, _config(steps=4, eval_every=2), progress=False)
    plain.fit()
    assert all(torch.equal(v, _weights(trainer)[k]) for k, v in _weights(plain).items())


def test_bad_setups_fail_clearly(tox21, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="training tasks"):
        MetaTrainer(tox21, TaskSplit(train=(), test=(9,)), _config(), progress=False)
    with pytest.raises(KeyError, match="unknown meta-learner"):
        MetaTrainer(tox21, par_split(tox21).carve_validation(2, 0), _config(learner="matchingnet"), progress=False)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(bad)
    good = save_checkpoint(tmp_path / "good.pt", "meta-trainer", {}, {"x": torch.zeros(2)})
    good.write_bytes(good.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(good)


def test_checkpoint_with_pickled_code_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "state": {"x": Evil()}}, path)
    with pytest.raises(CheckpointError, match="pickled code"):
        load_checkpoint(path)


def _meta_gradient(trainer: MetaTrainer, step: int) -> torch.Tensor:
    trainer.meta_gradient(step)
    return torch.cat([p.grad.flatten() for p in trainer.learner.parameters() if p.grad is not None])


@pytest.mark.parametrize("learner", ["maml", "fomaml", "protonet"])
def test_bf16_precision_autocasts_meta_steps_and_keeps_fp32_weights(tox21, monkeypatch: pytest.MonkeyPatch,
                                                                    learner: str) -> None:
    monkeypatch.setattr("graphmeta.runtime.cpu_supports_bf16", lambda: True)  # emulated where not native: still bf16
    split = par_split(tox21).carve_validation(2, seed=0)
    inner = {} if learner != "protonet" else dict(inner_lr=None, inner_steps=None)
    config = lambda **kw: _config(learner=learner, hidden_channels=32, norm="layer", **inner, **kw)  # noqa: E731
    fp32 = MetaTrainer(tox21, split, config(), progress=False)
    bf16 = MetaTrainer(tox21, split, config(precision="bf16"), progress=False)
    assert bf16.precision == "bf16" == MetaTrainer(tox21, split, config(precision="auto"), progress=False).precision
    for step in range(3):  # the bf16 matmuls change the meta-gradient by rounding, not by computing something else
        g32, g16 = _meta_gradient(fp32, step), _meta_gradient(bf16, step)
        assert not torch.equal(g32, g16)
        assert torch.nn.functional.cosine_similarity(g32, g16, dim=0) > 0.99
    result = bf16.fit()
    assert np.isfinite(result.best_metric)
    assert all(v.dtype == torch.float32 for v in _weights(bf16).values() if v.is_floating_point())  # fp32 weights
    with pytest.raises(ValueError, match="precision"):
        _config(precision="fp16")
    # without native bf16: "auto" runs fp32 quietly, "bf16" warns and runs fp32 (the same weights as fp32)
    monkeypatch.setattr("graphmeta.runtime.cpu_supports_bf16", lambda: False)
    assert MetaTrainer(tox21, split, config(precision="auto"), progress=False).precision == "fp32"
    with pytest.warns(RuntimeWarning, match="running in fp32"):
        fallback = MetaTrainer(tox21, split, config(steps=3, eval_every=3, precision="bf16"), progress=False)
    fp32 = MetaTrainer(tox21, split, config(steps=3, eval_every=3), progress=False)
    fallback.fit()
    fp32.fit()
    w32 = _weights(fp32)
    assert all(torch.equal(v, w32[k]) for k, v in _weights(fallback).items())


def test_inner_loop_learners_on_task_norm_keep_fp32_meta_steps(tox21, monkeypatch: pytest.MonkeyPatch) -> None:
    """Their bf16 meta-gradient is imprecise (support-statistics cancellation): "auto" keeps fp32, "bf16" warns."""
    monkeypatch.setattr("graphmeta.runtime.cpu_supports_bf16", lambda: True)
    split = par_split(tox21).carve_validation(2, seed=0)
    assert MetaTrainer(tox21, split, _config(norm="task", precision="auto"), progress=False).precision == "fp32"
    with pytest.warns(RuntimeWarning, match="norm='task' and the 'maml' learner"):
        assert MetaTrainer(tox21, split, _config(norm="task", precision="bf16"), progress=False).precision == "fp32"
    protonet = _config(learner="protonet", inner_lr=None, inner_steps=None, norm="task", precision="auto")
    assert MetaTrainer(tox21, split, protonet, progress=False).precision == "bf16"


DETERMINISM_SCRIPT = """
import hashlib, sys
from graphmeta.data.api import load_dataset
from graphmeta.data.splits import par_split
from graphmeta.train import MetaTrainer, TrainConfig
tox = load_dataset("tox21", progress=False)
cfg = TrainConfig(learner="maml", steps=4, eval_every=4, hidden_channels=64, num_layers=2, meta_batch_size=4,
                  k_shot=5, n_query=16, inner_steps=2, inner_lr=0.1, val_draws=1, val_query=32, seed=3)
trainer = MetaTrainer(tox, par_split(tox).carve_validation(2, seed=0), cfg, progress=False)
trainer.fit()
print(hashlib.sha256(b"".join(v.numpy().tobytes() for v in trainer.learner.state_dict().values()
                               if v.is_floating_point())).hexdigest())
"""


@pytest.mark.slow
def test_same_seed_same_weights_even_when_runs_compete_for_the_cpu() -> None:
    """Three runs at once (threads contend): the deterministic kernels make them bitwise equal. With
    ``deterministic=False`` such concurrent runs differed here in about one run out of three."""
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", DETERMINISM_SCRIPT], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    digests = [p.communicate(timeout=600)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(digests)) == 1 and len(digests[0]) == 64


def test_cosine_meta_learning_rate_follows_the_schedule_and_resumes_exactly(tox21, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from graphmeta.schedules import lr_multiplier

    split = par_split(tox21).carve_validation(2, seed=0)
    config = _config(lr_schedule="cosine", warmup_steps=2, outer_lr=0.01, checkpoint_every=1)
    full = MetaTrainer(tox21, split, config, tmp_path / "full", progress=False)
    seen: list[float] = []
    step = torch.optim.AdamW.step

    def spy(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    full.fit()
    expected = [0.01 * lr_multiplier(s, 6, 2, "cosine") for s in range(6)]
    assert seen == pytest.approx(expected) and expected[:2] == pytest.approx([0.005, 0.01]) and expected[-1] < 0.002
    # killed during step 5 (after the step-4 checkpoint), resumed by a new trainer: the same weights
    crashed = MetaTrainer(tox21, split, config, tmp_path / "crashed", progress=False)
    gradient = MetaTrainer.meta_gradient

    def crash(self, s):
        if s == 4:
            raise KeyboardInterrupt
        return gradient(self, s)

    monkeypatch.setattr(MetaTrainer, "meta_gradient", crash)
    with pytest.raises(KeyboardInterrupt):
        crashed.fit()
    monkeypatch.setattr(MetaTrainer, "meta_gradient", gradient)
    resumed = MetaTrainer(tox21, split, config, tmp_path / "crashed", progress=False)
    resumed.fit(resume=True)
    for k, v in _weights(full).items():
        assert torch.equal(v, _weights(resumed)[k]), k
    with pytest.raises(ValueError, match="lr_schedule"):
        _config(lr_schedule="linear")
    with pytest.raises(ValueError, match="warmup_steps"):
        _config(warmup_steps=-1)
