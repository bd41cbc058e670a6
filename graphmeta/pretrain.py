"""Self-supervised pretraining of the GNN backbone by attribute masking, on unlabeled molecules.

Hu et al., "Strategies for Pre-training Graph Neural Networks" (ICLR 2020): a fraction of the atoms of each
molecule is masked (their input embedding replaced by a learned mask token) and the backbone, through a linear
head on the node embeddings, must predict the masked atoms' element. The published few-shot leaders (Pre-PAR,
ADKF-IFT...) start from such a pretrained GIN; :func:`load_pretrained_encoder` puts the weights into a model
before meta-training.

The corpus is unlabeled: only SMILES-derived graphs are used, never a label. By default it gathers the molecules
of MUV, HIV, ToxCast and the FS-Mol training tasks, deduplicated by SMILES; molecules of FS-Mol's validation and
test tasks are excluded from the whole corpus (FS-Mol's protocol keeps them unseen). A seeded slice of the corpus
is held out and reports masked-atom accuracy.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from graphmeta import __version__
from graphmeta.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from graphmeta.data.featurize import atoms_and_bonds_key
from graphmeta.data.episodes import TaskBatch, episode_rng
from graphmeta.data.graphs import GraphStore
from graphmeta.data.tasks import TaskCollection
from graphmeta.nn.backbone import GraphEncoder
from graphmeta.runtime import deterministic

__all__ = ["DEFAULT_CORPUS", "MoleculeCorpus", "molecule_corpus", "PretrainConfig", "AttributeMasking",
           "pretrain", "load_pretrained_encoder"]

#: Datasets whose molecules (never labels) form the default pretraining corpus.
DEFAULT_CORPUS: tuple[str, ...] = ("muv", "hiv", "toxcast", "fsmol")

#: Encoder settings a pretrained checkpoint and the model it is loaded into must share.
_MATCHING = ("conv", "hidden_channels", "num_layers", "atom_vocab", "bond_vocab", "node_attr_channels",
             "degree_vocab", "norm", "heads")


@dataclass
class MoleculeCorpus:
    """Unlabeled molecular graphs for pretraining, deduplicated by SMILES."""

    graphs: GraphStore
    smiles: list[str]
    featurizer: str | None
    sources: dict[str, int]  # molecules each dataset contributed (after deduplication, in order)
    excluded: int  # molecules dropped because an evaluation set holds them

    def __len__(self) -> int:
        return len(self.graphs)


def _fsmol_parts(collection: TaskCollection) -> tuple[list[int], set[str]]:
    """Graph ids of FS-Mol's training tasks, and the SMILES of its validation and test tasks."""
    def graphs_of(tasks: Sequence[int]) -> set[int]:
        out: set[int] = set()
        for t in tasks:
            out.update(collection.labels.task(int(t))[0].tolist())
        return out

    groups = collection.task_groups
    train = sorted(graphs_of(groups.get("train", ())))
    held = graphs_of([*groups.get("valid", ()), *groups.get("test", ())])
    return train, {collection.smiles[g] for g in held}  # type: ignore[index]


def molecule_corpus(collections: Sequence[TaskCollection]) -> MoleculeCorpus:
    """Pools the molecules of ``collections`` (an FS-Mol collection contributes its training tasks' molecules
    only, and its validation/test molecules are removed from every source), first occurrence of a SMILES kept."""
    if not collections:
        raise ValueError("the pretraining corpus needs at least one dataset")
    featurizers = {c.featurizer for c in collections}
    if len(featurizers) != 1 or None in featurizers:
        raise ValueError(f"pretraining needs molecular datasets made by one featurizer, got {sorted(map(str, featurizers))}")
    parts, excluded_smiles = [], set()
    for c in collections:
        if c.smiles is None:
            raise ValueError(f"{c.name} has no SMILES: pretraining by attribute masking needs molecules")
        if c.name.lower() == "fsmol":
            ids, held = _fsmol_parts(c)
            excluded_smiles |= held
        else:
            ids = list(range(len(c.graphs)))
        parts.append((c, ids))
    seen: set[str] = set()
    stores, smiles, sources, excluded = [], [], {}, 0
    for c, ids in parts:
        keep = []
        for g in ids:
            s = c.smiles[g]  # type: ignore[index]
            if s in excluded_smiles:
                excluded += 1
            elif s not in seen:
                seen.add(s)
                keep.append(g)
        stores.append(c.graphs.subset(torch.tensor(keep, dtype=torch.long)))
        smiles.extend(c.smiles[g] for g in keep)  # type: ignore[index]
        sources[c.name] = sources.get(c.name, 0) + len(keep)
    return MoleculeCorpus(graphs=GraphStore.concat(stores), smiles=smiles, featurizer=next(iter(featurizers)),
                          sources=sources, excluded=excluded)


