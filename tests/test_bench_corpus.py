"""Smoke test of ``bench/corpus_featurize.py`` at a tiny size (real MOSES file)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.bench
def test_corpus_featurize_bench_quick(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus.json"
    proc = subprocess.run([sys.executable, str(BENCH / "corpus_featurize.py"), "--sample", "300", "--repeats", "1",
                           "--data-dir", str(shared_data), "--out", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    assert results["sample"] == 300 and results["speedup"] > 0
    assert results["build"]["molecules_per_second"] == pytest.approx(300 / results["build"]["seconds"])
    assert "build / serial_canonical" in proc.stdout
