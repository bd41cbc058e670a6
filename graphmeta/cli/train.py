"""``graphmeta train``: meta-train a model on a named dataset or a CSV, write a model file others can load.

Writes to ``--out``: ``model.pt`` (+ ``model.json``: config, split and the command), which
``graphmeta predict --model``, ``graphmeta evaluate`` and :class:`graphmeta.FewShotClassifier` load, plus the
trainer's ``best.pt`` / ``last.pt`` (``--resume`` continues from ``last.pt``), ``metrics.csv`` and
``history.json``.

Which tasks train: for datasets with a published few-shot split (Tox21, SIDER, MUV, ToxCast: PAR; FS-Mol: its
own train/valid/test assays) only its training tasks, so ``graphmeta evaluate`` can score the untouched test
tasks (FS-Mol's validation assays select the checkpoint); ``--all-tasks`` trains on every task (for a model meant
for new properties); a CSV trains on all its tasks. ``--valid-tasks`` holds tasks out of training to pick the
best checkpoint on; without validation tasks the final weights are kept.

Distributed: ``torchrun --nproc_per_node=N -m graphmeta.cli.main train ...`` runs the same command on N processes
that share every meta-batch (:mod:`graphmeta.distributed`; the same weights as one process, up to float rounding);
rank 0 alone prints and writes files. See ``docs/distributed.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from graphmeta.benchmarks.methods import META_METHODS, fingerprint_options, method_overrides
from graphmeta.cli.base import (Subcommand, add_data_dir_argument, add_dataset_arguments, check_output_folder,
                                load_named_or_csv, task_indices)

_NORMS = ("task", "running", "layer", "none")


class TrainCommand(Subcommand):
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        add_dataset_arguments(parser)
        parser.add_argument("--out", type=Path, required=True, help="output folder (model.pt, logs, checkpoints)")
        parser.add_argument("--learner", choices=sorted(META_METHODS), default="protonet",
                            help="meta-learner (default protonet)")
        parser.add_argument("--shots", type=int, default=10, help="K positives + K negatives per support (default 10)")
        parser.add_argument("--steps", type=int, default=500, help="meta-training steps (default 500)")
        parser.add_argument("--eval-every", type=int, default=50, help="validation / checkpoint interval (default 50)")
        parser.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                            help="also write last.pt every N steps, so a crash loses at most N steps "
                                 "(default: at each evaluation only)")
        parser.add_argument("--grad-clip", type=float, default=10.0, metavar="MAX",
                            help="clip the meta-gradient's 2-norm to MAX (0: no clipping; default 10)")
        parser.add_argument("--meta-batch-size", type=int, default=8, help="tasks per meta-step (default 8)")
        parser.add_argument("--hidden-channels", "--hidden", dest="hidden", type=int,
                            default=128, help="GNN width (default 128)")
        parser.add_argument("--num-layers", "--layers", dest="layers", type=int, default=5,
                            help="GNN layers (default 5); 0: no GNN, an MLP of --fingerprint-bits and/or --descriptors")
        parser.add_argument("--fingerprint-bits", type=int, default=0, metavar="BITS",
                            help="also read each molecule's ECFP4 (BITS bits, e.g. 2048) beside the GNN readout "
                                 "(default 0: the GNN alone); the model remembers it, predict makes them itself")
        parser.add_argument("--descriptors", action="store_true",
                            help="also read 54 cheap RDKit 2D descriptors of each molecule (logP, TPSA, ring and "
                                 "group counts...), robustly scaled on the training molecules, beside the GNN readout "
                                 "(combinable with --fingerprint-bits); predict computes them itself")
        parser.add_argument("--norm", choices=_NORMS, default="task",
                            help="normalization: task (statistics of each task's support, default), running "
                                 "(running statistics), layer (per-node LayerNorm), none; with every mode a "
                                 "molecule's score is independent of the other molecules scored with it")
        parser.add_argument("--valid-tasks", nargs="+", default=None, metavar="TASK",
                            help="task names or indices held out to select the best checkpoint")
        parser.add_argument("--all-tasks", action="store_true",
                            help="train on every task, also a published split's test tasks")
        parser.add_argument("--no-fallback", action="store_true",
                            help="skip the Super Learner's cross-task records (1-shot fallback weights and the "
                                 "prior strength chosen by leave-tasks-out CV) learned on the training tasks")
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
        add_data_dir_argument(parser)
        parser.add_argument("--no-progress", action="store_true", help="hide progress bars")

    @classmethod
    def _split(cls, collection: Any, args: argparse.Namespace, verbose: bool = True) -> tuple[Any, str]:
        from graphmeta.data.splits import training_split

        valid = task_indices(collection, args.valid_tasks) if args.valid_tasks else None
        split, note, too_small = training_split(collection, args.shots, valid, args.all_tasks)
        if too_small and verbose:
            names = ", ".join(collection.task_names[t] for t in too_small[:5]) + (" ..." if len(too_small) > 5 else "")
            print(f"skipped {len(too_small)} training task(s) with fewer than {args.shots} positives or negatives "
                  f"(or nothing left for a query) for {args.shots}+{args.shots} supports: {names}")
        return split, note

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        import torch.distributed as dist

        from graphmeta.distributed import init_distributed

        started = not dist.is_initialized()
        ctx = init_distributed()  # a process group when launched by torchrun, else nothing
        try:
            return cls._run(args, ctx.is_main)
        finally:
            if ctx.distributed and started:
                dist.destroy_process_group()

    @classmethod
    def _run(cls, args: argparse.Namespace, is_main: bool) -> int:
        from graphmeta.benchmarks.record import command_line
        from graphmeta.distributed import main_first
        from graphmeta.data.featurize import MoleculeFeaturizer
        from graphmeta.meta.superlearner import model_file_records
        from graphmeta.model_files import export_model
        from graphmeta.train import MetaTrainer, TrainConfig

        for option in ("shots", "steps", "eval_every", "meta_batch_size", "hidden", "checkpoint_every"):
            if getattr(args, option) is not None and getattr(args, option) < 1:
                raise ValueError(f"--{option.replace('_', '-')} must be positive, got {getattr(args, option)}")
        if args.layers < 0 or (args.layers == 0 and not (args.fingerprint_bits or args.descriptors)):
            raise ValueError(f"--layers must be >= 0, and 0 (no GNN) needs --fingerprint-bits and/or --descriptors, "
                             f"got --layers {args.layers}")
        if not args.grad_clip >= 0:
            raise ValueError(f"--grad-clip must be 0 (no clipping) or positive, got {args.grad_clip}")
        check_output_folder(args.out)  # before the data loads
        progress = not args.no_progress and is_main
        with main_first():  # rank 0 featurizes and caches, the other ranks read its cache
            collection = load_named_or_csv(args, progress, MoleculeFeaturizer(fingerprint_bits=args.fingerprint_bits,
                                                                              descriptors=args.descriptors))
        if collection.task_type != "binary":
            raise ValueError(f"{collection.name} has {collection.task_type} tasks; graphmeta train meta-trains on "
                             f"binary tasks (use the Python API's MetaTrainer with n_way for class splits)")
        split, note = cls._split(collection, args, verbose=is_main)
        config = TrainConfig(**{**method_overrides(args.learner), "steps": args.steps,
                                "eval_every": min(args.eval_every, args.steps),
                                "meta_batch_size": args.meta_batch_size, "k_shot": args.shots,
                                "hidden_channels": args.hidden, "num_layers": args.layers, "norm": args.norm,
                                "seed": args.seed, "checkpoint_every": args.checkpoint_every,
                                "grad_clip": args.grad_clip or None,
                                "encoder_options": fingerprint_options(args.fingerprint_bits, args.descriptors)})
        if is_main:
            print(f"meta-training {args.learner} on {collection.name}: {len(split.train)} training tasks ({note}), "
                  f"{len(split.valid)} validation tasks, {args.steps} steps")
        trainer = MetaTrainer(collection, split, config, out_dir=args.out, progress=progress)
        if is_main and args.resume and (args.out / "last.pt").is_file():
            print(f"resuming from {args.out / 'last.pt'}")
        result = trainer.fit(resume=args.resume)
        if not is_main:  # every rank holds the same weights; rank 0 writes the model
            return 0
        if split.valid:
            trainer.load_best()
        extra = {}
        if not args.no_fallback:
            print("one training task: no leave-tasks-out CV for the Super Learner's prior strength, so its "
                  "weights will come from each support's own cross-validation (prior strength 0)"
                  if len(split.train) < 2 else
                  "choosing the Super Learner's prior strength by leave-tasks-out CV over the training tasks")
            extra = model_file_records(trainer.learner, collection, split.train, args.shots, seed=args.seed,
                                       progress=progress)
            prior = extra.get("superlearner_prior")
            if prior is not None:
                print(f"prior strength {prior['prior_strength']:g} (held-out log loss "
                      f"{min(prior['log_loss']):.4f}; plain CV {prior['log_loss'][0]:.4f})")
        path = export_model(trainer, args.out / "model.pt", {"command": command_line()}, extra)
        chosen = (f"best validation {config.val_metric} {result.best_metric:.3f} at step {result.best_step}"
                  if split.valid else f"final weights after {result.steps_done} steps")
        print(f"wrote {path} ({chosen})")
        return 0
