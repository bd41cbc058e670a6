"""``graphmeta datasets``: list the registered datasets with their license and whether they are present."""

from __future__ import annotations

import argparse

from graphmeta.cli.base import Subcommand, add_data_dir_argument
from graphmeta.data.paths import data_dir
from graphmeta.data.registry import REGISTRY


class DatasetsCommand(Subcommand):
    name = "datasets"
    help = "list the named datasets, their licenses and whether their files are in the data directory"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        add_data_dir_argument(parser)

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        root = data_dir(args.data_dir)
        print(f"data directory: {root}")
        print(f"{'name':<22} {'files':>6} {'present':>8}  description")
        for info in REGISTRY.values():
            present = sum((root / f.path).is_file() for f in info.files)
            print(f"{info.name:<22} {len(info.files):>6} {present:>8}  {info.description}")
        return 0
