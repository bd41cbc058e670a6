"""The small base class every subcommand derives from."""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
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


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """A dataset argument (a registered name or a CSV path) and the CSV column options, shared by subcommands."""
    parser.add_argument("dataset", help="registered dataset name (see `graphmeta data list`), a path to a CSV, or "
                                        "with --task-column a task table")
    parser.add_argument("--smiles-column", default=None, help="CSV: name of the SMILES column")
    parser.add_argument("--target-columns", nargs="+", default=None, help="CSV: label columns (default: all others)")
    parser.add_argument("--task-type", choices=["auto", "binary", "regression"], default="auto",
                        help="CSV: label type (default: binary iff all labels are 0/1)")
    parser.add_argument("--task-column", default=None, metavar="COLUMN",
                        help="long-format task table (CSV, .csv.gz or Parquet; one row per task x molecule, like an "
                             "assay export): COLUMN names each row's task; --target-columns gives the one label "
                             "column (default: the only other column)")
    parser.add_argument("--no-download", action="store_true", help="fail instead of downloading missing files")


def load_named_or_csv(args: argparse.Namespace, progress: bool = True, featurizer: Any = None) -> Any:
    """The :class:`~graphmeta.data.tasks.TaskCollection` that :func:`add_dataset_arguments`' options name
    (``featurizer``: a :class:`~graphmeta.data.featurize.MoleculeFeaturizer`, default the standard one)."""
    from graphmeta.data.api import load_csv, load_dataset, load_task_table

    if getattr(args, "task_column", None) is not None:
        targets = args.target_columns or []
        if len(targets) > 1:
            raise ValueError(f"a task table has one label column; --target-columns got {len(targets)}: {targets}")
        return load_task_table(args.dataset, args.task_column, args.smiles_column, targets[0] if targets else None,
                               args.task_type, progress=progress, featurizer=featurizer)
    if str(args.dataset).lower().endswith((".parquet", ".pq")):
        raise ValueError(f"{args.dataset}: a Parquet file is read as a task table: name its task column with "
                         f"--task-column")
    if str(args.dataset).lower().endswith((".csv", ".csv.gz")):
        return load_csv(args.dataset, args.smiles_column, args.target_columns, args.task_type, progress=progress,
                        featurizer=featurizer)
    return load_dataset(args.dataset, data_dir_override=args.data_dir, download=not args.no_download,
                        progress=progress, featurizer=featurizer)


def task_indices(collection: Any, refs: list[str]) -> list[int]:
    """Task indices of command-line task references: names, or indices (negative ones count from the end)."""
    return [collection.task_index(int(t) if t.lstrip("-").isdigit() else t) for t in refs]
