"""Which operations overlapped in time: what makes a violation a race, and what a history
checker may not order (an operation took effect somewhere between its invocation and its
completion; two whose intervals intersect may have taken effect either way round)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

from harness.history import Operation

Timed = Operation | Mapping[str, Any]  # an Operation, or one as history.jsonl holds it


def interval(op: Timed) -> tuple[float, float]:
    """(invoked, completed) in history seconds; one still running is open-ended."""
    if isinstance(op, Operation):
        invoked, completed = op.invoked_at, op.completed_at
    else:
        invoked, completed = op["invoked_at"], op.get("completed_at")
    return invoked, float("inf") if completed is None else completed


def intersect(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Each interval began before the other ended."""
    return a[0] < b[1] and b[0] < a[1]


def overlap(a: Timed, b: Timed) -> bool:
    """Each was invoked before the other completed."""
    return intersect(interval(a), interval(b))


def overlapping(ops: Sequence[Timed]) -> list[Timed]:
    """The operations of `ops` that overlapped at least one other of them, in order given."""
    racing: set[int] = set()
    for (i, a), (j, b) in combinations(enumerate(ops), 2):
        if overlap(a, b):
            racing.update((i, j))
    return [op for i, op in enumerate(ops) if i in racing]
