"""A folder of ``.npy`` arrays plus a manifest: the memory-mappable on-disk form of a :class:`GraphStore`.

Layout of a folder::

    manifest.json     {"format": "graphmeta-arrays", "version": 1, "meta": {...},
                       "arrays": {name: {"file", "dtype", "shape", "bytes", "sha256"}}}
    <name>.npy        one C-ordered array per name (NumPy's ``.npy`` format)

Opened with ``mmap=True`` every array is mapped copy-on-write (``MAP_PRIVATE``, as ``numpy.load(mmap_mode="c")``)
and wrapped by ``torch.from_numpy`` without a copy: nothing is read until a row is indexed, and writing to a
tensor never touches the file. The mapping is advised ``MADV_RANDOM`` (episodes pick graphs at random): the
kernel then reads only the pages a gather touches instead of read-ahead windows around them, so gathering a
meta-batch from a cold file reads about one page per graph and field, not the whole file. With ``mmap=False``
the arrays are read into memory.

Opening always checks that each file of the manifest exists, that its ``.npy`` header has the dtype and shape
the manifest records, and that its size is exactly header + data (a truncated or padded file is refused);
these checks read a few hundred bytes per file. ``verify=True`` also recomputes each file's sha256 (reads
every byte once, through the page cache, without keeping it resident). Every failure raises
:class:`ArrayFileError` naming the file.
"""

from __future__ import annotations

import json
import mmap as _mmap
import os
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import numpy.lib.format as npy_format
import torch
from torch import Tensor

from graphmeta.data.download import sha256_file

__all__ = ["ArrayFileError", "MANIFEST", "write_arrays", "read_arrays"]

MANIFEST = "manifest.json"
_FORMAT, _VERSION = "graphmeta-arrays", 1
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_HEADER_READERS = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}


class ArrayFileError(ValueError):
    """A file of an array folder is missing, truncated, or does not match the manifest."""


def write_arrays(folder: str | os.PathLike, arrays: Mapping[str, Tensor | np.ndarray],
                 meta: Mapping[str, Any] | None = None) -> Path:
    """Writes ``arrays`` (one ``<name>.npy`` each) and the manifest into ``folder`` (created; must be new or empty).

    Not atomic by itself: callers write into a temporary folder with :func:`graphmeta.safe_write.atomic_directory`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty; array folders are written into a fresh folder")
    entries: dict[str, dict[str, Any]] = {}
    for name, value in arrays.items():
        if not _NAME.match(name):
            raise ValueError(f"array name {name!r} is not usable as a file name (letters, digits, _ . - only)")
        array = np.ascontiguousarray(value.detach().cpu().numpy() if isinstance(value, Tensor) else value)
        path = folder / f"{name}.npy"
        np.save(path, array, allow_pickle=False)
        entries[name] = {"file": path.name, "dtype": array.dtype.str, "shape": list(array.shape),
                         "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    manifest = {"format": _FORMAT, "version": _VERSION, "meta": dict(meta or {}), "arrays": entries}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return folder


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise ArrayFileError(f"{path} is missing: {folder} is not a complete array folder")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArrayFileError(f"{path} is not a readable manifest ({err})") from None
    if (not isinstance(manifest, dict) or manifest.get("format") != _FORMAT
            or not isinstance(manifest.get("arrays"), dict)):
        raise ArrayFileError(f"{path} is not a {_FORMAT} manifest")
    if manifest.get("version") != _VERSION:
        raise ArrayFileError(f"{path} has format version {manifest.get('version')!r}; this graphmeta reads {_VERSION}")
    return manifest


def _check_file(path: Path, entry: Mapping[str, Any]) -> tuple[tuple[int, ...], np.dtype, int]:
    """Header and size of one ``.npy`` file against its manifest entry (reads only the header);
    returns the array's shape, dtype and the data's offset in the file."""
    if not path.is_file():
        raise ArrayFileError(f"{path} is missing (listed in {path.parent / MANIFEST})")
    try:
        with open(path, "rb") as handle:
            version = npy_format.read_magic(handle)
            if version not in _HEADER_READERS:
                raise ValueError(f".npy format version {version} (written by a newer NumPy?)")
            shape, fortran, dtype = _HEADER_READERS[version](handle)
            offset = handle.tell()
    except (OSError, ValueError, SyntaxError) as err:
        raise ArrayFileError(f"{path} is not a valid .npy file ({err})") from None
    if fortran or dtype != np.dtype(entry["dtype"]) or list(shape) != list(entry["shape"]):
        raise ArrayFileError(f"{path} holds {'Fortran-ordered ' if fortran else ''}{dtype} of shape "
                             f"{tuple(shape)}, the manifest expects {np.dtype(entry['dtype'])} of shape "
                             f"{tuple(entry['shape'])}")
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = path.stat().st_size
    if actual != expected or actual != int(entry["bytes"]):
        what = "truncated" if actual < expected else "longer than its header says"
        raise ArrayFileError(f"{path} is {what}: {actual} bytes, expected {expected}")
    return tuple(shape), dtype, offset


def _map(path: Path, shape: tuple[int, ...], dtype: np.dtype, offset: int) -> np.ndarray:
    """The array of a checked ``.npy`` file, mapped copy-on-write and advised for random access."""
    with open(path, "rb") as handle:
        mapping = _mmap.mmap(handle.fileno(), 0, flags=_mmap.MAP_PRIVATE, prot=_mmap.PROT_READ | _mmap.PROT_WRITE)
    if hasattr(mapping, "madvise") and hasattr(_mmap, "MADV_RANDOM"):
        mapping.madvise(_mmap.MADV_RANDOM)
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(mapping, dtype=dtype, count=count, offset=offset).reshape(shape)


def read_arrays(folder: str | os.PathLike, mmap: bool = True,
                verify: bool = False) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(arrays, meta)`` of a folder written by :func:`write_arrays`, checked as the module docstring says.

    Args:
        folder: the array folder.
        mmap: map the files (copy-on-write) instead of reading them into memory (default ``True``).
        verify: also compare each file's sha256 with the manifest (reads every byte once).
    """
    folder = Path(folder)
    manifest = _read_manifest(folder)
    arrays: dict[str, Tensor] = {}
    for name, entry in manifest["arrays"].items():
        path = folder / entry["file"]
        shape, dtype, offset = _check_file(path, entry)
        if verify and sha256_file(path) != entry["sha256"]:
            raise ArrayFileError(f"{path} is corrupt: its sha256 differs from the one in {folder / MANIFEST}")
        try:
            array = _map(path, shape, dtype, offset) if mmap else np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ArrayFileError(f"{path} cannot be read ({err})") from None
        arrays[name] = torch.from_numpy(array)
    return arrays, dict(manifest["meta"])
