"""Calibration of the predictor's heads on unseen tasks: raw probabilities vs Platt scaling on the support.

For each PAR-protocol test episode (K positives + K negatives as support, every other labelled molecule of the task
as query; the shipped ``tox21-*`` models trained on Tox21 tasks 0-8 only, SIDER is a family they never saw), each
head is fitted on the support and scores the query twice: raw, and through the Platt scaling that
``FewShotClassifier(calibration="platt")`` fits to the head's out-of-fold scores on the support
(:meth:`graphmeta.meta.superlearner.SuperLearner.fit_calibration`, the code the predictor runs), then moved to a
base rate (``FewShotClassifier(base_rate=...)``, :func:`graphmeta.calibration.shift_base_rate`): the mean positive
fraction of the model's training tasks (what a user could know beforehand), and, as a reference only, the query's
own positive fraction (an oracle). Reported per head and mean over episodes: ROC-AUC (must not change: every map
is increasing), Brier score, expected calibration error (10 bins), and the share of episodes whose ``prediction``
column (P > 0.5) is one class for every query molecule. The Super Learner uses the support's own CV weights.

Usage: ``python bench/calibration.py tox21 [--model tox21-maml] [--shots 10 5] [--seeds 3] [--draws 5]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_record  # noqa: E402

from graphmeta.benchmarks.common import mean_std  # noqa: E402
from graphmeta.benchmarks.molnet import protocol_episodes  # noqa: E402
from graphmeta.data.api import load_dataset  # noqa: E402
from graphmeta.data.splits import par_split  # noqa: E402
from graphmeta.calibration import shift_base_rate  # noqa: E402
from graphmeta.meta.base_learners import TaskPool, default_base_learners  # noqa: E402
from graphmeta.meta.superlearner import SuperLearner  # noqa: E402
from graphmeta.metrics import brier_score, expected_calibration_error, roc_auc  # noqa: E402
from graphmeta.model_files import load_meta_model  # noqa: E402


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    predicted = p > 0.5
    return {"roc_auc": roc_auc(y, p), "brier": brier_score(y, p), "ece": expected_calibration_error(y, p),
            "one_class": float(predicted.all() or not predicted.any())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=["tox21", "sider"])
    parser.add_argument("--model", default="tox21-maml", help="shipped model name or model.pt (default tox21-maml)")
    parser.add_argument("--heads", nargs="+", default=["protonet", "maml", "superlearner"])
    parser.add_argument("--shots", nargs="+", type=int, default=[10, 5], help="K (default 10 5)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--draws", type=int, default=5, help="supports per task and seed (default 5)")
    parser.add_argument("--n-folds", type=int, default=5, help="CV folds on the support (default 5)")
    parser.add_argument("--data-dir", default=None, help="raw-data folder (default $GRAPHMETA_DATA)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/calibration_*.json)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    meta = load_meta_model(args.model)
    collection = load_dataset(args.dataset, data_dir_override=args.data_dir, progress=False)
    split = par_split(collection)
    seen = set(meta.info.get("split", {}).get("train", [])) | set(meta.info.get("split", {}).get("valid", []))
    if meta.trained_on == collection.name and seen & set(split.test):
        raise SystemExit(f"{args.model} trained on test tasks {sorted(seen & set(split.test))}: not a fair benchmark")
    library = {b.name: b for b in default_base_learners(meta.learner)}
    missing = [h for h in args.heads if h != "superlearner" and h not in library]
    if missing:
        raise SystemExit(f"head(s) {missing} not available for {args.model}; available: {list(library)}")
    training = meta.info.get("split", {}).get("train", []) if meta.trained_on == collection.name else []
    if not training:
        raise SystemExit(f"{args.model} was not trained on {args.dataset} tasks: no training base rate to use")
    train_rate = float(np.mean([collection.labels.task(int(t))[1].float().mean().item() for t in training]))
    learners = {h: SuperLearner(list(library.values()) if h == "superlearner" else [library[h]],
                                n_folds=args.n_folds) for h in args.heads}
    kinds = ("raw", "platt", "platt+train rate", "platt+query rate (oracle)")
    summaries = {}
    lines = ["| support | head | metric | " + " | ".join(kinds) + " |", "|---|---|---|" + "---|" * len(kinds)]
    for shots in args.shots:
        episodes = [e for seed in range(args.seeds)
                    for e in protocol_episodes(collection, split.test, shots, None, args.draws, seed)]
        rows: dict[str, dict[str, list[dict[str, float]]]] = {h: {k: [] for k in kinds} for h in args.heads}
        for episode in episodes:
            pool = TaskPool.from_episode(collection, episode)
            y_support, y_query = episode.support_y.numpy().astype(np.int64), episode.query_y.numpy()
            for head, sl in learners.items():
                weights, _, oof = sl.weights_for(pool, y_support)
                raw, _ = sl.predict(pool, y_support, weights)
                calibrated = sl.fit_calibration(pool, y_support, weights, oof)(raw)
                support_rate = float(y_support.mean())
                for kind, p in zip(kinds, (raw, calibrated, shift_base_rate(calibrated, support_rate, train_rate),
                                           shift_base_rate(calibrated, support_rate, float(y_query.mean())))):
                    rows[head][kind].append(_scores(y_query, p))
        summary = {head: {kind: {metric: mean_std([r[metric] for r in values]) for metric in values[0]}
                          for kind, values in by_kind.items()} for head, by_kind in rows.items()}
        summaries[f"{shots}-shot"] = {"n_episodes": len(episodes), "heads": summary}
        for head, s in summary.items():
            for m in ("roc_auc", "brier", "ece", "one_class"):
                lines.append(f"| {shots}+{shots} | {head} | {m} | "
                             + " | ".join(f"{s[kind][m]['mean']:.3f}" for kind in kinds) + " |")
    table = "\n".join(lines)
    print(table)
    settings = {"dataset": args.dataset, "model": str(meta.source), "model_trained_on": meta.trained_on,
                "heads": args.heads, "shots": args.shots, "seeds": args.seeds, "draws": args.draws,
                "n_folds": args.n_folds, "train_base_rate": train_rate, "test_tasks": [collection.task_names[t] for t in split.test]}
    out = args.out or RESULTS / f"calibration_{args.dataset}.json"
    write_record(f"calibration_{args.dataset}", {"settings": settings, "summaries": summaries}, out)
    out.with_suffix(".md").write_text(table + "\n")
    print(f"wrote {out} ({time.perf_counter() - start:.0f} s)")
    return summaries


if __name__ == "__main__":
    main()
