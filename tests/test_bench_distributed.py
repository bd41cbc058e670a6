"""Smoke test of ``bench/distributed_equivalence.py`` at tiny sizes (2 gloo processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "distributed_equivalence.py"


@pytest.mark.bench
def test_distributed_equivalence_quick(tmp_path: Path) -> None:
    out = tmp_path / "dist.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--learners", "protonet", "reptile", "--out",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["benchmark"] == "distributed_equivalence"
    rows = record["results"]["rows"]
    assert [(r["learner"], r["dtype"]) for r in rows] == [("protonet", "float32"), ("protonet", "float64"),
                                                         ("reptile", "float32"), ("reptile", "float64")]
    for r in rows:
        assert r["ranks_identical"] and r["same_params_with_grad"], r
        assert r["max_abs_grad"] > 0 and r["seconds_1x16"] > 0 and r["seconds_2x8"] > 0, r
        bound = 1e-12 if r["dtype"] == "float64" else 10 * r["float32_error_1x16"] + 1e-6
        assert r["max_abs_diff"] <= bound * max(1.0, r["max_abs_grad"]), r
