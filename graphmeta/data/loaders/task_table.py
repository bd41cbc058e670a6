"""Task tables: the long format of assay exports, one row per (task, molecule).

A ChEMBL or in-house assay export, and FS-Mol's full training set (``fsmol/train_full.csv.gz``), list one
measurement per row: a task id (the assay), a SMILES and a label (binary activity) or a value (pIC50...),
often beside other columns. :func:`read_task_table` turns such a table (CSV, gzipped CSV or Parquet) into a
:class:`~graphmeta.data.tasks.TaskCollection` with one task per distinct task id (in order of first appearance)
and one graph per distinct SMILES string (each featurized once, however many tasks share it).

Nothing is dropped silently; every row read becomes a label or an entry of ``collection.skipped``:

- ``missing_label``: the label cell is empty (or ``nan``/``NA``...);
- ``invalid_smiles``: RDKit cannot parse the SMILES (``on_invalid="raise"`` makes it an error instead);
- ``duplicate_in_task``: the same SMILES again in the same task with the same label (binary) -- one row is kept;
  for regression values, repeated measurements of a molecule in a task are averaged and the extra rows reported;
- ``conflicting_labels``: the same SMILES with both binary labels in one task -- all its rows are dropped.

SMILES are sanitized strictly by default (RDKit's valence check included); with ``sanitize="lenient"`` molecules
failing only that check are kept and listed in ``collection.notes`` (at their first row, with a warning).

A row without a task id, a label that is not a number, or (for binary tasks) not 0/1 is an error naming the file,
the row (as in a spreadsheet: header = row 1; for Parquet, data rows count from 2 too) and the column.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pandas as pd
import torch

from graphmeta.data.download import sha256_file
from graphmeta.data.featurize import InvalidSmilesError, MoleculeFeaturizer, Sanitize, warn_nonfinite_descriptors
from graphmeta.data.graphs import GraphStore
from graphmeta.data.loaders.csv import (_MISSING, CSVFormatError, _check_binary, _parse_labels, _pick_smiles_column,
                                        _read_frame, check_loader_options)
from graphmeta.data.tasks import RowNotes, SkipReport, SourceInfo, TaskCollection, TaskLabels, warn_lenient_rows

__all__ = ["read_task_table", "read_table_frame", "LOADER_VERSION", "TABLE_SUFFIXES"]

#: Bumped when parsing rules change, so cached collections are rebuilt.
LOADER_VERSION = "task-table-1"
#: File endings read as task tables.
TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def read_table_frame(path: str | os.PathLike) -> pd.DataFrame:
    """Every cell of a CSV, gzipped CSV or Parquet file as text (missing cells as ``""``), columns as in the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"task table not found: {path}")
    if path.name.lower().endswith((".parquet", ".pq")):
        try:
            frame = pd.read_parquet(path)
        except ImportError as err:
            raise ImportError(f"{path.name}: reading Parquet needs pyarrow (pip install pyarrow)") from err
        except Exception as err:  # pyarrow raises its own error types for corrupt files
            raise CSVFormatError(f"{path.name}: cannot be read as Parquet ({type(err).__name__}: {err})") from err
        frame.columns = [str(c) for c in frame.columns]
        return frame.astype(object).where(frame.notna(), "").astype(str)
    return _read_frame(path)


def _label_column(columns: Sequence[str], task_column: str, smiles_column: str, label_column: str | None,
                  file: str) -> str:
    if label_column is not None:
        if label_column not in columns:
            raise CSVFormatError(f"{file}: no label column {label_column!r}; columns are {list(columns)}")
        return label_column
    rest = [c for c in columns if c not in (task_column, smiles_column)]
    if len(rest) != 1:
        raise CSVFormatError(f"{file}: say which column holds the labels (label_column=...; "
                             f"candidates: {rest or 'none'})")
    return rest[0]


def _row(i: int) -> str:
    return f"row {i + 2}"


