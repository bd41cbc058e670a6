"""Descriptors beside the GNN readout: robust scaler, fusion, backbone, meta-training, model files, predictor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from graphmeta.checkpoint import save_checkpoint
from graphmeta.data.api import load_csv
from graphmeta.data.descriptors import DESCRIPTOR_NAMES
from graphmeta.data.episodes import TaskBatch
from graphmeta.data.featurize import MoleculeFeaturizer
from graphmeta.data.graphs import GraphStore
from graphmeta.data.splits import TaskSplit
from graphmeta.model_files import export_model, load_meta_model
from graphmeta.nn.backbone import GraphEncoder
from graphmeta.nn.descriptors import DescriptorScaler
from graphmeta.nn.fingerprint import FingerprintFusion
from graphmeta.nn.taskbatch import TaskLayout
from graphmeta.predictor import FewShotClassifier
from graphmeta.train import MetaTrainer, TrainConfig, training_graph_ids

D = len(DESCRIPTOR_NAMES)
SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C1CCNCC1", "O=C(O)c1ccccc1", "Clc1ccc(Cl)c(Cl)c1"]
BITS = 32
TOX21_CSV = Path(__file__).resolve().parents[2] / "datasets" / "tox21.csv.gz"  # the embedded copy


# -- scaler -------------------------------------------------------------------------------------------------
def _values() -> np.ndarray:
    rng = np.random.default_rng(0)
    values = rng.lognormal(3.0, 1.0, size=(101, 5))
    values[::7, 0] = np.nan  # missing values are ignored by the statistics
    values[:, 1] = 4.0  # constant: IQR 0 and std 0 -> scale 1
    values[:, 2] = 0.0
    values[:3, 2] = [1.0, 2.0, 1.0]  # sparse counts: IQR 0 -> standard deviation
    values[:, 3] = np.nan  # never seen: center 0, scale 1
    return values


def test_scaler_statistics_are_nan_median_and_iqr_with_fallbacks() -> None:
    values = _values()
    scaler = DescriptorScaler(5).fit(torch.from_numpy(values).float())
    known = values.astype(np.float32).astype(np.float64)
    q25, q75 = np.nanpercentile(known[:, [0, 4]], [25, 75], axis=0)
    np.testing.assert_allclose(scaler.center[[0, 4]].numpy(), np.nanmedian(known[:, [0, 4]], axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.scale[[0, 4]].numpy(), q75 - q25, rtol=1e-6)
    assert scaler.center[1] == 4.0 and scaler.scale[1] == 1.0
    assert scaler.center[2] == 0.0 and scaler.scale[2] == pytest.approx(np.std(known[:, 2]), rel=1e-6)
    assert scaler.center[3] == 0.0 and scaler.scale[3] == 1.0
    assert int(scaler.n_fitted) == 101 and "fitted=True" in repr(scaler)


def test_scaler_output_centres_clips_and_maps_missing_values_to_the_median() -> None:
    scaler = DescriptorScaler(5, clip=3.0).fit(_values())
    x = torch.tensor([[float("nan"), 4.0, 1e9, 7.0, -float("inf")],
                      [float(scaler.center[0]), 5.0, -1e9, float("nan"), float(scaler.center[4] + scaler.scale[4])]])
    z = scaler(x)
    expected = torch.tensor([[0.0, 0.0, 3.0, 3.0, -3.0], [0.0, 1.0, -3.0, 0.0, 1.0]])  # column 3: center 0, scale 1
    torch.testing.assert_close(z, expected)
    assert torch.isfinite(scaler(torch.full((4, 5), float("nan")))).all()


def test_scaler_state_dict_round_trip_and_errors() -> None:
    scaler = DescriptorScaler(5).fit(_values())
    fresh = DescriptorScaler(5)
    with pytest.raises(RuntimeError, match="not fitted"):
        fresh(torch.zeros(2, 5))
    fresh.load_state_dict(scaler.state_dict())
    x = torch.from_numpy(_values()[:10]).float()
    assert fresh.fitted and torch.equal(fresh(x), scaler(x))
    assert set(scaler.state_dict()) == {"center", "scale", "n_fitted"}
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        fresh.fit(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="no molecules"):
        fresh.fit(np.zeros((0, 5)))
    with pytest.raises(ValueError, match=r"shape \(G, 5\)"):
        scaler(torch.zeros(2, 6))


# -- fusion and backbone --------------------------------------------------------------------------------------
def test_fusion_with_per_task_weights_equals_each_task_alone_and_keeps_fingerprint_only_keys() -> None:
    torch.manual_seed(0)
    fusion = FingerprintFusion(8, 16, descriptor_channels=5)
    fusion.fit_descriptor_scaler(torch.from_numpy(_values()).float())
    x, fp = torch.randn(7, 8), torch.randint(0, 2, (7, 16), dtype=torch.uint8)
    desc = torch.from_numpy(_values()[:7]).float()
    graph_task = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    layout = TaskLayout.from_row_task(graph_task, 3)
    params = {k: torch.stack([v + 0.1 * t for t in range(3)]) for k, v in fusion.named_parameters()}
    stacked = torch.func.functional_call(fusion, params, (x, fp, layout), {"descriptors": desc})
    for t in range(3):
        rows = graph_task == t
        own = torch.func.functional_call(fusion, {k: v[t] for k, v in params.items()}, (x[rows], fp[rows]),
                                         {"descriptors": desc[rows]})
        torch.testing.assert_close(stacked[rows], own)
    assert repr(fusion) == "FingerprintFusion(8, fingerprint_channels=16, descriptor_channels=5)"
    assert fusion.hidden.weight.shape == (8, 8 + 16 + 5)
    with pytest.raises(ValueError, match=r"MoleculeFeaturizer\(descriptors=True\)"):
        fusion(x, fp)
    # fingerprints only: the parameters (and state-dict keys) of the fingerprint fusion of earlier models
    assert set(FingerprintFusion(8, 16).state_dict()) == {"hidden.weight", "hidden.bias", "out.weight", "out.bias"}
    descriptors_only = FingerprintFusion(8, descriptor_channels=5)
    assert descriptors_only.hidden.weight.shape == (8, 13) and repr(descriptors_only) == (
        "FingerprintFusion(8, descriptor_channels=5)")
    with pytest.raises(ValueError, match="graph-level input"):
        FingerprintFusion(8)


def test_wider_fusion_keeps_the_embedding_width_and_is_rebuilt_from_the_encoder_config() -> None:
    from graphmeta.nn import GraphEncoder

    wide = FingerprintFusion(8, 16, hidden_channels=32)
    assert wide.hidden.weight.shape == (32, 24) and wide.out.weight.shape == (8, 32)
    assert repr(wide) == "FingerprintFusion(8, fingerprint_channels=16, hidden_channels=32)"
    assert wide(torch.randn(3, 8), torch.ones(3, 16)).shape == (3, 8)
    encoder = GraphEncoder(hidden_channels=8, num_layers=1, fingerprint_channels=16, fusion_channels=32)
    rebuilt = GraphEncoder(**{k: v for k, v in encoder.config.items()})
    assert rebuilt.fingerprint.hidden.weight.shape == (32, 8 + 16) and encoder.config["fusion_channels"] == 32
    with pytest.raises(ValueError, match="reads neither"):
        GraphEncoder(hidden_channels=8, num_layers=1, fusion_channels=32)


def _batch(store: GraphStore, ids: list[int]) -> TaskBatch:
    return TaskBatch(batch=store.gather(ids), graph_task=torch.zeros(len(ids), dtype=torch.long),
                     y=torch.zeros(len(ids)), n_tasks=1)


def test_encoder_reads_scaled_descriptors_and_trains_their_fusion() -> None:
    torch.manual_seed(0)
    feats, _ = MoleculeFeaturizer(descriptors=True).featurize_many(SMILES)
    store = GraphStore.from_featurized(feats)
    encoder = GraphEncoder(hidden_channels=16, num_layers=2, norm="layer", descriptor_channels=D)
    assert encoder.config["descriptor_channels"] == D and encoder.config["fingerprint_channels"] == 0
    batch = _batch(store, [0, 1, 2, 3, 4, 5, 2])
    with pytest.raises(RuntimeError, match="not fitted"):
        encoder(batch)
    encoder.fit_descriptor_scaler(store.graph_fields["descriptors"])
    out = encoder(batch)
    assert out.shape == (7, 16) and torch.isfinite(out).all()
    out.pow(2).sum().backward()
    grad = encoder.fingerprint.hidden.weight.grad
    assert grad is not None and grad[:, 16:].abs().sum() > 0  # the descriptor columns of the fusion learn
    with torch.no_grad():  # the descriptors change the embedding
        batch.batch.descriptors = batch.batch.descriptors * 2
        assert not torch.allclose(encoder(batch), out)
    # a model rebuilt from its config and state dict scales exactly as the original
    rebuilt = GraphEncoder(**{k: v for k, v in encoder.config.items()})
    rebuilt.load_state_dict(encoder.state_dict())
    torch.testing.assert_close(rebuilt(batch), encoder(batch))
    assert {"fingerprint.scaler.center", "fingerprint.scaler.scale"} <= set(encoder.state_dict())
    # graphs without descriptors are refused with the fix named
    plain = GraphStore.from_featurized(MoleculeFeaturizer().featurize_many(SMILES)[0])
    with pytest.raises(ValueError, match=r"descriptor_channels=\d+\) but the graphs have none"):
        encoder(_batch(plain, [0, 1]))
    with pytest.raises(ValueError, match="nothing to fit"):
        GraphEncoder(hidden_channels=16, num_layers=2).fit_descriptor_scaler(store.graph_fields["descriptors"])
    with pytest.raises(ValueError, match="descriptor_channels must be a non-negative integer"):
        GraphEncoder(descriptor_channels=-1)


# -- meta-training, model files, predictor --------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_tox21(tmp_path_factory: pytest.TempPathFactory):
    """The first 600 Tox21 molecules, featurized with ECFP4 bits and descriptors (fast: no full dataset)."""
    path = tmp_path_factory.mktemp("small") / "tox21_600.csv"
    pd.read_csv(TOX21_CSV, nrows=600).to_csv(path, index=False)  # smiles + the 12 task columns
    featurizer = MoleculeFeaturizer(fingerprint_bits=BITS, descriptors=True)
    return load_csv(path, featurizer=featurizer, cache=False, progress=False), path


def _split(collection) -> TaskSplit:
    usable = [t for t in range(collection.n_tasks) if int((collection.labels.task(t)[1] == 1).sum()) >= 4]
    return TaskSplit(train=tuple(usable[:-1]), test=(usable[-1],))


@pytest.mark.parametrize("learner", ["protonet", "maml"])
def test_descriptor_backbone_meta_trains_exports_and_predicts(small_tox21, learner: str, tmp_path: Path) -> None:
    collection, _ = small_tox21
    split = _split(collection)
    inner = dict(inner_lr=0.05, inner_steps=1) if learner == "maml" else {}
    config = TrainConfig(learner=learner, steps=2, eval_every=2, meta_batch_size=2, hidden_channels=16, num_layers=2,
                         norm="layer", k_shot=2, n_query=4, **inner,
                         encoder_options={"fingerprint_channels": BITS, "descriptor_channels": D})
    trainer = MetaTrainer(collection, split, config, progress=False)
    encoder = trainer.learner.model.encoder
    scaler = encoder.fingerprint.scaler
    # fitted on the molecules of the training tasks only (no label values read)
    ids = training_graph_ids(collection, split)
    test_only = set(collection.labels.task(split.test[0])[0].tolist()) - set(ids.tolist())
    assert int(scaler.n_fitted) == len(ids) and not test_only & set(ids.tolist())
    values = collection.graphs.graph_fields["descriptors"][ids].double().numpy()
    np.testing.assert_allclose(scaler.center.numpy(), np.nanmedian(values, axis=0), rtol=1e-6)
    before = {k: v.clone() for k, v in scaler.state_dict().items()}
    trainer.fit()
    assert all(torch.equal(before[k], v) for k, v in scaler.state_dict().items())  # statistics are not trained
    # the model file carries the scaling; the predictor rebuilds the featurizer and makes descriptors from SMILES
    path = export_model(trainer, tmp_path / "model.pt", {"command": "test"})
    meta = load_meta_model(path)
    assert meta.featurizer == collection.featurizer and meta.molecule_featurizer().descriptors
    assert torch.equal(meta.learner.model.encoder.fingerprint.scaler.center, scaler.center)
    task_ids, labels = collection.labels.task(split.test[0])
    positives, negatives = task_ids[labels == 1][:3].tolist(), task_ids[labels == 0][:3].tolist()
    support = positives + negatives
    query = [i for i in task_ids.tolist() if i not in support][:8]
    clf = FewShotClassifier(model=str(path)).fit([collection.smiles[i] for i in support], [1, 1, 1, 0, 0, 0])
    proba = clf.predict_proba([collection.smiles[i] for i in query])
    assert proba.shape == (8, 2) and np.isfinite(proba).all()


def test_descriptor_backbone_needs_descriptor_graphs_and_takes_a_plain_pretrained_backbone(
        small_tox21, tmp_path: Path) -> None:
    collection, csv = small_tox21
    split = _split(collection)
    config = TrainConfig(learner="protonet", steps=1, hidden_channels=16, num_layers=2, norm="layer", k_shot=2,
                         n_query=4, encoder_options={"descriptor_channels": D})
    fingerprints_only = load_csv(csv, featurizer=MoleculeFeaturizer(fingerprint_bits=BITS), cache=False,
                                 progress=False)
    with pytest.raises(ValueError, match=r"graphs have none: load it with featurizer=MoleculeFeaturizer\(descriptors"):
        MetaTrainer(fingerprints_only, split, config, progress=False)
    # a backbone pretrained on plain graphs (same atoms and bonds) loads; the fusion and its scaler stay as fitted
    from graphmeta.pretrain import load_pretrained_encoder

    plain = GraphEncoder(hidden_channels=16, num_layers=2, norm="layer")
    checkpoint = save_checkpoint(tmp_path / "encoder.pt", "pretrained-encoder",
                                 {"encoder": plain.config, "featurizer": MoleculeFeaturizer().cache_key},
                                 {"encoder": plain.state_dict()})
    config.pretrained_encoder = str(checkpoint)
    trainer = MetaTrainer(collection, split, config, progress=False)
    encoder = trainer.learner.model.encoder
    assert torch.equal(encoder.layers[0].lin1.weight, plain.layers[0].lin1.weight)
    assert encoder.fingerprint.scaler.fitted
    load_pretrained_encoder(checkpoint, encoder, featurizer=collection.featurizer)  # the featurizer check passes


def test_command_line_and_benchmark_settings_turn_descriptors_on(small_tox21, tmp_path: Path) -> None:
    import argparse

    from graphmeta.benchmarks import fsmol, molnet
    from graphmeta.benchmarks.methods import fingerprint_options
    from graphmeta.cli.benchmark import BenchmarkCommand
    from graphmeta.cli.main import main

    _, csv = small_tox21
    code = main(["train", str(csv), "--shots", "2", "--steps", "1", "--hidden", "8", "--layers", "1",
                 "--meta-batch-size", "1", "--no-fallback", "--descriptors", "--fingerprint-bits", "16",
                 "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 0
    meta = load_meta_model(tmp_path / "run" / "model.pt")
    assert meta.learner.model.encoder.config["descriptor_channels"] == D
    featurizer = meta.molecule_featurizer()
    assert featurizer.descriptors and featurizer.fingerprint_bits == 16  # predict makes the same inputs
    assert meta.learner.model.encoder.fingerprint.scaler.fitted
    parser = argparse.ArgumentParser()
    BenchmarkCommand.add_arguments(parser)
    assert parser.parse_args(["tox21", "--descriptors"]).descriptors
    assert not parser.parse_args(["tox21"]).descriptors
    assert fingerprint_options(0, descriptors=True) == {"descriptor_channels": D}
    assert fingerprint_options(64) == {"fingerprint_channels": 64}
    assert molnet._config("protonet", molnet.MolnetSettings(descriptors=True), 0, 2, {}).encoder_options == {
        "descriptor_channels": D}
    assert fsmol._config("protonet", fsmol.FsmolSettings(descriptors=True, fingerprint_bits=8), 0).encoder_options == {
        "fingerprint_channels": 8, "descriptor_channels": D}
    # per-seed files written before the option existed stay comparable with settings that leave it off
    saved = {k: v for k, v in molnet.MolnetSettings().to_dict().items() if k != "descriptors"}
    assert molnet._comparable(saved) == molnet._comparable(molnet.MolnetSettings().to_dict())
