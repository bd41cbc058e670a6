"""On-disk cache of featurized task collections, so a second load does not re-parse anything.

A cache entry is keyed by everything that determines its content: the sha256 of every input file, the
loader's name and version, the featurizer's cache key and the loader options. It is written atomically
(temporary file + rename) and read with ``torch.load(weights_only=True)``: no pickled code. A cache file
that cannot be read (truncated, foreign) is reported with a warning naming it and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from graphmeta.data.paths import cache_dir
from graphmeta.atomic import atomic_torch_save
from graphmeta.data.tasks import TaskCollection

__all__ = ["CACHE_FORMAT", "cache_path", "cached_collection"]

#: Bumped when the layout of cached collections changes.
CACHE_FORMAT = 1


def cache_path(key: Mapping[str, Any], directory: str | os.PathLike | None = None) -> Path:
    """The cache file for ``key`` (a JSON-serializable mapping)."""
    blob = json.dumps({"format": CACHE_FORMAT, **key}, sort_keys=True, default=str).encode()
    digest = hashlib.sha256(blob).hexdigest()[:24]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(key.get("name", "dataset")))
    return cache_dir(directory) / f"{stem}-{digest}.pt"


def cached_collection(
    key: Mapping[str, Any],
    build: Callable[[], TaskCollection],
    cache: bool | str | os.PathLike = True,
) -> TaskCollection:
    """Returns the cached collection for ``key``, or builds, caches and returns it.

    Args:
        key: JSON-serializable description of the inputs (file hashes, loader/featurizer versions, options).
        build: makes the collection when it is not cached.
        cache: ``True`` (default cache dir), ``False`` (no cache), or a directory.
    """
    if cache is False:
        return build()
    path = cache_path(key, None if cache is True else cache)
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            return TaskCollection.from_state_dict(state)
        except Exception as err:  # a cache is disposable: report and rebuild
            warnings.warn(f"ignoring unreadable cache file {path} ({type(err).__name__}: {err}); rebuilding it",
                          RuntimeWarning, stacklevel=2)
    collection = build()
    try:
        atomic_torch_save(collection.state_dict(), path)
    except OSError as err:
        warnings.warn(f"could not write cache file {path}: {err}", RuntimeWarning, stacklevel=2)
    return collection
