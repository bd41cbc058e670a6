"""``graphmeta benchmark``: run a published-protocol benchmark, write JSON records, a markdown table and plots."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from graphmeta.benchmarks.methods import METHODS
from graphmeta.benchmarks.molnet import MOLNET_DATASETS, MolnetSettings, run_molnet
from graphmeta.benchmarks.record import write_record
from graphmeta.benchmarks.report import markdown_table, plot_learning_curves
from graphmeta.cli.base import Subcommand, add_data_dir_argument
from graphmeta.data.api import load_dataset


class BenchmarkCommand(Subcommand):
    name = "benchmark"
    help = "run a few-shot benchmark protocol (PAR MoleculeNet: tox21, sider, muv, toxcast) and write its results"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("benchmark", choices=MOLNET_DATASETS, help="protocol / dataset")
        parser.add_argument("--method", nargs="+", choices=METHODS, default=["protonet", "maml", "rf"],
                            help="methods to run (default: protonet maml rf)")
        parser.add_argument("--shots", nargs="+", type=int, default=[10, 1], help="K positives + K negatives (default 10 1)")
        parser.add_argument("--seeds", type=int, default=None, help="number of seeds, 0..N-1 (default 10; 2 with --quick)")
        parser.add_argument("--max-steps", type=int, default=None, help="length of the CV curve (default 1000)")
        parser.add_argument("--eval-every", type=int, default=None, help="CV evaluation interval (default 100)")
        parser.add_argument("--hidden", type=int, default=None, help="GNN width (default 128)")
        parser.add_argument("--layers", type=int, default=None, help="GNN layers (default 5)")
        parser.add_argument("--quick", action="store_true", help="tiny model, few steps, capped queries: a smoke test")
        parser.add_argument("--out", type=Path, default=Path("graphmeta-benchmarks"),
                            help="folder for the JSON records, the markdown table and the plots")
        add_data_dir_argument(parser)
        parser.add_argument("--no-progress", action="store_true", help="hide progress bars")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        collection = load_dataset(args.benchmark, data_dir_override=args.data_dir, progress=not args.no_progress)
        results = []
        for shots in args.shots:
            if shots < 1:
                raise ValueError(f"--shots must be positive, got {shots}")
            settings = MolnetSettings.quick(shots) if args.quick else MolnetSettings(shots=shots)
            for option, field in (("seeds", "seeds"), ("max_steps", "max_steps"), ("eval_every", "eval_every"),
                                  ("hidden", "hidden_channels"), ("layers", "num_layers")):
                value = getattr(args, option)
                if value is not None:
                    setattr(settings, field, tuple(range(value)) if option == "seeds" else value)
            for method in args.method:
                start = time.perf_counter()
                result = run_molnet(collection, method, settings, progress=not args.no_progress)
                stem = f"{args.benchmark}_{shots}shot_{method}" + ("_quick" if args.quick else "")
                path = write_record(f"{args.benchmark}-{shots}shot", result, args.out / f"{stem}.json",
                                    wall_seconds=time.perf_counter() - start)
                plot = plot_learning_curves(result, args.out / f"{stem}.png")
                s = result["summary"]
                print(f"{args.benchmark} {shots}-shot {method}: test ROC-AUC {s['test_roc_auc']['mean']:.2f} "
                      f"+- {s['test_roc_auc']['std']:.2f} over {s['n_seeds']} seeds (train tasks "
                      f"{s['train_roc_auc']['mean']:.2f}, gap {s['gap']['mean']:.2f}) -> {path}"
                      + (f", {plot}" if plot else ""))
                results.append(result)
        table = markdown_table(results)
        (args.out / f"{args.benchmark}{'_quick' if args.quick else ''}.md").write_text(table)
        print()
        print(table)
        return 0

