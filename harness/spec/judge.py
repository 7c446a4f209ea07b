"""The spec as a judge of a sequential run: after each operation, its answer and its snapshot.

A Driver calls `observe(op, snapshot)` once per completed operation. The operation steps
every candidate state (an unknown outcome doubles them), the snapshot prunes them; what no
candidate explains comes back as Violations, each naming the invariant it breaks and the
operation that showed it. `undetermined` says when (and why) the spec stopped judging.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.history import History, Operation, to_jsonable
from harness.invariants import Violation
from harness.snapshot import Snapshot
from harness.spec.contract import DualWriteContract, State
from harness.spec.engine import DEFAULT_BOUND, Candidates, Problem
from harness.spec.observe import adopt
from harness.target import KeySchema


class SpecJudge:
    """`contract` is DualWriteContract or a subclass of it: a target whose queue promises
    something else names its own as a `spec_contract` attribute (see the README)."""

    def __init__(self, schema: KeySchema, history: History, start: Snapshot | None = None,
                 bound: int = DEFAULT_BOUND,
                 contract: type[DualWriteContract] = DualWriteContract) -> None:
        self.contract = contract(schema, history.wall)
        initial = adopt(start) if start is not None else adopt(Snapshot(schema=schema))
        self.candidates: Candidates[State] = Candidates(self.contract, initial, bound)

    @property
    def undetermined(self) -> str | None:
        return self.candidates.undetermined

    @property
    def largest_branch_count(self) -> int:
        return self.candidates.largest

    def observe(self, op: Operation, snapshot: Snapshot | None = None) -> list[Violation]:
        self.contract.context = f"after {describe(op)}"
        problems = self.candidates.apply(op)
        if snapshot is not None:
            problems += self.candidates.observe(snapshot)
        return _violations(problems, (op.index,))

    def observe_overlapping(self, ops: Sequence[Operation],
                            snapshot: Snapshot | None = None) -> list[Violation]:
        """Operations that overlapped in time, judged as linearizable: some order real time
        allows must explain every answer and the snapshot after them all."""
        self.contract.context = "after the overlapping " + " and ".join(
            f"{describe(op)} ({op.process})" for op in ops)
        problems = self.candidates.apply_overlapping(ops)
        if snapshot is not None:
            problems += self.candidates.observe(snapshot)
        return _violations(problems, tuple(op.index for op in ops))


def _violations(problems: Sequence[Problem], default: tuple[int, ...]) -> list[Violation]:
    return [Violation(p.invariant, p.message, dict(p.evidence), p.operations or default)
            for p in problems]


def describe(op: Operation) -> str:
    """#3 update_status(ws-a, 5f0c..., running) -> ok"""
    args = ", ".join(_short(v) for k, v in op.args.items() if k != "healed")
    retry = " (healed retry)" if op.args.get("healed") else ""
    fault = f" [fault {op.fault}]" if op.fault else ""
    return f"#{op.index} {op.kind}({args}){retry}{fault} -> {op.outcome}"


def _short(value: Any, limit: int = 48) -> str:
    text = value if isinstance(value, str) else repr(to_jsonable(value))
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"
