"""The `queue-chaos` command (placeholder until the CLI lands; see issue 5)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    raise SystemExit("queue-chaos: the CLI is not built yet")
