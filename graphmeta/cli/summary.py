"""``graphmeta summary``: load a named dataset or any CSV and print what it holds."""

from __future__ import annotations

import argparse

from graphmeta.cli.base import Subcommand, add_data_dir_argument
from graphmeta.data.api import load_csv, load_dataset


class SummaryCommand(Subcommand):
    name = "summary"
    help = "load a named dataset (or a CSV with --smiles-column/--target-columns) and print its summary"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("dataset", help="registered dataset name (see `graphmeta datasets`) or a path to a CSV")
        parser.add_argument("--smiles-column", default=None, help="CSV: name of the SMILES column")
        parser.add_argument("--target-columns", nargs="+", default=None, help="CSV: label columns (default: all others)")
        parser.add_argument("--task-type", choices=["auto", "binary", "regression"], default="auto",
                            help="CSV: label type (default: binary iff all labels are 0/1)")
        add_data_dir_argument(parser)
        parser.add_argument("--no-download", action="store_true", help="fail instead of downloading missing files")
        parser.add_argument("--tasks", action="store_true", help="also print one line per task")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        if args.dataset.lower().endswith((".csv", ".csv.gz")):
            collection = load_csv(args.dataset, args.smiles_column, args.target_columns, args.task_type)
        else:
            collection = load_dataset(args.dataset, data_dir_override=args.data_dir, download=not args.no_download)
        print(collection.summary())
        if args.tasks:
            print(collection.task_stats().to_string(index=False))
        return 0
