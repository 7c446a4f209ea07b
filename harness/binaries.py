"""Where the server binaries are: QUEUE_CHAOS_BIN_DIR, then this checkout's .bin, then PATH.

The checkout's .bin counts only when harness/ runs from a source checkout: an installed
wheel has no .bin beside it (its parent is site-packages, which is nobody's binaries folder).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.errors import UsageError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTALL_HINT = "run 'make servers' (scripts/install-servers.sh)"
INSTALLED_DIRS = ("site-packages", "dist-packages")


def checkout_bin() -> Path | None:
    """This repository's .bin folder, or None when harness/ is installed, not checked out."""
    if set(PROJECT_ROOT.parts) & set(INSTALLED_DIRS):
        return None
    if not (PROJECT_ROOT / "pyproject.toml").is_file():
        return None
    return PROJECT_ROOT / ".bin"


def bin_dirs() -> list[Path]:
    configured = os.environ.get("QUEUE_CHAOS_BIN_DIR")
    dirs = [Path(configured)] if configured else []
    checkout = checkout_bin()
    if checkout is not None:
        dirs.append(checkout)
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
    places = [*(str(d) for d in bin_dirs()), "PATH"]
    raise UsageError(
        f"{name} not found in {', '.join(places)}: {INSTALL_HINT}, "
        "or use the compose backend (docker compose up -d; --backend compose)"
    )
