"""Writes the quickstart's example CSVs from the embedded Tox21 data (re-run: `python datasets/examples/make_examples.py`).

SR-p53 (Tox21 task 11) is a test task of the few-shot split: the shipped models never trained on it.
``sr-p53_support.csv``: 5 active + 5 inactive molecules (the few shots); ``sr-p53_query.csv``: 20 other
molecules (10 active, 10 inactive), with their measured label so that predictions can be checked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import graphmeta

HERE = Path(__file__).parent


def main() -> None:
    tox21 = graphmeta.load_dataset("tox21", progress=False)
    ids, y = (t.numpy() for t in tox21.labels.task(tox21.task_index("SR-p53")))
    rng = np.random.default_rng(0)
    active = rng.permutation(ids[y == 1])
    inactive = rng.permutation(ids[y == 0])
    for name, (n_act, n_inact, start) in {"support": (5, 5, 0), "query": (10, 10, 5)}.items():
        rows = [(tox21.smiles[i], 1) for i in active[start:start + n_act]] + \
               [(tox21.smiles[i], 0) for i in inactive[start:start + n_inact]]
        pd.DataFrame(rows, columns=["smiles", "active"]).to_csv(HERE / f"sr-p53_{name}.csv", index=False)


if __name__ == "__main__":
    main()