@dataclass
class PretrainConfig:
    """A pretraining run; the backbone fields must match the ``TrainConfig`` it will be loaded into."""

    steps: int = 5000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    mask_rate: float = 0.15
    eval_every: int = 500
    eval_molecules: int = 2000  # held out from training, scored by masked-atom accuracy
    seed: int = 0
    conv: str = "gin"
    hidden_channels: int = 128
    num_layers: int = 5
    norm: str = "task"
    heads: int = 4
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes recorded with the checkpoint

    def __post_init__(self) -> None:
        if not 0.0 < self.mask_rate < 1.0:
            raise ValueError(f"mask_rate must be in (0, 1), got {self.mask_rate}")
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError("steps, batch_size and eval_every must be positive")


class AttributeMasking(nn.Module):
    """Backbone + learned mask token + linear head predicting the element (first atom column) of masked atoms."""

    def __init__(self, encoder: GraphEncoder) -> None:
        super().__init__()
        if encoder.atom_encoder is None:
            raise ValueError("attribute masking needs categorical atom features (atom_vocab)")
        self.encoder = encoder
        self.mask_token = nn.Parameter(torch.zeros(encoder.hidden_channels))
        self.head = nn.Linear(encoder.hidden_channels, encoder.atom_encoder.vocab_sizes[0])

    def forward(self, batch: Any, mask: Tensor) -> Tensor:
        """Element logits ``[n_masked, n_elements]`` of the atoms where ``mask`` (``[n_nodes]`` bool) is set."""
        task_batch = TaskBatch(batch=batch, graph_task=torch.zeros(batch.num_graphs, dtype=torch.long),
                               y=torch.zeros(batch.num_graphs), n_tasks=1)
        h = self.encoder.node_embeddings(task_batch, input_hook=lambda h0: torch.where(mask[:, None], self.mask_token, h0))
        return self.head(h[mask])


def _mask(n_nodes: int, rate: float, rng: np.random.Generator) -> Tensor:
    mask = rng.random(n_nodes) < rate
    if not mask.any():
        mask[rng.integers(n_nodes)] = True
    return torch.from_numpy(mask)


def _masked_accuracy(model: AttributeMasking, store: GraphStore, ids: np.ndarray, rate: float, seed: int,
                     batch_size: int) -> tuple[float, float]:
    """Loss and accuracy on held-out molecules with fixed (seeded) masks."""
    model.eval()
    correct = total = 0
    loss = 0.0
    with torch.no_grad():
        for i, start in enumerate(range(0, len(ids), batch_size)):
            batch = store.gather(torch.from_numpy(ids[start:start + batch_size]))
            mask = _mask(batch.num_nodes, rate, episode_rng(seed, 7, i))
            logits = model(batch, mask)
            target = batch.x[mask, 0]
            loss += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(-1) == target).sum())
            total += int(mask.sum())
    model.train()
    return loss / max(total, 1), correct / max(total, 1)


