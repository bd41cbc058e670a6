"""Molecule CSV files (MoleculeNet's and any user's): a SMILES column plus label columns.

Fields are separated by commas, or by semicolons or tabs when the header has no comma (detected).

Values are parsed strictly: an empty cell (or ``nan``/``NA``) is a missing label; anything else must be a
number, else the error names the file, row and column. ``task_type="auto"`` picks ``"binary"`` only when
every label is 0 or 1, otherwise ``"regression"``; regression targets are never thresholded here
(see :meth:`TaskCollection.binarize`). Rows whose SMILES RDKit cannot parse are skipped and reported
(``on_invalid="skip"``, the default, with a warning giving the count and first rows) or raise
(``on_invalid="raise"``). SMILES are sanitized strictly by default (``sanitize="strict"``: RDKit's valence check
included, so a five-bonded carbon is an invalid SMILES); ``sanitize="lenient"`` keeps molecules that fail only
that check, and lists them in ``collection.notes`` (with a warning).
"""

from __future__ import annotations

import csv
import gzip
import os
import warnings
from pathlib import Path
from typing import Literal, Sequence, TextIO

import numpy as np
import pandas as pd

from graphmeta.data.download import sha256_file
from graphmeta.data.featurize import InvalidSmilesError, MoleculeFeaturizer, Sanitize, warn_nonfinite_descriptors
from graphmeta.data.graphs import GraphStore
from graphmeta.data.tasks import RowNotes, SkipReport, SourceInfo, TaskCollection, TaskLabels, warn_lenient_rows

__all__ = ["CSVFormatError", "read_molecule_csv", "read_smiles_table", "LOADER_VERSION"]

#: Bumped when parsing rules change, so cached collections are rebuilt.
LOADER_VERSION = "csv-1"
_MISSING = {"", "nan", "na", "n/a", "none", "null"}


class CSVFormatError(ValueError):
    """A CSV that cannot be read as SMILES + labels; the message names the file, row and column."""


