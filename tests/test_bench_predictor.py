"""Smoke tests of ``bench/predictor_speed.py`` and ``bench/superlearner.py`` at tiny sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.bench
def test_predictor_speed_quick(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    proc = subprocess.run([sys.executable, str(BENCH / "predictor_speed.py"), "--n-query", "60", "--repeats", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    assert results["n_query"] == 60 and results["n_support"] == 20
    assert set(results["seconds"]) == {"rf-ecfp4 (reference)", "protonet", "protonet n_jobs=-1", "maml",
                                         "maml n_jobs=-1", "superlearner", "superlearner n_jobs=-1"}
    reference = results["seconds"]["rf-ecfp4 (reference)"]
    for name, seconds in results["seconds"].items():  # the ratio column is each time over the RF's, same run
        assert seconds > 0 and results["ratio_to_rf"][name] == pytest.approx(seconds / reference)
    assert all(shape == [60, 2] for shape in results["shapes"].values()) and len(results["shapes"]) == 6
    low, high = results["probability_range"]
    assert 0 <= low <= high <= 1
    assert set(results["n_jobs_max_abs_diff"]) == {"protonet n_jobs=-1", "maml n_jobs=-1", "superlearner n_jobs=-1"}
    assert all(v <= 1e-6 for v in results["n_jobs_max_abs_diff"].values())  # workers give the same probabilities


@pytest.mark.bench
def test_superlearner_bench_quick(tmp_path: Path) -> None:  # embedded Tox21: runs without ../shared/data
    out = tmp_path / "sl.json"
    proc = subprocess.run([sys.executable, str(BENCH / "superlearner.py"), "tox21", "--shots", "10", "1",
                           "--seeds", "1", "--draws", "1", "--n-folds", "3", "--prior-strength", "auto",
                           "--prior-tasks", "3", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(out.read_text())
    summaries = record["results"]["summaries"]
    assert set(summaries) == {"10-shot", "1-shot"}
    assert summaries["1-shot"]["fallback_episodes"] == 3 and summaries["10-shot"]["fallback_episodes"] == 0
    assert [r["task"] for r in summaries["10-shot"]["per_task"]] == ["SR-HSE", "SR-MMP", "SR-p53"]
    assert out.with_suffix(".md").read_text().count("| **mean** |") == 2
    settings = record["results"]["settings"]
    assert set(settings["prior_cv"]) == {"10-shot"} and len(settings["prior_cv_tasks"]) == 3
    assert set(settings["prior_cv_tasks"]) <= set(range(9))  # training tasks only
    chosen = settings["prior_cv"]["10-shot"]
    assert chosen["prior_strength"] in chosen["grid"] and chosen["tasks"] == settings["prior_cv_tasks"]
