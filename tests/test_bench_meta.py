"""Smoke test of ``bench/meta_throughput.py``: tiny sizes, both regimes, every path timed and checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "meta_throughput.py"
PATHS = ("batched", "sequential", "pyg_learn2learn_style", "batched_bf16")


@pytest.mark.bench
def test_meta_throughput_quick(tmp_path: Path) -> None:
    out = tmp_path / "meta_throughput.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["benchmark"] == "meta_throughput"
    results = record["results"]
    assert results["quick"] is True
    assert isinstance(results["retain_freed_memory"], bool)
    assert set(results["regimes"]) == {"a", "b"}
    for key, regime in results["regimes"].items():
        assert set(regime["paths"]) == set(PATHS), key
        for name in PATHS:
            row = regime["paths"][name]
            assert "error" not in row, (key, name, row.get("error"))
            assert row["tasks_per_s"] > 0, (key, name)
            assert row["peak_mem_mb"] is not None and row["peak_mem_mb"] >= 0, (key, name, row)
        assert regime["losses_agree"] is True, regime["agreement"]
        assert regime["pyg_matches_reference"] is True, regime["agreement"]
        assert all(v is not None and v > 0 for v in regime["ratios"].values()), regime["ratios"]
        assert regime["paths"]["pyg_learn2learn_style"]["collate_seconds"] > 0
