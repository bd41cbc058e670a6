"""Super Learner vs its base learners vs the per-task oracle, on the benchmark harness's test episodes.

- ``tox21`` (or ``sider``): the PAR protocol's test tasks and supports (K positives + K negatives; query = every
  other labelled molecule; the same supports as ``graphmeta benchmark`` for the same seeds); ROC-AUC.
  K = 1 supports cannot be cross-validated: the Super Learner then uses the model's cross-task fallback weights.
- ``fsmol``: FS-Mol's test assays with stratified supports of the given sizes; delta-AUPRC.

The model must not have trained on the test tasks: the shipped ``tox21-*`` models trained on Tox21 tasks 0-8 only;
for FS-Mol pass a model trained on its training assays (``graphmeta train fsmol``). Writes
``bench/results/superlearner_<dataset>.json`` (and ``.md``) with the command, commit and machine.

Usage: ``python bench/superlearner.py tox21 [--model tox21-maml] [--shots 10 1] [--seeds 10] [--draws 5]``
       ``python bench/superlearner.py fsmol --model runs/fsmol-maml/model.pt [--support-sizes 16 128] [--draws 10]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_record  # noqa: E402

from graphmeta.benchmarks.fsmol import sample_stratified_episodes  # noqa: E402
from graphmeta.benchmarks.molnet import protocol_episodes  # noqa: E402
from graphmeta.benchmarks.stacking import evaluate_stacking, stacking_markdown, summarize_stacking  # noqa: E402
from graphmeta.data.api import load_dataset  # noqa: E402
from graphmeta.data.splits import par_split, predefined_split  # noqa: E402
from graphmeta.meta.base_learners import default_base_learners  # noqa: E402
from graphmeta.meta.superlearner import SuperLearner, prior_from_episodes, training_episodes  # noqa: E402
from graphmeta.model_files import load_meta_model  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=["tox21", "sider", "fsmol"])
    parser.add_argument("--model", default="tox21-maml", help="shipped model name or model.pt (default tox21-maml)")
    parser.add_argument("--shots", nargs="+", type=int, default=[10, 1], help="MoleculeNet K (default 10 1)")
    parser.add_argument("--support-sizes", nargs="+", type=int, default=[16, 128], help="FS-Mol sizes (16 128)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10; FS-Mol uses seed 0)")
    parser.add_argument("--draws", type=int, default=None, help="supports per task and seed (5; FS-Mol 10)")
    parser.add_argument("--test-tasks", type=int, default=None, help="FS-Mol: only the first N test assays")
    parser.add_argument("--n-folds", type=int, default=5, help="Super Learner CV folds (default 5)")
    parser.add_argument("--prior-strength", default="0",
                        help="shrink CV weights towards the model's cross-task weights (pseudo-observations; 0), "
                             "or 'auto': chosen per support size by leave-tasks-out CV over the model's training tasks")
    parser.add_argument("--prior-tasks", type=int, default=None,
                        help="'auto': CV over at most this many training tasks, drawn with seed 0 (default: all; "
                             "FS-Mol 40)")
    parser.add_argument("--data-dir", default=None, help="raw-data folder (default $GRAPHMETA_DATA)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/...)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    meta = load_meta_model(args.model)
    collection = load_dataset(args.dataset, data_dir_override=args.data_dir)
    split = predefined_split(collection) if args.dataset == "fsmol" else par_split(collection)
    seen = set(meta.info.get("split", {}).get("train", [])) | set(meta.info.get("split", {}).get("valid", []))
    if meta.trained_on == collection.name and seen & set(split.test):
        raise SystemExit(f"{args.model} trained on test tasks {sorted(seen & set(split.test))}: not a fair benchmark")
    fallback = meta.info.get("superlearner_fallback", {}).get("weights")
    auto = args.prior_strength == "auto"
    superlearner = SuperLearner(default_base_learners(meta.learner), n_folds=args.n_folds, fallback_weights=fallback,
                                prior_strength=0.0 if auto else float(args.prior_strength))
    train_tasks = list(meta.info.get("split", {}).get("train", []))
    limit = args.prior_tasks or (40 if args.dataset == "fsmol" else None)
    if auto and limit and len(train_tasks) > limit:
        train_tasks = sorted(np.random.default_rng(0).choice(train_tasks, limit, replace=False).tolist())
    prior_records = {}

    def choose(key: str, training: list) -> None:
        """'auto': the prior strength for supports like ``training`` (episodes of the model's training tasks)."""
        if not auto:
            return
        prior_records[key] = prior_from_episodes(superlearner, collection, training, train_tasks,
                                                 meta.info["superlearner_fallback"], progress=True)
        superlearner.prior_strength = prior_records[key]["prior_strength"]
        print(f"{key}: prior strength {superlearner.prior_strength:g} chosen on {len(train_tasks)} training tasks")

    settings, summaries, tables = {}, {}, []
    if args.dataset == "fsmol":
        metric, draws = "delta_auprc", args.draws or 10
        tasks = split.test[:args.test_tasks] if args.test_tasks else split.test
        for size in args.support_sizes:
            choose(f"support {size}", sample_stratified_episodes(collection, train_tasks, size, 2, seed=0,
                                                                 query_cap=64)[0])
            episodes, skipped = sample_stratified_episodes(collection, tasks, size, draws, seed=0)
            rows = evaluate_stacking(collection, episodes, superlearner, metric)
            summaries[f"support {size}"] = {**summarize_stacking(rows, collection.task_names), "skipped": skipped}
            tables.append(stacking_markdown(summaries[f"support {size}"], f"FS-Mol, support {size}", metric))
    else:
        metric, draws = "roc_auc", args.draws or 5
        for shots in args.shots:
            if shots > 1:  # 1-shot supports use the fallback weights; there is nothing to shrink
                choose(f"{shots}-shot", training_episodes(collection, train_tasks, shots))
            episodes = [e for seed in range(args.seeds)
                        for e in protocol_episodes(collection, split.test, shots, None, draws, seed)]
            rows = evaluate_stacking(collection, episodes, superlearner, metric)
            summaries[f"{shots}-shot"] = summarize_stacking(rows, collection.task_names)
            tables.append(stacking_markdown(summaries[f"{shots}-shot"], f"{args.dataset} {shots}-shot", metric))
    settings = {"dataset": args.dataset, "model": str(meta.source), "model_learner": meta.config.learner,
                "model_provenance": meta.info.get("provenance"), "model_trained_on": meta.trained_on,
                "metric": metric, "draws": draws, "seeds": args.seeds, "n_folds": args.n_folds,
                "prior_strength": args.prior_strength, "prior_cv": prior_records or None,
                "prior_cv_tasks": train_tasks if auto else None,
                "base_learners": superlearner.names, "fallback_weights": fallback}
    for table in tables:
        print(table)
    out = args.out or RESULTS / f"superlearner_{args.dataset}.json"
    write_record(f"superlearner_{args.dataset}", {"settings": settings, "summaries": summaries},
                 out)
    out.with_suffix(".md").write_text("\n".join(tables))
    print(f"wrote {out} ({time.perf_counter() - start:.0f} s)")
    return summaries


if __name__ == "__main__":
    main()
