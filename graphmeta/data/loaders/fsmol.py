"""FS-Mol task files (gzip JSON lines, one ChEMBL assay per file) -> one :class:`TaskCollection`.

FS-Mol (Stanley et al., NeurIPS 2021) ships each few-shot task as ``<split>/CHEMBL<id>.jsonl.gz``: one JSON
object per line, with the molecule's ``SMILES``, its binary activity label ``Property`` (a string, ``"0.0"`` or
``"1.0"``) and heavy precomputed keys (``fingerprints``, ``descriptors``, ``graph``...) that graphmeta does not
use. This module is a pure parser of local files: the caller resolves downloads, checksums and caching.

Why the parsing looks the way it does:

- *Speed.* A test-split line is ~13 kB, almost all of it the heavy keys; ``json.loads`` of every line spends
  ~16 s on the test split building float lists that are thrown away. Upstream writes ``SMILES`` and ``Property``
  first, so each line is decoded with the :mod:`json` scanner only up to those two keys (well under a second
  for the test split); a line in any other layout falls back to ``json.loads``, which also produces the error
  message for a malformed line. The heavy tail is not decoded, so only its closing ``}`` is checked.
- *Nothing dropped silently.* Every row read either becomes a label or a :class:`SkipReport` entry:
  ``duplicate_in_task`` (same SMILES, same label, seen earlier in the task: one row is kept),
  ``conflicting_labels`` (same SMILES with both labels in one task: all its rows are dropped) and
  ``invalid_smiles`` (RDKit cannot parse it). A malformed file raises :class:`FSMolFormatError`.
- *One graph per molecule.* Tasks share molecules, so graphs are de-duplicated by exact SMILES string over all
  loaded tasks and each unique SMILES is featurized once.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from graphmeta.data.featurize import MoleculeFeaturizer, warn_nonfinite_descriptors
from graphmeta.data.graphs import GraphStore
from graphmeta.data.tasks import RowNotes, SkipReport, SourceInfo, TaskCollection, TaskLabels, warn_lenient_rows

__all__ = ["FSMolFormatError", "read_fsmol_task", "load_fsmol", "LOADER_VERSION", "SPLITS"]

#: Bumped when parsing rules change, so cached collections are rebuilt.
LOADER_VERSION = "fsmol-1"
#: FS-Mol's official splits, in their canonical order.
SPLITS: tuple[str, ...] = ("train", "valid", "test")

_SUFFIX = ".jsonl.gz"
_KEYS = ("SMILES", "Property")
_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class FSMolFormatError(ValueError):
    """An FS-Mol task file that cannot be parsed; the message names the file and, when known, the line.

    Attributes:
        path: the file.
        line: 1-based line number, or ``None`` for a whole-file problem.
    """

    def __init__(self, path: str | os.PathLike, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}: line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


@dataclass
class _Task:
    """One task file after parsing and within-task de-duplication (kept rows in first-seen order)."""

    smiles: list[str] = field(default_factory=list)
    labels: list[float] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    skipped: SkipReport = field(default_factory=SkipReport)
    n_rows: int = 0
    sha256: str = ""


# -- one line --------------------------------------------------------------------------------------------------
def _scan_head(text: str, keys: Sequence[str] = _KEYS) -> dict[str, Any] | None:
    """Decodes the leading ``"key": value`` pairs of a one-line JSON object until every key of ``keys`` (default
    SMILES and Property) is found; ``None`` when the line does not look like that (the caller then falls back to
    ``json.loads``)."""
    if not (text.startswith("{") and text.endswith("}")):
        return None
    scan, skip_ws = _DECODER.scan_once, _WHITESPACE.match
    found: dict[str, Any] = {}
    try:
        i = skip_ws(text, 1).end()
        while True:
            if text[i] != '"':
                return None
            key, i = scan(text, i)
            i = skip_ws(text, i).end()
            if text[i] != ":":
                return None
            value, i = scan(text, skip_ws(text, i + 1).end())
            found[key] = value
            if all(k in found for k in keys):
                return found
            i = skip_ws(text, i).end()
            if text[i] != ",":
                return None
            i = skip_ws(text, i + 1).end()
    except (IndexError, StopIteration, ValueError):
        return None


def _binary_label(value: Any) -> float | None:
    """0.0 / 1.0 for a label given as ``"0.0"``, ``"1"``, ``0``, ``1.0``...; ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        return None
    if number == 0.0:
        return 0.0
    return 1.0 if number == 1.0 else None


