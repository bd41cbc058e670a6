"""Featurizer speed against ``torch_geometric.utils.from_smiles`` on RDKit's ``Data/NCI/first_5K.smi``.

Both run in this process on the same SMILES, best of ``--repeats``; the result is a ratio (from_smiles time /
graphmeta time), never a fixed time. Two graphmeta paths are timed:

- ``per_molecule``: ``MoleculeFeaturizer()(smiles) -> Data`` for each SMILES, the like-for-like replacement of
  ``from_smiles``;
- ``dataset``: ``featurize_many(smiles)``, what the dataset loaders use (flat arrays for a whole file, no
  per-molecule tensors), compared with building the same graphs by a ``from_smiles`` loop.

Usage: ``python bench/featurize.py [--limit N] [--repeats R] [--out PATH]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rdkit import RDConfig, RDLogger
from torch_geometric.utils import from_smiles

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, write_record  # noqa: E402

from graphmeta.data.featurize import InvalidSmilesError, MoleculeFeaturizer  # noqa: E402


def read_smiles(limit: int | None) -> list[str]:
    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    smiles = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    return smiles[:limit] if limit else smiles


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="use only the first N molecules")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats, best kept (default 5)")
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default bench/results/featurize.json)")
    args = parser.parse_args(argv)

    RDLogger.DisableLog("rdApp.*")
    smiles = read_smiles(args.limit)
    featurizer = MoleculeFeaturizer()

    def pyg() -> None:
        for s in smiles:
            from_smiles(s)

    def ours_per_molecule() -> None:
        for s in smiles:
            try:
                featurizer(s)
            except InvalidSmilesError:
                pass

    def ours_dataset() -> None:
        featurizer.featurize_many(smiles)

    _, invalid = featurizer.featurize_many(smiles)
    rows = {}
    t_pyg = best_of(pyg, args.repeats)
    for name, fn in (("per_molecule", ours_per_molecule), ("dataset", ours_dataset)):
        t = best_of(fn, args.repeats)
        rows[name] = {"seconds": t, "from_smiles_seconds": t_pyg, "speedup": t_pyg / t}
    # the reference again, in case the machine got busier or quieter during the run
    t_pyg_after = best_of(pyg, args.repeats)
    for row in rows.values():
        row["from_smiles_seconds"] = min(t_pyg, t_pyg_after)
        row["speedup"] = row["from_smiles_seconds"] / row["seconds"]

    print(f"{len(smiles)} SMILES from first_5K.smi ({len(invalid)} invalid), best of {args.repeats}")
    print(f"{'path':<14} {'graphmeta s':>12} {'from_smiles s':>14} {'speedup':>8}")
    for name, row in rows.items():
        print(f"{name:<14} {row['seconds']:>12.3f} {row['from_smiles_seconds']:>14.3f} {row['speedup']:>7.2f}x")
    results = {"n_smiles": len(smiles), "n_invalid": len(invalid), "repeats": args.repeats, "paths": rows,
               "featurizer": featurizer.cache_key}
    path = write_record("featurize", results, args.out)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
