"""Molecule identity across datasets: RDKit canonical SMILES, and the molecules FS-Mol's evaluation assays hold.

Datasets write the same molecule differently (``OCC`` / ``CCO``), so whenever graphmeta must keep a molecule out
of something (FS-Mol's validation/test molecules out of pretraining corpora and extra meta-training tasks) or
de-duplicate sources, it compares canonical SMILES, parsed the way the featurizer parses them.
"""

from __future__ import annotations

from typing import Sequence

from rdkit import Chem, RDLogger

from graphmeta.data.featurize import InvalidSmilesError, MoleculeFeaturizer
from graphmeta.data.tasks import TaskCollection

__all__ = ["canonical_smiles", "fsmol_evaluation_molecules"]


def canonical_smiles(smiles: Sequence[str]) -> list[str]:
    """RDKit canonical SMILES of each entry, parsed as graphmeta's featurizer parses them (every molecule of a
    loaded collection can be: its graph was made that way). Raises :class:`InvalidSmilesError` naming the entry."""
    parser = MoleculeFeaturizer()
    out: list[str] = []
    RDLogger.DisableLog("rdApp.*")
    try:
        for i, s in enumerate(smiles):
            try:
                out.append(Chem.MolToSmiles(parser.parse(s)))
            except InvalidSmilesError as err:
                raise InvalidSmilesError(f"molecule {i} ({s!r}): {err}") from None
    finally:
        RDLogger.EnableLog("rdApp.*")
    return out


def fsmol_evaluation_molecules(fsmol: TaskCollection) -> set[str]:
    """Canonical SMILES of every molecule of FS-Mol's validation and test assays (``fsmol``: the FS-Mol collection
    with its ``train``/``valid``/``test`` task groups)."""
    groups = fsmol.task_groups
    if "train" not in groups or "test" not in groups or fsmol.smiles is None:
        raise ValueError(f"{fsmol.name} has no FS-Mol train/valid/test task groups with SMILES")
    ids: set[int] = set()
    for t in (*groups.get("valid", ()), *groups["test"]):
        ids.update(fsmol.labels.task(int(t))[0].tolist())
    return set(canonical_smiles([fsmol.smiles[g] for g in sorted(ids)]))
