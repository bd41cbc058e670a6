"""Smoke test of ``bench/pretrain_throughput.py`` at a tiny size (Tox21 molecules, two steps)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.bench
def test_pretrain_throughput_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "pt.json"
    proc = subprocess.run([sys.executable, str(BENCH / "pretrain_throughput.py"), "--widths", "8", "--steps", "2",
                           "--repeats", "1", "--batch-size", "16", "--out", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    rows = results["rows"]
    assert {r["objectives"] for r in rows} == {"masking", "masking+contrastive"}
    assert {r["precision"] for r in rows} == ({"fp32", "bf16"} if results["bf16_native"] else {"fp32"})
    assert rows[0]["relative_cost"] == 1.0 and all(r["molecules_per_second"] > 0 for r in rows)
