"""``graphmeta benchmark``: run a published-protocol benchmark, write JSON records, a markdown table and plots."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable

import torch

from graphmeta.benchmarks.fsmol import FsmolSettings, run_fsmol
from graphmeta.benchmarks.methods import META_METHODS, METHODS
from graphmeta.benchmarks.molnet import MOLNET_DATASETS, MolnetSettings, run_molnet
from graphmeta.benchmarks.record import write_record
from graphmeta.benchmarks.report import (format_mean_std, fsmol_markdown_table, markdown_table, plot_fsmol_curves,
                                         plot_learning_curves, plot_tu_curves, tu_markdown_table)
from graphmeta.benchmarks.tu import TU_BENCHMARKS, TUSettings, check_tu_method, run_tu
from graphmeta.cli.base import Subcommand, add_data_dir_argument, check_output_folder
from graphmeta.data.api import load_dataset
from graphmeta.data.featurize import MoleculeFeaturizer
from graphmeta.meta.protonet import DISTANCES
from graphmeta.pretrain.hardware import resolve_precision
from graphmeta.schedules import LR_SCHEDULES

BENCHMARKS = (*MOLNET_DATASETS, "fsmol", *TU_BENCHMARKS)

#: Defaults that differ between protocols: methods (fingerprint baselines need molecules), shots.
_DEFAULT_METHODS = {"molecules": ["protonet", "maml", "rf"], "tu": ["protonet", "maml"]}
_DEFAULT_SHOTS = {"molnet": [10, 1], "tu": [5, 10]}

#: command-line option -> settings field, for the options of the molecular protocols (FS-Mol and MoleculeNet)
_MOLECULE_OPTIONS = {"distance": "distance", "fusion_width": "fusion_channels"}

#: command-line option -> FsmolSettings field, for the FS-Mol-only meta-training options
_FSMOL_OPTIONS = {"lr_schedule": "lr_schedule", "warmup_steps": "warmup_steps", "train_shots": "train_shots",
                  "train_query": "train_query", "meta_batch_size": "meta_batch_size"}

#: command-line option -> settings field, for the options both protocols share
_SHARED_OPTIONS = {"seeds": "seeds", "hidden": "hidden_channels", "layers": "num_layers", "eval_every": "eval_every"}


class BenchmarkCommand(Subcommand):
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("benchmark", choices=BENCHMARKS, help="protocol / dataset")
        parser.add_argument("--method", nargs="+", choices=METHODS, default=None,
                            help="methods to run (default: protonet maml rf; TU: protonet maml)")
        parser.add_argument("--shots", nargs="+", type=int, default=None,
                            help="MoleculeNet: K positives + K negatives per support (default 10 1); TU: K graphs "
                                 "per class (default 5 10)")
        parser.add_argument("--support-sizes", nargs="+", type=int, default=None,
                            help="FS-Mol: stratified support sizes (default 16 32 64 128 256)")
        parser.add_argument("--seeds", type=int, default=None,
                            help="number of seeds, 0..N-1 (default: MoleculeNet 10, FS-Mol 1, TU 5; 2 / 1 / 2 with "
                                 "--quick)")
        parser.add_argument("--first-seed", type=int, default=0,
                            help="run seeds S..S+N-1 instead of 0..N-1: machines sharing OUT/seeds can split a long "
                                 "MoleculeNet run, and the plain command then gathers every finished seed")
        parser.add_argument("--steps", type=int, default=None,
                            help="meta-training steps (MoleculeNet: length of the CV curve, default 1000; FS-Mol, "
                                 "TU 2000)")
        parser.add_argument("--eval-every", type=int, default=None,
                            help="evaluation interval (default 100 / 200 / 100)")
        parser.add_argument("--hidden-channels", "--hidden", dest="hidden", type=int,
                            default=None, help="GNN width (default 128)")
        parser.add_argument("--num-layers", "--layers", dest="layers", type=int, default=None,
                            help="GNN layers (default 5); molecules: 0 = no GNN, an MLP of --fingerprint-bits and/or "
                                 "--descriptors")
        parser.add_argument("--pretrained", default=None, metavar="ENCODER_PT",
                            help="molecules: start the backbone from `graphmeta pretrain`'s encoder.pt (its width, "
                                 "depth and featurizer must match)")
        parser.add_argument("--fingerprint-bits", type=int, default=0, metavar="BITS",
                            help="molecules: meta-learners also read each molecule's ECFP4 (BITS bits, e.g. 2048) "
                                 "beside the GNN readout, as FS-Mol's ProtoNet does (default 0: the GNN alone)")
        parser.add_argument("--descriptors", action="store_true",
                            help="molecules: meta-learners also read 54 cheap RDKit 2D descriptors (robustly scaled "
                                 "on the training molecules) beside the GNN readout (combinable with "
                                 "--fingerprint-bits)")
        parser.add_argument("--train-assays", choices=["sample", "full"], default="sample",
                            help="fsmol: meta-train on the staged 1-in-20 sample of FS-Mol's training assays "
                                 "(default) or on all 4,935 (the fsmol-train-full task table)")
        parser.add_argument("--extra-train", nargs="+", default=(), metavar="DATASET",
                            help="fsmol: also meta-train on the tasks of these binary molecular datasets (e.g. toxcast "
                                 "muv hiv tox21 sider), without FS-Mol's validation/test molecules (matched by "
                                 "canonical SMILES; counts in the record)")
        parser.add_argument("--norm", nargs="+", choices=["task", "running", "layer", "none"], default=None,
                            help="normalization mode (default: task); MoleculeNet: several are a grid the "
                                 "leave-tasks-out CV chooses from; FS-Mol: one mode")
        parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="fp32",
                            help="meta-training steps in fp32 (default) or under bf16 autocast; auto: bf16 where the "
                                 "CPU computes it natively (AVX-512-BF16 / AMX), else fp32 (emulated bf16 is ~20x "
                                 "slower). Validation and test scoring always run in fp32")
        parser.add_argument("--distance", choices=DISTANCES, default=None,
                            help="molecules: protonet's query-to-prototype distance (default euclidean; mahalanobis: "
                                 "in the shrunk covariance of the support, as FS-Mol's ProtoNet)")
        parser.add_argument("--fusion-width", type=int, default=None, metavar="WIDTH",
                            help="molecules: hidden width of the GNN + ECFP + descriptor fusion (default: the GNN's "
                                 "width; FS-Mol's is 1024)")
        fsmol = parser.add_argument_group("FS-Mol meta-training (fsmol only)")
        fsmol.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=None,
                           help="meta-learning rate: constant (default) or cosine decay to 0 at the last step")
        fsmol.add_argument("--warmup-steps", type=int, default=None, help="linear warmup of the meta-learning rate")
        fsmol.add_argument("--train-shots", type=int, default=None, metavar="K",
                           help="meta-training supports of K positives + K negatives (default 8)")
        fsmol.add_argument("--train-query", type=int, default=None, metavar="N",
                           help="query molecules per meta-training episode (default 16)")
        fsmol.add_argument("--meta-batch-size", type=int, default=None, metavar="TASKS",
                           help="tasks per meta-training step (default 8)")
        parser.add_argument("--cv-per-seed", action="store_true",
                            help="MoleculeNet: a leave-tasks-out CV per seed (default: one CV, seed 0, whose chosen "
                                 "steps every seed retrains with)")
        parser.add_argument("--quick", action="store_true", help="tiny model, few steps, capped queries: a smoke test")
        parser.add_argument("--out", type=Path, default=Path("graphmeta-benchmarks"),
                            help="folder for the JSON records, the markdown table and the plots (MoleculeNet: finished "
                                 "seeds are kept in OUT/seeds; FS-Mol: meta-training histories and checkpoints in "
                                 "OUT/runs; so rerunning the same command continues an interrupted run)")
        add_data_dir_argument(parser)
        parser.add_argument("--no-progress", action="store_true", help="hide progress bars")

    @classmethod
    def _apply(cls, settings: Any, args: argparse.Namespace, steps_field: str) -> Any:
        for option, field in {**_SHARED_OPTIONS, "steps": steps_field}.items():
            value = getattr(args, option)
            if value is not None:
                if value < (0 if option == "layers" else 1):
                    raise ValueError(f"--{option.replace('_', '-')} must be "
                                     f"{'>= 0' if option == 'layers' else 'positive'}, got {value}")
                setattr(settings, field, tuple(range(value)) if option == "seeds" else value)
        if args.first_seed < 0:
            raise ValueError(f"--first-seed must be >= 0, got {args.first_seed}")
        settings.seeds = tuple(seed + args.first_seed for seed in settings.seeds)
        settings.precision = args.precision
        return settings

    @staticmethod
    def _apply_options(settings: Any, args: argparse.Namespace, options: dict[str, str]) -> None:
        """Copies the given command-line options (``option -> settings field``) that were set onto ``settings``."""
        for option, field in {**_MOLECULE_OPTIONS, **options}.items():
            value = getattr(args, option)
            if value is not None:
                if isinstance(value, int) and value < (0 if option == "warmup_steps" else 1):
                    raise ValueError(f"--{option.replace('_', '-')} must be positive, got {value}")
                setattr(settings, field, value)

    @classmethod
    def _record(cls, args: argparse.Namespace, stem: str, name: str, run: Callable[[], dict[str, Any]],
                plot: Callable[[dict[str, Any], Path], Path | None], describe: Callable[[dict[str, Any]], str]) -> dict:
        """Runs one (protocol, method, shots) cell, writes its JSON record and plot, prints one line."""
        start = time.perf_counter()
        result = run()
        suffix = "_quick" if args.quick else ""
        path = write_record(name, result, args.out / f"{stem}{suffix}.json", time.perf_counter() - start,
                            args.invocation)
        png = plot(result, args.out / f"{stem}{suffix}.png")
        print(f"{describe(result)} -> {path}" + (f", {png}" if png else ""))
        return result

    @staticmethod
    def _load_molecules(name: str, args: argparse.Namespace, progress: bool) -> Any:
        """A molecular collection, featurized with ECFP4 bits and RDKit descriptors too when ``--fingerprint-bits``
        and ``--descriptors`` ask for them."""
        return load_dataset(name, data_dir_override=args.data_dir, progress=progress,
                            featurizer=MoleculeFeaturizer(fingerprint_bits=args.fingerprint_bits,
                                                          descriptors=args.descriptors))

    @classmethod
    def _run_tu(cls, args: argparse.Namespace, progress: bool) -> str:
        """The TU protocol for every shot count and method; returns the markdown table."""
        if args.pretrained:  # misuse is refused before any data loads (or downloads)
            raise ValueError("--pretrained backbones are molecular; the TU benchmarks train from scratch")
        if args.fingerprint_bits:
            raise ValueError("--fingerprint-bits is for molecules; the TU graphs have no fingerprints")
        if args.descriptors:
            raise ValueError("--descriptors is for molecules; the TU graphs have no RDKit descriptors")
        collection = load_dataset(TU_BENCHMARKS[args.benchmark].dataset, data_dir_override=args.data_dir,
                                  progress=progress)
        methods = args.method or _DEFAULT_METHODS["tu"]
        for method in methods:  # refuse a method that does not apply before anything runs
            check_tu_method(method)

        def describe(r: dict[str, Any]) -> str:
            s = r["summary"]
            return (f"{args.benchmark} {r['n_way']}-way {r['shots']}-shot {r['method']}: test accuracy "
                    f"{format_mean_std(s['test_accuracy'])} over {s['n_seeds']} seeds "
                    f"(mean 95% CI +-{s['test_ci95_mean']:.2f}; train classes {s['train_accuracy']['mean']:.2f}, "
                    f"gap {s['gap']['mean']:.2f})")

        results = []
        for shots in _positive_shots(args.shots or _DEFAULT_SHOTS["tu"]):
            settings = cls._apply(TUSettings.quick(shots) if args.quick else TUSettings(shots=shots), args, "steps")
            for method in methods:
                results.append(cls._record(
                    args, f"{args.benchmark}_{shots}shot_{method}", f"{args.benchmark}-{shots}shot",
                    lambda: run_tu(collection, args.benchmark, method, settings, progress=progress),
                    plot_tu_curves, describe))
        return tu_markdown_table(results)

    @classmethod
    def _run_fsmol(cls, args: argparse.Namespace, progress: bool) -> str:
        if args.norm and len(set(args.norm)) > 1:
            raise ValueError("fsmol takes one --norm mode (it selects on its validation assays, not by a "
                             f"leave-tasks-out CV over modes), got {args.norm}")
        collection = cls._load_molecules("fsmol", args, progress)
        settings = cls._apply(FsmolSettings.quick() if args.quick else FsmolSettings(), args, "steps")
        cls._apply_options(settings, args, _FSMOL_OPTIONS)
        settings.fingerprint_bits = args.fingerprint_bits
        settings.descriptors = args.descriptors
        report = None
        settings.train_assays = args.train_assays
        if args.train_assays == "full":
            from graphmeta.benchmarks.extra_tasks import use_full_training_set

            full = cls._load_molecules("fsmol-train-full", args, progress)
            collection, full_report = use_full_training_set(collection, full, min_per_class=settings.train_shots + 1)
            report = {"fsmol-train-full": full_report}
            print(f"meta-training on {full_report['training_assays']:,} FS-Mol training assays "
                  f"({full_report['training_molecules']:,} molecules; {full_report['training_assays_too_small']} "
                  f"assays with {settings.train_shots} or fewer positives or negatives left out)")
        if args.extra_train:
            from graphmeta.benchmarks.extra_tasks import add_training_tasks

            settings.extra_train = tuple(args.extra_train)
            extras = [cls._load_molecules(name, args, progress) for name in args.extra_train]
            collection, extra_report = add_training_tasks(collection, extras, min_per_class=settings.train_shots + 1)
            report = {**(report or {}), **extra_report}
            added = sum(r["tasks_added"] for r in extra_report.values())
            print(f"meta-training on {len(collection.task_groups['train'])} tasks: FS-Mol's "
                  f"{len(collection.task_groups['train']) - added} and {added} from {', '.join(args.extra_train)}")
        if args.support_sizes:
            settings.support_sizes = tuple(args.support_sizes)
        settings.pretrained_encoder = args.pretrained
        if args.norm:
            settings.norm = args.norm[0]

        def describe(r: dict[str, Any]) -> str:
            sizes = ", ".join(f"@{k} {v['mean']:.4f}" for k, v in r["summary"]["by_size"].items())
            return f"fsmol {r['method']}: delta-AUPRC {sizes}"

        def run_method(method: str) -> dict[str, Any]:
            result = run_fsmol(collection, method, settings, progress=progress, run_dir=args.out / "runs")
            return {**result, "extra_train_report": report} if report is not None else result

        results = [cls._record(args, f"fsmol_{method}", "fsmol", lambda: run_method(method),
                               plot_fsmol_curves, describe)
                   for method in args.method or _DEFAULT_METHODS["molecules"]]
        return fsmol_markdown_table(results)

    @classmethod
    def _run_molnet(cls, args: argparse.Namespace, progress: bool) -> str:
        collection = cls._load_molecules(args.benchmark, args, progress)

        def describe(r: dict[str, Any]) -> str:
            s = r["summary"]
            return (f"{args.benchmark} {r['shots']}-shot {r['method']}: test ROC-AUC "
                    f"{format_mean_std(s['test_roc_auc'])} over {s['n_seeds']} seeds (train tasks "
                    f"{s['train_roc_auc']['mean']:.2f}, gap {s['gap']['mean']:.2f})")

        results = []
        for shots in _positive_shots(args.shots or _DEFAULT_SHOTS["molnet"]):
            settings = cls._apply(MolnetSettings.quick(shots) if args.quick else MolnetSettings(shots=shots), args,
                                  "max_steps")
            settings.pretrained_encoder = args.pretrained
            cls._apply_options(settings, args, {})
            settings.fingerprint_bits = args.fingerprint_bits
            settings.descriptors = args.descriptors
            if args.cv_per_seed:
                settings.cv_seed = None
            if args.norm:
                settings.grid = tuple({"norm": mode} for mode in dict.fromkeys(args.norm))
            for method in args.method or _DEFAULT_METHODS["molecules"]:
                results.append(cls._record(
                    args, f"{args.benchmark}_{shots}shot_{method}", f"{args.benchmark}-{shots}shot",
                    lambda: run_molnet(collection, method, settings, progress=progress, seed_dir=args.out / "seeds"),
                    plot_learning_curves, describe))
        return markdown_table(results)

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        progress = not args.no_progress
        args.precision = resolve_precision(args.precision, torch.device("cpu"))  # once: its warning, too
        if args.train_assays != "sample" and args.benchmark != "fsmol":
            raise ValueError("--train-assays chooses FS-Mol's meta-training assays: fsmol only")
        given = _given_options(args, _FSMOL_OPTIONS)
        if given and args.benchmark != "fsmol":
            raise ValueError(f"{', '.join(given)}: FS-Mol meta-training options, fsmol only")
        if args.extra_train and args.benchmark != "fsmol":
            raise ValueError("--extra-train adds meta-training tasks to fsmol only (the other protocols fix their "
                             "training tasks)")
        given = _given_options(args, _MOLECULE_OPTIONS)
        if given and args.benchmark in TU_BENCHMARKS:
            raise ValueError(f"{', '.join(given)}: options of the molecular protocols, not {args.benchmark}")
        no_prototypes = [m for m in args.method or _DEFAULT_METHODS["molecules"] if m in META_METHODS and m != "protonet"]
        if args.distance not in (None, "euclidean") and no_prototypes:
            raise ValueError(f"--distance {args.distance} is a protonet option; {', '.join(no_prototypes)} "
                             f"{'has' if len(no_prototypes) == 1 else 'have'} no prototypes (run them separately)")
        check_output_folder(args.out)
        if args.benchmark in TU_BENCHMARKS:
            table = cls._run_tu(args, progress)
        elif args.benchmark == "fsmol":
            table = cls._run_fsmol(args, progress)
        else:
            table = cls._run_molnet(args, progress)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.benchmark}{'_quick' if args.quick else ''}.md").write_text(table)
        print()
        print(table)
        return 0


def _given_options(args: argparse.Namespace, options: dict[str, str]) -> list[str]:
    """The command-line spellings (``--fusion-width``) of those ``options`` that were set."""
    return [f"--{o.replace('_', '-')}" for o in options if getattr(args, o) is not None]


def _positive_shots(shots: list[int]) -> list[int]:
    bad = [k for k in shots if k < 1]
    if bad:
        raise ValueError(f"--shots must be positive, got {bad[0]}")
    return shots
