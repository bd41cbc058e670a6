"""Project files: valid CITATION.cff, the README's two set-up commands, the featurize benchmark's JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_citation_cff_is_valid() -> None:
    pytest.importorskip("cffconvert")
    exe = Path(sys.executable).parent / "cffconvert"
    result = subprocess.run([str(exe), "--validate", "-i", str(REPO / "CITATION.cff")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_readme_has_exactly_the_two_setup_commands_ci_runs() -> None:
    readme = (REPO / "README.md").read_text()
    assert readme.count("<!-- setup:main -->") == 1 and readme.count("<!-- setup:test -->") == 1
    ci = (REPO / ".ci" / "run").read_text()
    assert "readme_command main" in ci and "readme_command test" in ci
    assert "pip install torch==2.13.0" in readme


@pytest.mark.bench
def test_featurize_benchmark_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "featurize.json"
    result = subprocess.run([sys.executable, str(REPO / "bench" / "featurize.py"), "--limit", "200", "--repeats", "1",
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    assert record["results"]["n_smiles"] == 200 and record["commit"] and record["machine"]["cpu_count"]
    for path in ("per_molecule", "dataset"):
        assert record["results"]["paths"][path]["speedup"] > 0
    assert "speedup" in result.stdout
