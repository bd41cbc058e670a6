"""Task splits: which tasks (or, for graph classification, which classes) train, validate and test.

Few-shot evaluation is about *new* tasks, so splits are over tasks, never over molecules. The published
protocols fixed here:

- PAR / Meta-MGNN MoleculeNet splits (:func:`par_split`): Tox21 tasks 0-8 | 9-11, SIDER 0-20 | 21-26,
  MUV 0-11 | 12-16, ToxCast tasks < 450 | >= 450 (train | test, by column order of the CSV);
- FS-Mol's own train/valid/test assays and the GSM class splits of TU data (:func:`predefined_split`,
  from ``collection.task_groups``).

Model selection must never look at test tasks: :meth:`TaskSplit.carve_validation` moves a seeded random
subset of the *training* tasks into the validation set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from graphmeta.data.tasks import TaskCollection

__all__ = ["TaskSplit", "PAR_SPLITS", "par_split", "predefined_split", "fits_support", "training_split"]

#: (first test task index) for the PAR protocol; tasks before it train, tasks from it on test.
PAR_SPLITS: dict[str, int] = {"tox21": 9, "sider": 21, "muv": 12, "toxcast": 450}


@dataclass(frozen=True)
class TaskSplit:
    """Disjoint train / valid / test lists of task indices (``unit="tasks"``) or class ids (``unit="classes"``)."""

    train: tuple[int, ...]
    test: tuple[int, ...]
    valid: tuple[int, ...] = ()
    unit: Literal["tasks", "classes"] = "tasks"
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "train", tuple(int(t) for t in self.train))
        object.__setattr__(self, "valid", tuple(int(t) for t in self.valid))
        object.__setattr__(self, "test", tuple(int(t) for t in self.test))
        parts = {"train": set(self.train), "valid": set(self.valid), "test": set(self.test)}
        for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
            overlap = parts[a] & parts[b]
            if overlap:
                raise ValueError(f"{self.unit} {sorted(overlap)} are in both {a} and {b}")
        for name, items in (("train", self.train), ("valid", self.valid), ("test", self.test)):
            if len(set(items)) != len(items):
                raise ValueError(f"{name} lists a {self.unit[:-1]} twice")

    def carve_validation(self, n_valid: int, seed: int) -> "TaskSplit":
        """Moves ``n_valid`` training entries, chosen with ``seed``, to ``valid`` (test is never touched)."""
        if not 0 < n_valid < len(self.train):
            raise ValueError(f"cannot carve {n_valid} validation {self.unit} out of {len(self.train)} training ones")
        rng = np.random.default_rng(seed)
        chosen = set(rng.choice(len(self.train), size=n_valid, replace=False).tolist())
        valid = tuple(t for i, t in enumerate(self.train) if i in chosen)
        train = tuple(t for i, t in enumerate(self.train) if i not in chosen)
        desc = f"{self.description}; {n_valid} validation {self.unit} carved from train (seed {seed})"
        return TaskSplit(train=train, valid=self.valid + valid, test=self.test, unit=self.unit, description=desc)

    def folds(self, n_folds: int, seed: int) -> list["TaskSplit"]:
        """Leave-tasks-out cross-validation over the training entries: fold ``i`` validates on one part."""
        if not 2 <= n_folds <= len(self.train):
            raise ValueError(f"need 2 <= n_folds <= {len(self.train)} training {self.unit}, got {n_folds}")
        order = np.random.default_rng(seed).permutation(len(self.train))
        parts = np.array_split(order, n_folds)
        out = []
        for i, part in enumerate(parts):
            held = set(part.tolist())
            out.append(TaskSplit(
                train=tuple(t for j, t in enumerate(self.train) if j not in held),
                valid=tuple(self.train[j] for j in sorted(held)), test=self.test, unit=self.unit,
                description=f"{self.description}; fold {i + 1}/{n_folds} (seed {seed})"))
        return out


def par_split(collection: TaskCollection | str, n_tasks: int | None = None) -> TaskSplit:
    """The PAR / Meta-MGNN task split of Tox21, SIDER, MUV or ToxCast (no validation tasks yet).

    Args:
        collection: the loaded collection, or a dataset name together with ``n_tasks``.
    """
    if isinstance(collection, TaskCollection):
        name, n_tasks = collection.name.lower(), collection.n_tasks
    else:
        name = collection.lower()
        if n_tasks is None:
            raise ValueError("pass n_tasks together with a dataset name")
    if name not in PAR_SPLITS:
        raise KeyError(f"no PAR split for {name!r}; known: {sorted(PAR_SPLITS)}")
    first_test = PAR_SPLITS[name]
    if n_tasks <= first_test:
        raise ValueError(f"{name} has {n_tasks} tasks, the PAR split needs more than {first_test}")
    return TaskSplit(train=tuple(range(first_test)), test=tuple(range(first_test, n_tasks)),
                     description=f"PAR split of {name}: train tasks 0-{first_test - 1}, test {first_test}-{n_tasks - 1}")


def predefined_split(collection: TaskCollection) -> TaskSplit:
    """The split shipped with the data: FS-Mol's train/valid/test tasks, or a GSM class split (``unit="classes"``)."""
    groups = collection.task_groups
    if "train" not in groups or "test" not in groups:
        raise ValueError(f"{collection.name} has no predefined train/test groups (has: {sorted(groups)})")
    unit: Literal["tasks", "classes"] = "classes" if collection.task_type == "multiclass" else "tasks"
    return TaskSplit(train=tuple(groups["train"]), valid=tuple(groups.get("valid", ())), test=tuple(groups["test"]),
                     unit=unit, description=f"predefined split of {collection.name}")




