"""Safe checkpoints: ``{format_version, library_version, kind, config, state}``, loaded with ``weights_only=True``.

Only tensors, numbers, strings, lists and dicts are stored (the config names registry entries, it never
pickles classes), so loading never executes code from the file. Writes are atomic (temporary file in the
same folder, then rename): a crash mid-write leaves the previous checkpoint intact. Loading checks every
record's CRC-32, so a truncated or bit-flipped file is an error naming it, never silently wrong weights.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch

from graphmeta import __version__
from graphmeta.safe_write import atomic_torch_save

__all__ = ["FORMAT_VERSION", "CheckpointError", "save_checkpoint", "load_checkpoint"]

#: Bumped when the checkpoint layout changes incompatibly.
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, truncated, foreign, of another format or kind."""


def save_checkpoint(path: str | os.PathLike, kind: str, config: Mapping[str, Any], state: Mapping[str, Any]) -> Path:
    """Atomically writes a checkpoint of ``kind`` (e.g. ``"meta-trainer"``) with a JSON-safe ``config``."""
    path = Path(path)
    atomic_torch_save({"format_version": FORMAT_VERSION, "library_version": __version__, "kind": kind,
                       "config": dict(config), "state": dict(state)}, path)
    return path


def _check_crc(path: Path) -> None:
    """Verifies the CRC-32 of every record of a (zip) checkpoint: ``torch.load`` does not, so a flipped byte in
    the weights would otherwise load silently as a wrong number."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            if handle.read(2) in (b"", b"P", b"PK"):  # a zip (what torch.save writes) without its end: truncated
                raise CheckpointError(f"{path}: corrupt or truncated checkpoint (incomplete zip archive)")
        # not a zip at all: never handed to torch.load, whose errors for such files suggest weights_only=False
        raise CheckpointError(f"{path}: not a graphmeta model or checkpoint file (graphmeta writes them with "
                              f"torch.save as zip archives; this file is not one)")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({type(err).__name__}: {err})") from None
    if damaged is not None:
        raise CheckpointError(f"{path}: corrupt checkpoint (checksum mismatch in record {damaged!r}); restore it "
                              f"from a copy or retrain")


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    """Loads a checkpoint with ``torch.load(weights_only=True)``; every failure names the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    _check_crc(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: (?:GLOBAL )?([\w.]+)", str(err))
        what = f" ({found.group(1)})" if found else ""
        raise CheckpointError(f"{path}: refused, the file needs pickled code to load{what}: not a graphmeta "
                              f"checkpoint (graphmeta loads plain tensors and containers only, and never runs code "
                              f"from a file)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({type(err).__name__}: {reason})") from None
    if not isinstance(blob, dict) or "format_version" not in blob or "state" not in blob:
        raise CheckpointError(f"{path}: not a graphmeta checkpoint")
    if blob["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {blob['format_version']} is not supported by graphmeta "
                              f"{__version__} (format {FORMAT_VERSION})")
    if kind is not None and blob.get("kind") != kind:
        raise CheckpointError(f"{path}: a {blob.get('kind')!r} checkpoint, expected {kind!r}")
    return blob
