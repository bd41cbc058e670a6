"""Fuzzed user inputs: CSV tables, the ``graphmeta predict`` command and :class:`FewShotClassifier`.

Every input gives either a result with one row per input row (invalid query rows kept, counted) or a one-line
error that names the file/row; nothing crashes deep inside RDKit, torch or pandas, and no row is lost.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis_rdkit import mols
from rdkit import Chem

from graphmeta.cli.main import main
from graphmeta.data.featurize import InvalidSmilesError
from graphmeta.data.loaders.csv import CSVFormatError, read_smiles_table
from graphmeta.predictor import FewShotClassifier

MODEL = "tox21-protonet"  # the shipped model: loaded once per process (cached_meta_model)
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = ["CCO", "c1ccccc1O", "CC(=O)O", "CCN", "OCCO", "ClCCl", "C1CCCCC1", "CC(C)(C)O"]
ODD = ["[Na+].[Cl-]", "CC(=O)[O-].[Na+]", "[13CH3]O", "[2H]C([2H])([2H])O", "C[N+](C)(C)C", "[Cu+2]", "O", "*CC",
       "C" * 320, ".".join(["c1ccccc1"] * 55), "[Fe]"]
INVALID = ["", "   ", "C1CC", "Xx", "c1cccc1", "C(", "\u2603", "CC\u200bO", "\x00", "[NH5]", "🙂", "C\nC"]
JUNK = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
SMILES = st.one_of(st.sampled_from(VALID), st.sampled_from(ODD), st.sampled_from(INVALID), JUNK)

MISSING_LABELS = ["", " ", "nan", "NA", "null"]
NUMBER_LABELS = {"0": 0.0, "1": 1.0, " 1 ": 1.0, "0.0": 0.0, "1e0": 1.0, "2": 2.0, "-3.5": -3.5}
BAD_LABELS = ["yes", "ü", "1,5", "0x1"]
INF_LABELS = ["inf", "-inf"]
LABELS = st.sampled_from(MISSING_LABELS + list(NUMBER_LABELS) + BAD_LABELS + INF_LABELS)


def _write(rows: list[dict[str, str]], columns: list[str], folder: Path, name: str) -> Path:
    path = folder / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


# -- read_smiles_table ---------------------------------------------------------------------------------------
@FUZZ
@given(st.lists(st.tuples(SMILES, LABELS, JUNK), min_size=1, max_size=12),
       st.sampled_from(["notes", "ünïcødé ☃", "id\u2028x", " "]))
def test_read_smiles_table_keeps_every_row_or_names_the_bad_one(rows, other: str) -> None:
    """Label cells come back as they are, for :func:`graphmeta.predictor.binary_labels` to judge: None when empty,
    a float when a number, else the text."""
    columns = ["smiles", "label", other]
    with tempfile.TemporaryDirectory() as tmp:
        path = _write([dict(zip(columns, r)) for r in rows], columns, Path(tmp), "t.csv")
        frame, smiles, labels = read_smiles_table(path, label_column="label")
        _, _, text = read_smiles_table(path, label_column="label", labels_as_text=True)
    assert len(frame) == len(smiles) == len(labels) == len(rows)  # no row lost
    assert smiles == [s.strip() for s, _, _ in rows]
    assert frame[other].tolist() == [junk for _, _, junk in rows]  # other columns untouched
    for (_, label, _), value, cell in zip(rows, labels, text):
        if label in MISSING_LABELS:
            assert value is None and cell is None
            continue
        assert cell == label.strip()
        expected = NUMBER_LABELS.get(label, float(label) if label in INF_LABELS else label.strip())
        assert value == expected


def test_malformed_tables_name_the_file_and_row(tmp_path: Path) -> None:
    cases = {"ragged-first.csv": ("id,smiles\na,CCO,extra\nb,CCC\n", r"row 2 has more cells than the header's 2"),
             "ragged-later.csv": ("id,smiles\na,CCO\nb,CCC,x\n", r"cannot be read as CSV \(ParserError: .*line 3"),
             "empty.csv": ("", "cannot be read as CSV"),
             "binary.csv": (b"\x00\xff\xfe,\x01\n", "cannot be read as CSV"),
             "label.csv": ("smiles,z\nCCO,1\n", r"no label column 'y'")}
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(CSVFormatError, match=rf"^{re.escape(name)}: {message}"):
            read_smiles_table(path, label_column="y" if name == "label.csv" else None)


# -- graphmeta predict ----------------------------------------------------------------------------------------
def _predict(folder: Path, support: Path, query: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["predict", "--model", MODEL, "--support", str(support), "--query", str(query), "--label-column",
                     "active", "--on-invalid", "keep", "--out", str(folder / "out.csv")])
    return code, err.getvalue()


SUPPORT_LABELS = st.sampled_from(["0", "1", "1", "0", "", "2", "nan", "yes"])
#: Supports that should work (distinct valid or odd molecules, both classes) mixed with fuzzed ones.
GOOD_SUPPORT = st.lists(st.sampled_from(VALID + ODD), min_size=2, max_size=6, unique=True).map(
    lambda xs: [(s, str(i % 2)) for i, s in enumerate(xs)])
SUPPORTS = st.one_of(GOOD_SUPPORT, st.lists(st.tuples(SMILES, SUPPORT_LABELS), min_size=0, max_size=8))


@FUZZ
@given(SUPPORTS, st.lists(st.tuples(SMILES, JUNK), min_size=0, max_size=8))
@example([("CCO", "0"), ("c1ccccc1O", "1")], [("CCO", "0\r")])  # found by fuzzing: a lone CR split the output row
def test_predict_command_scores_every_query_row_or_fails_with_one_clear_line(support_rows, query_rows) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        support = _write([{"smiles": s, "active": y} for s, y in support_rows], ["smiles", "active"], folder, "s.csv")
        query = _write([{"name": n, "smiles": s} for s, n in query_rows], ["name", "smiles"], folder, "q.csv")
        code, err = _predict(folder, support, query)
        event("error" if code else "scored")  # both outcomes show in --hypothesis-show-statistics
        if code != 0:
            assert code == 2 and len(err.strip().splitlines()) == 1, err  # one line, no traceback
            assert re.match(r"graphmeta predict: error: (s|q)\.csv: ", err), err  # names the file
            assert "Traceback" not in err
            return
        out = pd.read_csv(folder / "out.csv", dtype=str, keep_default_na=False)
    assert len(out) == len(query_rows)  # every query row, in order
    assert out["name"].tolist() == [n for _, n in query_rows]
    scored = out["probability"] != ""
    assert all(0.0 <= float(p) <= 1.0 for p in out.loc[scored, "probability"])
    if (~scored).any():  # skipped rows are kept with their reason and counted
        assert (out.loc[~scored, "error"] != "").all()
    assert f"scored {int(scored.sum())} of {len(query_rows)} query rows ({int((~scored).sum())} invalid" in err


def test_predict_command_names_rows_of_bad_supports(tmp_path: Path) -> None:
    query = _write([{"name": "a", "smiles": "CCO"}], ["name", "smiles"], tmp_path, "q.csv")
    cases = {"one class": ([("CCO", "1"), ("CCN", "1")], r"s\.csv: column 'active': the support has one class only"),
             "single": ([("CCO", "1")], "one class only"),
             "empty": ([], "the support is empty"),
             "nan": ([("CCO", "0"), ("CCN", "nan")],
                     r"s\.csv: column 'active': missing label \(empty, None or NaN\) in support row\(s\) \[3\]"),
             "three classes": ([("CCO", "0"), ("CCN", "1"), ("CCC", "2")],
                               r"support row\(s\) \[4\] hold other values\); say which label is the positive class "
                               r"with --positive-label 2 "),
             "text": ([("CCO", "inactive"), ("CCN", "active")],
                      r"s\.csv: column 'active': labels must be 0/1 .*got text such as 'inactive', 'active' \(support "
                      r"row 2\); say which label is the positive class with --positive-label inactive"),
             "infinite": ([("CCO", "0"), ("CCN", "inf")], r"infinite label in support row\(s\) \[3\]"),
             "hypervalent": ([("CCO", "0"), ("C(C)(C)(C)(C)(C)C", "1")],
                             r"s\.csv: row 3: RDKit cannot parse or sanitize SMILES 'C\(C\)\(C\)\(C\)\(C\)\(C\)C' "
                             r"\(an atom beyond its allowed valence"),
             "conflict": ([("CCO", "0"), ("CCN", "1"), ("OCC", "1")],
                          r"s\.csv: column 'active': 1 molecule\(s\) appear more than once with conflicting labels: "
                          r"rows \[2, 4\] \('CCO': labels \[0, 1\]\)"),
             "invalid": ([("CCO", "0"), ("C1CC", "1")], r"s\.csv: row 3: RDKit cannot parse")}
    for case, (rows, message) in cases.items():
        support = _write([{"smiles": s, "active": y} for s, y in rows], ["smiles", "active"], tmp_path, "s.csv")
        code, err = _predict(tmp_path, support, query)
        assert code == 2 and re.search(message, err), (case, err)


# -- FewShotClassifier -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted() -> FewShotClassifier:
    return FewShotClassifier(model=MODEL).fit(VALID, [0, 1] * 4)


@FUZZ
@given(st.lists(st.one_of(mols(), st.sampled_from(ODD)), min_size=1, max_size=6))
def test_every_valid_molecule_gets_a_finite_probability(fitted, molecules) -> None:
    as_smiles = [m if isinstance(m, str) else Chem.MolToSmiles(m) for m in molecules]
    for X in (molecules, as_smiles):
        proba = fitted.predict_proba(X)
        assert proba.shape == (len(molecules), 2) and np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)


@FUZZ
@given(st.one_of(GOOD_SUPPORT.map(lambda rows: [(s, int(y)) for s, y in rows]),
                 st.lists(st.tuples(SMILES, st.sampled_from([0, 1, 1.0, 0.0, 2, 0.5, float("nan"), float("inf"), None,
                                                             "a", True])), min_size=0, max_size=6)),
       st.one_of(st.lists(st.sampled_from(VALID + ODD), min_size=1, max_size=5), st.lists(SMILES, max_size=5)))
def test_classifier_predicts_every_row_or_raises_a_clear_error(fitted, support, query) -> None:
    X, y = [s for s, _ in support], [label for _, label in support]
    try:
        clf = FewShotClassifier(model=MODEL).fit(X, y)
    except (ValueError, TypeError) as err:  # InvalidSmilesError is a ValueError
        event("fit error")
        assert re.search(r"row|empty|one class|classes|mixture|conflicting", str(err)), err
        return
    try:
        proba = clf.predict_proba(query)
    except ValueError as err:
        event("predict error")
        assert isinstance(err, InvalidSmilesError) and "row" in str(err) or "empty" in str(err), err
        return
    event("scored")
    assert proba.shape == (len(query), 2) and np.isfinite(proba).all()


def test_classifier_input_edge_cases_give_clear_errors(fitted) -> None:
    with pytest.raises(ValueError, match="X is empty"):
        fitted.predict_proba([])
    with pytest.raises(ValueError, match="one class only"):
        FewShotClassifier(model=MODEL).fit(["CCO"], [1])
    one_each = FewShotClassifier(model=MODEL).fit(["CCO", "c1ccccc1"], [0, 1])  # the smallest usable support
    assert one_each.predict_proba(["CCN", "[Na+].[Cl-]", "C" * 320]).shape == (3, 2)
    with pytest.raises(ValueError, match=r"missing label \(empty, None or NaN\) in support row\(s\) \[1\]"):
        FewShotClassifier(model=MODEL).fit(["CCO", "CCN", "CCC"], [0, None, 1])
    with pytest.raises(ValueError, match=r"infinite label in support row\(s\) \[2\]"):
        FewShotClassifier(model=MODEL).fit(["CCO", "CCN", "CCC"], [0.0, 1.0, math.inf])
    with pytest.raises(ValueError, match=r"labels other than 0 and 1 in support row\(s\) \[2\]"):
        FewShotClassifier(model=MODEL).fit(["CCO", "CCN", "CCC"], [0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match=r"rows \[0, 2\] \('CCO': labels \[0, 1\]\)"):
        FewShotClassifier(model=MODEL).fit(["CCO", "CCN", "OCC"], [0, 1, 1])
    with pytest.raises(InvalidSmilesError, match=r"row 1: empty or non-string SMILES"):
        fitted.predict_proba(["CCO", "  "])
