"""Where a nightly run's report goes: a fresh reports/<UTC timestamp>, or the --out given."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from harness.errors import UsageError
from harness.files import check_directory

DEFAULT_REPORTS = Path("reports")


def report_directory(requested: Path | None) -> tuple[Path, bool]:
    """(directory, whether it is a default one that `latest` should point at); a directory
    that cannot be made is refused now, before anything is written."""
    if requested is not None:
        check_directory(requested, "--out")
        if requested.is_dir() and any(requested.iterdir()):
            raise UsageError(f"--out {requested} exists and is not empty: give a new directory")
        return requested, False
    check_directory(DEFAULT_REPORTS, "the reports directory")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = DEFAULT_REPORTS / stamp
    suffix = 1
    while directory.exists():
        suffix += 1
        directory = DEFAULT_REPORTS / f"{stamp}-{suffix}"
    return directory, True
