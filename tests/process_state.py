"""Whether a process runs, read from /proc (one helper for the tests that watch children)."""

from __future__ import annotations

from pathlib import Path


def running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (an unreaped child is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")
