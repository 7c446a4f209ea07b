"""The temp folder a local run keeps its server logs in, and the ones runs killed outright left.

A run removes its folder on every exit path it lives through; kill -9 gives it none. So each
folder carries its owner (pid and start time, as /proc says: a pid alone may be reused), and
the next run removes every folder of ours whose owner is gone. Folders made before owners
were written are recognised by the pid in their log names.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

PREFIX = "queue-chaos-"
OWNER_FILE = "owner"
_LEGACY_LOG = re.compile(r"queue-chaos-.+-(\d+)-[0-9a-f]+\.log")


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, or None when there is no such
    process (or it is a zombie: an unreaped child runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def make_workdir() -> Path:
    """A fresh folder owned by this process, after removing the stale ones beside it."""
    remove_stale(Path(tempfile.gettempdir()))
    directory = Path(tempfile.mkdtemp(prefix=PREFIX))
    (directory / OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
    return directory


def _owner_alive(directory: Path) -> bool | None:
    """True or False when the folder says who made it, None when it is not one of ours."""
    try:
        pid, started = (directory / OWNER_FILE).read_text().split()
    except FileNotFoundError:
        pids = {int(m.group(1)) for p in directory.iterdir()
                if (m := _LEGACY_LOG.fullmatch(p.name))}
        return any(_start_time(pid) is not None for pid in pids) if pids else None
    except (OSError, ValueError):
        return None
    return _start_time(int(pid)) == started


def remove_stale(parent: Path) -> list[Path]:
    """Remove the folders of ours under `parent` whose owner is gone; the ones removed."""
    removed = []
    for directory in parent.glob(f"{PREFIX}*"):
        try:
            if not directory.is_dir() or directory.is_symlink() \
                    or directory.stat().st_uid != os.getuid():
                continue
            if _owner_alive(directory) is False:
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
        except OSError:
            continue  # another run removed it first, or it is not ours to read
    return removed
