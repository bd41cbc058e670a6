"""ECFP4 bits beside the GNN readout: featurizer, graph store, fusion layer, training, pretrained weights, predictor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from graphmeta.baselines.fingerprints import ecfp4
from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler, TaskBatch
from graphmeta.data.featurize import MoleculeFeaturizer, atoms_and_bonds_key
from graphmeta.data.graphs import GraphStore
from graphmeta.data.splits import TaskSplit
from graphmeta.evaluate import sample_eval_episodes
from graphmeta.model_files import export_model
from graphmeta.nn.fingerprint import FingerprintFusion
from graphmeta.nn.taskbatch import TaskLayout
from graphmeta.predictor import FewShotClassifier
from graphmeta.pretrain import PretrainConfig, molecule_corpus, pretrain
from graphmeta.train import MetaTrainer, TrainConfig

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C1CCNCC1", "O=C(O)c1ccccc1"]
BITS = 64


@pytest.fixture(scope="module")
def tox21_fp():
    return load_dataset("tox21", progress=False, featurizer=MoleculeFeaturizer(fingerprint_bits=BITS))


def test_featurizer_fingerprints_are_ecfp4_and_survive_every_path() -> None:
    featurizer = MoleculeFeaturizer(fingerprint_bits=BITS)
    assert MoleculeFeaturizer.from_cache_key(featurizer.cache_key).fingerprint_bits == BITS
    assert featurizer.cache_key != MoleculeFeaturizer().cache_key
    assert atoms_and_bonds_key(featurizer.cache_key) == MoleculeFeaturizer().cache_key
    expected = ecfp4(SMILES, BITS)
    feats, invalid = featurizer.featurize_many([SMILES[0], "not a molecule", *SMILES[1:]])
    assert list(invalid) == [1] and np.array_equal(feats.fingerprint, expected)
    assert np.array_equal(featurizer(SMILES[2]).fingerprint.numpy(), expected[2:3])
    store = GraphStore.from_featurized(feats)
    batch = store.gather([3, 0, 3])
    assert torch.equal(batch.fingerprint, torch.from_numpy(expected[[3, 0, 3]]))
    assert torch.equal(store[4].fingerprint, torch.from_numpy(expected[4:5]))
    assert torch.equal(store.subset([2, 1]).graph_fields["fingerprint"], torch.from_numpy(expected[[2, 1]]))
    both = GraphStore.concat([store, store.subset([0])])
    assert torch.equal(both.graph_fields["fingerprint"][-1], both.graph_fields["fingerprint"][0])
    rebuilt = GraphStore.from_data_list([featurizer(s) for s in SMILES])
    assert torch.equal(rebuilt.graph_fields["fingerprint"], torch.from_numpy(expected))
    assert MoleculeFeaturizer().featurize_many(SMILES)[0].fingerprint is None
    many = SMILES * 420  # long enough to be split over worker processes
    parallel = featurizer.featurize_many(many, n_jobs=2)[0]
    assert np.array_equal(parallel.fingerprint, np.tile(expected, (420, 1)))
    with pytest.raises(ValueError, match="fingerprint_bits"):
        MoleculeFeaturizer(fingerprint_bits=-1)
    with pytest.raises(ValueError, match="graph field 'fingerprint' has 4 rows, expected 5"):
        GraphStore(edge_index=store.edge_index, node_ptr=store.node_ptr, edge_ptr=store.edge_ptr,
                   node_fields=store.node_fields, edge_fields=store.edge_fields,
                   graph_fields={"fingerprint": store.graph_fields["fingerprint"][:4]})


def test_graph_fields_round_trip_through_files(tmp_path: Path) -> None:
    store = GraphStore.from_featurized(MoleculeFeaturizer(fingerprint_bits=BITS).featurize_many(SMILES)[0])
    for loaded in (GraphStore.load(store.save(tmp_path / "store")), GraphStore.from_state_dict(store.state_dict())):
        assert torch.equal(loaded.graph_fields["fingerprint"], store.graph_fields["fingerprint"])
        assert torch.equal(loaded.gather([1, 4]).fingerprint, store.gather([1, 4]).fingerprint)


def test_fusion_with_per_task_weights_equals_each_task_alone() -> None:
    """Stacked (per-task) weights, as MAML's fast weights, give each task what its own weights give it."""
    torch.manual_seed(0)
    fusion = FingerprintFusion(8, 16)
    x, fp = torch.randn(7, 8), torch.randint(0, 2, (7, 16), dtype=torch.uint8)
    graph_task = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    layout = TaskLayout.from_row_task(graph_task, 3)
    params = {k: torch.stack([v + 0.1 * t for t in range(3)]) for k, v in fusion.named_parameters()}
    stacked = torch.func.functional_call(fusion, params, (x, fp, layout))
    for t in range(3):
        rows = graph_task == t
        own = torch.func.functional_call(fusion, {k: v[t] for k, v in params.items()}, (x[rows], fp[rows]))
        torch.testing.assert_close(stacked[rows], own)
    assert torch.equal(fusion(x, fp) - x, fusion(x, fp.float()) - x)
    with pytest.raises(ValueError, match="fingerprint_bits=16"):
        fusion(x, fp[:, :8])