def _parse_record(text: str, path: str | os.PathLike, line: int) -> tuple[str, float]:
    """``(smiles, label)`` of one line; :class:`FSMolFormatError` naming ``path`` and ``line`` otherwise."""
    record = _scan_head(text)
    if record is None:
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            raise FSMolFormatError(path, line, f"not valid JSON ({err})") from None
        if not isinstance(record, dict):
            raise FSMolFormatError(path, line, f"expected a JSON object, got {type(record).__name__}")
    missing = [k for k in _KEYS if k not in record]
    if missing:
        raise FSMolFormatError(path, line, f"record lacks key(s) {missing}")
    smiles, raw_label = record["SMILES"], record["Property"]
    if not isinstance(smiles, str):
        raise FSMolFormatError(path, line, f"SMILES must be a string, got {smiles!r}")
    label = _binary_label(raw_label)
    if label is None:
        raise FSMolFormatError(path, line, f"Property {raw_label!r} is not a binary label (0 or 1)")
    return smiles, label


# -- one file --------------------------------------------------------------------------------------------------
def _iter_records(data: bytes, path: str | os.PathLike) -> Iterator[tuple[int, str, float]]:
    """``(line number, smiles, label)`` for each non-blank line of the gzip-compressed ``data``."""
    line = 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            for line, raw in enumerate(stream, start=1):
                try:
                    text = raw.decode("utf-8").strip()
                except UnicodeDecodeError as err:
                    raise FSMolFormatError(path, line, f"not UTF-8 text ({err})") from None
                if text:
                    yield (line, *_parse_record(text, path, line))
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        where = f"after line {line}" if line else "at the start"
        raise FSMolFormatError(path, None, f"corrupt or truncated gzip file ({where}: {err})") from None


def _dedup(records: Sequence[tuple[int, str, float]], where: str) -> _Task:
    """Keeps one row per SMILES (duplicates with the same label are reported, conflicting ones all dropped)."""
    by_smiles: dict[str, list[tuple[int, float]]] = {}
    for line, smiles, label in records:
        by_smiles.setdefault(smiles, []).append((line, label))
    task = _Task(n_rows=len(records))
    skips: list[tuple[int, str, str]] = []
    for smiles, rows in by_smiles.items():
        if len({label for _, label in rows}) > 1:
            detail = f"SMILES {smiles!r} has both labels: " + ", ".join(f"line {n}: {v:g}" for n, v in rows)
            skips.extend((n, "conflicting_labels", detail) for n, _ in rows)
            continue
        first, label = rows[0]
        task.smiles.append(smiles)
        task.labels.append(label)
        task.lines.append(first)
        skips.extend((n, "duplicate_in_task", f"SMILES {smiles!r} with label {label:g} already at line {first}")
                     for n, _ in rows[1:])
    for line, reason, detail in sorted(skips):
        task.skipped.add(reason, f"{where}:line {line}", detail)
    return task


def _read_task(path: Path, where: str) -> _Task:
    """Reads, checks, hashes and de-duplicates one task file; skip entries are located as ``where:line N``."""
    data = path.read_bytes()
    task = _dedup(list(_iter_records(data, path)), where)
    task.sha256 = hashlib.sha256(data).hexdigest()
    return task


def read_fsmol_task(path: str | os.PathLike) -> tuple[list[str], list[float], SkipReport]:
    """Reads one FS-Mol task file (gzip JSON lines).

    Each line is a JSON object with ``"SMILES"`` and ``"Property"`` (the binary label, as a string ``"0.0"`` /
    ``"1.0"`` or a number); other keys are ignored and blank lines skipped. Within the task a SMILES seen twice
    with the same label is kept once (the later rows are reported as ``"duplicate_in_task"``); one seen with
    both labels is dropped entirely (every row reported as ``"conflicting_labels"``). SMILES are not checked
    with RDKit here (:func:`load_fsmol` does that).

    Returns:
        ``(smiles, labels, skipped)``: the kept rows in first-seen order, labels 0.0/1.0, and the rows not kept.

    Raises:
        FSMolFormatError: a line that is not JSON, lacks ``SMILES`` / ``Property``, or has a non-binary
            ``Property`` (file and line named); a corrupt or truncated gzip stream (file named).
        FileNotFoundError: ``path`` does not exist.
    """
    task = _read_task(Path(path), str(path))
    return task.smiles, task.labels, task.skipped


