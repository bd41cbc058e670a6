"""More meta-training tasks for FS-Mol: assays of other molecular datasets, without FS-Mol's evaluation molecules.

FS-Mol's published models meta-train on 4,938 assays; ``../shared/data`` holds a 1-in-20 sample of them. The
protocol allows adding other task families that are here (ToxCast, MUV, HIV, Tox21, SIDER) as long as no
validation or test assay of FS-Mol, and none of their molecules, is used. :func:`add_training_tasks` appends
such tasks to an FS-Mol collection's training group. Molecules are matched by RDKit canonical SMILES (the
datasets write SMILES differently), and a label whose molecule is an FS-Mol validation/test molecule is dropped
and counted. Tasks left with too few positives or negatives for a training support are skipped and counted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import torch
from graphmeta.data.canonical import canonical_smiles, fsmol_evaluation_molecules
from graphmeta.data.graphs import GraphStore
from graphmeta.data.tasks import TaskCollection, TaskLabels

__all__ = ["add_training_tasks"]


def add_training_tasks(fsmol: TaskCollection, extras: Sequence[TaskCollection],
                       min_per_class: int) -> tuple[TaskCollection, dict[str, Any]]:
    """``fsmol`` with the binary tasks of ``extras`` added to its ``train`` group.

    Args:
        fsmol: the FS-Mol collection (train/valid/test task groups).
        extras: other molecular collections made by the same featurizer (e.g. ToxCast, MUV).
        min_per_class: a task is added only if it keeps at least this many positives and negatives.

    Returns:
        The combined collection (FS-Mol's graphs and tasks first, so its task indices are unchanged) and a
        report per source: tasks added, tasks skipped as too small, labels dropped because their molecule is an
        FS-Mol validation/test molecule, molecules added.
    """
    if fsmol.smiles is None:
        raise ValueError(f"{fsmol.name} has no SMILES")
    held = fsmol_evaluation_molecules(fsmol)
    stores, smiles = [fsmol.graphs], list(fsmol.smiles)
    tasks = [fsmol.labels.task(t) for t in range(fsmol.n_tasks)]
    names, report = list(fsmol.task_names), {}
    new_train: list[int] = []
    offset = len(fsmol.graphs)
    for extra in extras:
        if extra.featurizer != fsmol.featurizer:
            raise ValueError(f"{extra.name} was featurized by {extra.featurizer!r}, {fsmol.name} by "
                             f"{fsmol.featurizer!r}: load both with the same featurizer")
        if extra.task_type != "binary" or extra.smiles is None:
            raise ValueError(f"{extra.name}: only binary molecular tasks can be added (it has {extra.task_type} tasks)")
        evaluation = torch.tensor([c in held for c in canonical_smiles(extra.smiles)])
        kept_tasks, used = [], torch.zeros(len(extra.graphs), dtype=torch.bool)
        too_small = dropped = 0
        for t in range(extra.n_tasks):
            ids, values = extra.labels.task(t)
            dropped += int(evaluation[ids].sum())
            ids, values = ids[~evaluation[ids]], values[~evaluation[ids]]
            if int((values == 1).sum()) < min_per_class or int((values == 0).sum()) < min_per_class:
                too_small += 1
                continue
            kept_tasks.append((t, ids, values))
            used[ids] = True
        graph_ids = torch.nonzero(used).flatten()
        new_id = torch.full((len(extra.graphs),), -1, dtype=torch.long)
        new_id[graph_ids] = torch.arange(len(graph_ids)) + offset
        for t, ids, values in kept_tasks:
            new_train.append(len(tasks))
            tasks.append((new_id[ids], values))
            names.append(f"{extra.name}:{extra.task_names[t]}")
        stores.append(extra.graphs.subset(graph_ids))
        smiles.extend(extra.smiles[g] for g in graph_ids.tolist())
        offset += len(graph_ids)
        report[extra.name] = {"tasks": extra.n_tasks, "tasks_added": len(kept_tasks), "tasks_too_small": too_small,
                              "labels_dropped_fsmol_evaluation_molecules": dropped,
                              "molecules_added": len(graph_ids)}
    groups = {k: list(v) for k, v in fsmol.task_groups.items()}
    groups["train"] = [*groups["train"], *new_train]
    combined = replace(fsmol, graphs=GraphStore.concat(stores),
                       labels=TaskLabels.from_tasks(tasks, offset), task_names=names, smiles=smiles,
                       task_groups=groups)
    return combined, report
