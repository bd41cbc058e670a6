"""``graphmeta demo``: the main job on the embedded Tox21 data, no download needed.

Meta-trains ProtoNet and MAML on Tox21's training tasks 0-8 (two of them carved out for validation, which
alone selects the checkpoint), then evaluates 10-shot on the test tasks 9-11 -- support of 10 positives and
10 negatives, query = every other labelled molecule of the task, several draws -- beside two baselines that
need no meta-training (random forest and kNN on ECFP4 fingerprints, same supports). Prints ROC-AUC per test
task. The numbers are whatever the run gives.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from graphmeta.benchmarks.methods import method_overrides
from graphmeta.cli.base import Subcommand, check_output_folder
from graphmeta.data.api import load_dataset
from graphmeta.data.episodes import KShotSampler
from graphmeta.data.splits import par_split
from graphmeta.evaluate import evaluate_episodes, sample_eval_episodes
from graphmeta.train import PRECISIONS, MetaTrainer, TrainConfig

#: (label, TrainConfig overrides) of the demo's two meta-learners: the benchmark methods of the same name.
DEMO_LEARNERS = {"ProtoNet": method_overrides("protonet"), "MAML": method_overrides("maml")}


class DemoCommand(Subcommand):
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--shots", type=int, default=10, help="positives (and negatives) per support (default 10)")
        parser.add_argument("--draws", type=int, default=5, help="test episodes per test task (default 5)")
        parser.add_argument("--steps", type=int, default=150, help="meta-training steps per learner (default 150)")
        parser.add_argument("--hidden-channels", "--hidden", dest="hidden", type=int,
                            default=64, help="GNN width (default 64)")
        parser.add_argument("--num-layers", "--layers", dest="layers", type=int, default=3,
                            help="GNN layers (default 3)")
        parser.add_argument("--seed", type=int, default=0, help="seed of weights, splits and episodes (default 0)")
        parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                            help="meta-training precision: bf16 autocast with fp32 meta-weights (default fp32)")
        parser.add_argument("--out", type=Path, default=None, help="folder for run logs, checkpoints and results.json")
        parser.add_argument("--no-progress", action="store_true", help="hide progress bars")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from graphmeta.baselines.fingerprints import (FingerprintCache, KNNBaseline, RandomForestBaseline,
                                                      evaluate_fingerprint_baseline)

        if args.out is not None:
            check_output_folder(args.out)
        start = time.perf_counter()
        tox21 = load_dataset("tox21", progress=not args.no_progress)
        print(tox21.summary())
        split = par_split(tox21).carve_validation(2, seed=args.seed)
        names = tox21.task_names
        print(f"\ntrain tasks: {', '.join(names[t] for t in split.train)}")
        print(f"validation tasks (model selection): {', '.join(names[t] for t in split.valid)}")
        print(f"test tasks: {', '.join(names[t] for t in split.test)}")
        episodes = sample_eval_episodes(tox21, split.test, KShotSampler(args.shots), args.draws, args.seed)
        scores: dict[str, list[float]] = {}
        for label, overrides in DEMO_LEARNERS.items():
            config = TrainConfig(steps=args.steps, eval_every=max(args.steps // 5, 1), k_shot=args.shots,
                                 hidden_channels=args.hidden, num_layers=args.layers, seed=args.seed,
                                 precision=args.precision, **overrides)  # type: ignore[arg-type]
            out_dir = args.out / label.lower() if args.out is not None else None
            trainer = MetaTrainer(tox21, split, config, out_dir, progress=not args.no_progress)
            result = trainer.fit()
            trainer.load_best()
            print(f"{label}: {result.steps_done} steps, best validation ROC-AUC {result.best_metric:.3f} "
                  f"at step {result.best_step}")
            scores[label] = [r.metric for r in evaluate_episodes(trainer.learner, tox21, episodes)]
        cache = FingerprintCache(tox21)
        scores["RF (ECFP4)"] = evaluate_fingerprint_baseline(RandomForestBaseline(random_state=args.seed), tox21,
                                                             episodes, cache)
        scores["kNN (ECFP4)"] = evaluate_fingerprint_baseline(KNNBaseline(), tox21, episodes, cache)
        table = _table(scores, [e.task for e in episodes], names)
        print(f"\n{args.shots}-shot ROC-AUC on the test tasks, mean +- std over {args.draws} draws "
              f"(support {args.shots}+{args.shots}, query = all other labelled molecules):")
        print(table.to_string())
        print(f"\ntotal time {time.perf_counter() - start:.0f} s")
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "results.json").write_text(json.dumps({"scores": scores, "tasks": [e.task for e in episodes],
                                                               "args": {k: str(v) for k, v in vars(args).items()}},
                                                              indent=1))
        return 0


def _table(scores: dict[str, list[float]], tasks: list[int], names: list[str]) -> pd.DataFrame:
    """Rows: test tasks and their mean; columns: methods; cells ``mean +- std`` over draws."""
    frame = pd.DataFrame({method: values for method, values in scores.items()})
    frame["task"] = [names[t] for t in tasks]
    rows = {}
    for task, group in frame.groupby("task", sort=False):
        rows[task] = {m: f"{group[m].mean():.3f} +- {group[m].std(ddof=1) if len(group) > 1 else 0:.3f}"
                      for m in scores}
    per_draw_mean = {m: np.asarray(scores[m]).reshape(len(set(tasks)), -1).mean(0) for m in scores}
    rows["mean"] = {m: f"{v.mean():.3f} +- {v.std(ddof=1) if len(v) > 1 else 0:.3f}" for m, v in per_draw_mean.items()}
    return pd.DataFrame.from_dict(rows, orient="index")
