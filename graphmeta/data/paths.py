"""Where graphmeta looks for raw data and where it caches featurized datasets.

- raw data: ``$GRAPHMETA_DATA``, else ``$XDG_CACHE_HOME/graphmeta/data`` (``~/.cache/graphmeta/data``);
  laid out like the upstream sources (``moleculenet/tox21.csv``, ``fsmol/test/*.jsonl.gz``, ``tu/ENZYMES/...``).
  This folder may be read-only (a shared copy): graphmeta never writes there except to download into it.
- processed cache: ``$GRAPHMETA_CACHE``, else ``$XDG_CACHE_HOME/graphmeta/processed``.
- embedded default data: the ``datasets/`` folder of a source checkout, or ``<prefix>/share/graphmeta/datasets``
  of an installed wheel.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["data_dir", "cache_dir", "embedded_dir"]


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "graphmeta"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The raw-data directory: ``override``, else ``$GRAPHMETA_DATA``, else the user cache."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("GRAPHMETA_DATA")
    return Path(env).expanduser() if env else _user_cache() / "data"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The processed-dataset cache directory: ``override``, else ``$GRAPHMETA_CACHE``, else the user cache."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("GRAPHMETA_CACHE")
    return Path(env).expanduser() if env else _user_cache() / "processed"


def embedded_dir() -> Path | None:
    """The folder holding the embedded default dataset(s), or ``None`` if it cannot be found."""
    candidates = [
        Path(__file__).resolve().parents[2] / "datasets",  # source checkout / editable install
        Path(sys.prefix) / "share" / "graphmeta" / "datasets",  # wheel install (data-files)
    ]
    for path in candidates:
        if (path / "tox21.csv.gz").is_file():
            return path
    return None
