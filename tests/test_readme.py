"""The README's quickstart runs as shown: its Python block and its command line, on the shipped model."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def _block(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)```", text, re.S)
    assert match, f"README.md has no block marked <!-- {marker} -->"
    return match.group(1)


def _workdir(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "datasets" / "examples", tmp_path / "datasets" / "examples")
    return tmp_path


def test_quickstart_python_runs_as_shown(tmp_path: Path) -> None:
    cwd = _workdir(tmp_path)
    result = subprocess.run([sys.executable, "-c", _block("quickstart:python")], cwd=cwd, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "p_active" in result.stdout and len(result.stdout.strip().splitlines()) == 6  # header + head()


def test_quickstart_cli_runs_as_shown(tmp_path: Path) -> None:
    cwd = _workdir(tmp_path)
    command = _block("quickstart:cli").strip()
    assert command.startswith("graphmeta predict")
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    scores = pd.read_csv(cwd / "scores.csv")
    query = pd.read_csv(cwd / "datasets" / "examples" / "sr-p53_query.csv")
    assert scores["smiles"].tolist() == query["smiles"].tolist()
    assert scores["probability"].between(0, 1).all() and "scored 20 of 20 query rows" in result.stderr