def fits_support(collection: TaskCollection, task: int, shots: int) -> bool:
    """Whether binary ``task`` has ``shots`` labelled graphs of each class and at least one more for a query."""
    _, values = collection.labels.task(task)
    positives = int((values == 1).sum())
    return positives >= shots and len(values) - positives >= shots and len(values) > 2 * shots


def training_split(collection: TaskCollection, shots: int, valid: Sequence[int] | None = None,
                   all_tasks: bool = False) -> tuple[TaskSplit, str, list[int]]:
    """The tasks a meta-training run on ``collection`` uses, as ``graphmeta train`` chooses them.

    Training tasks: a published PAR split's training tasks (Tox21, SIDER, MUV, ToxCast), else the dataset's own
    ``train`` group when it has train and test groups (FS-Mol), else every task; ``all_tasks=True``: every task,
    test tasks included. ``valid`` (task indices; default the base split's) is held out to select the checkpoint
    and may not hold a test task. Training tasks too small for ``shots`` + ``shots`` supports with a query are
    left out. Returns the split, a short description of where the training tasks come from, and the indices of
    the tasks left out as too small (for the caller to report).
    """
    groups = collection.task_groups
    base = None
    if all_tasks:
        note = "all tasks"
    elif collection.name.lower() in PAR_SPLITS:
        base, note = par_split(collection), "the published split's training tasks"
    elif "train" in groups and "test" in groups:
        base, note = predefined_split(collection), "the dataset's own training tasks"
    else:
        note = "all tasks"
    train = list(base.train) if base is not None else list(range(collection.n_tasks))
    test = list(base.test) if base is not None else []
    held = list(valid) if valid else (list(base.valid) if base is not None else [])
    if set(held) & set(test):
        raise ValueError(f"validation task(s) {sorted(set(held) & set(test))} are test tasks of the published "
                         f"split; pick training tasks (or pass all_tasks=True / --all-tasks)")
    train = [t for t in train if t not in held]
    too_small = [t for t in train if not fits_support(collection, t, shots)]
    train = [t for t in train if t not in too_small]
    if not train:
        raise ValueError("no training task left (after holding out validation tasks and skipping tasks too "
                         "small for the supports)")
    return TaskSplit(train=tuple(train), valid=tuple(held), test=tuple(test)), note, too_small
