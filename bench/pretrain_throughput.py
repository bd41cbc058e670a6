"""Pretraining throughput by backbone size, objectives and precision: what decides the size of the encoder.

For each width in ``--widths`` (5 GIN layers, layer norm), objectives ``masking`` and ``masking+contrastive``, and
precisions fp32 and (where the CPU runs it natively, :func:`graphmeta.runtime.cpu_supports_bf16`) bf16, it runs
``--steps`` pretraining steps of ``--batch-size`` molecules on a corpus, in this process, and keeps the fastest
of ``--repeats`` runs. Reported: seconds per step, molecules/s, and the hours one epoch of the full 1.95M-molecule
corpus (MOSES + FS-Mol training molecules) would take at that speed; ratios to the narrowest fp32 masking run
(the reference) make the table comparable across machines.

The corpus is a folder from ``graphmeta data corpus`` (``--corpus-dir``) or, by default, Tox21's molecules (the
embedded dataset: any machine can run it).

Usage: ``python bench/pretrain_throughput.py [--widths 128 300] [--steps 20] [--corpus-dir DIR] [--out PATH]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_record  # noqa: E402

import graphmeta  # noqa: E402
from graphmeta.pretrain import PretrainConfig, molecule_corpus, pretrain  # noqa: E402
from graphmeta.runtime import cpu_supports_bf16  # noqa: E402

FULL_CORPUS = 1_950_576  # molecules of `graphmeta data corpus` (MOSES + FS-Mol training, evaluation removed)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 300], help="GNN widths (default 128 300)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per run (default 20)")
    parser.add_argument("--batch-size", type=int, default=256, help="molecules per step (default 256)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per setting, fastest kept (default 2)")
    parser.add_argument("--corpus-dir", type=Path, default=None, help="a `graphmeta data corpus` folder")
    parser.add_argument("--out", type=Path, default=None, help="JSON (default bench/results/pretrain_throughput.json)")
    args = parser.parse_args(argv)

    if args.corpus_dir is not None:
        from graphmeta.data.corpus import load_corpus_dir

        corpus, source = load_corpus_dir(args.corpus_dir), str(args.corpus_dir)
    else:
        corpus, source = molecule_corpus([graphmeta.load_dataset("tox21", progress=False)]), "tox21"
    precisions = ["fp32", "bf16"] if cpu_supports_bf16() else ["fp32"]
    rows = []
    for width in args.widths:
        for objectives in (("masking",), ("masking", "contrastive")):
            for precision in precisions:
                config = PretrainConfig(steps=args.steps, batch_size=args.batch_size, eval_every=args.steps,
                                        eval_molecules=min(256, len(corpus) // 4), hidden_channels=width,
                                        num_layers=5, norm="layer", objectives=objectives, precision=precision,
                                        device="cpu")
                best = float("inf")
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    pretrain(corpus, config, progress=False)
                    best = min(best, time.perf_counter() - start)
                per_step = best / args.steps
                rows.append({"width": width, "objectives": "+".join(objectives), "precision": precision,
                             "seconds_per_step": per_step, "molecules_per_second": args.batch_size / per_step,
                             "hours_per_full_epoch": FULL_CORPUS / (args.batch_size / per_step) / 3600})
    reference = rows[0]["seconds_per_step"]
    print(f"corpus {source} ({len(corpus):,} molecules), batch {args.batch_size}, {args.steps} steps, best of "
          f"{args.repeats} (includes model setup and one held-out evaluation)")
    print(f"{'width':>5} {'objectives':<20} {'prec':<5} {'s/step':>7} {'mol/s':>7} {'h/epoch':>8} {'x ref':>6}")
    for row in rows:
        row["relative_cost"] = row["seconds_per_step"] / reference
        print(f"{row['width']:>5} {row['objectives']:<20} {row['precision']:<5} {row['seconds_per_step']:>7.3f} "
              f"{row['molecules_per_second']:>7.0f} {row['hours_per_full_epoch']:>8.2f} {row['relative_cost']:>6.2f}")
    results = {"corpus": source, "molecules": len(corpus), "batch_size": args.batch_size, "steps": args.steps,
               "repeats": args.repeats, "bf16_native": cpu_supports_bf16(), "rows": rows}
    path = write_record("pretrain_throughput", results, args.out)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
