"""Corpus featurization throughput: the sharded, parallel build against a one-process featurizer, same molecules.

On a sample of the MOSES corpus (``--sample`` molecules, the first ones of ``moses_train.csv.gz``), in this
process, best of ``--repeats``:

- ``serial``: ``MoleculeFeaturizer().featurize_many(smiles)`` in one process;
- ``serial_canonical``: the same plus the canonical SMILES of every molecule, in one process: the work a corpus
  build does per molecule (the reference of the ratio);
- ``build``: :func:`graphmeta.data.corpus.build_corpus` on the same molecules with every CPU (featurize, canonical
  SMILES, compact shards written and merged; no evaluation-set exclusion, so only featurization work is timed).

The result is a ratio (serial_canonical seconds / build seconds) and molecules/s of both. With ``--corpus-dir`` the record
also carries the full build's own ``corpus.json`` (molecules, invalid, duplicates, excluded, bytes, molecules/s as
measured while it ran), made by ``graphmeta data corpus --out DIR``.

Usage: ``python bench/corpus_featurize.py [--sample N] [--repeats R] [--corpus-dir DIR] [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, write_record  # noqa: E402

from graphmeta.data.canonical import canonical_smiles  # noqa: E402
from graphmeta.data.corpus import build_corpus, corpus_source  # noqa: E402
from graphmeta.data.featurize import MoleculeFeaturizer  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=40_000, help="molecules timed (default 40000)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats, best kept (default 3)")
    parser.add_argument("--corpus-dir", type=Path, default=None, help="a finished corpus folder to report")
    parser.add_argument("--data-dir", default=None, help="raw-data folder (default $GRAPHMETA_DATA)")
    parser.add_argument("--out", type=Path, default=None, help="JSON (default bench/results/corpus_featurize.json)")
    args = parser.parse_args(argv)

    moses = corpus_source("moses", args.data_dir, download=False, progress=False)
    smiles = moses.smiles[:args.sample]
    featurizer = MoleculeFeaturizer()
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample.csv"
        sample.write_text("SMILES\n" + "".join(f"{s}\n" for s in smiles))
        runs = iter(range(args.repeats))

        def build() -> None:
            build_corpus([str(sample)], Path(tmp) / f"corpus{next(runs)}", exclude=(), featurizer=featurizer,
                         shard_size=max(1, len(smiles) // 2), n_jobs=-1, progress=False)

        t_serial = best_of(lambda: featurizer.featurize_many(smiles), args.repeats)
        t_canonical = best_of(lambda: (featurizer.featurize_many(smiles), canonical_smiles(smiles)),
                              args.repeats)
        t_build = best_of(build, args.repeats)
    results = {
        "sample": len(smiles), "repeats": args.repeats, "workers": os.cpu_count(), "featurizer": featurizer.cache_key,
        "serial": {"seconds": t_serial, "molecules_per_second": len(smiles) / t_serial},
        "serial_canonical": {"seconds": t_canonical, "molecules_per_second": len(smiles) / t_canonical},
        "build": {"seconds": t_build, "molecules_per_second": len(smiles) / t_build},
        "speedup": t_canonical / t_build,
    }
    print(f"{len(smiles)} MOSES molecules, best of {args.repeats}, {os.cpu_count()} CPUs")
    print(f"{'path':<17} {'seconds':>9} {'mol/s':>9}")
    for name in ("serial", "serial_canonical", "build"):
        print(f"{name:<17} {results[name]['seconds']:>9.2f} {results[name]['molecules_per_second']:>9.0f}")
    print(f"build / serial_canonical throughput: {results['speedup']:.2f}x")
    if args.corpus_dir is not None:
        record = json.loads((args.corpus_dir / "corpus.json").read_text())
        results["full_corpus"] = record
        print(f"full corpus: {record['molecules']:,} molecules, {record['graph_bytes'] / 2**20:,.0f} MiB "
              f"({record['bytes_per_molecule']} bytes/molecule), built at {record['molecules_per_second']} mol/s")
    path = write_record("corpus_featurize", results, args.out)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
