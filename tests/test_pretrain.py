"""Pretraining: corpus building (dedup, FS-Mol evaluation molecules excluded), attribute masking learns something,
determinism, loading pretrained weights safely, exact resume, supervised multitask runs, the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from graphmeta.data.download import sha256_file
from graphmeta.checkpoint import CheckpointError
from graphmeta.data.api import load_dataset
from graphmeta.nn import GraphEncoder
from graphmeta.data.tasks import TaskLabels
from graphmeta.pretrain import (MoleculeCorpus, PretrainConfig, load_pretrained_encoder, molecule_corpus, pretrain,
                                supervised_pretrain)
from graphmeta.pretrain.trainer import Pretrainer


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


def _config(**overrides) -> PretrainConfig:
    base = dict(steps=80, batch_size=64, eval_every=40, eval_molecules=500, hidden_channels=32, num_layers=2, seed=1,
                precision="fp32")
    return PretrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def small_corpus(tox21) -> MoleculeCorpus:
    """400 Tox21 molecules: enough for a few steps of every objective in well under a second each."""
    keep = torch.arange(400)
    return MoleculeCorpus(graphs=tox21.graphs.subset(keep), smiles=[tox21.smiles[i] for i in keep.tolist()],
                          featurizer=tox21.featurizer, sources={"tox21": 400}, excluded=0)


def _tiny(**overrides) -> PretrainConfig:
    base = dict(steps=6, batch_size=32, eval_every=3, eval_molecules=64, hidden_channels=16, num_layers=2, seed=3,
                precision="fp32", device="cpu", objectives=("masking", "contrastive"), objective_weights=(1.0, 0.5),
                lr_schedule="cosine", warmup_steps=2, checkpoint_every=2)
    return PretrainConfig(**{**base, **overrides})


_TIMING = ("molecules_per_s", "steps_per_s", "seconds", "eval_seconds")


def _untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in _TIMING} for h in history]


def test_corpus_deduplicates_by_smiles(tox21) -> None:
    corpus = molecule_corpus([tox21, tox21])
    assert len(corpus) == len(set(tox21.smiles)) and corpus.sources == {tox21.name: len(corpus)}
    assert len(set(corpus.smiles)) == len(corpus) and corpus.excluded == 0
    with pytest.raises(ValueError, match="at least one"):
        molecule_corpus([])


def test_corpus_keeps_fsmol_training_molecules_only_and_removes_its_evaluation_molecules(tox21, shared_data) -> None:
    from graphmeta.data.canonical import canonical_smiles, fsmol_evaluation_molecules

    fsmol = load_dataset("fsmol", data_dir_override=shared_data, progress=False)
    corpus = molecule_corpus([fsmol, tox21])
    held = fsmol_evaluation_molecules(fsmol)  # canonical: Tox21 writes some of FS-Mol's molecules differently
    train = set(canonical_smiles([fsmol.smiles[g] for t in fsmol.task_groups["train"]
                                  for g in fsmol.labels.task(t)[0].tolist()]))
    tox21_canonical = canonical_smiles(tox21.smiles)
    assert held and not held & set(canonical_smiles(corpus.smiles))
    assert corpus.sources["fsmol"] == len(train - held)
    assert corpus.excluded == len(train & held) + sum(s in held for s in tox21_canonical)
    assert sum(s in held for s in tox21_canonical) > sum(s in held for s in tox21.smiles)  # exact strings miss some


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
    strict = tox21.featurizer.replace("-lenient", "-strict")  # a user CSV, read strictly: the same graphs
    assert strict != tox21.featurizer
    load_pretrained_encoder(path, GraphEncoder(hidden_channels=32, num_layers=2, readout="attention"), featurizer=strict)
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


def test_resume_after_a_crash_ends_with_the_uninterrupted_weights(small_corpus, tmp_path: Path, monkeypatch) -> None:
    whole = pretrain(small_corpus, _tiny(), out_dir=tmp_path / "whole", progress=False)
    train_step = Pretrainer._train_step

    def crash_at_step_5(self, step: int) -> None:
        if step == 5:
            raise KeyboardInterrupt("simulated crash")
        train_step(self, step)

    monkeypatch.setattr(Pretrainer, "_train_step", crash_at_step_5)
    with pytest.raises(KeyboardInterrupt):  # last.pt of step 4 (checkpoint_every=2) survives
        pretrain(small_corpus, _tiny(), out_dir=tmp_path / "cut", progress=False)
    monkeypatch.setattr(Pretrainer, "_train_step", train_step)
    with pytest.raises(ValueError, match=r"last\.pt exists.*resume"):  # never silently overwritten
        pretrain(small_corpus, _tiny(), out_dir=tmp_path / "cut", progress=False)
    resumed = pretrain(small_corpus, _tiny(), out_dir=tmp_path / "cut", progress=False, resume=True)
    assert all(torch.equal(v, resumed["encoder_state"][k]) for k, v in whole["encoder_state"].items())
    assert _untimed(resumed["history"]) == _untimed(whole["history"])
    heads = [torch.load(tmp_path / d / "last.pt", weights_only=True)["state"]["model"] for d in ("whole", "cut")]
    assert heads[0].keys() == heads[1].keys() and any(k.startswith("projection.") for k in heads[0])
    assert all(torch.equal(v, heads[1][k]) for k, v in heads[0].items())  # heads and mask token too
    assert all(h["molecules_per_s"] > 0 and h["seconds"] > 0 for h in resumed["history"])

    with pytest.raises(ValueError, match=r"cut.last\.pt.*hidden_channels: checkpoint 16 vs now 32"):
        pretrain(small_corpus, _tiny(steps=8, hidden_channels=32), out_dir=tmp_path / "cut", progress=False,
                 resume=True)
    with pytest.raises(ValueError, match=r"last\.pt.*objectives"):
        pretrain(small_corpus, _tiny(steps=8, objectives=("masking",), objective_weights=None),
                 out_dir=tmp_path / "cut", progress=False, resume=True)
    other = MoleculeCorpus(graphs=small_corpus.graphs, smiles=small_corpus.smiles[::-1], featurizer=small_corpus.featurizer,
                           sources=small_corpus.sources, excluded=0)
    with pytest.raises(ValueError, match=r"last\.pt.*other molecules.*smiles_sha256"):
        pretrain(other, _tiny(steps=8), out_dir=tmp_path / "cut", progress=False, resume=True)


def test_steps_may_be_increased_on_resume(small_corpus, tmp_path: Path) -> None:
    config = dict(lr_schedule="constant", warmup_steps=0, checkpoint_every=None, eval_every=4)
    whole = pretrain(small_corpus, _tiny(steps=8, **config), progress=False)
    pretrain(small_corpus, _tiny(steps=4, **config), out_dir=tmp_path, progress=False)
    longer = pretrain(small_corpus, _tiny(steps=8, **config), out_dir=tmp_path, progress=False, resume=True)
    assert all(torch.equal(v, longer["encoder_state"][k]) for k, v in whole["encoder_state"].items())
    assert [h["step"] for h in longer["history"]] == [4, 8]
    assert load_pretrained_encoder(tmp_path / "encoder.pt", GraphEncoder(hidden_channels=16, num_layers=2))["step"] == 8
    with pytest.raises(ValueError, match="past steps=6"):
        pretrain(small_corpus, _tiny(steps=6, **config), out_dir=tmp_path, progress=False, resume=True)


def test_supervised_multitask_uses_only_the_tasks_passed(tox21, tmp_path: Path) -> None:
    config = _config(steps=4, eval_every=2, eval_molecules=300, batch_size=32, hidden_channels=16,
                     objectives=("multitask",))
    run = supervised_pretrain(tox21, config, out_dir=tmp_path, tasks=[0, "NR-AR-LBD", 2], progress=False)
    last = run["history"][-1]
    assert 0.0 < last["heldout_mean_roc_auc"] < 1.0 and 1 <= last["heldout_auc_tasks"] <= 3
    assert last["heldout_multitask_loss"] > 0 and last["heldout_loss"] == last["heldout_multitask_loss"]
    saved = load_pretrained_encoder(tmp_path / "encoder.pt", GraphEncoder(hidden_channels=16, num_layers=2))
    assert saved["corpus"]["tasks"] == 3 and saved["n_tasks"] == 3
    # other tasks' labels, even molecules labelled only there, change nothing
    labels = tox21.labels
    other = torch.ones(len(labels.value), dtype=torch.bool)
    other[int(labels.task_ptr[0]):int(labels.task_ptr[3])] = False
    scrambled = replace(tox21, labels=TaskLabels(task_ptr=labels.task_ptr, graph=labels.graph,
                                                 value=torch.where(other, 1.0 - labels.value, labels.value),
                                                 n_graphs=labels.n_graphs))
    again = supervised_pretrain(scrambled, config, tasks=[0, 1, 2], progress=False)
    assert all(torch.equal(v, again["encoder_state"][k]) for k, v in run["encoder_state"].items())
    grouped = replace(tox21, task_groups={"train": list(range(8)), "valid": [8, 9], "test": [10, 11]})
    with pytest.raises(ValueError, match=r"'test' group.*leak"):
        supervised_pretrain(grouped, config, tasks=[0, 11], progress=False)
    with pytest.raises(ValueError, match="multitask"):
        supervised_pretrain(tox21, _config(steps=2), progress=False)
    with pytest.raises(ValueError, match="supervised_pretrain"):
        pretrain(molecule_corpus([tox21]), config, progress=False)


def test_supervised_pretraining_starts_from_a_self_supervised_encoder(small_corpus, tox21, tmp_path: Path) -> None:
    ssl = pretrain(small_corpus, _tiny(objectives=("masking",), objective_weights=None), out_dir=tmp_path / "ssl",
                   progress=False)
    config = _tiny(objectives=("multitask",), objective_weights=None, steps=1, eval_every=1, eval_molecules=100,
                   init_from=str(tmp_path / "ssl" / "encoder.pt"), lr=0.0)  # lr 0: the weights stay the loaded ones
    grouped = replace(tox21, task_groups={"train": list(range(8)), "valid": [8, 9], "test": [10, 11]})
    sup = supervised_pretrain(grouped, config, out_dir=tmp_path / "sup", progress=False)  # default: "train" group
    assert all(torch.equal(v, sup["encoder_state"][k]) for k, v in ssl["encoder_state"].items())
    saved = load_pretrained_encoder(tmp_path / "sup" / "encoder.pt", GraphEncoder(hidden_channels=16, num_layers=2))
    assert saved["init_from"]["path"] == str(tmp_path / "ssl" / "encoder.pt") and saved["corpus"]["tasks"] == 8
    assert saved["init_from"]["sha256"] == sha256_file(tmp_path / "ssl" / "encoder.pt")
    with pytest.raises(CheckpointError, match="hidden_channels"):
        supervised_pretrain(grouped, replace(config, hidden_channels=32), progress=False)


def test_cli_pretrain_resumes_and_records_throughput(tmp_path: Path, tox21) -> None:
    from graphmeta.cli.main import main

    out = tmp_path / "run"
    args = ["pretrain", "--datasets", "tox21", "--objectives", "masking", "contrastive", "--objective-weights", "1",
            "0.5", "--batch-size", "16", "--eval-every", "2", "--checkpoint-every", "1", "--eval-molecules", "64",
            "--hidden-channels", "16", "--num-layers", "2", "--precision", "fp32", "--device", "cpu",
            "--lr-schedule", "constant", "--warmup-steps", "1", "--out", str(out), "--no-progress"]
    assert main([*args, "--steps", "2"]) == 0
    assert main([*args, "--steps", "2"]) == 2  # last.pt exists: refused without --resume
    assert main([*args, "--steps", "4", "--resume"]) == 0
    record = json.loads((out / "pretrain.json").read_text())["results"]
    assert [h["step"] for h in record["history"]] == [2, 4] and record["precision"] == "fp32" and record["resumed"]
    assert record["config"]["objectives"] == ["masking", "contrastive"] and record["config"]["objective_weights"] == [1, 0.5]
    assert record["throughput"]["molecules"] == 4 * 16 and record["throughput"]["molecules_per_s"] > 0
    assert {"heldout_contrastive_top1", "heldout_masked_accuracy"} <= set(record["history"][-1])
    sup = tmp_path / "sup"
    assert main(["pretrain", "--supervised-tasks", "tox21", "--init-from", str(out / "encoder.pt"), "--steps", "2",
                 "--batch-size", "16", "--eval-every", "2", "--eval-molecules", "200", "--hidden-channels", "16",
                 "--num-layers", "2", "--precision", "fp32", "--out", str(sup), "--no-progress"]) == 0
    config = load_pretrained_encoder(sup / "encoder.pt", GraphEncoder(hidden_channels=16, num_layers=2))
    assert config["pretrain"]["objectives"] == ["multitask"] and config["corpus"]["tasks"] == 12
    assert config["init_from"]["path"] == str(out / "encoder.pt")
    assert main(["pretrain", "--datasets", "tox21", "--supervised-tasks", "tox21", "--out", str(sup)]) == 2


def test_cli_reads_a_prebuilt_corpus_folder(tmp_path: Path, small_corpus, monkeypatch) -> None:
    corpus_module = pytest.importorskip("graphmeta.data.corpus")
    from graphmeta.cli.main import main

    seen = []
    monkeypatch.setattr(corpus_module, "load_corpus_dir", lambda path: seen.append(path) or small_corpus)
    assert main(["pretrain", "--corpus-dir", str(tmp_path / "corpus"), "--steps", "1", "--batch-size", "16",
                 "--eval-every", "1", "--eval-molecules", "32", "--hidden-channels", "16", "--num-layers", "2",
                 "--precision", "fp32", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert seen == [tmp_path / "corpus"]
    record = json.loads((tmp_path / "run" / "pretrain.json").read_text())["results"]
    assert record["config"]["extra"] == {"corpus_dir": str(tmp_path / "corpus")} and record["corpus"]["molecules"] == 400
