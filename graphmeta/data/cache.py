"""On-disk cache of featurized task collections, so a second load does not re-parse anything.

A cache entry is keyed by everything that determines its content: the sha256 of every input file, the
loader's name and version, the featurizer's cache key and the loader options. It is a folder written by
:meth:`TaskCollection.save` atomically (temporary folder + rename): the graphs as memory-mappable ``.npy``
files, the rest read with ``torch.load(weights_only=True)`` (no pickled code). A second load maps the graph
files (``mmap=True``, the default), so MUV or FS-Mol open in well under a second and only the graphs a
meta-batch gathers are ever read; ``mmap=False`` reads everything into memory. A cache entry that cannot be
read (missing or truncated file, foreign content) is reported with a warning naming the file and rebuilt. A cached
collection with molecules kept by lenient sanitization warns about them at every load, as its first build did.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

from graphmeta.data.paths import cache_dir
from graphmeta.data.tasks import TaskCollection, warn_lenient_rows

__all__ = ["CACHE_FORMAT", "cache_path", "cached_collection"]

#: Bumped when the layout of cached collections changes (2: a folder of memory-mappable files; 3: with
#: ``notes``, the molecules kept by lenient sanitization).
CACHE_FORMAT = 3


def cache_path(key: Mapping[str, Any], directory: str | os.PathLike | None = None) -> Path:
    """The cache folder for ``key`` (a JSON-serializable mapping)."""
    blob = json.dumps({"format": CACHE_FORMAT, **key}, sort_keys=True, default=str).encode()
    digest = hashlib.sha256(blob).hexdigest()[:24]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(key.get("name", "dataset")))
    return cache_dir(directory) / f"{stem}-{digest}"


def cached_collection(
    key: Mapping[str, Any],
    build: Callable[[], TaskCollection],
    cache: bool | str | os.PathLike = True,
    mmap: bool = True,
) -> TaskCollection:
    """Returns the cached collection for ``key``, or builds, caches and returns it.

    Args:
        key: JSON-serializable description of the inputs (file hashes, loader/featurizer versions, options).
        build: makes the collection when it is not cached.
        cache: ``True`` (default cache dir), ``False`` (no cache), or a directory.
        mmap: a cached collection's graphs are memory-mapped (default) rather than read into memory. A
            collection just built is returned as built (in memory).
    """
    if cache is False:
        return build()
    path = cache_path(key, None if cache is True else cache)
    if path.exists():
        try:
            collection = TaskCollection.load(path, mmap=mmap)
        except Exception as err:  # a cache is disposable: report and rebuild
            warnings.warn(f"ignoring unreadable cache entry ({type(err).__name__}: {err}); rebuilding {path}",
                          RuntimeWarning, stacklevel=2)
        else:
            warn_lenient_rows(collection.notes, collection.name, collection.n_graphs)
            return collection
    collection = build()
    try:
        collection.save(path)
    except OSError as err:
        warnings.warn(f"could not write cache folder {path}: {err}", RuntimeWarning, stacklevel=2)
    return collection
