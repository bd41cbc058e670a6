"""Safe checkpoints: the metadata they record, featurizer mismatches, truncated or corrupt files, crash + resume."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from graphmeta import __version__
from graphmeta.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from graphmeta.data.api import load_dataset
from graphmeta.data.featurize import MoleculeFeaturizer
from graphmeta.data.inputs import as_graph_inputs
from graphmeta.data.splits import par_split
from graphmeta.model_files import export_model, load_meta_model
from graphmeta.predictor import FewShotClassifier
from graphmeta.train import MetaTrainer, TrainConfig


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


@pytest.fixture(scope="module")
def run(tox21, tmp_path_factory: pytest.TempPathFactory) -> MetaTrainer:
    """A tiny 2-step MAML run with its last.pt, best.pt and an exported model.pt."""
    config = TrainConfig(learner="maml", steps=2, eval_every=2, hidden_channels=8, num_layers=2, meta_batch_size=2,
                         k_shot=2, n_query=4, inner_steps=1, inner_lr=0.1, val_draws=1, val_query=16, norm="layer")
    out = tmp_path_factory.mktemp("run")
    trainer = MetaTrainer(tox21, par_split(tox21).carve_validation(1, seed=0), config, out, progress=False)
    trainer.fit()
    export_model(trainer, out / "model.pt", {"command": "test"})
    return trainer


def test_checkpoints_record_versions_backbone_and_task_family(run: MetaTrainer) -> None:
    for name in ("last.pt", "best.pt", "model.pt"):
        blob = load_checkpoint(run.out_dir / name)
        config = blob["config"]
        assert blob["library_version"] == config["graphmeta"] == __version__, name
        assert config["featurizer"] == MoleculeFeaturizer().cache_key
        assert config["featurizer_version"] == MoleculeFeaturizer.version
        assert config["encoder"] == run.learner.model.encoder.config  # enough to rebuild the backbone
        assert config["encoder"]["hidden_channels"] == 8 and config["encoder"]["num_layers"] == 2
        assert config["task_family"] == {"task_type": "binary", "n_way": 2, "unit": "tasks"}
        assert config["train"]["learner"] == "maml"
    info = load_meta_model(run.out_dir / "model.pt").info
    assert info["featurizer_version"] == MoleculeFeaturizer.version and info["task_family"]["n_way"] == 2


def _rewrite(path: Path, target: Path, **config_changes) -> Path:
    blob = load_checkpoint(path)
    return save_checkpoint(target, blob["kind"], {**blob["config"], **config_changes}, blob["state"])


def test_featurizer_mismatch_is_an_error_naming_the_file(run: MetaTrainer, tox21, tmp_path: Path) -> None:
    # resuming a run whose checkpoint came from other graphs
    other = tmp_path / "other"
    other.mkdir()
    _rewrite(run.out_dir / "last.pt", other / "last.pt", featurizer="graphmeta-categorical-v0-h0-lenient")
    resumed = MetaTrainer(tox21, run.split, TrainConfig(**{**run.config.to_dict(), "steps": 4}), other, progress=False)
    with pytest.raises(ValueError, match=rf"{re.escape(str(other / 'last.pt'))}: .*featurizer "
                                         r"'graphmeta-categorical-v0-h0-lenient'.*refusing to resume"):
        resumed.fit(resume=True)
    # a model file from a featurizer version this graphmeta does not have
    future = _rewrite(run.out_dir / "model.pt", tmp_path / "future.pt", featurizer="graphmeta-categorical-v99-h0-lenient")
    with pytest.raises(CheckpointError, match=r"future\.pt: featurizer 'graphmeta-categorical-v99-h0-lenient' is not "
                                              r"available"):
        FewShotClassifier(model=future).fit(["CCO", "CCN", "c1ccccc1", "CC(=O)O"], [0, 1, 0, 1])
    # graphs featurized differently from the model's training graphs (explicit hydrogens)
    with_h = as_graph_inputs(["CCO", "CCN", "c1ccccc1", "CC(=O)O"], MoleculeFeaturizer(add_hydrogens=True))
    with pytest.raises(ValueError, match=r"model\.pt: the model was trained on graphs from featurizer "
                                         r"'graphmeta-categorical-v1-h0-lenient', but the graphs of support come "
                                         r"from 'graphmeta-categorical-v1-h1-lenient'"):
        FewShotClassifier(model=run.out_dir / "model.pt").fit(with_h, [0, 1, 0, 1])


@pytest.mark.parametrize("name", ["last.pt", "model.pt"])
def test_truncated_or_corrupt_files_are_errors_naming_the_file(run: MetaTrainer, tmp_path: Path, name: str) -> None:
    data = (run.out_dir / name).read_bytes()
    damaged = tmp_path / f"damaged-{name}"
    for cut in (0, 1, 30, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        damaged.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=rf"damaged-{re.escape(name)}: corrupt or truncated"):
            load_checkpoint(damaged)
        with pytest.raises(CheckpointError, match=rf"damaged-{re.escape(name)}"):
            load_meta_model(damaged)
    # a flipped byte inside the stored weights: torch.load alone would return a wrong number
    flipped = bytearray(data)
    start = data.index(b"data/0") + 200  # inside the first tensor records
    flipped[start] ^= 0xFF
    damaged.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match=rf"damaged-{re.escape(name)}: corrupt checkpoint \(checksum mismatch"):
        load_checkpoint(damaged)
    assert load_checkpoint(run.out_dir / name)["state"]  # the original is untouched


# -- crash and resume ------------------------------------------------------------------------------------------
_TRAIN = ["train", "tox21", "--learner", "protonet", "--steps", "120", "--eval-every", "60", "--checkpoint-every",
          "8", "--meta-batch-size", "4", "--shots", "5", "--hidden", "16", "--layers", "2", "--norm", "layer",
          "--no-fallback"]


def _graphmeta(*args: str) -> list[str]:
    return [sys.executable, "-m", "graphmeta", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}


def _step(path: Path) -> int:
    return int(load_checkpoint(path, kind="meta-trainer")["state"]["step"])


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["state"]["learner"]


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_ends_with_the_uninterrupted_weights(tmp_path: Path) -> None:
    full, crashed = tmp_path / "full", tmp_path / "crashed"
    subprocess.run(_graphmeta(*_TRAIN, "--out", str(full), "--no-progress"), env=_env(), check=True,
                   capture_output=True, timeout=600)

    log = open(tmp_path / "progress.log", "w")
    proc = subprocess.Popen(_graphmeta(*_TRAIN, "--out", str(crashed)), env=_env(), stdout=log, stderr=log)
    last, seen = crashed / "last.pt", 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if last.is_file():
            seen = _step(last)  # the newest checkpoint; kill once one past the first exists
            if seen >= 16:
                break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    log.close()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (crashed / "model.pt").exists()
    saved = _step(last)  # loads: the kill never leaves a torn checkpoint behind
    assert saved >= seen and saved % 8 == 0 and 0 < saved < 120
    # the progress bar (stderr) shows a lower bound of the steps done when killed: at most 8 are lost
    shown = [int(m) for m in re.findall(r"meta-training protonet:.*?\|\s*(\d+)/120", (tmp_path / "progress.log").read_text())]
    assert shown and shown[-1] - saved < 8

    resumed = subprocess.run(_graphmeta(*_TRAIN, "--out", str(crashed), "--resume", "--no-progress"), env=_env(),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {last}" in resumed.stdout
    assert _step(full / "last.pt") == _step(last) == 120
    for file in ("last.pt", "model.pt"):
        expected, got = _weights(full / file), _weights(crashed / file)
        assert expected.keys() == got.keys()
        for k in expected:
            assert torch.equal(expected[k], got[k]), (file, k)
    assert np.array_equal(np.loadtxt(full / "metrics.csv", delimiter=",", skiprows=1, usecols=(0, 1)),
                          np.loadtxt(crashed / "metrics.csv", delimiter=",", skiprows=1, usecols=(0, 1)))
