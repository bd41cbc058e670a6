"""Pretraining objectives against direct reference computations: GraphCL views stay valid graphs, NT-Xent,
multitask masked BCE and per-task ROC-AUC; contrastive pretraining learns; bf16 only where the CPU runs it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import episode_rng
from graphmeta.pretrain import MoleculeCorpus, PretrainConfig, pretrain
from graphmeta.pretrain.augment import FieldNames, augment
from graphmeta.pretrain.config import AUGMENTATIONS
from graphmeta.pretrain.hardware import resolve_device, resolve_precision
from graphmeta.pretrain.labels import GraphLabels, per_task_roc_auc
from graphmeta.pretrain.objectives import masked_bce, nt_xent
from graphmeta.runtime import cpu_supports_bf16


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", progress=False)


def _check_valid(view, original) -> None:
    batch = view.batch
    counts = batch.ptr[1:] - batch.ptr[:-1]
    assert batch.num_graphs == original.num_graphs and bool((counts >= 1).all())  # every molecule keeps an atom
    assert bool((counts <= original.ptr[1:] - original.ptr[:-1]).all())
    assert torch.equal(torch.bincount(batch.batch, minlength=batch.num_graphs), counts)
    src, dst = batch.edge_index
    assert bool((src >= 0).all()) and bool((dst < batch.num_nodes).all())
    assert torch.equal(batch.batch[src], batch.batch[dst])  # bonds stay inside their molecule
    assert batch.x.shape[0] == batch.num_nodes and batch.edge_attr.shape[0] == batch.edge_index.shape[1]
    pairs = set(map(tuple, batch.edge_index.t().tolist()))
    assert all((b, a) in pairs for a, b in pairs)  # both directions of a bond kept or dropped together
    if view.mask is not None:
        assert view.mask.shape == (batch.num_nodes,) and view.mask.dtype == torch.bool


@pytest.mark.parametrize("augmentation", [*AUGMENTATIONS, "all"])
def test_augmented_views_are_valid_graphs(tox21, augmentation: str) -> None:
    store = tox21.graphs
    ids = torch.arange(0, 7831, 61)  # 129 molecules, a few single-atom ones among them
    single = torch.nonzero(store.num_nodes == 1).flatten()[:3]
    batch = store.gather(torch.cat([ids, single]))
    augs = AUGMENTATIONS if augmentation == "all" else (augmentation,)
    for seed in range(3):
        view = augment(batch, FieldNames.of(store), augs, 0.5, episode_rng(seed, 0))
        _check_valid(view, batch)
        again = augment(batch, FieldNames.of(store), augs, 0.5, episode_rng(seed, 0))
        assert torch.equal(view.batch.edge_index, again.batch.edge_index) and torch.equal(view.batch.x, again.batch.x)
    n_before, n_after = batch.ptr.diff(), view.batch.ptr.diff()
    if augmentation == "subgraph":
        assert torch.equal(n_after, (0.5 * n_before).long().clamp(min=1))
    if augmentation == "drop_nodes":
        assert 0.3 < float(n_after.sum()) / float(n_before.sum()) < 0.7
    if augmentation in ("drop_edges", "mask_atoms"):
        assert torch.equal(n_after, n_before) and torch.equal(view.batch.x, batch.x)
    if augmentation == "drop_edges":
        assert 0.3 < view.batch.edge_index.shape[1] / batch.edge_index.shape[1] < 0.7
    if augmentation == "mask_atoms":
        assert 0.3 < float(view.mask.float().mean()) < 0.7
    if augmentation == "subgraph":  # the kept atoms of a molecule are connected when the molecule is
        kept = view.batch
        g = int(torch.argmax(n_before))
        nodes = int(n_after[g])
        local = kept.edge_index[:, kept.batch[kept.edge_index[0]] == g] - int(kept.ptr[g])
        reached, frontier = {0}, [0]
        while frontier:
            node = frontier.pop()
            for b in local[1][local[0] == node].tolist():
                if b not in reached:
                    reached.add(b)
                    frontier.append(b)
        assert len(reached) == nodes


def _nt_xent_reference(z1: torch.Tensor, z2: torch.Tensor, t: float) -> tuple[float, int]:
    z = [v / v.norm() for v in torch.cat([z1, z2])]
    n, total, correct = len(z1), 0.0, 0
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        sims = {k: float(z[i] @ z[k]) / t for k in range(2 * n) if k != i}
        total -= sims[partner] - math.log(sum(math.exp(s) for s in sims.values()))
        correct += max(sims, key=sims.get) == partner
    return total / (2 * n), correct


def test_nt_xent_matches_a_direct_computation() -> None:
    gen = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=gen, dtype=torch.float64), torch.randn(6, 5, generator=gen, dtype=torch.float64)
    z2[:3] = z1[:3] + 0.01  # three easy pairs
    for t in (0.1, 0.5):
        loss, correct = nt_xent(z1, z2, t)
        ref_loss, ref_correct = _nt_xent_reference(z1, z2, t)
        assert math.isclose(float(loss), ref_loss, rel_tol=1e-5) and int(correct) == ref_correct >= 6


def test_multitask_bce_counts_only_labelled_pairs(tox21) -> None:
    tasks = [3, 0, 7]
    labels = GraphLabels.from_collection(tox21, tasks)
    ids = torch.tensor([5, 17, 2000, 3, 7000, 17])  # a repeat too
    row, task, value = labels.pairs(ids)
    dense = tox21.y()[ids][:, tasks]  # NaN: no label
    assert int((~torch.isnan(dense)).sum()) == len(row)
    logits = torch.randn(len(ids), len(tasks), dtype=torch.float64, requires_grad=True)
    loss = masked_bce(logits, row, task, value)
    known = ~torch.isnan(dense)
    reference = F.binary_cross_entropy_with_logits(logits[known], dense[known].double())
    assert math.isclose(float(loss.detach()), float(reference.detach()), rel_tol=1e-6)
    loss.backward()
    assert bool((logits.grad[~known] == 0).all()) and bool((logits.grad[known] != 0).all())
    assert labels.n_tasks == 3 and set(labels.labelled_graphs().tolist()) == {
        int(g) for t in tasks for g in tox21.labels.task(t)[0]}


def test_per_task_roc_auc_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    task = torch.from_numpy(rng.integers(0, 5, size=400))
    score = torch.from_numpy(np.round(rng.normal(size=400), 1))  # ties
    target = torch.from_numpy((rng.random(400) < 0.3).astype(np.float32))
    target[task == 4] = 0.0  # one class only: NaN
    auc = per_task_roc_auc(task, score, target, 6)
    for t in range(4):
        sel = task == t
        assert math.isclose(float(auc[t]), roc_auc_score(target[sel].numpy(), score[sel].numpy()), rel_tol=1e-12)
    assert math.isnan(float(auc[4])) and math.isnan(float(auc[5]))


def test_contrastive_pretraining_learns(tox21) -> None:
    keep = torch.arange(1200)
    corpus = MoleculeCorpus(graphs=tox21.graphs.subset(keep), smiles=[tox21.smiles[i] for i in keep.tolist()],
                            featurizer=tox21.featurizer, sources={"tox21": 1200}, excluded=0)
    config = PretrainConfig(steps=16, batch_size=32, eval_every=8, eval_molecules=96, hidden_channels=16,
                            num_layers=2, objectives=("contrastive",), lr=3e-3, seed=0, precision="fp32", device="cpu")
    first = pretrain(corpus, PretrainConfig(**{**config.to_dict(), "steps": 1, "eval_every": 1}), progress=False)
    run = pretrain(corpus, config, progress=False)
    before, after = first["history"][0], run["history"][-1]
    assert after["heldout_contrastive_loss"] < before["heldout_contrastive_loss"] - 0.3
    assert after["heldout_contrastive_top1"] > before["heldout_contrastive_top1"]
    assert run["history"][-1]["train_contrastive_loss"] < run["history"][0]["train_contrastive_loss"]


def test_bf16_only_where_the_cpu_runs_it_natively(tox21, tmp_path: Path, monkeypatch) -> None:
    assert isinstance(cpu_supports_bf16(), bool)
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu sse avx2 avx512f\n")
    assert cpu_supports_bf16(info) is False
    info.write_text("processor : 0\nflags : fpu avx2 avx512f avx512_bf16\n")
    assert cpu_supports_bf16(info) is True
    cpu = torch.device("cpu")
    monkeypatch.setattr("graphmeta.runtime.cpu_supports_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16" and resolve_precision("fp32", cpu) == "fp32"
    monkeypatch.setattr("graphmeta.runtime.cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    keep = torch.arange(120)
    corpus = MoleculeCorpus(graphs=tox21.graphs.subset(keep), smiles=[tox21.smiles[i] for i in keep.tolist()],
                            featurizer=tox21.featurizer, sources={"tox21": 120}, excluded=0)
    config = PretrainConfig(steps=1, batch_size=16, eval_every=1, eval_molecules=16, hidden_channels=16, num_layers=2,
                            precision="bf16", device="cpu")
    with pytest.warns(RuntimeWarning, match=r"avx512_bf16.*amx_bf16.*20x slower.*fp32"):
        run = pretrain(corpus, config, out_dir=tmp_path / "run", progress=False)
    assert run["precision"] == "fp32" and run["device"] == "cpu"
    assert torch.load(tmp_path / "run" / "encoder.pt", weights_only=True)["config"]["precision"] == "fp32"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
