"""``graphmeta predict`` and ``graphmeta embed``: a model applied to CSV files of molecules.

``predict``: a support CSV (SMILES + label column) adapts the model, a query CSV gets one probability per row
(its columns are kept, ``probability`` of the positive class and ``prediction``, 1 or 0, added). Labels follow the
Python API's rule (:func:`graphmeta.predictor.binary_labels`): 0/1, or any labels with ``--positive-label``. An
invalid SMILES in the support is an error naming the row; in the query it is an error too, unless ``--on-invalid
keep``: then that row is kept with an empty probability and an ``error`` cell, and the summary counts it. No row is
ever dropped. A query that already has a ``probability``, ``prediction`` or ``error`` column is refused rather than
overwritten. SMILES are sanitized strictly (RDKit's valence check included) unless ``--sanitize lenient``.

``embed``: the backbone's embedding of every molecule of a CSV (``.csv`` with the SMILES and ``e0..e{d-1}``, or
``.npy``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from graphmeta.cli.base import Subcommand, add_sanitize_argument, check_output_file

_ROW = 2  # spreadsheet row of the first data line (the header is row 1)


def _add_model(parser: argparse.ArgumentParser) -> None:
    from graphmeta.choices import available_models

    parser.add_argument("--model", default="tox21-protonet",
                        help=f"shipped model ({', '.join(available_models()) or 'none'}) or a model.pt file "
                             f"(default tox21-protonet)")
    parser.add_argument("--smiles-column", "--smiles-columns", dest="smiles_column", default=None,
                        help="name of the SMILES column (default: auto-detected)")
    add_sanitize_argument(parser)


def _model_featurizer(model: str, sanitize: str) -> Any:
    """The featurizer a model was trained with (molecule models only), sanitizing as ``sanitize`` says; the model is
    loaded (cached) once."""
    from graphmeta.model_files import cached_meta_model

    meta = cached_meta_model(model)
    featurizer = meta.molecule_featurizer()
    if featurizer is None:
        raise ValueError(f"model {model} was trained on {meta.trained_on} graphs, not molecules; it cannot read "
                         f"SMILES (use the Python API with PyG Data graphs)")
    return featurizer.with_sanitize(sanitize)


#: the columns ``predict`` adds to the query table
OUTPUT_COLUMNS: tuple[str, ...] = ("probability", "prediction", "error")


def _query_inputs(path: Path, smiles: list[str], featurizer: Any, on_invalid: str, n_jobs: int | None = None,
                  remedy: str = "fix them or pass --on-invalid keep") -> tuple[Any, dict[int, str]]:
    from graphmeta.data.featurize import InvalidSmilesError
    from graphmeta.data.inputs import featurize_molecules

    # a progress bar on a terminal only: a log file or a pipe gets none
    inputs, invalid = featurize_molecules(smiles, featurizer, n_jobs, progress=sys.stderr.isatty())
    if invalid and on_invalid == "error":
        first = list(invalid.items())[:5]
        raise InvalidSmilesError(f"{path.name}: {len(invalid)} invalid SMILES (" + "; ".join(
            f"row {i + _ROW}: {why}" for i, why in first) + ("; ..." if len(invalid) > 5 else "")
            + f"); {remedy}")
    if len(inputs) == 0:
        raise ValueError(f"{path.name}: no valid molecule to score")
    return inputs, invalid


class PredictCommand(Subcommand):
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        from graphmeta.choices import CALIBRATIONS, HEADS

        _add_model(parser)
        parser.add_argument("--support", type=Path, required=True, help="CSV of labelled molecules (the few shots)")
        parser.add_argument("--query", type=Path, required=True, help="CSV of molecules to score")
        parser.add_argument("--label-column", "--target-columns", dest="label_column", required=True,
                            help="support CSV: the label column, 0/1 (or any labels with --positive-label)")
        parser.add_argument("--positive-label", default=None, metavar="LABEL",
                            help="the label of the positive class (e.g. active; compared as text): cells equal to it "
                                 "are 1, all others 0 (default: labels must be 0/1)")
        parser.add_argument("--head", choices=HEADS, default="protonet", help="how to adapt (default protonet)")
        parser.add_argument("--calibration", choices=CALIBRATIONS, default="platt",
                            help="platt (default): calibrate the head's probabilities on the support by "
                                 "cross-validation (rankings unchanged); none: the head's raw probabilities")
        parser.add_argument("--base-rate", type=float, default=None, metavar="FRACTION",
                            help="expected fraction of actives among the query molecules (e.g. 0.05): probabilities "
                                 "are moved from the support's class balance to it (default: the support's)")
        parser.add_argument("--out", type=Path, default=None, help="output CSV (default: standard output)")
        parser.add_argument("--on-invalid", choices=["error", "keep"], default="error",
                            help="query rows with invalid SMILES: stop (default) or keep the row, with an empty "
                                 "probability and an error cell")
        parser.add_argument("--n-jobs", type=int, default=None,
                            help="processes featurizing and scoring a long query (-1: every CPU; default 1)")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from graphmeta.data.inputs import featurize_molecules
        from graphmeta.data.loaders.csv import read_smiles_table
        from graphmeta.predictor import FewShotClassifier, binary_labels, check_duplicate_labels

        if args.out is not None:
            check_output_file(args.out)  # before any work
        _, support_smiles, labels = read_smiles_table(args.support, args.smiles_column, args.label_column,
                                                      labels_as_text=args.positive_label is not None)

        where = f"{args.support.name}: column {args.label_column!r}"
        try:  # the Python API's rule, checked before the model loads
            encoded = binary_labels(labels, len(support_smiles), first_row=_ROW, positive_label=args.positive_label,
                                    option="--positive-label")
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        frame, query_smiles, _ = read_smiles_table(args.query, args.smiles_column)
        taken = [c for c in OUTPUT_COLUMNS if c in frame.columns]
        if taken:
            raise ValueError(f"{args.query.name} already has column(s) {taken}, which predict writes: rename them "
                             f"(nothing is overwritten)")
        featurizer = _model_featurizer(args.model, args.sanitize)
        clf = FewShotClassifier(model=args.model, head=args.head, n_jobs=args.n_jobs, sanitize=args.sanitize,
                                calibration=args.calibration, base_rate=args.base_rate)
        support, invalid_support = featurize_molecules(support_smiles, featurizer)
        if invalid_support:
            i, why = next(iter(invalid_support.items()))
            raise ValueError(f"{args.support.name}: row {i + _ROW}: {why} ({len(invalid_support)} invalid in all)")
        try:
            check_duplicate_labels(support, encoded, first_row=_ROW)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        query, invalid = _query_inputs(args.query, query_smiles, featurizer, args.on_invalid, args.n_jobs)
        clf.fit(support, encoded)
        proba = clf.predict_proba(query)[:, 1]
        valid = np.array([i not in invalid for i in range(len(frame))])
        frame["probability"] = ""
        frame.loc[valid, "probability"] = [f"{p:.6f}" for p in proba]
        frame["prediction"] = ""
        frame.loc[valid, "prediction"] = [str(c) for c in clf.classes_[(proba > 0.5).astype(int)]]
        if invalid:
            frame["error"] = ""
            frame.loc[~valid, "error"] = [invalid[i] for i in sorted(invalid)]
        # Python's csv writer quotes a cell holding a lone carriage return only when "\r" is part of the line
        # terminator: such tables are written with RFC 4180 line ends, so that no cell spills into a new row
        carriage_return = (any("\r" in str(c) for c in frame.columns)
                           or frame.astype(str).apply(lambda col: col.str.contains("\r", regex=False)).to_numpy().any())
        frame.to_csv(args.out if args.out is not None else sys.stdout, index=False,
                     lineterminator="\r\n" if carriage_return else "\n")
        weights = ", ".join(f"{k} {v:.2f}" for k, v in clf.weights_.items())
        positive = "1" if args.positive_label is None else repr(args.positive_label)
        print(f"scored {int(valid.sum())} of {len(frame)} query rows ({len(invalid)} invalid SMILES kept with an "
              f"error) with {args.head} on model {args.model}, support {len(support)} molecules "
              f"({int(encoded.sum())} labelled {positive}, the positive class); weights: {weights}, from "
              f"{clf.weights_source_}; calibration: {clf.calibration_.describe()}"
              + (" (not fitted: each class needs 2 support molecules to cross-validate)"
                 if args.calibration == "platt" and clf.calibration_.n_fit == 0 else "")
              + (f", moved to a base rate of {args.base_rate:g}" if args.base_rate is not None else
                 f", at the support's class balance ({encoded.mean():.0%} positive; --base-rate to change it)")
              + (f"; wrote {args.out}" if args.out is not None else ""), file=sys.stderr)
        return 0


class EmbedCommand(Subcommand):
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("input", type=Path, help="CSV with a SMILES column")
        _add_model(parser)
        parser.add_argument("--out", type=Path, required=True, help="output .csv (SMILES + e0..) or .npy")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        import pandas as pd

        from graphmeta.data.loaders.csv import read_smiles_table
        from graphmeta.meta.base_learners import TaskPool
        from graphmeta.model_files import cached_meta_model

        if args.out.suffix not in (".csv", ".npy"):
            raise ValueError(f"--out must end in .csv or .npy, got {args.out.name}")
        check_output_file(args.out)
        featurizer = _model_featurizer(args.model, args.sanitize)
        _, smiles, _ = read_smiles_table(args.input, args.smiles_column)
        inputs, _ = _query_inputs(args.input, smiles, featurizer, "error",
                                  remedy="fix them: every row needs a valid SMILES to be embedded")
        emb = TaskPool(inputs).embeddings(cached_meta_model(args.model).learner).numpy()
        if args.out.suffix == ".npy":
            np.save(args.out, emb)
        else:
            table = pd.DataFrame(emb, columns=[f"e{j}" for j in range(emb.shape[1])])
            table.insert(0, "smiles", smiles)
            table.to_csv(args.out, index=False, float_format="%.6g")
        print(f"wrote {emb.shape[0]} x {emb.shape[1]} embeddings to {args.out}")
        return 0
