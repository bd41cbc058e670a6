"""The API reference (docs/api, Sphinx autodoc of the public docstrings) builds with warnings as errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_api_reference_builds_without_warnings(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(REPO / "docs" / "api"), str(tmp_path / "html")], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    page = (tmp_path / "html" / "predictor.html").read_text()
    assert "FewShotClassifier" in page and "predict_proba" in page and "calibration_" in page
    assert "load_dataset" in (tmp_path / "html" / "data.html").read_text()