def test_fingerprint_backbone_trains_exports_and_predicts(tox21_fp, tmp_path: Path) -> None:
    config = TrainConfig(learner="protonet", steps=2, eval_every=2, meta_batch_size=2, hidden_channels=16,
                         num_layers=2, norm="layer", encoder_options={"fingerprint_channels": BITS})
    trainer = MetaTrainer(tox21_fp, TaskSplit(train=tuple(range(9)), test=()), config, progress=False)
    trainer.fit()
    encoder = trainer.learner.model.encoder
    assert encoder.fingerprint is not None and encoder.config["fingerprint_channels"] == BITS
    # the fingerprints change the embedding: zeroing them gives another one
    episode = sample_eval_episodes(tox21_fp, [9], KShotSampler(5, n_query=10), 1, seed=0)[0]
    ids = torch.cat([episode.support, episode.query])
    batch = TaskBatch(batch=tox21_fp.graphs.gather(ids), graph_task=torch.zeros(len(ids), dtype=torch.long),
                      y=torch.zeros(len(ids)), n_tasks=1)
    with torch.no_grad():
        with_fp = encoder(batch)
        batch.batch.fingerprint = torch.zeros_like(batch.batch.fingerprint)
        without = encoder(batch)
        del batch.batch.fingerprint
        with pytest.raises(ValueError, match="fingerprint_bits=64"):
            encoder(batch)
    assert not torch.allclose(with_fp, without)
    # a model file remembers the featurizer, so the predictor makes fingerprints from SMILES by itself
    path = export_model(trainer, tmp_path / "fp-protonet.pt", {"command": "test"})
    smiles = lambda index: [tox21_fp.smiles[i] for i in index.tolist()]  # noqa: E731
    clf = FewShotClassifier(model=str(path)).fit(smiles(episode.support), episode.support_y.numpy())
    proba = clf.predict_proba(smiles(episode.query))
    assert proba.shape == (10, 2) and np.isfinite(proba).all()
    assert np.array_equal(clf.predict_proba(smiles(episode.query)), proba)  # deterministic


def test_fingerprint_backbone_needs_fingerprinted_graphs_and_loads_plain_pretrained_weights(tox21_fp,
                                                                                            tmp_path: Path) -> None:
    plain = load_dataset("tox21", progress=False)
    config = TrainConfig(learner="protonet", steps=1, hidden_channels=16, num_layers=2, norm="layer",
                         encoder_options={"fingerprint_channels": BITS})
    with pytest.raises(ValueError, match="graphs have none"):
        MetaTrainer(plain, TaskSplit(train=tuple(range(9)), test=()), config, progress=False)
    run = pretrain(molecule_corpus([plain]), PretrainConfig(steps=2, batch_size=16, eval_every=2, eval_molecules=100,
                                                            hidden_channels=16, num_layers=2, norm="layer"),
                   out_dir=tmp_path, progress=False)
    config.pretrained_encoder = str(tmp_path / "encoder.pt")  # pretrained on plain graphs: same atoms and bonds
    trainer = MetaTrainer(tox21_fp, TaskSplit(train=tuple(range(9)), test=()), config, progress=False)
    state = trainer.learner.model.encoder.state_dict()
    assert all(torch.equal(state[k], v) for k, v in run["encoder_state"].items() if not k.startswith("readout."))
    assert any(k.startswith("fingerprint.") for k in state) and not any(
        k.startswith("fingerprint.") for k in run["encoder_state"])
