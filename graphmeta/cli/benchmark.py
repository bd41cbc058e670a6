"""``graphmeta benchmark``: run a published-protocol benchmark, write JSON records, a markdown table and plots."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from graphmeta.benchmarks.fsmol import FsmolSettings, run_fsmol
from graphmeta.benchmarks.methods import METHODS
from graphmeta.benchmarks.molnet import MOLNET_DATASETS, MolnetSettings, run_molnet
from graphmeta.benchmarks.record import write_record
from graphmeta.benchmarks.report import fsmol_markdown_table, markdown_table, plot_fsmol_curves, plot_learning_curves
from graphmeta.cli.base import Subcommand, add_data_dir_argument
from graphmeta.data.api import load_dataset

BENCHMARKS = (*MOLNET_DATASETS, "fsmol")

#: command-line option -> settings field, for the options both protocols share
_SHARED_OPTIONS = {"seeds": "seeds", "hidden": "hidden_channels", "layers": "num_layers", "eval_every": "eval_every"}


class BenchmarkCommand(Subcommand):
    name = "benchmark"
    help = ("run a few-shot benchmark protocol (PAR MoleculeNet: tox21, sider, muv, toxcast; FS-Mol: fsmol) and "
            "write its results")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("benchmark", choices=BENCHMARKS, help="protocol / dataset")
        parser.add_argument("--method", nargs="+", choices=METHODS, default=["protonet", "maml", "rf"],
                            help="methods to run (default: protonet maml rf)")
        parser.add_argument("--shots", nargs="+", type=int, default=[10, 1],
                            help="MoleculeNet: K positives + K negatives per support (default 10 1)")
        parser.add_argument("--support-sizes", nargs="+", type=int, default=None,
                            help="FS-Mol: stratified support sizes (default 16 32 64 128 256)")
        parser.add_argument("--seeds", type=int, default=None,
                            help="number of seeds, 0..N-1 (default: MoleculeNet 10, FS-Mol 1; 2 / 1 with --quick)")
        parser.add_argument("--steps", type=int, default=None,
                            help="meta-training steps (MoleculeNet: length of the CV curve, default 1000; FS-Mol 2000)")
        parser.add_argument("--eval-every", type=int, default=None, help="evaluation interval (default 100 / 200)")
        parser.add_argument("--hidden", type=int, default=None, help="GNN width (default 128)")
        parser.add_argument("--layers", type=int, default=None, help="GNN layers (default 5)")
        parser.add_argument("--quick", action="store_true", help="tiny model, few steps, capped queries: a smoke test")
        parser.add_argument("--out", type=Path, default=Path("graphmeta-benchmarks"),
                            help="folder for the JSON records, the markdown table and the plots")
        add_data_dir_argument(parser)
        parser.add_argument("--no-progress", action="store_true", help="hide progress bars")

    @classmethod
    def _apply(cls, settings: Any, args: argparse.Namespace, steps_field: str) -> Any:
        for option, field in {**_SHARED_OPTIONS, "steps": steps_field}.items():
            value = getattr(args, option)
            if value is not None:
                if value < 1:
                    raise ValueError(f"--{option.replace('_', '-')} must be positive, got {value}")
                setattr(settings, field, tuple(range(value)) if option == "seeds" else value)
        return settings

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        collection = load_dataset(args.benchmark, data_dir_override=args.data_dir, progress=not args.no_progress)
        suffix = "_quick" if args.quick else ""
        progress = not args.no_progress
        results = []
        if args.benchmark == "fsmol":
            settings = cls._apply(FsmolSettings.quick() if args.quick else FsmolSettings(), args, "steps")
            if args.support_sizes:
                settings.support_sizes = tuple(args.support_sizes)
            for method in args.method:
                start = time.perf_counter()
                result = run_fsmol(collection, method, settings, progress=progress)
                stem = f"fsmol_{method}{suffix}"
                path = write_record("fsmol", result, args.out / f"{stem}.json", time.perf_counter() - start)
                plot = plot_fsmol_curves(result, args.out / f"{stem}.png")
                sizes = ", ".join(f"@{k} {v['mean']:.4f}" for k, v in result["summary"]["by_size"].items())
                print(f"fsmol {method}: delta-AUPRC {sizes} -> {path}" + (f", {plot}" if plot else ""))
                results.append(result)
            table = fsmol_markdown_table(results)
        else:
            for shots in args.shots:
                if shots < 1:
                    raise ValueError(f"--shots must be positive, got {shots}")
                settings = cls._apply(MolnetSettings.quick(shots) if args.quick else MolnetSettings(shots=shots), args,
                                      "max_steps")
                for method in args.method:
                    start = time.perf_counter()
                    result = run_molnet(collection, method, settings, progress=progress)
                    stem = f"{args.benchmark}_{shots}shot_{method}{suffix}"
                    path = write_record(f"{args.benchmark}-{shots}shot", result, args.out / f"{stem}.json",
                                        time.perf_counter() - start)
                    plot = plot_learning_curves(result, args.out / f"{stem}.png")
                    s = result["summary"]
                    print(f"{args.benchmark} {shots}-shot {method}: test ROC-AUC {s['test_roc_auc']['mean']:.2f} "
                          f"+- {s['test_roc_auc']['std']:.2f} over {s['n_seeds']} seeds (train tasks "
                          f"{s['train_roc_auc']['mean']:.2f}, gap {s['gap']['mean']:.2f}) -> {path}"
                          + (f", {plot}" if plot else ""))
                    results.append(result)
            table = markdown_table(results)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.benchmark}{suffix}.md").write_text(table)
        print()
        print(table)
        return 0