def read_task_table(
    path: str | os.PathLike,
    task_column: str = "task",
    smiles_column: str | None = None,
    label_column: str | None = None,
    task_type: Literal["auto", "binary", "regression"] = "auto",
    *,
    name: str | None = None,
    featurizer: MoleculeFeaturizer | None = None,
    sanitize: Sanitize = "strict",
    on_invalid: Literal["skip", "raise"] = "skip",
    progress: bool = True,
    n_jobs: int | None = -1,
    source: SourceInfo | None = None,
) -> TaskCollection:
    """Reads a long-format task table into a :class:`TaskCollection` (see the module docstring for the rules).

    Args:
        path: ``.csv``, ``.csv.gz`` or ``.parquet`` file.
        task_column: the column naming each row's task (assay id). (default: ``"task"``)
        smiles_column: the SMILES column (default: a column named like ``smiles``, else the first).
        label_column: the label or value column (default: the only column besides task and SMILES; an error
            listing the candidates when there are several).
        task_type: ``"binary"`` (labels 0/1), ``"regression"``, or ``"auto"`` (binary iff every label is 0 or 1).
        name: collection name (default: the file name without extension).
        featurizer: molecule featurizer (default :class:`MoleculeFeaturizer`); its own ``sanitize`` is replaced.
        sanitize: ``"strict"`` (a SMILES failing RDKit's valence check is invalid) or ``"lenient"`` (kept, and
            listed in ``collection.notes`` with a warning). (default: ``"strict"``)
        on_invalid: ``"skip"`` rows with invalid SMILES (counted in ``collection.skipped`` and warned about) or
            ``"raise"``.
        progress: progress bar while featurizing.
        n_jobs: worker processes for featurization (``-1``: every CPU; ``None``: this process).
        source: provenance to attach (default: the file and its sha256).
    """
    check_loader_options(on_invalid, task_type)
    path = Path(path)
    file = path.name
    featurizer = (featurizer or MoleculeFeaturizer()).with_sanitize(sanitize)
    frame = read_table_frame(path)
    columns = list(frame.columns)
    if task_column not in columns:
        raise CSVFormatError(f"{file}: no task column {task_column!r}; columns are {columns}")
    smiles_col = _pick_smiles_column([c for c in columns if c != task_column], smiles_column, file)
    label_col = _label_column(columns, task_column, smiles_col, label_column, file)
    if len(frame) == 0:
        raise CSVFormatError(f"{file}: no data rows")

    tasks = frame[task_column].str.strip()
    no_task = tasks.eq("") | tasks.str.lower().isin(_MISSING)
    if no_task.any():
        i = int(np.flatnonzero(no_task.to_numpy())[0])
        raise CSVFormatError(f"{file}: {_row(i)}, column {task_column!r}: empty task id ({int(no_task.sum())} such "
                             f"row(s)); every row must name its task")
    labels = _parse_labels(frame, [label_col], file)[:, 0]
    observed = labels[~np.isnan(labels)]
    if task_type == "auto":
        task_type = "binary" if observed.size and np.isin(observed, (0.0, 1.0)).all() else "regression"
    if task_type == "binary":
        _check_binary(labels[:, None], [label_col], file)

    skipped = SkipReport()
    for i in np.flatnonzero(np.isnan(labels)):
        skipped.add("missing_label", f"{file}:{_row(int(i))}", f"task {tasks.iloc[i]!r}: empty {label_col!r}")

    smiles = frame[smiles_col].str.strip()
    smiles_codes, unique_smiles = pd.factorize(smiles, sort=False)
    feats, invalid = featurizer.featurize_many(list(unique_smiles), progress=progress, total=len(unique_smiles),
                                               n_jobs=n_jobs)
    warn_nonfinite_descriptors(feats, file)
    graph_of = np.full(len(unique_smiles), -1, dtype=np.int64)
    valid = np.ones(len(unique_smiles), dtype=bool)
    valid[list(invalid)] = False
    graph_of[valid] = np.arange(int(valid.sum()))
    rows_graph = graph_of[smiles_codes]
    labelled = ~np.isnan(labels)
    bad_rows = np.flatnonzero(labelled & (rows_graph < 0))
    if len(bad_rows) and on_invalid == "raise":
        i = int(bad_rows[0])
        raise InvalidSmilesError(f"{file}: {_row(i)}: {invalid[int(smiles_codes[i])]}")
    for i in bad_rows:
        skipped.add("invalid_smiles", f"{file}:{_row(int(i))}", invalid[int(smiles_codes[i])])
    if len(bad_rows):
        warnings.warn(f"{file}: skipped {len(bad_rows)} of {len(frame)} rows with invalid SMILES "
                      f"({len(invalid)} distinct; first: {file}:{_row(int(bad_rows[0]))}); see collection.skipped",
                      RuntimeWarning, stacklevel=2)

    notes = RowNotes()
    if feats.lenient:
        _, first_rows = np.unique(smiles_codes, return_index=True)  # first row of each distinct SMILES
        for p in feats.lenient:
            notes.add_lenient(f"{file}:{_row(int(first_rows[p]))}", str(unique_smiles[p]))
        warn_lenient_rows(notes, file, int(valid.sum()))

    keep = labelled & (rows_graph >= 0)
    task_codes, task_names = pd.factorize(tasks, sort=False)
    task_tensors = _dedup_by_task(task_codes[keep], rows_graph[keep], labels[keep], np.flatnonzero(keep),
                                  list(tasks), smiles.tolist(), task_type, file, skipped, len(task_names))
    if source is None:
        source = SourceInfo(name=name or file, files={file: sha256_file(path)})
    n_graphs = int(valid.sum())
    return TaskCollection(
        name=name or file.split(".")[0],
        graphs=GraphStore.from_featurized(feats),
        labels=TaskLabels.from_tasks(task_tensors, n_graphs),
        task_names=[str(t) for t in task_names],
        task_type=task_type,
        smiles=[s for s, ok in zip(unique_smiles, valid) if ok],
        source=source,
        skipped=skipped,
        featurizer=featurizer.cache_key,
        notes=notes,
    )


