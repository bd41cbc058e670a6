"""``graphmeta pretrain``: self-supervised pretraining of the backbone (attribute masking) on unlabeled molecules."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from graphmeta.benchmarks.record import write_record
from graphmeta.cli.base import Subcommand, add_data_dir_argument
from graphmeta.data.download import sha256_file
from graphmeta.data.api import load_dataset
from graphmeta.pretrain import DEFAULT_CORPUS, PretrainConfig, molecule_corpus, pretrain


class PretrainCommand(Subcommand):
    name = "pretrain"
    help = "pretrain the GNN backbone by attribute masking on unlabeled molecules (writes encoder.pt)"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--datasets", nargs="+", default=list(DEFAULT_CORPUS),
                            help=f"molecule sources, labels unused (default: {' '.join(DEFAULT_CORPUS)}; FS-Mol "
                                 "contributes its training-task molecules and its valid/test molecules are excluded)")
        defaults = PretrainConfig()
        for option, kind, text in (("steps", int, "optimizer steps"), ("batch_size", int, "molecules per step"),
                                   ("lr", float, "AdamW learning rate"), ("mask_rate", float, "fraction of atoms masked"),
                                   ("eval_every", int, "held-out evaluation interval"),
                                   ("eval_molecules", int, "held-out molecules"), ("hidden_channels", int, "GNN width"),
                                   ("num_layers", int, "GNN layers"), ("seed", int, "seed")):
            parser.add_argument(f"--{option.replace('_', '-')}", type=kind, default=getattr(defaults, option),
                                help=f"{text} (default {getattr(defaults, option)})")
        parser.add_argument("--conv", default=defaults.conv, choices=["gin", "gcn", "gat", "sage"],
                            help="backbone layer (default gin)")
        parser.add_argument("--norm", default=defaults.norm, choices=["task", "running", "layer", "none"],
                            help="normalization (default task)")
        parser.add_argument("--out", type=Path, default=Path("graphmeta-pretrain"),
                            help="folder for encoder.pt, history.json and pretrain.json (the run's record; default ./graphmeta-pretrain)")
        add_data_dir_argument(parser)
        parser.add_argument("--no-progress", action="store_true", help="hide progress bars")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        collections = [load_dataset(name, data_dir_override=args.data_dir, progress=not args.no_progress)
                       for name in args.datasets]
        corpus = molecule_corpus(collections)
        sources = ", ".join(f"{k} {v:,}" for k, v in corpus.sources.items())
        print(f"corpus: {len(corpus):,} unique molecules ({sources}); {corpus.excluded:,} excluded as FS-Mol "
              f"evaluation molecules")
        config = PretrainConfig(**{f: getattr(args, f) for f in (
            "steps", "batch_size", "lr", "mask_rate", "eval_every", "eval_molecules", "hidden_channels", "num_layers",
            "seed", "conv", "norm")}, extra={"datasets": list(args.datasets)})
        start = time.perf_counter()
        result = pretrain(corpus, config, out_dir=args.out, progress=not args.no_progress)
        last = result["history"][-1]
        record = write_record("pretrain", {
            "corpus": {"molecules": len(corpus), "sources": corpus.sources, "excluded_fsmol_evaluation": corpus.excluded},
            "config": asdict(config), "history": result["history"], "encoder": str(result["checkpoint"]),
            "encoder_sha256": sha256_file(result["checkpoint"])}, Path(args.out) / "pretrain.json",
            time.perf_counter() - start, args.invocation)
        print(f"step {last['step']}: held-out masked-atom accuracy {last['heldout_masked_accuracy']:.3f} "
              f"(loss {last['heldout_loss']:.3f}) -> {result['checkpoint']} (record: {record})")
        return 0
