"""Does bf16 meta-training keep the demo's accuracy? fp32 vs bf16 autocast on the demo, over several seeds.

The demo setting (``graphmeta demo``: Tox21 tasks 0-8 with two carved out for validation, GIN 64x3, the demo's
ProtoNet and MAML configs, 150 steps, 10-shot) is meta-trained with ``TrainConfig(precision="fp32")`` and
``precision="bf16"`` (meta-steps under ``torch.autocast`` with bfloat16; meta-weights, gradients and AdamW in
float32) for each seed. The validation split is the same for every run (carved with seed 0) so that seeds vary
only the initial weights and the episodes; each run reports the validation ROC-AUC of its selected checkpoint
(what model selection sees), the test-task ROC-AUC of that checkpoint on the demo's test episodes (tasks 9-11,
5 draws, query = all other molecules; evaluation runs in float32 for both) and its wall time.

Verdict: bf16 is "within seed noise" when the difference of the mean validation ROC-AUC is at most twice its
standard error, ``2 * sqrt(s_fp32^2 / n + s_bf16^2 / n)`` (s = standard deviation over the n seeds).

Usage: ``python bench/bf16_demo.py [--seeds 3] [--steps 150] [--learners ProtoNet MAML] [--out PATH]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_record  # noqa: E402

from graphmeta.cli.demo import DEMO_LEARNERS  # noqa: E402
from graphmeta.data.api import load_dataset  # noqa: E402
from graphmeta.data.episodes import KShotSampler  # noqa: E402
from graphmeta.data.splits import par_split  # noqa: E402
from graphmeta.evaluate import evaluate_episodes, sample_eval_episodes  # noqa: E402
from graphmeta.train import PRECISIONS, MetaTrainer, TrainConfig  # noqa: E402


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per precision (default 3)")
    parser.add_argument("--steps", type=int, default=150, help="meta-training steps (default 150, the demo's)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--learners", nargs="+", choices=list(DEMO_LEARNERS), default=list(DEMO_LEARNERS))
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default bench/results/bf16_demo.json)")
    args = parser.parse_args(argv)

    tox21 = load_dataset("tox21", progress=False)
    split = par_split(tox21).carve_validation(2, seed=0)
    test_episodes = sample_eval_episodes(tox21, split.test, KShotSampler(10), 5, 0)
    runs: list[dict[str, Any]] = []
    for label in args.learners:
        for seed in range(args.seeds):
            for precision in PRECISIONS:
                config = TrainConfig(steps=args.steps, eval_every=max(args.steps // 5, 1), k_shot=10,
                                     hidden_channels=args.hidden, num_layers=args.layers, seed=seed,
                                     precision=precision, **DEMO_LEARNERS[label])  # type: ignore[arg-type]
                start = time.perf_counter()
                trainer = MetaTrainer(tox21, split, config, progress=False)
                result = trainer.fit()
                seconds = time.perf_counter() - start
                trainer.load_best()
                test = statistics.fmean(r.metric for r in evaluate_episodes(trainer.learner, tox21, test_episodes))
                runs.append({"learner": label, "seed": seed, "precision": precision, "val_roc_auc": result.best_metric,
                             "best_step": result.best_step, "test_roc_auc": test, "train_seconds": seconds})
                print(f"{label:8s} seed {seed} {precision}: validation {result.best_metric:.4f} (step "
                      f"{result.best_step}), test {test:.4f}, {seconds:.0f} s", flush=True)

    summary: dict[str, Any] = {}
    print(f"\n{'learner':8s} {'precision':9s} {'val ROC-AUC':>17s} {'test ROC-AUC':>17s} {'train s':>8s}")
    for label in args.learners:
        rows = {p: [r for r in runs if r["learner"] == label and r["precision"] == p] for p in PRECISIONS}
        entry: dict[str, Any] = {}
        for p, rs in rows.items():
            val, test = _mean_std([r["val_roc_auc"] for r in rs]), _mean_std([r["test_roc_auc"] for r in rs])
            secs = statistics.fmean(r["train_seconds"] for r in rs)
            entry[p] = {"val_mean": val[0], "val_std": val[1], "test_mean": test[0], "test_std": test[1],
                        "train_seconds_mean": secs}
            print(f"{label:8s} {p:9s} {val[0]:.4f} +- {val[1]:.4f} {test[0]:.4f} +- {test[1]:.4f} {secs:8.1f}")
        n = args.seeds
        diff = entry["bf16"]["val_mean"] - entry["fp32"]["val_mean"]
        se = math.sqrt(entry["fp32"]["val_std"] ** 2 / n + entry["bf16"]["val_std"] ** 2 / n)
        entry.update({"val_diff_bf16_minus_fp32": diff, "val_diff_standard_error": se,
                      "within_seed_noise": abs(diff) <= 2 * se,
                      "speedup_bf16": entry["fp32"]["train_seconds_mean"] / entry["bf16"]["train_seconds_mean"]})
        print(f"{label:8s} bf16 - fp32 validation: {diff:+.4f} (2 x standard error {2 * se:.4f}): "
              f"{'within' if entry['within_seed_noise'] else 'OUTSIDE'} seed noise; "
              f"training time ratio fp32/bf16 {entry['speedup_bf16']:.2f}x")
        summary[label] = entry
    results = {"seeds": args.seeds, "steps": args.steps, "hidden": args.hidden, "layers": args.layers,
               "validation_tasks": list(split.valid), "test_tasks": list(split.test), "runs": runs, "summary": summary}
    path = write_record("bf16_demo", results, args.out)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
