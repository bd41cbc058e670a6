"""Distributed meta-training: the all-reduced meta-gradient of 2 gloo ranks x 8 tasks against 1 process x 16 tasks.

Setup: Tox21, the PAR split's training tasks, :class:`graphmeta.train.MetaTrainer` with the ``TrainConfig``
defaults (GIN 128 x 5, per-task normalization, 10 + 10 support, 16 queries, learner defaults for the inner loop)
and a meta-batch of ``--tasks`` (16) episodes of training step ``--step``. The reference runs
``MetaTrainer.meta_gradient(step)`` in this process on all 16 episodes; then two processes joined by gloo
(:func:`graphmeta.distributed.launch_local`) run the same call, each on its contiguous 8 episodes, and all-reduce
(:func:`graphmeta.distributed.all_reduce_meta_gradient`). For each learner and dtype the table gives the largest
absolute difference between the two meta-gradients over every meta-parameter entry, the largest gradient entry
(the scale), for float32 the float32 rounding error of the single-process meta-gradient itself (its largest
difference from the float64 one, the yardstick for "equal within float tolerance": second-order MAML amplifies
float32 rounding), whether both ranks hold bitwise-identical gradients, and the best-of-``--repeats`` wall time of one
meta-gradient: one process with one thread, and two ranks with one thread each (rank 0's time, all-reduce
included). Timings come from a shared, busy 2-core machine: treat them as rough.

Usage: ``python bench/distributed_equivalence.py [--learners protonet maml ...] [--dtypes float32 float64]
[--tasks 16] [--step 0] [--repeats 3] [--hidden 128] [--layers 5] [--quick] [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, write_record  # noqa: E402

from graphmeta.data.api import load_dataset  # noqa: E402
from graphmeta.data.splits import par_split  # noqa: E402
from graphmeta.distributed import context, launch_local  # noqa: E402
from graphmeta.meta.registry import LEARNERS  # noqa: E402
from graphmeta.train import MetaTrainer, TrainConfig  # noqa: E402

WORLD_SIZE = 2


def _config(spec: dict[str, Any], learner: str) -> TrainConfig:
    return TrainConfig(learner=learner, meta_batch_size=spec["tasks"], hidden_channels=spec["hidden"],
                       num_layers=spec["layers"], k_shot=spec["k_shot"], n_query=spec["n_query"], seed=spec["seed"])


def _measure(spec: dict[str, Any], collection: Any, learner: str, dtype: str) -> dict[str, Any]:
    """Meta-loss, meta-gradient (one flat vector) and best time of ``meta_gradient(step)`` in this process."""
    trainer = MetaTrainer(collection, par_split(collection), _config(spec, learner), progress=False)
    trainer.learner.to(getattr(torch, dtype))
    loss, _, _ = trainer.meta_gradient(spec["step"])
    params = list(trainer.learner.parameters())
    flat = torch.cat([p.grad.reshape(-1) if p.grad is not None else torch.full((p.numel(),), float("nan"),
                                                                               dtype=p.dtype) for p in params])
    seconds = best_of(lambda: trainer.meta_gradient(spec["step"]), spec["repeats"])
    return {"loss": float(loss), "grad": flat.double(), "seconds": seconds}


def _rank(spec_path: Path) -> None:
    """One rank: every (learner, dtype) measurement, saved for the parent to compare."""
    spec = json.loads(spec_path.read_text())
    collection = load_dataset("tox21", progress=False)
    out = {f"{learner}/{dtype}": _measure(spec, collection, learner, dtype)
           for learner in spec["learners"] for dtype in spec["dtypes"]}
    torch.save(out, spec_path.parent / f"rank{context().rank}.pt")


def _max_abs(t: torch.Tensor) -> float:
    """Max |t| over the entries that have a gradient (NaN marks a parameter without one)."""
    finite = t[~torch.isnan(t)]
    return float(finite.abs().max()) if finite.numel() else 0.0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", nargs="+", default=sorted(LEARNERS), choices=sorted(LEARNERS))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--tasks", type=int, default=16, help="episodes per meta-batch (default 16: 2 ranks x 8)")
    parser.add_argument("--step", type=int, default=0, help="training step whose meta-batch is used (default 0)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats, best kept (default 3)")
    parser.add_argument("--hidden", type=int, default=128, help="GNN width (default 128)")
    parser.add_argument("--layers", type=int, default=5, help="GNN layers (default 5)")
    parser.add_argument("--quick", action="store_true", help="tiny model and episodes, one repeat (smoke test)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON path (default bench/results/distributed_equivalence.json)")
    args = parser.parse_args(argv)
    spec = {"learners": args.learners, "dtypes": args.dtypes, "tasks": args.tasks, "step": args.step,
            "repeats": 1 if args.quick else args.repeats, "hidden": 8 if args.quick else args.hidden,
            "layers": 2 if args.quick else args.layers, "k_shot": 2 if args.quick else TrainConfig.k_shot,
            "n_query": 4 if args.quick else TrainConfig.n_query, "seed": 0}
    torch.set_num_threads(1)  # one core per process, like each rank
    collection = load_dataset("tox21", progress=False)  # also fills the featurization cache the ranks read
    start = time.perf_counter()
    single = {f"{learner}/{dtype}": _measure(spec, collection, learner, dtype)
              for learner in args.learners for dtype in args.dtypes}
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        launch_local(_rank, WORLD_SIZE, args=(spec_path,))
        ranks = [torch.load(Path(tmp) / f"rank{r}.pt", weights_only=False) for r in range(WORLD_SIZE)]
    rows = []
    for key, ref in single.items():
        learner, dtype = key.split("/")
        got = ranks[0][key]["grad"]
        rows.append({"learner": learner, "dtype": dtype,
                     "max_abs_diff": _max_abs(got - ref["grad"]), "max_abs_grad": _max_abs(ref["grad"]),
                     "loss_abs_diff": abs(ranks[0][key]["loss"] - ref["loss"]),
                     "same_params_with_grad": bool(torch.equal(torch.isnan(got), torch.isnan(ref["grad"]))),
                     "ranks_identical": bool(torch.equal(got.nan_to_num(), ranks[1][key]["grad"].nan_to_num())),
                     "seconds_1x16": ref["seconds"], "seconds_2x8": ranks[0][key]["seconds"]})
        double = single.get(f"{learner}/float64")
        if dtype == "float32" and double is not None:
            rows[-1]["float32_error_1x16"] = _max_abs(ref["grad"] - double["grad"])
    print(f"Tox21, {spec['tasks']} tasks per meta-batch (step {spec['step']}), GIN {spec['hidden']} x {spec['layers']},"
          f" {spec['k_shot']}+{spec['k_shot']} support, {spec['n_query']} queries; 1 thread per process, "
          f"best of {spec['repeats']}")
    print(f"{'learner':<10} {'dtype':<8} {'max|g2x8-g1x16|':>16} {'max|g|':>9} {'f32 error':>9} {'ranks ==':>8} "
          f"{'1x16 s':>8} {'2x8 s':>8} {'speedup':>8}")
    for r in rows:
        f32 = f"{r['float32_error_1x16']:.2e}" if "float32_error_1x16" in r else ""
        print(f"{r['learner']:<10} {r['dtype']:<8} {r['max_abs_diff']:>16.2e} {r['max_abs_grad']:>9.2e} {f32:>9} "
              f"{str(r['ranks_identical']):>8} {r['seconds_1x16']:>8.3f} {r['seconds_2x8']:>8.3f} "
              f"{r['seconds_1x16'] / r['seconds_2x8']:>8.2f}")
    results = {"dataset": "tox21", "world_size": WORLD_SIZE, "backend": "gloo", "threads_per_process": 1,
               "quick": args.quick, **{k: v for k, v in spec.items() if k not in ("learners", "dtypes")},
               "rows": rows}
    path = write_record("distributed_equivalence", results, args.out)
    print(f"wrote {path} ({time.perf_counter() - start:.0f} s)")
    return results


if __name__ == "__main__":
    main()
