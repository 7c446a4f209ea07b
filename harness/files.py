"""Where a command writes: a path that cannot be written is refused before the run, and a file
is written whole or not at all.

Refusing first means a bad --out or --junit costs nothing (no server started, nothing made);
writing whole means a full disk leaves no half a report that a CI step would then read.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from harness.errors import InfrastructureError, UsageError


def directory_problem(path: Path) -> str | None:
    """Why `path` cannot be, or be made, a directory this process writes in; None if it can.

    Nothing is created: the deepest part that exists must be a writable directory.
    """
    for part in (path, *path.parents):
        if not part.exists():
            continue
        if not part.is_dir():
            return f"{part} is a file, not a directory"
        if not os.access(part, os.W_OK | os.X_OK):
            return f"{part} is not writable"
        return None
    return None


def check_directory(path: Path, flag: str) -> None:
    """A UsageError naming the flag unless `path` can be a directory to write in."""
    problem = directory_problem(path)
    if problem:
        raise UsageError(f"{flag} {path}: {problem}")


def check_report_file(path: Path) -> None:
    """A UsageError unless a report can be written at `path` (a file, in a directory)."""
    problem = "it is a directory" if path.is_dir() else directory_problem(path.parent)
    if problem:
        raise UsageError(f"cannot write a report to {path}: {problem}")


def write_whole(path: Path, data: bytes) -> None:
    """All of `data` at `path`, or nothing: written beside it, then renamed over it. A path
    that is not a regular file (a device, a pipe) is written in place. A failure to write is
    the environment's (a full disk, a lost mount): an InfrastructureError, exit 3."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and not stat.S_ISREG(path.stat().st_mode):
            path.write_bytes(data)
            return
        temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    except OSError as exc:
        raise InfrastructureError(f"cannot write {path}: {exc.strerror or exc}") from exc
