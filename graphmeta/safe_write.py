"""Safe file writes (atomic: a temporary file or folder in the target's folder, then a rename).

A crash (or ``kill -9``) mid-write leaves either the previous file or the new one, never a half-written file
that a later load would trust. Every file graphmeta writes for later reading goes through here; multi-file
outputs (a memory-mappable graph store) are written into a temporary folder renamed as a whole.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

import torch

__all__ = ["atomic_write", "atomic_directory", "atomic_torch_save", "atomic_write_json"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Calls ``write(handle)`` on a temporary file next to ``path``, then renames it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_directory(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Calls ``write(folder)`` on a temporary folder next to ``path``, then renames it to ``path``.

    A folder already at ``path`` is replaced: it is first renamed aside and deleted after the new one is in
    place, so a reader sees the old folder, the new one, or (for an instant) none, never a partial one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        write(tmp)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes the folder private; give it the usual permissions
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically."""
    return atomic_write(path, lambda handle: torch.save(obj, handle))


def atomic_write_json(data: Any, path: str | os.PathLike) -> Path:
    """``data`` as indented JSON (and a final newline) to ``path`` atomically."""
    return atomic_write(path, lambda handle: handle.write((json.dumps(data, indent=2) + "\n").encode()))
