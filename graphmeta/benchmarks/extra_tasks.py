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

__all__ = ["add_training_tasks", "use_full_training_set"]


def _enough_of_each_class(values: torch.Tensor, min_per_class: int) -> bool:
    """Whether binary labels ``values`` hold at least ``min_per_class`` positives and as many negatives."""
    positives = int((values == 1).sum())
    return min(positives, len(values) - positives) >= min_per_class


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
            if not _enough_of_each_class(values, min_per_class):
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


def use_full_training_set(fsmol: TaskCollection, full: TaskCollection,
                          min_per_class: int = 1) -> tuple[TaskCollection, dict[str, Any]]:
    """``fsmol``'s validation and test assays with the training assays of ``full`` (``fsmol-train-full``: all 4,935
    FS-Mol training assays) in place of the staged 1-in-20 sample.

    FS-Mol's protocol meta-trains on its training assays as they are (a training assay may measure a molecule that
    an evaluation assay measures too: the assays differ), so no molecule is removed here; the report counts how many
    training molecules (by SMILES string: FS-Mol writes each molecule one way) are evaluation molecules as
    well. Graph ids of the evaluation assays are unchanged (FS-Mol's graphs come first); every training graph is
    added from ``full``. Training assays with fewer than ``min_per_class`` positives or negatives (too small for a
    training support) are left out and counted.
    """
    if full.featurizer != fsmol.featurizer:
        raise ValueError(f"{full.name} was featurized by {full.featurizer!r}, {fsmol.name} by {fsmol.featurizer!r}: "
                         f"load both with the same featurizer")
    if full.task_type != "binary" or full.smiles is None or fsmol.smiles is None:
        raise ValueError(f"{full.name}: the training assays must be binary molecular tasks")
    evaluation = [int(t) for group in ("valid", "test") for t in fsmol.task_groups.get(group, ())]
    sample = set(fsmol.task_names[int(t)] for t in fsmol.task_groups.get("train", ()))
    missing = sorted(sample - set(full.task_names))
    if missing:
        raise ValueError(f"{full.name} lacks {len(missing)} training assay(s) of {fsmol.name} (first {missing[0]}): "
                         f"it is not FS-Mol's full training set")
    offset = len(fsmol.graphs)
    tasks = [fsmol.labels.task(t) for t in evaluation]
    kept = [t for t in range(full.n_tasks) if _enough_of_each_class(full.labels.task(t)[1], min_per_class)]
    tasks += [(ids + offset, values) for ids, values in (full.labels.task(t) for t in kept)]
    names = [fsmol.task_names[t] for t in evaluation] + [full.task_names[t] for t in kept]
    position = {t: i for i, t in enumerate(evaluation)}
    groups = {"train": list(range(len(evaluation), len(names))),
              **{g: [position[int(t)] for t in fsmol.task_groups.get(g, ())] for g in ("valid", "test")}}
    held = {fsmol.smiles[int(g)] for t in evaluation for g in fsmol.labels.task(t)[0].tolist()}
    report = {"training_assays": len(kept), "training_assays_too_small": full.n_tasks - len(kept),
              "min_per_class": min_per_class, "replaced_sample_assays": len(sample),
              "training_molecules": len(full.graphs),  # FS-Mol writes its SMILES one way: exact strings match
              "training_molecules_also_in_evaluation_assays": sum(s in held for s in full.smiles)}
    combined = replace(fsmol, graphs=GraphStore.concat([fsmol.graphs, full.graphs]),
                       labels=TaskLabels.from_tasks(tasks, offset + len(full.graphs)), task_names=names,
                       smiles=[*fsmol.smiles, *full.smiles], task_groups=groups)
    return combined, report
