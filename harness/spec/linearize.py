"""Linearizability of overlapping operations against the spec (Wing & Gong, Porcupine's cache).

Operations that overlap in time may have taken effect in any order that real time allows:
`a` must come before `b` only if `a` completed before `b` was invoked. An unknown outcome
is an operation that may have taken effect at its place in the order or never (the Model's
successors already offer both). The search walks the orders one operation at a time; the
states reached after the same set of operations are kept once per state (Porcupine caches
(linearized set, state) the same way), so k overlapping operations cost at most 2**k sets,
not k! orders. What the search returns are the candidate branches after all of them: the
observation that follows (a snapshot) keeps those it agrees with, exactly as for one
operation, and when none agrees the nearest order's problems are reported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol, TypeVar

B = TypeVar("B", bound="Placeable")

MAX_OVERLAPPING = 8  # operations searched together at most: 2**8 sets of them


class Placeable(Protocol):
    """What the search needs of a branch (harness.spec.engine.Branch is one)."""

    @property
    def state(self) -> Any: ...
    @property
    def problems(self) -> tuple[Any, ...]: ...
    @property
    def suspect(self) -> tuple[Any, ...]: ...
    @property
    def choices(self) -> tuple[str, ...]: ...


class Timed(Protocol):
    index: int
    invoked_at: float
    completed_at: float | None


def precedes(a: Timed, b: Timed) -> bool:
    """Real time orders a before b: a completed before b was invoked."""
    return a.completed_at is not None and a.completed_at < b.invoked_at


def linearizations(
    branches: Sequence[B], ops: Sequence[Any], successors: Callable[[B, Any], list[B]],
    key: Callable[[Any], Hashable], bound: int,
) -> tuple[list[B], str | None]:
    """Every branch reachable by applying all of `ops` in an order real time allows.

    Returns (branches, None), or ([], why) when more than `bound` branches would be held
    after some set of operations, or more than MAX_OVERLAPPING operations overlap.
    """
    if len(ops) > MAX_OVERLAPPING:
        return [], (f"{len(ops)} operations overlap, more than the {MAX_OVERLAPPING} the "
                    "linearizability search takes")
    frontier: dict[frozenset[int], list[B]] = {frozenset(): list(branches)}
    for _ in ops:
        after: dict[frozenset[int], dict[Hashable, B]] = {}
        for done, held in frontier.items():
            for i, op in enumerate(ops):
                if i in done or any(j not in done and j != i and precedes(ops[j], op)
                                    for j in range(len(ops))):
                    continue  # not yet: an operation still to place came before it
                kept = after.setdefault(done | {i}, {})
                for branch in held:
                    for nxt in successors(branch, op):
                        kept.setdefault(
                            (key(nxt.state), len(nxt.problems), len(nxt.suspect)),
                            _placed(nxt, op))
        frontier = {done: list(kept.values()) for done, kept in after.items()}
        largest = max((len(held) for held in frontier.values()), default=0)
        if largest > bound:
            return [], (f"{largest} candidate states after some order of the overlapping "
                        f"operations {_indices(ops)}, more than the bound of {bound}")
    return frontier.get(frozenset(range(len(ops))), []), None


def _placed(branch: B, op: Any) -> B:
    """The branch with the order noted: its choices say which operation went where."""
    return dataclasses.replace(branch, choices=(*branch.choices, f"#{op.index} next"))  # type: ignore[type-var]


def _indices(ops: Sequence[Any]) -> str:
    return ", ".join(f"#{op.index}" for op in ops)
