"""Provenance of a result: the command, git commit, machine and time that produced it, written beside it."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from graphmeta.safe_write import atomic_write_json

__all__ = ["command_line", "git_commit", "machine", "write_record"]


def git_commit(where: str | os.PathLike | None = None) -> str:
    """``HEAD`` of the git checkout holding ``where`` (default: this package), ``-dirty`` if tracked files differ."""
    cwd = Path(where) if where is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=cwd)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=cwd).stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict[str, Any]:
    """Platform, CPU count, Python and torch versions, torch threads."""
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": sys.version.split()[0], "torch": torch.__version__,
            "torch_threads": torch.get_num_threads()}


def command_line(cli_argv: Sequence[str] | None = None) -> str:
    """How this process was started, as a user would retype it (``python bench/x.py ...``, ``graphmeta ...``);
    ``cli_argv``: the arguments ``graphmeta``'s ``main`` was called with (when it was called from Python)."""
    if cli_argv is not None:
        return shlex.join(["graphmeta", *cli_argv])
    program = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    package = Path(__file__).resolve().parents[1]
    if Path(program).resolve().is_relative_to(package):  # ``python -m graphmeta.cli.main`` is the console script
        head = "graphmeta"
    else:
        head = f"python {program}" if program.endswith(".py") else Path(program).name
    return " ".join([head, *sys.argv[1:]])


def write_record(name: str, results: dict[str, Any], path: str | os.PathLike,
                 wall_seconds: float | None = None, command: str | None = None) -> Path:
    """Writes ``{benchmark, command, commit, date, machine, wall_seconds, results}`` as JSON to ``path``
    (``command``: default :func:`command_line`)."""
    record = {"benchmark": name, "command": command or command_line(),
              "commit": git_commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
              "wall_seconds": wall_seconds, "results": results}
    return atomic_write_json(record, path)
