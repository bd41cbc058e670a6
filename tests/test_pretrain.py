"""Self-supervised pretraining: corpus building (dedup, FS-Mol evaluation molecules excluded), attribute masking
learns something, determinism, loading pretrained weights safely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graphmeta.data.download import sha256_file
from graphmeta.checkpoint import CheckpointError
from graphmeta.data.api import load_dataset
from graphmeta.nn import GraphEncoder
from graphmeta.pretrain import PretrainConfig, load_pretrained_encoder, molecule_corpus, pretrain


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


def _config(**overrides) -> PretrainConfig:
    base = dict(steps=80, batch_size=64, eval_every=40, eval_molecules=500, hidden_channels=32, num_layers=2, seed=1)
    return PretrainConfig(**{**base, **overrides})


def test_corpus_deduplicates_by_smiles(tox21) -> None:
    corpus = molecule_corpus([tox21, tox21])
    assert len(corpus) == len(set(tox21.smiles)) and corpus.sources == {tox21.name: len(corpus)}
    assert len(set(corpus.smiles)) == len(corpus) and corpus.excluded == 0
    with pytest.raises(ValueError, match="at least one"):
        molecule_corpus([])


def test_corpus_keeps_fsmol_training_molecules_only_and_removes_its_evaluation_molecules(tox21, shared_data) -> None:
    fsmol = load_dataset("fsmol", data_dir_override=shared_data, progress=False)
    corpus = molecule_corpus([fsmol, tox21])
    held = {fsmol.smiles[g] for t in (*fsmol.task_groups["valid"], *fsmol.task_groups["test"])
            for g in fsmol.labels.task(t)[0].tolist()}
    train = {fsmol.smiles[g] for t in fsmol.task_groups["train"] for g in fsmol.labels.task(t)[0].tolist()}
    assert held and not held & set(corpus.smiles)
    assert corpus.sources["fsmol"] == len(train - held)
    assert corpus.excluded == len(train & held) + sum(s in held for s in tox21.smiles)


def test_attribute_masking_learns_and_is_deterministic(tox21, tmp_path: Path) -> None:
    corpus = molecule_corpus([tox21])
    first = pretrain(corpus, _config(), out_dir=tmp_path / "a", progress=False)
    hist = first["history"]
    x = corpus.graphs.node_fields["x"][:, 0]
    majority = float(torch.bincount(x).max()) / len(x)  # always guessing carbon
    assert hist[-1]["heldout_loss"] < hist[0]["heldout_loss"]
    assert hist[-1]["heldout_masked_accuracy"] > majority + 0.03
    again = pretrain(corpus, _config(), progress=False)
    assert all(torch.equal(v, again["encoder_state"][k]) for k, v in first["encoder_state"].items())
    assert (tmp_path / "a" / "encoder.pt").is_file() and (tmp_path / "a" / "history.json").is_file()


def test_load_pretrained_encoder_checks_fit_and_featurizer(tox21, tmp_path: Path) -> None:
    corpus = molecule_corpus([tox21])
    run = pretrain(corpus, _config(steps=2, eval_every=2), out_dir=tmp_path, progress=False)
    path = tmp_path / "encoder.pt"
    encoder = GraphEncoder(hidden_channels=32, num_layers=2, readout="attention")
    config = load_pretrained_encoder(path, encoder, featurizer=tox21.featurizer)
    assert config["corpus"]["molecules"] == len(corpus) and config["step"] == 2
    for k, v in run["encoder_state"].items():
        if not k.startswith("readout."):
            assert torch.equal(encoder.state_dict()[k], v), k
    with pytest.raises(CheckpointError, match=r"encoder\.pt.*hidden_channels: checkpoint 32 vs model 64"):
        load_pretrained_encoder(path, GraphEncoder(hidden_channels=64, num_layers=2))
    with pytest.raises(CheckpointError, match="featurizer"):
        load_pretrained_encoder(path, GraphEncoder(hidden_channels=32, num_layers=2), featurizer="other-featurizer")
    with pytest.raises(ValueError, match="mask_rate"):
        PretrainConfig(mask_rate=1.5)


def test_cli_pretrain_writes_a_loadable_encoder(tmp_path: Path, tox21) -> None:
    from graphmeta.cli.main import main

    out = tmp_path / "pre"
    assert main(["pretrain", "--datasets", "tox21", "--steps", "3", "--batch-size", "32", "--eval-every", "3",
                 "--eval-molecules", "100", "--hidden-channels", "16", "--num-layers", "2", "--out", str(out),
                 "--no-progress"]) == 0
    config = load_pretrained_encoder(out / "encoder.pt", GraphEncoder(hidden_channels=16, num_layers=2),
                                     featurizer=tox21.featurizer)
    assert config["pretrain"]["extra"] == {"datasets": ["tox21"]} and config["pretrain"]["steps"] == 3
    run = json.loads((out / "pretrain.json").read_text())  # the run's record: command, corpus, curve, encoder hash
    assert run["command"].startswith("graphmeta pretrain --datasets tox21") and run["results"]["config"]["steps"] == 3
    assert run["results"]["corpus"]["sources"] == {"tox21": run["results"]["corpus"]["molecules"]}
    assert run["results"]["history"][-1]["step"] == 3 and run["wall_seconds"] > 0
    assert run["results"]["encoder_sha256"] == sha256_file(out / "encoder.pt")
    assert main(["pretrain", "--datasets", "tox21", "--mask-rate", "0", "--out", str(out), "--no-progress"]) == 2
    bench = tmp_path / "bench"  # the quick MoleculeNet protocol (GIN 16x2) starting from that backbone
    assert main(["benchmark", "tox21", "--quick", "--method", "protonet", "--shots", "10", "--seeds", "1",
                 "--pretrained", str(out / "encoder.pt"), "--out", str(bench), "--no-progress"]) == 0
    record = json.loads((bench / "tox21_10shot_protonet_quick.json").read_text())
    assert record["results"]["settings"]["pretrained_encoder"] == str(out / "encoder.pt")


def test_meta_training_starts_from_the_pretrained_backbone(tox21, tmp_path: Path) -> None:
    from graphmeta.data.splits import par_split
    from graphmeta.train import MetaTrainer, TrainConfig

    run = pretrain(molecule_corpus([tox21]), _config(steps=2, eval_every=2), out_dir=tmp_path, progress=False)
    config = TrainConfig(learner="protonet", steps=1, eval_every=1, hidden_channels=32, num_layers=2, k_shot=2,
                         n_query=4, meta_batch_size=2, val_draws=1, val_query=16,
                         pretrained_encoder=str(tmp_path / "encoder.pt"))
    trainer = MetaTrainer(tox21, par_split(tox21).carve_validation(2, seed=0), config, progress=False)
    state = trainer.learner.model.encoder.state_dict()
    assert all(torch.equal(state[k], v) for k, v in run["encoder_state"].items() if not k.startswith("readout."))
    with pytest.raises(CheckpointError, match="hidden_channels"):
        MetaTrainer(tox21, par_split(tox21).carve_validation(2, seed=0),
                    TrainConfig(learner="protonet", hidden_channels=16, num_layers=2,
                                pretrained_encoder=str(tmp_path / "encoder.pt")), progress=False)
