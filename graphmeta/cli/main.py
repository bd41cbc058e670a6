"""Entry point of the ``graphmeta`` command: parses the subcommand and runs it.

Errors users can fix (a missing file, a bad CSV, an unknown dataset, an output folder that is not there or not
writable) are printed as one line and exit with status 2, without a traceback; ``--debug`` shows the traceback.
Output piped into a command that stops reading early (``graphmeta predict ... | head``) ends quietly with status 1,
as Python's documentation recommends for a broken pipe.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from graphmeta import __version__
from graphmeta.benchmarks.record import command_line
from graphmeta.cli.base import Subcommand
from graphmeta.cli.benchmark import BenchmarkCommand
from graphmeta.cli.data import DataCommand
from graphmeta.cli.demo import DemoCommand
from graphmeta.cli.evaluate import EvaluateCommand
from graphmeta.cli.predict import EmbedCommand, PredictCommand
from graphmeta.cli.pretrain import PretrainCommand
from graphmeta.cli.train import TrainCommand

SUBCOMMANDS: tuple[type[Subcommand], ...] = (PredictCommand, TrainCommand, EvaluateCommand, EmbedCommand,
                                              BenchmarkCommand, PretrainCommand, DataCommand, DemoCommand)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphmeta", description="Few-shot property prediction on graphs.")
    parser.add_argument("--version", action="version", version=f"graphmeta {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for command in SUBCOMMANDS:
        command.add_arguments(sub.add_parser(command.name, help=command.help, description=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.invocation = command_line(argv)  # what result records store as the command that made them
    command = next(c for c in SUBCOMMANDS if c.name == args.command)
    try:
        code = command.run(args)
        sys.stdout.flush()  # here, so that a reader gone away is a BrokenPipeError caught below, not at exit
        return code
    except BrokenPipeError:
        # the reader (head, less...) closed the pipe: stop quietly; stdout goes to devnull so that Python's own
        # flush at exit does not report the broken pipe again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (OSError, KeyError, ValueError) as err:  # OSError: a missing file, no permission, a full disk...
        if args.debug:
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"graphmeta {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
