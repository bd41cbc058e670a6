"""The common result of every loader: a :class:`TaskCollection` (graphs + sparse labels + task names).

A *task* is one labelled property: a binary property of molecules (Tox21's ``NR-AR``, one FS-Mol assay),
a regression target (ESOL), or, for graph classification data (TU), the class label of each graph
(``task_type == "multiclass"``, one task whose values are class ids; few-shot class splits pick classes).

Labels are stored sparsely, task by task (:class:`TaskLabels`), because few-shot data is mostly missing:
ToxCast fills 29% of its 8,576 x 617 matrix, FS-Mol's 5,000 assays each label a few hundred of ~500k
molecules. :meth:`TaskLabels.dense` gives the ``[n_graphs, n_tasks]`` matrix with NaN for missing entries.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Iterable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from graphmeta.safe_write import atomic_directory
from graphmeta.data.arrayfiles import ArrayFileError
from graphmeta.data.featurize import LenientSanitizationWarning
from graphmeta.data.graphs import GraphStore

__all__ = ["TaskType", "SkipReport", "RowNotes", "SourceInfo", "TaskLabels", "TaskCollection", "warn_lenient_rows"]

TaskType = Literal["binary", "regression", "multiclass"]
_TASK_TYPES = ("binary", "regression", "multiclass")
_GRAPHS, _META = "graphs", "collection.pt"  # the parts of a saved collection's folder


@dataclass
class SkipReport:
    """Rows a loader did not keep, with the reason for each: nothing is dropped silently.

    ``entries`` holds ``(reason, where, detail)`` triples, e.g.
    ``("invalid_smiles", "tox21.csv:row 12", "RDKit cannot parse SMILES 'C1CC'")``.
    """

    entries: list[tuple[str, str, str]] = field(default_factory=list)

    #: How :meth:`__str__` reads without entries, and the word before the count with some.
    _none: ClassVar[str] = "nothing skipped"
    _verb: ClassVar[str] = "skipped "

    def add(self, reason: str, where: str, detail: str = "") -> None:
        self.entries.append((reason, where, detail))

    def extend(self, other: "SkipReport") -> None:
        self.entries.extend(other.entries)

    def counts(self) -> dict[str, int]:
        """Number of skipped rows per reason."""
        return dict(Counter(reason for reason, _, _ in self.entries))

    def __len__(self) -> int:
        return len(self.entries)

    def __str__(self) -> str:
        if not self.entries:
            return self._none
        parts = [f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(self.counts().items())]
        first = self.entries[0]
        return f"{self._verb}{len(self.entries)} ({', '.join(parts)}); first: {first[1]}: {first[2] or first[0]}"

    def to_dict(self) -> dict[str, Any]:
        return {"entries": [list(e) for e in self.entries]}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> "SkipReport":
        return cls([tuple(e) for e in state["entries"]])  # type: ignore[misc]


@dataclass
class RowNotes(SkipReport):
    """Rows a loader kept, but with a caveat worth knowing, as ``(reason, where, detail)`` triples, e.g.
    ``("lenient_sanitization", "tox21.csv:row 1324", "SMILES ... fails RDKit's valence check")``: a molecule that
    only lenient sanitization accepts (see :class:`~graphmeta.data.featurize.MoleculeFeaturizer`)."""

    _none: ClassVar[str] = "none"
    _verb: ClassVar[str] = ""

    def add_lenient(self, where: str, smiles: str) -> None:
        """Notes a molecule at ``where`` that only lenient sanitization accepted."""
        self.add("lenient_sanitization", where, f"SMILES {smiles!r} fails RDKit's valence check; kept by "
                                                f"sanitize='lenient'")


#: Rows listed in the warning about molecules kept by lenient sanitization, before "...".
_SHOWN_ROWS = 3


def warn_lenient_rows(notes: RowNotes, where: str, n_molecules: int) -> None:
    """One :class:`~graphmeta.data.featurize.LenientSanitizationWarning` line: how many molecules of ``where`` only
    lenient sanitization kept, and the first rows (nothing when there are none)."""
    rows = [w for reason, w, _ in notes.entries if reason == "lenient_sanitization"]
    if not rows:
        return
    shown = ", ".join(w[len(where) + 1:] if w.startswith(f"{where}:") else w for w in rows[:_SHOWN_ROWS])
    more = ", ..." if len(rows) > _SHOWN_ROWS else ""
    warnings.warn(f"{where}: {len(rows):,} of {n_molecules:,} molecules kept only by lenient sanitization (RDKit's "
                  f"valence check skipped; {shown}{more}); see collection.notes, or load with sanitize='strict' to "
                  f"skip them", LenientSanitizationWarning, stacklevel=3)


@dataclass
class SourceInfo:
    """Where a collection came from: files (with sha256), license, citation, URL."""

    name: str
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256
    url: str = ""
    license: str = ""
    citation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "files": dict(self.files), "url": self.url, "license": self.license,
                "citation": self.citation}


@dataclass
class TaskLabels:
    """Sparse labels, grouped by task: task ``t`` labels graphs ``graph[task_ptr[t]:task_ptr[t+1]]``
    with values ``value[task_ptr[t]:task_ptr[t+1]]`` (graph ids ascending within a task)."""

    task_ptr: Tensor  # [n_tasks + 1] long
    graph: Tensor  # [n_labels] long
    value: Tensor  # [n_labels] float32
    n_graphs: int

    def __post_init__(self) -> None:
        if self.graph.shape != self.value.shape or int(self.task_ptr[-1]) != self.graph.numel():
            raise ValueError("task_ptr, graph and value of TaskLabels are inconsistent")
        if self.graph.numel() and (int(self.graph.min()) < 0 or int(self.graph.max()) >= self.n_graphs):
            raise ValueError("TaskLabels refer to a graph id outside [0, n_graphs)")

    @classmethod
    def from_dense(cls, matrix: np.ndarray | Tensor) -> "TaskLabels":
        """From a ``[n_graphs, n_tasks]`` matrix where NaN marks a missing label."""
        y = torch.as_tensor(np.asarray(matrix, dtype=np.float32))
        if y.dim() != 2:
            raise ValueError(f"label matrix must be 2-D, got shape {tuple(y.shape)}")
        mask = ~torch.isnan(y.t())  # [n_tasks, n_graphs], task-major order
        task_ids, graph_ids = mask.nonzero(as_tuple=True)
        counts = mask.sum(1)
        return cls(
            task_ptr=torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]),
            graph=graph_ids,
            value=y.t()[task_ids, graph_ids],
            n_graphs=y.shape[0],
        )

    @classmethod
    def from_tasks(cls, tasks: Sequence[tuple[Tensor, Tensor]], n_graphs: int) -> "TaskLabels":
        """From one ``(graph_ids, values)`` pair per task (graph ids are sorted within each task)."""
        graphs, values, counts = [], [], []
        for ids, vals in tasks:
            ids = torch.as_tensor(ids, dtype=torch.long)
            order = torch.argsort(ids, stable=True)
            graphs.append(ids[order])
            values.append(torch.as_tensor(vals, dtype=torch.float32)[order])
            counts.append(len(ids))
        counts_t = torch.tensor(counts, dtype=torch.long)
        return cls(
            task_ptr=torch.cat([torch.zeros(1, dtype=torch.long), counts_t.cumsum(0)]),
            graph=torch.cat(graphs) if graphs else torch.zeros(0, dtype=torch.long),
            value=torch.cat(values) if values else torch.zeros(0),
            n_graphs=n_graphs,
        )

    def __len__(self) -> int:
        return len(self.task_ptr) - 1

    def task(self, t: int) -> tuple[Tensor, Tensor]:
        """``(graph_ids, values)`` of task ``t``."""
        a, b = int(self.task_ptr[t]), int(self.task_ptr[t + 1])
        return self.graph[a:b], self.value[a:b]

    def dense(self) -> Tensor:
        """``[n_graphs, n_tasks]`` float tensor, NaN where a label is missing."""
        out = torch.full((self.n_graphs, len(self)), float("nan"))
        counts = self.task_ptr[1:] - self.task_ptr[:-1]
        out[self.graph, torch.repeat_interleave(torch.arange(len(self)), counts)] = self.value
        return out

    def select(self, task_ids: Sequence[int]) -> "TaskLabels":
        return TaskLabels.from_tasks([self.task(t) for t in task_ids], self.n_graphs)

    def state_dict(self) -> dict[str, Any]:
        return {"task_ptr": self.task_ptr, "graph": self.graph, "value": self.value, "n_graphs": self.n_graphs}


@dataclass
class TaskCollection:
    """Graphs, their labels for one or many tasks, task names and where it all came from.

    Attributes:
        name: dataset name (``"tox21"``, a CSV file name, ...).
        graphs: the featurized graphs (:class:`GraphStore`).
        labels: sparse labels, one entry per (graph, task) that is known (:class:`TaskLabels`).
        task_names: one name per task.
        task_type: ``"binary"`` (values 0/1), ``"regression"`` or ``"multiclass"`` (values = class ids).
        smiles: the SMILES of each graph (molecules), else ``None``.
        task_groups: predefined task groups of the source, e.g. FS-Mol's ``train``/``valid``/``test``.
        source: files, checksums, license and citation.
        skipped: rows the loader did not keep, and why.
        featurizer: cache key of the featurizer that made ``graphs`` (``None`` for non-molecular data).
        notes: rows the loader kept with a caveat (``lenient_sanitization``: molecules RDKit's valence check rejects,
            kept because the collection was loaded with ``sanitize="lenient"``), and where.
    """

    name: str
    graphs: GraphStore
    labels: TaskLabels
    task_names: list[str]
    task_type: TaskType
    smiles: list[str] | None = None
    task_groups: dict[str, list[int]] = field(default_factory=dict)
    source: SourceInfo | None = None
    skipped: SkipReport = field(default_factory=SkipReport)
    featurizer: str | None = None
    notes: RowNotes = field(default_factory=RowNotes)

    def __post_init__(self) -> None:
        if self.task_type not in _TASK_TYPES:
            raise ValueError(f"task_type must be one of {_TASK_TYPES}, got {self.task_type!r}")
        if len(self.task_names) != len(self.labels):
            raise ValueError(f"{len(self.task_names)} task names for {len(self.labels)} label columns")
        if self.labels.n_graphs != len(self.graphs):
            raise ValueError(f"labels cover {self.labels.n_graphs} graphs but the store holds {len(self.graphs)}")
        if self.smiles is not None and len(self.smiles) != len(self.graphs):
            raise ValueError(f"{len(self.smiles)} SMILES for {len(self.graphs)} graphs")
        if self.task_type == "binary" and self.labels.value.numel():
            bad = (self.labels.value != 0) & (self.labels.value != 1)
            if bool(bad.any()):
                raise ValueError(f"binary task labels must be 0 or 1, found {self.labels.value[bad][0].item()!r}")

    # -- sizes ------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.graphs)

    @property
    def n_graphs(self) -> int:
        return len(self.graphs)

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)

    def task_index(self, task: int | str) -> int:
        """Index of a task given by index or name (clear ``KeyError`` when unknown)."""
        if isinstance(task, str):
            try:
                return self.task_names.index(task)
            except ValueError:
                raise KeyError(f"{self.name} has no task named {task!r}") from None
        if not -self.n_tasks <= task < self.n_tasks:
            raise IndexError(f"task index {task} out of range for {self.n_tasks} tasks")
        return task % self.n_tasks

    def y(self) -> Tensor:
        """The dense label matrix ``[n_graphs, n_tasks]`` with NaN for missing labels."""
        return self.labels.dense()

    # -- statistics -------------------------------------------------------------------------------------------
    def task_stats(self) -> pd.DataFrame:
        """One row per task: labelled graphs, and positives/negatives (binary) or classes (multiclass)."""
        rows = []
        for t, name in enumerate(self.task_names):
            _, values = self.labels.task(t)
            row: dict[str, Any] = {"task": name, "labelled": int(values.numel())}
            if self.task_type == "binary":
                pos = int(values.sum())
                row.update(positives=pos, negatives=int(values.numel()) - pos,
                           positive_fraction=pos / max(values.numel(), 1))
            elif self.task_type == "multiclass":
                row.update(classes=int(torch.unique(values).numel()))
            else:
                row.update(mean=float(values.mean()) if values.numel() else float("nan"),
                           std=float(values.std()) if values.numel() > 1 else float("nan"))
            rows.append(row)
        return pd.DataFrame(rows)

    def classes(self, task: int | str = 0) -> list[int]:
        """Sorted class ids of a multiclass task."""
        _, values = self.labels.task(self.task_index(task))
        return [int(v) for v in torch.unique(values).tolist()]

    def summary(self) -> str:
        """A human-readable multi-line description (what ``graphmeta data summary`` prints)."""
        n_labels = self.labels.value.numel()
        fill = n_labels / max(self.n_graphs * self.n_tasks, 1)
        nodes = self.graphs.num_nodes.float()
        lines = [
            f"{self.name}: {self.n_graphs:,} graphs x {self.n_tasks:,} {self.task_type} task(s), "
            f"{n_labels:,} labels ({fill:.1%} of the matrix)",
            f"  nodes per graph: mean {nodes.mean():.1f}, max {int(nodes.max()) if len(nodes) else 0}; "
            f"node fields: {', '.join(f'{k}{list(v.shape[1:])}' for k, v in self.graphs.node_fields.items()) or 'none'}",
        ]
        if self.task_groups:
            lines.append("  task groups: " + ", ".join(f"{k} {len(v)}" for k, v in self.task_groups.items()))
        stats = self.task_stats()
        if self.task_type == "binary":
            lines.append(f"  positives per task: min {stats.positives.min()}, median {int(stats.positives.median())}, "
                         f"max {stats.positives.max()}; positive fraction median {stats.positive_fraction.median():.3f}")
        elif self.task_type == "multiclass":
            counts = Counter(int(v) for v in self.labels.value.tolist())
            lines.append(f"  classes: {len(counts)} ({', '.join(f'{c}: {n}' for c, n in sorted(counts.items())[:12])}"
                         f"{', ...' if len(counts) > 12 else ''})")
        lines.append(f"  rows skipped: {self.skipped}")
        if self.notes:
            lines.append(f"  rows kept with a caveat: {self.notes}")
        if self.source is not None and self.source.license:
            lines.append(f"  license: {self.source.license}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"TaskCollection(name={self.name!r}, n_graphs={self.n_graphs}, n_tasks={self.n_tasks}, "
                f"task_type={self.task_type!r}, skipped={len(self.skipped)})")

    # -- derived collections ----------------------------------------------------------------------------------
    def select_tasks(self, tasks: Iterable[int | str]) -> "TaskCollection":
        """The same graphs with only the given tasks (task groups are dropped: their indices would shift)."""
        ids = [self.task_index(t) for t in tasks]
        return replace(self, labels=self.labels.select(ids), task_names=[self.task_names[i] for i in ids],
                       task_groups={})

    def binarize(self, threshold: float | Mapping[str, float], positive: Literal["above", "below"] = "above",
                 tasks: Iterable[int | str] | None = None) -> "TaskCollection":
        """Turns regression targets into binary tasks with an explicit threshold (never done implicitly).

        Args:
            threshold: one threshold for all tasks, or ``{task name: threshold}``.
            positive: label 1 for values ``>= threshold`` (``"above"``) or ``< threshold`` (``"below"``).
            tasks: tasks to keep and binarize (default: all).
        """
        if self.task_type != "regression":
            raise ValueError(f"binarize() needs regression tasks; {self.name} has {self.task_type} tasks")
        if positive not in ("above", "below"):
            raise ValueError(f"positive must be 'above' or 'below', got {positive!r}")
        ids = [self.task_index(t) for t in tasks] if tasks is not None else list(range(self.n_tasks))
        new_tasks = []
        for t in ids:
            name = self.task_names[t]
            if isinstance(threshold, Mapping):
                if name not in threshold:
                    raise KeyError(f"no threshold given for task {name!r}")
                cut = float(threshold[name])
            else:
                cut = float(threshold)
            graphs, values = self.labels.task(t)
            above = (values >= cut).float()
            new_tasks.append((graphs, above if positive == "above" else 1.0 - above))
        names = [f"{self.task_names[t]}{'>=' if positive == 'above' else '<'}{threshold if not isinstance(threshold, Mapping) else threshold[self.task_names[t]]}" for t in ids]
        return replace(self, labels=TaskLabels.from_tasks(new_tasks, self.n_graphs), task_names=names,
                       task_type="binary", task_groups={})

    # -- serialization (the on-disk cache) --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Tensors, strings, lists and dicts only: loadable with ``torch.load(weights_only=True)``."""
        return {
            "name": self.name,
            "graphs": self.graphs.state_dict(),
            "labels": self.labels.state_dict(),
            "task_names": list(self.task_names),
            "task_type": self.task_type,
            "smiles": list(self.smiles) if self.smiles is not None else None,
            "task_groups": {k: list(v) for k, v in self.task_groups.items()},
            "source": self.source.to_dict() if self.source is not None else None,
            "skipped": self.skipped.to_dict(),
            "featurizer": self.featurizer,
            "notes": self.notes.to_dict(),
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any], graphs: GraphStore | None = None) -> "TaskCollection":
        """The collection of :meth:`state_dict`; ``graphs`` replaces ``state["graphs"]`` (a store loaded apart)."""
        return cls(
            name=state["name"],
            graphs=graphs if graphs is not None else GraphStore.from_state_dict(state["graphs"]),
            labels=TaskLabels(**state["labels"]),
            task_names=list(state["task_names"]),
            task_type=state["task_type"],
            smiles=state["smiles"],
            task_groups=dict(state["task_groups"]),
            source=SourceInfo(**state["source"]) if state["source"] is not None else None,
            skipped=SkipReport.from_dict(state["skipped"]),
            featurizer=state["featurizer"],
            notes=RowNotes.from_dict(state.get("notes", {"entries": []})),  # collections saved before notes existed
        )

    def save(self, folder: str | os.PathLike) -> Path:
        """Writes the collection to ``folder`` atomically: the graphs as a memory-mappable store
        (``graphs/``, see :meth:`GraphStore.save`) and everything else in ``collection.pt`` (weights-only)."""
        state = self.state_dict()
        del state["graphs"]

        def write(tmp: Path) -> None:
            self.graphs.write_folder(tmp / _GRAPHS)
            torch.save(state, tmp / _META)

        return atomic_directory(folder, write)

    @classmethod
    def load(cls, folder: str | os.PathLike, mmap: bool = True, verify: bool = False) -> "TaskCollection":
        """The collection saved in ``folder`` by :meth:`save`; its graphs are mapped unless ``mmap=False``.

        Raises:
            ArrayFileError: a file of the folder is missing, truncated or corrupt (the message names it).
        """
        folder = Path(folder)
        path = folder / _META
        if not path.is_file():
            raise ArrayFileError(f"{path} is missing: {folder} is not a saved task collection")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ArrayFileError(f"{path} cannot be read ({type(err).__name__}: {err})") from None
        graphs = GraphStore.load(folder / _GRAPHS, mmap=mmap, verify=verify)
        try:
            return cls.from_state_dict(state, graphs)
        except (KeyError, TypeError, ValueError) as err:
            raise ArrayFileError(f"{path} does not match the graphs in {folder / _GRAPHS} "
                                 f"({type(err).__name__}: {err})") from None