def _dedup_by_task(task: np.ndarray, graph: np.ndarray, value: np.ndarray, row: np.ndarray, task_ids: list[str],
                   smiles: list[str], task_type: str, file: str, skipped: SkipReport,
                   n_tasks: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One ``(graph ids, values)`` pair per task, with duplicate (task, molecule) rows resolved and reported."""
    order = np.lexsort((row, graph, task))  # by task, then molecule, then file order
    task, graph, value, row = task[order], graph[order], value[order], row[order]
    pair_start = np.ones(len(task), dtype=bool)
    pair_start[1:] = (task[1:] != task[:-1]) | (graph[1:] != graph[:-1])
    starts = np.flatnonzero(pair_start)
    counts = np.diff(np.append(starts, len(task)))
    if task_type == "binary":
        low = np.minimum.reduceat(value, starts) if len(starts) else value
        high = np.maximum.reduceat(value, starts) if len(starts) else value
        conflict = low != high
        pair_value = value[starts]
    else:
        conflict = np.zeros(len(starts), dtype=bool)
        pair_value = np.add.reduceat(value, starts) / counts if len(starts) else value
    for p in np.flatnonzero(conflict | (counts > 1)):
        members = row[starts[p]:starts[p] + counts[p]]
        first = int(members[0])
        where = f"task {task_ids[first]!r}, SMILES {smiles[first]!r}"
        if conflict[p]:
            detail = f"{where} has both labels: " + ", ".join(
                f"{_row(int(i))}: {v:g}" for i, v in zip(members, value[starts[p]:starts[p] + counts[p]]))
            for i in members:
                skipped.add("conflicting_labels", f"{file}:{_row(int(i))}", detail)
        else:
            what = "label" if task_type == "binary" else "value averaged into the one"
            for i in members[1:]:
                skipped.add("duplicate_in_task", f"{file}:{_row(int(i))}",
                            f"{where}: repeats the {what} at {_row(first)}")
    kept = ~conflict
    pair_task, pair_graph = task[starts][kept], graph[starts][kept]
    pair_value = pair_value[kept]
    bounds = np.searchsorted(pair_task, np.arange(n_tasks + 1))
    return [(torch.from_numpy(pair_graph[a:b].copy()), torch.from_numpy(pair_value[a:b].astype(np.float32)))
            for a, b in zip(bounds[:-1], bounds[1:])]
