"""The small base class every subcommand derives from."""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod


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
