"""The small base class every subcommand derives from."""

from __future__ import annotations

import argparse
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any


class Subcommand(ABC):
    """A subcommand: a name, a help line, its arguments and what it does (returns the exit code)."""

    name: str
    help: str

    @classmethod
    @abstractmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        ...

    @classmethod
    @abstractmethod
    def run(cls, args: argparse.Namespace) -> int:
        ...


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--data-dir`` option shared by the subcommands that read raw data."""
    parser.add_argument("--data-dir", default=None, help="raw-data folder (default: $GRAPHMETA_DATA or user cache)")


def add_sanitize_argument(parser: argparse.ArgumentParser, default: str | None = "strict") -> None:
    """The ``--sanitize strict|lenient`` option of the subcommands that read SMILES from a user's file."""
    when = ("default: strict for CSV files and task tables, lenient for registered datasets, whose molecules kept "
            "that way are counted and named" if default is None else f"default {default}")
    parser.add_argument("--sanitize", choices=["strict", "lenient"], default=default,
                        help=f"strict: a SMILES failing RDKit's sanitization, valence check included (a five-bonded "
                             f"carbon), is invalid; lenient: skip the valence check only ({when})")


def check_output_file(path: Path, option: str = "--out") -> None:
    """Raises ``ValueError`` (one line, before any work is done) when the file ``path`` cannot be written: its folder
    is missing or read-only, or ``path`` is a folder."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder; name the file to write")
    if not folder.is_dir():
        raise ValueError(f"{option} {path}: folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{option} {path}: not writable (permission denied)")


def check_output_folder(path: Path, option: str = "--out") -> None:
    """Raises ``ValueError`` (one line, before any work is done) when ``path`` cannot be used as an output folder: it
    is an existing file, or it (or, when missing, its nearest existing parent) is not a writable folder."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file, not a folder; name a folder (it is created when missing)")
    existing = next((p for p in (path, *path.absolute().parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(f"{option} {path}: {existing} is a file, so the folder cannot be created there")
    if existing is not None and not os.access(existing, os.W_OK):
        raise ValueError(f"{option} {path}: {existing} is not writable (permission denied)")


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """A dataset argument (a registered name or a CSV path) and the CSV column options, shared by subcommands."""
    parser.add_argument("dataset", help="registered dataset name (see `graphmeta data list`), a path to a CSV, or "
                                        "with --task-column a task table")
    add_table_arguments(parser)


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say how to read a CSV or task table as a dataset (with :func:`load_named_or_csv`)."""
    parser.add_argument("--smiles-column", "--smiles-columns", dest="smiles_column", default=None,
                        help="CSV: name of the SMILES column")
    parser.add_argument("--target-columns", nargs="+", default=None, help="CSV: label columns (default: all others)")
    parser.add_argument("--task-type", choices=["auto", "binary", "regression"], default="auto",
                        help="CSV: label type (default: binary iff all labels are 0/1)")
    parser.add_argument("--task-column", default=None, metavar="COLUMN",
                        help="long-format task table (CSV, .csv.gz or Parquet; one row per task x molecule, like an "
                             "assay export): COLUMN names each row's task; --target-columns gives the one label "
                             "column (default: the only other column)")
    parser.add_argument("--no-download", action="store_true", help="fail instead of downloading missing files")
    add_sanitize_argument(parser, default=None)


def load_named_or_csv(args: argparse.Namespace, progress: bool = True, featurizer: Any = None) -> Any:
    """The :class:`~graphmeta.data.tasks.TaskCollection` that :func:`add_dataset_arguments`' options name
    (``featurizer``: a :class:`~graphmeta.data.featurize.MoleculeFeaturizer`, default the standard one)."""
    from graphmeta.data.api import load_csv, load_dataset, load_task_table

    sanitize = getattr(args, "sanitize", None)
    if getattr(args, "task_column", None) is not None:
        targets = args.target_columns or []
        if len(targets) > 1:
            raise ValueError(f"a task table has one label column; --target-columns got {len(targets)}: {targets}")
        return load_task_table(args.dataset, args.task_column, args.smiles_column, targets[0] if targets else None,
                               args.task_type, progress=progress, featurizer=featurizer, sanitize=sanitize or "strict")
    if str(args.dataset).lower().endswith((".parquet", ".pq")):
        raise ValueError(f"{args.dataset}: a Parquet file is read as a task table: name its task column with "
                         f"--task-column")
    if str(args.dataset).lower().endswith((".csv", ".csv.gz")):
        return load_csv(args.dataset, args.smiles_column, args.target_columns, args.task_type, progress=progress,
                        featurizer=featurizer, sanitize=sanitize or "strict")
    return load_dataset(args.dataset, data_dir_override=args.data_dir, download=not args.no_download,
                        progress=progress, featurizer=featurizer, sanitize=sanitize)


def task_indices(collection: Any, refs: list[str]) -> list[int]:
    """Task indices of command-line task references: names, or indices (negative ones count from the end)."""
    return [collection.task_index(int(t) if t.lstrip("-").isdigit() else t) for t in refs]
