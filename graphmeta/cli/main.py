"""Entry point of the ``graphmeta`` command: parses the subcommand and runs it.

Errors users can fix (a missing file, a bad CSV, an unknown dataset, an output folder that is not there or not
writable) are printed as one line and exit with status 2, without a traceback; ``--debug`` shows the traceback.
Output piped into a command that stops reading early (``graphmeta predict ... | head``) ends quietly with status 1,
as Python's documentation recommends for a broken pipe.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from dataclasses import dataclass
from typing import Sequence

from graphmeta import __version__
from graphmeta.cli.base import Subcommand


@dataclass(frozen=True)
class SubcommandSpec:
    """A subcommand's name, the module and class that implement it (imported only when it runs or its help is
    asked for: ``graphmeta --help`` and argument errors need no torch), its help line and an example command
    (shown at the end of its ``--help``)."""

    name: str
    module: str
    cls: str
    help: str
    example: str

    def load(self) -> type[Subcommand]:
        return getattr(importlib.import_module(self.module), self.cls)


SUBCOMMANDS: tuple[SubcommandSpec, ...] = (
    SubcommandSpec("predict", "graphmeta.cli.predict", "PredictCommand",
                   "adapt a model to a labelled support CSV and write probabilities for a query CSV",
                   "graphmeta predict --model tox21-protonet --support support.csv --label-column active "
                   "--query query.csv --out scores.csv"),
    SubcommandSpec("train", "graphmeta.cli.train", "TrainCommand",
                   "meta-train a few-shot model on a named dataset or a CSV and write model.pt",
                   "graphmeta train tox21 --learner protonet --steps 900 --out runs/tox21-protonet"),
    SubcommandSpec("evaluate", "graphmeta.cli.evaluate", "EvaluateCommand",
                   "score a model's K-shot ROC-AUC on held-out tasks of a dataset (per task and mean)",
                   "graphmeta evaluate --model tox21-protonet --shots 10 --draws 5"),
    SubcommandSpec("embed", "graphmeta.cli.predict", "EmbedCommand",
                   "write the model backbone's embedding of every molecule of a CSV (.csv or .npy); a model trained "
                   "with --norm task normalizes them with the statistics of the whole file (it has no support set)",
                   "graphmeta embed molecules.csv --model tox21-protonet --out embeddings.npy"),
    SubcommandSpec("benchmark", "graphmeta.cli.benchmark", "BenchmarkCommand",
                   "run a few-shot benchmark protocol (PAR MoleculeNet: tox21, sider, muv, toxcast; FS-Mol: fsmol; "
                   "TU graph classification: triangles, letter-high, enzymes, coil-del) and write its results",
                   "graphmeta benchmark tox21 --method protonet maml rf --shots 10 --out bench-out"),
    SubcommandSpec("pretrain", "graphmeta.cli.pretrain", "PretrainCommand",
                   "pretrain the GNN backbone (attribute masking / graph contrastive on unlabeled molecules, or "
                   "multitask on a dataset's tasks); writes encoder.pt, resumable",
                   "graphmeta pretrain --hidden-channels 64 --num-layers 3 --steps 5000 --out runs/pretrain"),
    SubcommandSpec("data", "graphmeta.cli.data", "DataCommand", "list, download, verify or summarize datasets",
                   "graphmeta data list"),
    SubcommandSpec("demo", "graphmeta.cli.demo", "DemoCommand",
                   "meta-train ProtoNet and MAML on embedded Tox21 and compare them 10-shot with RF/kNN on ECFP4",
                   "graphmeta demo --out demo-out"),
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``graphmeta`` parser. Only the subcommand named in ``argv`` gets its arguments (and its module
    imported); ``argv=None`` builds every subcommand's (documentation, tests)."""
    chosen = _chosen(argv)
    parser = argparse.ArgumentParser(prog="graphmeta", description="Few-shot property prediction on graphs.")
    parser.add_argument("--version", action="version", version=f"graphmeta {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for spec in SUBCOMMANDS:
        subparser = sub.add_parser(spec.name, help=spec.help, description=spec.help,
                                   epilog=f"example:\n  {spec.example}",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
        if chosen is None or spec.name == chosen:
            spec.load().add_arguments(subparser)
    return parser


def _chosen(argv: Sequence[str] | None) -> str | None:
    """The subcommand ``argv`` names (its first word that is one), ``""`` if none, ``None`` for all."""
    if argv is None:
        return None
    names = {spec.name for spec in SUBCOMMANDS}
    return next((a for a in argv if a in names), "")


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(words).parse_args(words)
    from graphmeta.benchmarks.record import command_line

    args.invocation = command_line(argv)  # what result records store as the command that made them
    command = next(spec for spec in SUBCOMMANDS if spec.name == args.command).load()
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
