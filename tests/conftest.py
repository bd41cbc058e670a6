"""Shared fixtures: where the real benchmark data lives, and an isolated cache per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    env = os.environ.get("GRAPHMETA_DATA")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if candidate.is_dir() and (candidate / "MANIFEST.tsv").is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``$GRAPHMETA_DATA`` or ``../shared/data``); skips the test when absent."""
    path = _shared_data()
    if path is None:
        pytest.skip("real benchmark data not found: set GRAPHMETA_DATA or place it in ../shared/data")
    return path


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Featurized-dataset cache in a temporary folder, so tests never read a stale user cache."""
    os.environ["GRAPHMETA_CACHE"] = str(tmp_path_factory.mktemp("graphmeta-cache"))
