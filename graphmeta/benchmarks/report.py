"""Tables and plots of benchmark results: markdown beside the published numbers, learning curves, overfitting gap."""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path
from typing import Any, Sequence

__all__ = ["markdown_table", "plot_learning_curves"]


def _pm(stats: dict[str, float]) -> str:
    if math.isnan(stats["std"]):
        return f"{stats['mean']:.2f}"
    return f"{stats['mean']:.2f} ± {stats['std']:.2f}"


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """One table per (dataset, shots): graphmeta's methods (ROC-AUC x 100, mean ± std over seeds, the train-task
    score and the gap) followed by the published numbers for the same setting."""
    blocks = []
    keys = sorted({(r["dataset"], r["shots"]) for r in results}, key=lambda k: (k[0], -k[1]))
    for dataset, shots in keys:
        rows = [r for r in results if r["dataset"] == dataset and r["shots"] == shots]
        lines = [f"**{dataset}, {shots}-shot** (test ROC-AUC x 100 averaged over test tasks; mean ± std over seeds)",
                 "", "| method | test ROC-AUC | train-task ROC-AUC | gap (train - test) | seeds | steps (CV) |",
                 "|---|---|---|---|---|---|"]
        for r in rows:
            s = r["summary"]
            steps = sorted({seed.get("steps") for seed in r["seeds"] if seed.get("steps") is not None})
            lines.append(f"| graphmeta {r['method']} | {_pm(s['test_roc_auc'])} | {_pm(s['train_roc_auc'])} | "
                         f"{_pm(s['gap'])} | {s['n_seeds']} | {', '.join(map(str, steps)) or '-'} |")
        published = rows[0].get("published", {})
        for method, value in published.items():
            lines.append(f"| published {method} | {value:.2f} | | | | |")
        if published:
            lines.append("")
            lines.append(f"Published: {rows[0].get('published_source', '')}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def plot_learning_curves(result: dict[str, Any], path: str | os.PathLike) -> Path | None:
    """PNG with (left) the cross-validated held-out ROC-AUC by step, mean over seeds, and (right) the retraining
    curves on fresh training-task episodes and on test-task episodes, one pair of lines per seed.

    Returns ``None`` for methods without meta-training (baselines have no curves).
    """
    seeds = [s for s in result["seeds"] if "cv" in s]
    if not seeds:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    curves = [{p["step"]: p["cv_roc_auc"] for p in s["cv"]["candidates"][s["cv"]["chosen"]["grid_index"]]["curve"]}
              for s in seeds]
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    left.plot(steps, [statistics.fmean(c[x] for c in curves) for x in steps], marker="o", color="tab:green")
    for s in seeds:
        left.axvline(s["steps"], color="grey", alpha=0.3, lw=1)
    left.set(title="held-out training tasks (CV), mean over seeds", xlabel="meta-training step", ylabel="ROC-AUC")
    for i, s in enumerate(seeds):
        hist = s["retrain_history"]
        x = [h["step"] for h in hist]
        right.plot(x, [h["train_roc_auc"] for h in hist], color="tab:blue", alpha=0.6, marker=".",
                   label="training tasks (fresh episodes)" if i == 0 else None)
        right.plot(x, [h["test_roc_auc"] for h in hist], color="tab:orange", alpha=0.6, marker=".",
                   label="test tasks (monitor only)" if i == 0 else None)
    gap = result["summary"]["gap"]
    right.set(title=f"retraining; final gap train - test = {gap['mean']:.1f} (x100)", xlabel="meta-training step",
              ylabel="ROC-AUC")
    right.legend(loc="best", fontsize=8)
    fig.suptitle(f"{result['dataset']} {result['shots']}-shot, {result['method']}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
