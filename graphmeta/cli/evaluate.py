"""``graphmeta evaluate``: score a model's few-shot predictions on tasks it never trained on.

For each task, ``--draws`` supports of K positives + K negatives are sampled (seeded: the same supports as the
benchmark harness for the same seed), the chosen head adapts to each and scores every other labelled molecule of
the task; the table gives ROC-AUC per task (mean and standard deviation over draws) and the mean over tasks.
By default the tasks are those of the dataset the model was trained on that it did not train or validate on
(for Tox21: the published split's test tasks).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from graphmeta.cli.base import (Subcommand, add_data_dir_argument, add_table_arguments, load_named_or_csv,
                                task_indices)


class EvaluateCommand(Subcommand):
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        from graphmeta.choices import HEADS

        parser.add_argument("--model", required=True, help="shipped model name or model.pt file")
        parser.add_argument("--dataset", default=None,
                            help="dataset name, CSV or task table (default: the registered dataset the model trained "
                                 "on; a model trained on a CSV needs the CSV here)")
        parser.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                            help="task names or indices (default: the dataset's tasks the model never saw)")
        parser.add_argument("--shots", type=int, default=10, help="K positives + K negatives (default 10)")
        parser.add_argument("--draws", type=int, default=5, help="supports per task (default 5)")
        parser.add_argument("--head", choices=HEADS, default="protonet", help="how to adapt (default protonet)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the support draws (default 0)")
        parser.add_argument("--json", type=Path, default=None, help="also write the per-episode results as JSON")
        add_table_arguments(parser)
        add_data_dir_argument(parser)
        parser.add_argument("--no-progress", action="store_true", help="hide progress bars")

    @classmethod
    def _tasks(cls, collection: Any, meta: Any, requested: list[str] | None) -> list[int]:
        split = meta.info.get("split", {})
        if requested:
            tasks = task_indices(collection, requested)
            seen = set(split.get("train", [])) | set(split.get("valid", []))
            if collection.name == meta.trained_on and seen & set(tasks):
                names = [collection.task_names[t] for t in tasks if t in seen]
                print(f"warning: the model trained (or selected its checkpoint) on {names}: their scores measure "
                      f"fit, not few-shot prediction on new tasks", file=sys.stderr)
            return tasks
        if collection.name != meta.trained_on:
            raise ValueError(f"the model trained on {meta.trained_on}, not {collection.name}: pass --tasks")
        seen = set(split.get("train", [])) | set(split.get("valid", []))
        tasks = [t for t in range(collection.n_tasks) if t not in seen]
        if not tasks:
            raise ValueError(f"the model trained on every task of {collection.name}; pass --tasks (or evaluate on "
                             f"another dataset)")
        return tasks

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from tqdm.auto import tqdm

        from graphmeta.data.episodes import KShotSampler
        from graphmeta.evaluate import sample_eval_episodes, score_episodes
        from graphmeta.data.inputs import GraphInputs
        from graphmeta.model_files import cached_meta_model
        from graphmeta.predictor import FewShotClassifier

        if args.shots < 1 or args.draws < 1:
            raise ValueError("--shots and --draws must be positive")
        meta = cached_meta_model(args.model)  # the classifiers below share this copy
        if args.dataset is None:
            from graphmeta.data.registry import list_datasets

            if meta.trained_on.lower() not in {name.lower() for name in list_datasets()}:
                raise ValueError(f"the model trained on {meta.trained_on!r}, not a registered dataset: pass the file "
                                 f"it was trained from (or another) with --dataset")
            args.dataset = meta.trained_on
        collection = load_named_or_csv(args, progress=not args.no_progress, featurizer=meta.molecule_featurizer())
        tasks = cls._tasks(collection, meta, args.tasks)
        episodes = sample_eval_episodes(collection, tasks, KShotSampler(args.shots), args.draws, args.seed)
        records = []
        for episode in tqdm(episodes, desc="evaluating", unit="episode", disable=args.no_progress):
            clf = FewShotClassifier(model=args.model, head=args.head, random_state=args.seed)
            clf.fit(GraphInputs.from_collection(collection, episode.support), episode.support_y.numpy())
            query = GraphInputs.from_collection(collection, episode.query)
            result = score_episodes([episode], [clf.predict_proba(query)])[0]
            records.append({"task": collection.task_names[episode.task], "roc_auc": result.metric,
                            "brier": result.brier, "ece": result.ece, "n_query": len(episode.query),
                            "weights": clf.weights_})
        print(f"{args.head} on {meta.name} ({meta.config.learner}, trained on {meta.trained_on}): {args.shots}-shot "
              f"ROC-AUC, {args.draws} draws per task, query = all other labelled molecules; calibration of "
              f"P(active): Brier score and expected calibration error (0 is perfect)")
        print(f"{'task':<24} {'mean':>7} {'std':>7} {'brier':>7} {'ece':>7}")
        means = []
        for name in [collection.task_names[t] for t in tasks]:
            mine = [r for r in records if r["task"] == name]
            means.append([float(np.mean([r[k] for r in mine])) for k in ("roc_auc", "brier", "ece")])
            print(f"{name:<24} {means[-1][0]:>7.4f} {float(np.std([r['roc_auc'] for r in mine])):>7.4f} "
                  f"{means[-1][1]:>7.4f} {means[-1][2]:>7.4f}")
        overall = np.mean(means, axis=0)
        print(f"{'mean over tasks':<24} {overall[0]:>7.4f} {'':>7} {overall[1]:>7.4f} {overall[2]:>7.4f}")
        if args.json is not None:
            args.json.write_text(json.dumps({"model": str(meta.source), "head": args.head, "shots": args.shots,
                                             "seed": args.seed, "episodes": records}, indent=1) + "\n")
        return 0
