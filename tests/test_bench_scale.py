"""Smoke test of ``bench/scale.py`` at a tiny size (Tox21, two steps)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.bench
def test_scale_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    proc = subprocess.run([sys.executable, str(BENCH / "scale.py"), "--datasets", "tox21", "--steps", "2",
                           "--meta-batch-size", "4", "--cache", str(tmp_path / "cache"), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    tox21 = results["datasets"]["tox21"]
    assert tox21["prepare"]["featurized"] and tox21["prepare"]["n_graphs"] == 7831
    assert tox21["losses_equal"] and len(tox21["cases"]["mmap"]["train_loss"]) == 1
    memory, mmap = tox21["cases"]["memory"], tox21["cases"]["mmap"]
    if Path("/proc/self/smaps").is_file():  # the mapped case holds store pages, the in-memory one maps none
        assert memory["store_resident_end_mib"] == 0
        assert 0 < mmap["store_resident_end_mib"] <= tox21["prepare"]["store_mib"] + 1
    assert results["max_peak_rss_mib"] == max(memory["peak_rss_mib"], mmap["peak_rss_mib"])
    assert "tox21" in proc.stdout and "mmap/memory" in proc.stdout
