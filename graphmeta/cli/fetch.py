"""``graphmeta fetch``: download (and checksum) a named dataset's files into the data directory."""

from __future__ import annotations

import argparse

from graphmeta.cli.base import Subcommand, add_data_dir_argument
from graphmeta.data.paths import data_dir
from graphmeta.data.registry import get_info


class FetchCommand(Subcommand):
    name = "fetch"
    help = "download a named dataset's files into the data directory, verifying their sha256"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("dataset", help="registered dataset name (see `graphmeta datasets`)")
        add_data_dir_argument(parser)

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from graphmeta.data.download import ensure_files

        info = get_info(args.dataset)
        root = data_dir(args.data_dir)
        paths = ensure_files(info.files, root, download=True, progress=True)
        print(f"{info.name}: {len(paths)} file(s) verified under {root}")
        print(f"license: {info.license}\ncite: {info.citation}")
        return 0
