"""The unlabeled molecules self-supervised pretraining runs on, deduplicated by canonical SMILES.

By default the corpus gathers the molecules of MUV, HIV, ToxCast and the FS-Mol training tasks (labels are never
read); molecules of FS-Mol's validation and test tasks are excluded from the whole corpus (FS-Mol's protocol keeps
them unseen), matched by canonical SMILES. A prebuilt corpus folder (millions of molecules) is opened by
:func:`graphmeta.data.corpus.load_corpus_dir` as the same :class:`MoleculeCorpus`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import torch

from graphmeta.data.graphs import GraphStore
from graphmeta.data.tasks import TaskCollection

__all__ = ["DEFAULT_CORPUS", "MoleculeCorpus", "molecule_corpus", "smiles_digest"]

#: Datasets whose molecules (never labels) form the default pretraining corpus.
DEFAULT_CORPUS: tuple[str, ...] = ("muv", "hiv", "toxcast", "fsmol")


def smiles_digest(smiles: Sequence[str]) -> str:
    """sha256 of the SMILES in order (a resume checks it is continuing on the same molecules)."""
    digest = hashlib.sha256()
    for start in range(0, len(smiles), 65536):
        digest.update("\n".join(smiles[start:start + 65536]).encode())
        digest.update(b"\n")
    return digest.hexdigest()


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


def _fsmol_training_graphs(collection: TaskCollection) -> list[int]:
    """Graph ids of FS-Mol's training tasks."""
    out: set[int] = set()
    for t in collection.task_groups.get("train", ()):
        out.update(collection.labels.task(int(t))[0].tolist())
    return sorted(out)


def molecule_corpus(collections: Sequence[TaskCollection]) -> MoleculeCorpus:
    """Pools the molecules of ``collections`` (an FS-Mol collection contributes its training tasks' molecules
    only, and its validation/test molecules are removed from every source), first occurrence kept.

    Molecules are compared by RDKit canonical SMILES (:mod:`graphmeta.data.canonical`: datasets write one molecule
    differently), both to remove FS-Mol's evaluation molecules and to de-duplicate; the corpus keeps each kept
    molecule's SMILES as its source wrote it."""
    from graphmeta.data.canonical import canonical_smiles, fsmol_evaluation_molecules

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
            ids = _fsmol_training_graphs(c)
            excluded_smiles |= fsmol_evaluation_molecules(c)
        else:
            ids = list(range(len(c.graphs)))
        parts.append((c, ids))
    seen: set[str] = set()
    stores, smiles, sources, excluded = [], [], {}, 0
    for c, ids in parts:
        keep = []
        for g, canonical in zip(ids, canonical_smiles([c.smiles[g] for g in ids])):  # type: ignore[index]
            if canonical in excluded_smiles:
                excluded += 1
            elif canonical not in seen:
                seen.add(canonical)
                keep.append(g)
        stores.append(c.graphs.subset(torch.tensor(keep, dtype=torch.long)))
        smiles.extend(c.smiles[g] for g in keep)  # type: ignore[index]
        sources[c.name] = sources.get(c.name, 0) + len(keep)
    return MoleculeCorpus(graphs=GraphStore.concat(stores), smiles=smiles, featurizer=next(iter(featurizers)),
                          sources=sources, excluded=excluded)
