"""FS-Mol's training assays as one task table (``fsmol/train_full.csv.gz``), built from FS-Mol's own files.

Upstream FS-Mol ships 4,938 training assays as ``train/CHEMBL*.jsonl.gz`` (about 2 GB with precomputed
fingerprints, descriptors and graphs that graphmeta recomputes). :func:`write_fsmol_task_table` keeps what a
task table needs, one CSV row per line of every file, files in C-locale name order, lines in file order::

    task,smiles,active,regression,log_regression,relation,assay_type

with ``task`` the file's assay id and the other cells FS-Mol's ``SMILES``, ``Property``, ``RegressionProperty``,
``LogRegressionProperty``, ``Relation`` and ``AssayType`` strings as they are. The gzip stream is written with
mtime 0, so the same files give the same bytes. ``graphmeta data build fsmol-train-full --source DIR`` runs it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path
from typing import IO, Iterator

from tqdm.auto import tqdm

from graphmeta.safe_write import atomic_write
from graphmeta.data.loaders.fsmol import FSMolFormatError, _scan_head

__all__ = ["TABLE_COLUMNS", "write_fsmol_task_table", "iter_fsmol_rows"]

#: Columns of the table, and the FS-Mol keys they come from (``task`` is the file's assay id).
TABLE_COLUMNS: dict[str, str] = {"smiles": "SMILES", "active": "Property", "regression": "RegressionProperty",
                                 "log_regression": "LogRegressionProperty", "relation": "Relation",
                                 "assay_type": "AssayType"}
_KEYS = ("Assay_ID", *TABLE_COLUMNS.values())


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def iter_fsmol_rows(path: str | os.PathLike) -> Iterator[list[str]]:
    """The table rows of one FS-Mol task file (its assay id must match the file name)."""
    path = Path(path)
    task = path.name.removesuffix(".jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        for line, text in enumerate(stream, start=1):
            text = text.strip()
            if not text:
                continue
            record = _scan_head(text, _KEYS)
            if record is None:
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as err:
                    raise FSMolFormatError(path, line, f"not valid JSON ({err})") from None
            missing = [k for k in ("SMILES", "Property") if k not in record]
            if missing:
                raise FSMolFormatError(path, line, f"record lacks key(s) {missing}")
            if "Assay_ID" in record and record["Assay_ID"] != task:
                raise FSMolFormatError(path, line, f"Assay_ID {record['Assay_ID']!r} is not the file's assay {task!r}")
            yield [task, *(_cell(record.get(key)) for key in TABLE_COLUMNS.values())]


def write_fsmol_task_table(folder: str | os.PathLike, out: str | os.PathLike, progress: bool = True) -> dict[str, int]:
    """Writes the task table of every ``*.jsonl.gz`` in ``folder`` to ``out`` (gzip CSV, written atomically).

    Returns ``{"tasks": ..., "rows": ...}``.
    """
    files = sorted(Path(folder).glob("*.jsonl.gz"), key=lambda p: p.name.encode())  # C-locale order
    if not files:
        raise FileNotFoundError(f"no FS-Mol task files (*.jsonl.gz) in {folder}")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["task", *TABLE_COLUMNS])
    rows = 0
    for path in tqdm(files, desc="FS-Mol task files", unit="file", disable=not progress):
        for row in iter_fsmol_rows(path):
            writer.writerow(row)
            rows += 1

    def write(handle: IO[bytes]) -> None:
        with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as stream:
            stream.write(text.getvalue().encode("utf-8"))

    atomic_write(out, write)
    return {"tasks": len(files), "rows": rows}
