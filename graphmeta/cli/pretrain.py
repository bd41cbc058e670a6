"""``graphmeta pretrain``: pretraining of the backbone, self-supervised on unlabeled molecules (attribute masking,
graph contrastive learning) or supervised on the tasks of a dataset (multitask); resumable, writes encoder.pt."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any, Callable

from graphmeta.benchmarks.record import write_record
from graphmeta.cli.base import Subcommand, add_data_dir_argument, check_output_folder
from graphmeta.data.api import load_dataset
from graphmeta.data.download import sha256_file
from graphmeta.pretrain import (AUGMENTATIONS, DEFAULT_CORPUS, OBJECTIVES, PretrainConfig, molecule_corpus, pretrain,
                                supervised_pretrain)
from graphmeta.pretrain.config import DEVICES, LR_SCHEDULES, PRECISIONS


class PretrainCommand(Subcommand):
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        source = parser.add_argument_group("molecules")
        source.add_argument("--datasets", nargs="+", default=None,
                            help=f"molecule sources, labels unused (default: {' '.join(DEFAULT_CORPUS)}; FS-Mol "
                                 "contributes its training-task molecules and its valid/test molecules are excluded)")
        source.add_argument("--corpus-dir", type=Path, default=None,
                            help="a prebuilt corpus folder (graphmeta.data.corpus.build_corpus) instead of --datasets")
        source.add_argument("--supervised-tasks", default=None, metavar="DATASET",
                            help="multitask pretraining on this dataset's binary tasks (fsmol: its training tasks "
                                 "only); its labelled molecules replace the corpus")
        defaults = PretrainConfig()
        for option, kind, text in (("steps", int, "optimizer steps"), ("batch_size", int, "molecules per step"),
                                   ("lr", float, "AdamW learning rate"), ("weight_decay", float, "AdamW weight decay"),
                                   ("warmup_steps", int, "linear learning-rate warmup steps"),
                                   ("mask_rate", float, "fraction of atoms masked (masking)"),
                                   ("augment_rate", float, "fraction of atoms / bonds dropped or masked (contrastive)"),
                                   ("temperature", float, "NT-Xent temperature (contrastive)"),
                                   ("eval_every", int, "held-out evaluation interval"),
                                   ("eval_molecules", int, "held-out molecules"), ("hidden_channels", int, "GNN width"),
                                   ("num_layers", int, "GNN layers"), ("seed", int, "seed")):
            short = {"hidden_channels": ["--hidden"], "num_layers": ["--layers"]}.get(option, [])  # as train says
            parser.add_argument(f"--{option.replace('_', '-')}", *short, dest=option, type=kind,
                                default=getattr(defaults, option), help=f"{text} (default {getattr(defaults, option)})")
        parser.add_argument("--objectives", nargs="+", choices=OBJECTIVES, default=None,
                            help="objectives summed every step (default: masking; with --supervised-tasks: multitask)")
        parser.add_argument("--objective-weights", nargs="+", type=float, default=None,
                            help="one weight per objective (default 1 each)")
        parser.add_argument("--augmentations", nargs="+", choices=AUGMENTATIONS, default=list(AUGMENTATIONS),
                            help="contrastive views: one drawn per molecule (default: all)")
        parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=defaults.lr_schedule,
                            help=f"after warmup (default {defaults.lr_schedule}; cosine decays to 0 at --steps)")
        parser.add_argument("--checkpoint-every", type=int, default=None,
                            help="also write last.pt every N steps (it is written at every evaluation)")
        parser.add_argument("--resume", action="store_true",
                            help="continue from OUT/last.pt (same settings; --steps may change)")
        parser.add_argument("--init-from", default=None, metavar="ENCODER_PT",
                            help="start the backbone from this encoder.pt (e.g. a self-supervised run)")
        parser.add_argument("--precision", choices=PRECISIONS, default=defaults.precision,
                            help="auto: bf16 where native (CUDA with bf16, CPU with AVX-512-BF16/AMX), else fp32")
        parser.add_argument("--device", choices=DEVICES, default=defaults.device, help="auto: cuda when available")
        parser.add_argument("--conv", default=defaults.conv, choices=["gin", "gcn", "gat", "sage"],
                            help="backbone layer (default gin)")
        parser.add_argument("--norm", default=defaults.norm, choices=["task", "running", "layer", "none"],
                            help="normalization (default task)")
        parser.add_argument("--out", type=Path, default=Path("graphmeta-pretrain"),
                            help="folder for encoder.pt, last.pt, history.json and pretrain.json (the run's record; "
                                 "default ./graphmeta-pretrain)")
        add_data_dir_argument(parser)
        parser.add_argument("--no-progress", action="store_true", help="hide progress bars")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        given = [o for o, v in (("--datasets", args.datasets), ("--corpus-dir", args.corpus_dir),
                                ("--supervised-tasks", args.supervised_tasks)) if v is not None]
        if len(given) > 1:
            raise ValueError(f"{' and '.join(given)} both name the molecules: pass one of them")
        supervised = args.supervised_tasks is not None
        objectives = tuple(args.objectives or (("multitask",) if supervised else ("masking",)))
        if supervised and "multitask" not in objectives:
            raise ValueError("--supervised-tasks trains the multitask objective: add 'multitask' to --objectives")
        if not supervised and "multitask" in objectives:
            raise ValueError("the multitask objective needs labels: pass --supervised-tasks DATASET")
        start = time.perf_counter()
        datasets = list(args.datasets or DEFAULT_CORPUS)
        extra: dict[str, Any] = ({"supervised_tasks": args.supervised_tasks} if supervised else
                                 {"corpus_dir": str(args.corpus_dir)} if args.corpus_dir is not None else
                                 {"datasets": datasets})
        config = PretrainConfig(**{f: getattr(args, f) for f in (
            "steps", "batch_size", "lr", "weight_decay", "warmup_steps", "lr_schedule", "mask_rate", "augment_rate",
            "temperature", "eval_every", "eval_molecules", "checkpoint_every", "hidden_channels", "num_layers",
            "seed", "conv", "norm", "precision", "device", "init_from")},
            objectives=objectives, augmentations=tuple(args.augmentations),
            objective_weights=tuple(args.objective_weights) if args.objective_weights else None, extra=extra)
        check_output_folder(args.out)
        summary, train = cls._data(args, datasets)  # after the config: a bad setting fails before data loads
        result = train(config, out_dir=args.out, progress=not args.no_progress, resume=args.resume)
        history = result["history"]
        last = history[-1]
        record = write_record("pretrain", {
            "corpus": summary, "config": config.to_dict(), "precision": result["precision"], "device": result["device"],
            "throughput": _throughput(history), "history": history, "encoder": str(result["checkpoint"]),
            "encoder_sha256": sha256_file(result["checkpoint"]), "resumed": bool(args.resume)},
            Path(args.out) / "pretrain.json", time.perf_counter() - start, args.invocation)
        shown = ", ".join(f"{k.removeprefix('heldout_')} {v:.3f}" for k, v in last.items()
                          if k.startswith("heldout_") and isinstance(v, float) and math.isfinite(v))
        print(f"step {last['step']} ({result['precision']} on {result['device']}): held-out {shown} -> "
              f"{result['checkpoint']} (record: {record})")
        return 0

    @classmethod
    def _data(cls, args: argparse.Namespace, datasets: list[str]) -> tuple[dict[str, Any], Callable[..., dict[str, Any]]]:
        """What the molecules are (for the record), and the function training on them (a corpus: self-supervised;
        a dataset's tasks: multitask)."""
        progress = not args.no_progress
        if args.supervised_tasks is not None:
            collection = load_dataset(args.supervised_tasks, data_dir_override=args.data_dir, progress=progress)
            if collection.name.lower() == "fsmol" and "train" not in collection.task_groups:
                raise ValueError("fsmol has no 'train' task group: refusing to pretrain on its evaluation tasks")
            n_train = len(collection.task_groups.get("train", range(collection.n_tasks)))
            print(f"multitask pretraining on {collection.name}: {n_train:,} tasks"
                  f"{' (training group)' if collection.task_groups else ''}, {collection.n_graphs:,} graphs")

            def train_tasks(config: PretrainConfig, **kwargs: Any) -> dict[str, Any]:
                return supervised_pretrain(collection, config, **kwargs)

            return {"supervised_tasks": collection.name, "tasks": n_train}, train_tasks
        if args.corpus_dir is not None:
            from graphmeta.data.corpus import load_corpus_dir

            corpus = load_corpus_dir(args.corpus_dir)
        else:
            corpus = molecule_corpus([load_dataset(name, data_dir_override=args.data_dir, progress=progress)
                                      for name in datasets])
        sources = ", ".join(f"{k} {v:,}" for k, v in corpus.sources.items())
        print(f"corpus: {len(corpus):,} unique molecules ({sources}); {corpus.excluded:,} excluded as evaluation "
              f"molecules")

        def train_corpus(config: PretrainConfig, **kwargs: Any) -> dict[str, Any]:
            return pretrain(corpus, config, **kwargs)

        return ({"molecules": len(corpus), "sources": corpus.sources, "excluded_fsmol_evaluation": corpus.excluded},
                train_corpus)


def _throughput(history: list[dict[str, Any]]) -> dict[str, float]:
    """Molecules per second of training over the whole run (evaluation time excluded), and its wall seconds."""
    molecules = sum(h.get("molecules", 0) for h in history)
    seconds = sum(h.get("seconds", 0.0) for h in history)
    return {"molecules": molecules, "train_seconds": seconds,
            "eval_seconds": sum(h.get("eval_seconds", 0.0) for h in history),
            "molecules_per_s": molecules / seconds if seconds > 0 else math.nan}