# -- many files ------------------------------------------------------------------------------------------------
def _task_name(path: Path) -> str:
    name = path.name
    return name[: -len(_SUFFIX)] if name.endswith(_SUFFIX) else path.stem


def _display_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (POSIX separators) when inside it, else ``path`` as given."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _split_files(root: Path, splits: Sequence[str],
                 task_files: Mapping[str, Sequence[str | os.PathLike]] | None) -> dict[str, list[Path]]:
    """The task files of each split, sorted by file name: ``task_files[split]`` when given, else the folder."""
    if isinstance(splits, str) or not splits:
        raise ValueError(f"splits must be a non-empty sequence of split names, got {splits!r}")
    if len(set(splits)) != len(splits):
        raise ValueError(f"splits {list(splits)} name a split twice")
    out: dict[str, list[Path]] = {}
    for split in splits:
        if task_files is not None and split in task_files:
            files = [Path(p) for p in task_files[split]]
            if not files:
                raise FileNotFoundError(f"no FS-Mol task files given for split {split!r}")
        else:
            folder = root / split
            if not folder.is_dir():
                raise FileNotFoundError(f"FS-Mol split folder {folder} does not exist")
            files = list(folder.glob(f"*{_SUFFIX}"))
            if not files:
                raise FileNotFoundError(f"FS-Mol split folder {folder} holds no *{_SUFFIX} task files")
        out[split] = sorted(files, key=lambda p: (p.name, str(p)))
    return out


def _check_unique_names(files: Mapping[str, Sequence[Path]]) -> None:
    seen: dict[str, Path] = {}
    for paths in files.values():
        for path in paths:
            name = _task_name(path)
            if name in seen:
                raise ValueError(f"task {name!r} is given twice: {seen[name]} and {path} "
                                 f"(a task in two splits would leak between them)")
            seen[name] = path


def _read_all(files: Mapping[str, Sequence[Path]], root: Path, progress: bool) -> list[tuple[str, Path, _Task]]:
    """Reads every task file, split by split, with one progress bar over the files."""
    from tqdm.auto import tqdm

    flat = [(split, path) for split, paths in files.items() for path in paths]
    tasks = []
    for split, path in tqdm(flat, desc="reading FS-Mol tasks", unit="task", disable=not progress, leave=False):
        tasks.append((split, path, _read_task(path, _display_path(path, root))))
    return tasks


@dataclass
class _Molecules:
    """The unique SMILES of all tasks and their graphs.

    ``position`` maps each unique SMILES (first-seen order) to its position; ``graph_of[position]`` is its
    graph id, -1 when RDKit cannot parse it (``invalid[position]`` then says why).
    """

    position: dict[str, int]
    graph_of: np.ndarray
    invalid: dict[int, str]
    smiles: list[str]
    graphs: GraphStore
    lenient: list[int]  # positions of the molecules kept only by lenient sanitization


def _featurize_unique(tasks: Sequence[_Task], featurizer: MoleculeFeaturizer, progress: bool) -> _Molecules:
    """Featurizes each unique SMILES of ``tasks`` once."""
    position: dict[str, int] = {}
    for task in tasks:
        for smiles in task.smiles:
            position.setdefault(smiles, len(position))
    unique = list(position)
    feats, invalid = featurizer.featurize_many(unique, progress=progress, total=len(unique))
    warn_nonfinite_descriptors(feats, "FS-Mol task files")
    valid = np.ones(len(unique), dtype=bool)
    valid[list(invalid)] = False
    graph_of = np.full(len(unique), -1, dtype=np.int64)
    graph_of[valid] = np.arange(int(valid.sum()))
    graphs = GraphStore.from_featurized(feats)
    kept = [s for s, ok in zip(unique, valid) if ok]
    return _Molecules(position, graph_of, invalid, kept, graphs, feats.lenient)


