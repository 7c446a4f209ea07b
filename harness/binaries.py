"""Where the server binaries are: the project's .bin folder first, then PATH."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.errors import UsageError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTALL_HINT = "run 'make servers' (scripts/install-servers.sh)"


def bin_dirs() -> list[Path]:
    configured = os.environ.get("QUEUE_CHAOS_BIN_DIR")
    dirs = [Path(configured)] if configured else []
    dirs.append(PROJECT_ROOT / ".bin")
    return dirs


def find_binary(name: str) -> str:
    """The absolute path of `name`, or a UsageError that says how to install it."""
    for directory in bin_dirs():
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise UsageError(
        f"{name} not found in {', '.join(str(d) for d in bin_dirs())} or on PATH: {INSTALL_HINT}, "
        "or use the compose backend (docker compose up -d; --backend compose)"
    )