def _read_frame(path: Path) -> pd.DataFrame:
    """Every cell as text (nothing turned into NaN behind the caller's back); clear errors for unreadable files.

    A row with more cells than the header is an error naming it (pandas would otherwise turn the first cells of
    every row into an index and shift the columns, or drop the extra cells).
    """
    try:
        delimiter = _delimiter(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(path, sep=delimiter, dtype=str, keep_default_na=False, na_filter=False,
                                compression="infer", index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        reason = " ".join(str(err).split())  # pandas messages end in a newline: keep the error one line
        raise CSVFormatError(f"{path.name}: cannot be read as CSV ({type(err).__name__}: {reason})") from err
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        row = _first_long_row(path, len(frame.columns), delimiter)
        raise CSVFormatError(f"{path.name}: row {row} has more cells than the header's {len(frame.columns)} "
                             f"columns {list(frame.columns)}")
    if not len(frame.columns):
        raise CSVFormatError(f"{path.name}: no columns")
    return frame


def _open_text(path: Path) -> TextIO:
    opener = gzip.open if path.suffix == ".gz" else open
    return opener(path, "rt", newline="", encoding="utf-8-sig")  # type: ignore[operator]


def _delimiter(path: Path) -> str:
    """The field separator: ``,``, or ``;`` / tab when the header line has no comma but one of those
    (spreadsheets in many locales export ``;``, TSV files use tabs; SMILES never contain any of the three)."""
    with _open_text(path) as handle:
        header = handle.readline()
    if "," in header:
        return ","
    counts = {d: header.count(d) for d in (";", "\t")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _first_long_row(path: Path, n_columns: int, delimiter: str = ",") -> int | str:
    """The spreadsheet row (header = 1) of the first record with more than ``n_columns`` cells."""
    with _open_text(path) as handle:
        for i, record in enumerate(csv.reader(handle, delimiter=delimiter)):
            if i and len(record) > n_columns:
                return i + 1
    return "?"


def read_smiles_table(path: str | os.PathLike, smiles_column: str | None = None, label_column: str | None = None,
                      labels_as_text: bool = False) -> tuple[pd.DataFrame, list[str], np.ndarray | None]:
    """A CSV of molecules to predict or embed: ``(frame, SMILES, labels)`` (labels only with ``label_column``).

    Rows are kept as they are (the caller reports invalid SMILES by row). Labels are one object per row, for the
    caller to validate (:func:`graphmeta.predictor.binary_labels`): ``None`` for an empty cell (or ``nan``/``NA``...),
    else a float where the cell is a number and the cell's text otherwise; ``labels_as_text``: the text of every
    non-empty cell. Error messages name the file, the row (as in a spreadsheet: header = row 1) and the column.
    """
    path = Path(path)
    frame = _read_frame(path)
    column = _pick_smiles_column(list(frame.columns), smiles_column, path.name)
    labels = None
    if label_column is not None:
        if label_column not in frame.columns:
            raise CSVFormatError(f"{path.name}: no label column {label_column!r}; columns are {list(frame.columns)}")
        text = frame[label_column].str.strip()
        missing = text.str.lower().isin(_MISSING).to_numpy()
        numbers = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
        labels = np.array([None if gone else cell if labels_as_text or np.isnan(number) else float(number)
                           for cell, gone, number in zip(text.tolist(), missing, numbers)], dtype=object)
    return frame, [s.strip() for s in frame[column].tolist()], labels


def _pick_smiles_column(columns: Sequence[str], smiles_column: str | None, file: str) -> str:
    if smiles_column is not None:
        if smiles_column not in columns:
            raise CSVFormatError(f"{file}: no column {smiles_column!r}; columns are {list(columns)}")
        return smiles_column
    for column in columns:
        if column.strip().lower() in ("smiles", "smile", "canonical_smiles", "mol"):
            return column
    return columns[0]


def _parse_labels(frame: pd.DataFrame, targets: Sequence[str], file: str) -> np.ndarray:
    """Strict float parsing of the label columns; NaN for missing cells."""
    out = np.full((len(frame), len(targets)), np.nan, dtype=np.float64)
    for j, column in enumerate(targets):
        raw = frame[column].str.strip()
        missing = raw.str.lower().isin(_MISSING)
        numbers = pd.to_numeric(raw.where(~missing), errors="coerce")
        bad = numbers.isna() & ~missing
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise CSVFormatError(f"{file}: row {i + 2}, column {column!r}: {frame[column].iloc[i]!r} is not a number "
                                 f"(leave the cell empty for a missing label)")
        values = numbers.to_numpy(dtype=np.float64)
        if np.isinf(values).any():
            i = int(np.flatnonzero(np.isinf(values))[0])
            raise CSVFormatError(f"{file}: row {i + 2}, column {column!r}: infinite label")
        out[:, j] = values
    return out


def check_loader_options(on_invalid: str, task_type: str) -> None:
    """``ValueError`` for an ``on_invalid`` or ``task_type`` a molecule loader does not know."""
    if on_invalid not in ("skip", "raise"):
        raise ValueError(f"on_invalid must be 'skip' or 'raise', got {on_invalid!r}")
    if task_type not in ("auto", "binary", "regression"):
        raise ValueError(f"task_type must be 'auto', 'binary' or 'regression', got {task_type!r}")


def _check_binary(labels: np.ndarray, targets: Sequence[str], file: str) -> None:
    bad = ~np.isnan(labels) & (labels != 0) & (labels != 1)
    if bad.any():
        i, j = (int(k[0]) for k in np.nonzero(bad))
        raise CSVFormatError(f"{file}: row {i + 2}, column {targets[j]!r}: label {labels[i, j]:g} is not 0 or 1 "
                             f"(binary task); load with task_type='regression' and binarize() explicitly")


def read_molecule_csv(
    path: str | os.PathLike,
    smiles_column: str | None = None,
    target_columns: Sequence[str] | None = None,
    task_type: Literal["auto", "binary", "regression"] = "auto",
    *,
    name: str | None = None,
    featurizer: MoleculeFeaturizer | None = None,
    sanitize: Sanitize = "strict",
    on_invalid: Literal["skip", "raise"] = "skip",
    progress: bool = True,
    source: SourceInfo | None = None,
) -> TaskCollection:
    """Reads a CSV (optionally gzipped) of SMILES and labels into a :class:`TaskCollection`.

    Args:
        path: the CSV file (``.csv`` or ``.csv.gz``).
        smiles_column: name of the SMILES column (default: a column named like ``smiles``, else the first).
        target_columns: label columns (default: every other column).
        task_type: ``"binary"``, ``"regression"`` or ``"auto"`` (binary iff all labels are 0/1).
        name: collection name (default: the file name without extension).
        featurizer: molecule featurizer (default :class:`MoleculeFeaturizer`); its own ``sanitize`` is replaced.
        sanitize: ``"strict"`` (a SMILES failing RDKit's valence check is invalid) or ``"lenient"`` (kept, and
            listed in ``collection.notes`` with a warning). (default: ``"strict"``)
        on_invalid: ``"skip"`` invalid SMILES (counted in ``collection.skipped`` and warned about) or ``"raise"``.
        progress: show a progress bar while featurizing.
        source: provenance to attach (default: the file and its sha256).
    """
    check_loader_options(on_invalid, task_type)
    path = Path(path)
    file = path.name
    featurizer = (featurizer or MoleculeFeaturizer()).with_sanitize(sanitize)
    frame = _read_frame(path)
    columns = list(frame.columns)
    smiles_col = _pick_smiles_column(columns, smiles_column, file)
    targets = list(target_columns) if target_columns is not None else [c for c in columns if c != smiles_col]
    missing_cols = [c for c in targets if c not in columns]
    if missing_cols:
        raise CSVFormatError(f"{file}: target column(s) {missing_cols} not found; columns are {columns}")
    if not targets:
        raise CSVFormatError(f"{file}: no label columns besides the SMILES column {smiles_col!r}")
    if len(frame) == 0:
        raise CSVFormatError(f"{file}: no data rows")

    labels = _parse_labels(frame, targets, file)
    if task_type == "auto":
        observed = labels[~np.isnan(labels)]
        task_type = "binary" if observed.size and np.isin(observed, (0.0, 1.0)).all() else "regression"
    if task_type == "binary":
        _check_binary(labels, targets, file)

    smiles = [s.strip() for s in frame[smiles_col].tolist()]
    feats, invalid = featurizer.featurize_many(smiles, progress=progress, total=len(smiles))
    warn_nonfinite_descriptors(feats, file)
    skipped = SkipReport()
    for i, reason in invalid.items():
        if on_invalid == "raise":
            raise InvalidSmilesError(f"{file}: row {i + 2}: {reason}")
        skipped.add("invalid_smiles", f"{file}:row {i + 2}", reason)
    if invalid:
        warnings.warn(f"{file}: skipped {len(invalid)} of {len(smiles)} rows with invalid SMILES "
                      f"(first: {skipped.entries[0][1]}); see collection.skipped", RuntimeWarning, stacklevel=2)
    keep = np.ones(len(smiles), dtype=bool)
    keep[list(invalid)] = False
    notes = RowNotes()
    for i in feats.lenient:
        notes.add_lenient(f"{file}:row {i + 2}", smiles[i])
    warn_lenient_rows(notes, file, int(keep.sum()))

    if source is None:
        source = SourceInfo(name=name or file, files={file: sha256_file(path)})
    return TaskCollection(
        name=name or file.split(".")[0],
        graphs=GraphStore.from_featurized(feats),
        labels=TaskLabels.from_dense(labels[keep]),
        task_names=[str(t) for t in targets],
        task_type=task_type,
        smiles=[s for s, k in zip(smiles, keep) if k],
        source=source,
        skipped=skipped,
        featurizer=featurizer.cache_key,
        notes=notes,
    )