def pretrain(corpus: MoleculeCorpus, config: PretrainConfig, out_dir: str | os.PathLike | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Pretrains a backbone on ``corpus``; returns ``{"history", "encoder_state", "checkpoint"}``.

    With ``out_dir``, writes ``encoder.pt`` (the backbone weights, loadable by :func:`load_pretrained_encoder`)
    and ``history.json`` at every evaluation.
    """
    n = len(corpus)
    if n <= config.eval_molecules:
        raise ValueError(f"the corpus has {n} molecules; it must be larger than eval_molecules={config.eval_molecules}")
    order = np.random.default_rng(config.seed).permutation(n)
    held, train = np.sort(order[:config.eval_molecules]), order[config.eval_molecules:]
    torch.manual_seed(config.seed)
    encoder = GraphEncoder(conv=config.conv, hidden_channels=config.hidden_channels, num_layers=config.num_layers,  # type: ignore[arg-type]
                           norm=config.norm, heads=config.heads)  # type: ignore[arg-type]
    model = AttributeMasking(encoder)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    with deterministic():
        return _pretrain_loop(model, optimizer, corpus, config, train, held, out, progress)


def _pretrain_loop(model: AttributeMasking, optimizer: torch.optim.Optimizer, corpus: MoleculeCorpus,
                   config: PretrainConfig, train: np.ndarray, held: np.ndarray, out: Path | None,
                   progress: bool) -> dict[str, Any]:
    encoder = model.encoder
    history: list[dict[str, Any]] = []
    losses: list[float] = []
    checkpoint = None
    bar = tqdm(range(config.steps), desc="pretraining (attribute masking)", unit="step", disable=not progress)
    for step in bar:
        rng = episode_rng(config.seed, step)
        ids = train[rng.choice(len(train), size=min(config.batch_size, len(train)), replace=False)]
        batch = corpus.graphs.gather(torch.from_numpy(ids))
        mask = _mask(batch.num_nodes, config.mask_rate, rng)
        loss = F.cross_entropy(model(batch, mask), batch.x[mask, 0])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite pretraining loss at step {step}; lower lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        done = step + 1
        if done % config.eval_every == 0 or done == config.steps:
            val_loss, val_acc = _masked_accuracy(model, corpus.graphs, held, config.mask_rate, config.seed,
                                                 config.batch_size)
            history.append({"step": done, "train_loss": float(np.mean(losses)), "heldout_loss": val_loss,
                            "heldout_masked_accuracy": val_acc})
            losses = []
            bar.set_postfix(loss=f"{history[-1]['train_loss']:.3f}", acc=f"{val_acc:.3f}")
            if out is not None:
                checkpoint = save_checkpoint(out / "encoder.pt", "pretrained-encoder",
                                             _checkpoint_config(config, encoder, corpus, done),
                                             {"encoder": encoder.state_dict()})
                (out / "history.json").write_text(json.dumps(history, indent=1))
    return {"history": history, "encoder_state": encoder.state_dict(), "checkpoint": str(checkpoint) if checkpoint else None}


def _checkpoint_config(config: PretrainConfig, encoder: GraphEncoder, corpus: MoleculeCorpus, step: int) -> dict[str, Any]:
    return {"pretrain": asdict(config), "encoder": encoder.config, "featurizer": corpus.featurizer,
            "corpus": {"sources": corpus.sources, "molecules": len(corpus), "excluded_eval_molecules": corpus.excluded},
            "step": step, "graphmeta": __version__}


def load_pretrained_encoder(path: str | os.PathLike, encoder: GraphEncoder, featurizer: str | None = None) -> dict[str, Any]:
    """Loads pretrained backbone weights from ``path`` into ``encoder`` (its readout and fingerprint fusion are left
    as they are: pretraining trains neither). Refuses a checkpoint whose backbone settings or atom and bond
    features differ, naming the file and the mismatching settings. Returns the checkpoint's config."""
    blob = load_checkpoint(path, kind="pretrained-encoder")
    saved = blob["config"]["encoder"]
    different = [k for k in _MATCHING if saved.get(k) != encoder.config.get(k)]
    if different:
        detail = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs model {encoder.config.get(k)!r}" for k in different)
        raise CheckpointError(f"{path}: pretrained backbone does not fit this model ({detail})")
    saved_featurizer = blob["config"].get("featurizer")
    if featurizer is not None and atoms_and_bonds_key(saved_featurizer) != atoms_and_bonds_key(featurizer):
        raise CheckpointError(f"{path}: pretrained on graphs from featurizer {saved_featurizer!r}, "
                              f"but the data comes from {featurizer!r}")
    state = {k: v for k, v in blob["state"]["encoder"].items() if not k.startswith("readout.")}
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(("readout.", "fingerprint."))]  # not pretrained: stay fresh
    if missing or unexpected:
        raise CheckpointError(f"{path}: backbone weights do not match (missing {missing}, unexpected {unexpected})")
    return blob["config"]