def _task_labels(task: _Task, where: str, molecules: _Molecules,
                 skipped: SkipReport) -> tuple[torch.Tensor, torch.Tensor]:
    """``(graph ids, values)`` of one task; rows whose SMILES is invalid are added to ``skipped``."""
    positions = np.array([molecules.position[s] for s in task.smiles], dtype=np.int64)
    ids = molecules.graph_of[positions]
    for k in np.flatnonzero(ids < 0):
        skipped.add("invalid_smiles", f"{where}:line {task.lines[k]}", molecules.invalid[int(positions[k])])
    keep = ids >= 0
    values = np.asarray(task.labels, dtype=np.float32).reshape(-1)[keep]
    return torch.from_numpy(ids[keep]), torch.from_numpy(values)


def load_fsmol(
    root: str | os.PathLike,
    splits: Sequence[str] = SPLITS,
    *,
    featurizer: MoleculeFeaturizer | None = None,
    progress: bool = True,
    task_files: Mapping[str, Sequence[Path]] | None = None,
) -> TaskCollection:
    """Loads FS-Mol task files into one :class:`TaskCollection` of binary tasks.

    Args:
        root: the folder holding ``train/``, ``valid/``, ``test/`` subfolders of ``CHEMBL*.jsonl.gz`` files.
        splits: the splits to load, in this order.
        featurizer: molecule featurizer (default :class:`MoleculeFeaturizer`).
        progress: show progress bars (files read, molecules featurized).
        task_files: explicit task files of some splits, overriding the listing of ``root/<split>``
            (entries for splits not in ``splits`` are ignored).

    Tasks are ordered split by split, files sorted by name within a split; a task is named after its file
    (``"CHEMBL1006005"``) and ``task_groups`` maps each loaded split to its task indices. Molecules are
    de-duplicated by exact SMILES over all loaded tasks (``smiles`` in first-seen order, one graph each).
    Rows not kept are listed in ``skipped`` (``duplicate_in_task``, ``conflicting_labels``,
    ``invalid_smiles``, located as ``"test/CHEMBL1006005.jsonl.gz:line 17"``); molecules kept only by the
    featurizer's lenient sanitization in ``notes`` (at their first line; with a warning). Tasks left with a single
    class are kept (the episode sampler reports them).

    Raises:
        FileNotFoundError: a split folder is missing or holds no task files (or a listed file is missing).
        FSMolFormatError: a malformed task file (see :func:`read_fsmol_task`).
        ValueError: empty or repeated ``splits``, or the same task file name twice.
    """
    root = Path(root)
    featurizer = featurizer or MoleculeFeaturizer()
    files = _split_files(root, splits, task_files)
    _check_unique_names(files)
    read = _read_all(files, root, progress)

    skipped = SkipReport()
    for _, _, task in read:
        skipped.extend(task.skipped)
    molecules = _featurize_unique([task for _, _, task in read], featurizer, progress)

    labels, names, groups, hashes = [], [], {split: [] for split in files}, {}
    notes, lenient = RowNotes(), set(molecules.lenient)
    for index, (split, path, task) in enumerate(read):
        where = _display_path(path, root)
        for k, smiles in enumerate(task.smiles if lenient else ()):  # each such molecule at its first line
            if molecules.position[smiles] in lenient:
                lenient.discard(molecules.position[smiles])
                notes.add_lenient(f"{where}:line {task.lines[k]}", smiles)
        labels.append(_task_labels(task, where, molecules, skipped))
        names.append(_task_name(path))
        groups[split].append(index)
        hashes[where] = task.sha256
    warn_lenient_rows(notes, "FS-Mol task files", len(molecules.graphs))
    return TaskCollection(
        name="fsmol",
        graphs=molecules.graphs,
        labels=TaskLabels.from_tasks(labels, len(molecules.graphs)),
        task_names=names,
        task_type="binary",
        smiles=molecules.smiles,
        task_groups=groups,
        source=SourceInfo(name="fsmol", files=hashes),
        skipped=skipped,
        featurizer=featurizer.cache_key,
        notes=notes,
    )
