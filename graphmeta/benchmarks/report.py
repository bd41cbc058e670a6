"""Tables and plots of benchmark results: markdown beside the published numbers, learning curves, overfitting gap."""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path
from typing import Any, Sequence

__all__ = ["markdown_table", "fsmol_markdown_table", "plot_learning_curves", "plot_fsmol_curves"]
__all__ += ["tu_markdown_table", "plot_tu_curves", "format_mean_std"]


def format_mean_std(stats: dict[str, float], digits: int = 2) -> str:
    """``mean ± std`` (``mean`` alone when the std is undefined: one seed)."""
    if math.isnan(stats["std"]):
        return f"{stats['mean']:.{digits}f}"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


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
            lines.append(f"| graphmeta {r['method']} | {format_mean_std(s['test_roc_auc'])} | {format_mean_std(s['train_roc_auc'])} | "
                         f"{format_mean_std(s['gap'])} | {s['n_seeds']} | {', '.join(map(str, steps)) or '-'} |")
        published = rows[0].get("published", {})
        for method, value in published.items():
            lines.append(f"| published {method} | {value:.2f} | | | | |")
        if published:
            lines.append("")
            lines.append(f"Published: {rows[0].get('published_source', '')}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def fsmol_markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """FS-Mol: delta-AUPRC per support size (mean ± std over seeds; tasks evaluated at that size), the training-task
    score and gap at the smallest size, then the published numbers."""
    sizes = sorted({int(k) for r in results for k in r["summary"]["by_size"]})
    head = "| method | " + " | ".join(f"ΔAUPRC@{k}" for k in sizes) + " | train-task ΔAUPRC | gap | seeds | train tasks |"
    lines = ["**FS-Mol** (delta-AUPRC on the test tasks; mean ± std over seeds)", "", head,
             "|" + "---|" * (len(sizes) + 5)]
    for r in results:
        s = r["summary"]
        cells = []
        for k in sizes:
            stats = s["by_size"].get(str(k))
            n = r["seeds"][0]["by_size"].get(str(k), {}).get("n_tasks") if stats else None
            cells.append(f"{format_mean_std(stats, 4)} ({n} tasks)" if stats else "")
        lines.append(f"| graphmeta {r['method']} | " + " | ".join(cells) + f" | {format_mean_std(s['train_delta_auprc'], 4)} | "
                     f"{format_mean_std(s['gap_at_first_size'], 4)} | {s['n_seeds']} | {r['train_tasks']} |")
    published = results[0].get("published", {}) if results else {}
    for method, values in published.items():
        by_size = {int(k): v for k, v in values.items()}  # JSON records turn the int keys into strings
        lines.append(f"| published {method} | " + " | ".join(f"{by_size[k]:.4f}" if k in by_size else "" for k in sizes)
                     + " | | | | 4938 |")
    if published:
        lines += ["", f"Published: {results[0].get('published_source', '')}"]
    return "\n".join(lines) + "\n"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _history_panel(ax: Any, histories: Sequence[list[dict[str, Any]]], series: dict[str, tuple[str, str]],
                   ylabel: str) -> None:
    """One line per history and series (``{history key: (label, colour)}``)."""
    for i, hist in enumerate(histories):
        x = [h["step"] for h in hist]
        for key, (label, colour) in series.items():
            ax.plot(x, [h[key] for h in hist], color=colour, alpha=0.6, marker=".", label=label if i == 0 else None)
    ax.set(xlabel="meta-training step", ylabel=ylabel)
    ax.legend(loc="best", fontsize=8)


def _save(fig: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def plot_fsmol_curves(result: dict[str, Any], path: str | os.PathLike) -> Path | None:
    """PNG of the validation-task and training-task delta-AUPRC during meta-training, one pair per seed
    (``None`` for baselines)."""
    histories = [s["history"] for s in result["seeds"] if "history" in s]
    if not histories:
        return None
    fig, ax = _pyplot().subplots(figsize=(6, 3.8), constrained_layout=True)
    _history_panel(ax, histories, {"val_delta_auprc": ("validation tasks (selection)", "tab:green"),
                                   "train_delta_auprc": ("training tasks (fresh episodes)", "tab:blue")}, "ΔAUPRC")
    gap = result["summary"]["gap_at_first_size"]
    ax.set_title(f"FS-Mol {result['method']}; final gap train - test = {gap['mean']:.3f}")
    return _save(fig, path)


def plot_learning_curves(result: dict[str, Any], path: str | os.PathLike) -> Path | None:
    """PNG with (left) the cross-validated held-out ROC-AUC by step, mean over seeds, and (right) the retraining
    curves on fresh training-task episodes and on test-task episodes, one pair of lines per seed.

    Returns ``None`` for methods without meta-training (baselines have no curves).
    """
    seeds = [s for s in result["seeds"] if "retrain_history" in s]
    if not seeds:
        return None
    fig, (left, right) = _pyplot().subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    cvs = [result["cv"]] if "cv" in result else [s["cv"] for s in seeds]  # one shared CV, or one per seed
    curves = [{p["step"]: p["cv_roc_auc"] for p in cv["candidates"][cv["chosen"]["grid_index"]]["curve"]}
              for cv in cvs]
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    left.plot(steps, [statistics.fmean(c[x] for c in curves) for x in steps], marker="o", color="tab:green")
    for cv in cvs:
        left.axvline(cv["chosen"]["best_step"], color="grey", alpha=0.3, lw=1)
    left.set(title="held-out training tasks (CV)" + (", mean over seeds" if len(cvs) > 1 else ""),
             xlabel="meta-training step", ylabel="ROC-AUC")
    _history_panel(right, [s["retrain_history"] for s in seeds],
                   {"train_roc_auc": ("training tasks (fresh episodes)", "tab:blue"),
                    "test_roc_auc": ("test tasks (monitor only)", "tab:orange")}, "ROC-AUC")
    right.set_title(f"retraining; final gap train - test = {result['summary']['gap']['mean']:.1f} (x100)")
    fig.suptitle(f"{result['dataset']} {result['shots']}-shot, {result['method']}")
    return _save(fig, path)


def tu_markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """One table per (benchmark, shots) of the TU protocol: graphmeta's methods (test accuracy %, mean ± std
    over seeds, the mean per-seed 95% CI, training-class accuracy and the gap) followed by the published numbers
    for the same setting, labelled as upper references."""
    blocks = []
    keys = sorted({(r["dataset"], r["shots"]) for r in results})
    for dataset, shots in keys:
        rows = [r for r in results if r["dataset"] == dataset and r["shots"] == shots]
        n_way = rows[0]["n_way"]
        lines = [f"**{dataset}, {n_way}-way {shots}-shot** (test accuracy % over test episodes; mean ± std over "
                 f"seeds; ±CI = mean per-seed 95% CI half-width)", "",
                 "| method | test accuracy | ±CI | train-class accuracy | gap (train - test) | seeds | best steps |",
                 "|---|---|---|---|---|---|---|"]
        for r in rows:
            s = r["summary"]
            steps = sorted({seed["best_step"] for seed in r["seeds"]})
            lines.append(f"| graphmeta {r['method']} | {format_mean_std(s['test_accuracy'])} | {s['test_ci95_mean']:.2f} | "
                         f"{format_mean_std(s['train_accuracy'])} | {format_mean_std(s['gap'])} | {s['n_seeds']} | "
                         f"{', '.join(map(str, steps))} |")
        published = rows[0].get("published", {})
        for method, value in published.items():
            lines.append(f"| published {method} (upper reference) | {value:.2f} | | | | | |")
        if published:
            lines += ["", f"Published: {rows[0].get('published_source', '')}"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def plot_tu_curves(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """PNG of held-out-graph validation accuracy (selection), fresh training-class accuracy and test-class
    accuracy (monitor only) during meta-training, one set of lines per seed."""
    fig, ax = _pyplot().subplots(figsize=(6, 3.8), constrained_layout=True)
    series = {"val_accuracy": ("held-out graphs of training classes (selection)", "tab:green"),
              "train_accuracy": ("training classes (fresh episodes)", "tab:blue")}
    histories = [s["history"] for s in result["seeds"]]
    if all("test_accuracy" in h for hist in histories for h in hist):
        series["test_accuracy"] = ("test classes (monitor only)", "tab:orange")
    _history_panel(ax, histories, series, "accuracy")
    ax.set_title(f"{result['dataset']} {result['n_way']}-way {result['shots']}-shot, {result['method']}; "
                 f"final gap = {result['summary']['gap']['mean']:.1f} (x100)", fontsize=9)
    return _save(fig, path)
