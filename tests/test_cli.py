"""The command line: demo on the embedded data, summary of a dataset and of a CSV, clean errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from graphmeta.cli.main import main


def test_demo_prints_summary_split_and_episodes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--shots", "5"]) == 0
    out = capsys.readouterr().out
    assert "tox21: 7,831 graphs x 12 binary task(s)" in out
    assert "test  SR-HSE, SR-MMP, SR-p53" in out
    assert "5/5" in out


def test_summary_of_csv_with_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("name,smi,act,other\na,CCO,1,x\nb,CN,0,y\n")
    assert main(["summary", str(path), "--smiles-column", "smi", "--target-columns", "act", "--tasks"]) == 0
    out = capsys.readouterr().out
    assert "2 graphs x 1 binary task(s)" in out and "act" in out


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "qm9"]) == 2
    assert "unknown dataset 'qm9'" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("smiles,y\nCCO,maybe\n")
    assert main(["summary", str(bad)]) == 2
    assert "row 2, column 'y'" in capsys.readouterr().err


def test_datasets_listing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "tox21" in out and "TRIANGLES" in out and "fsmol" in out


def test_console_script_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "graphmeta", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("graphmeta ")
