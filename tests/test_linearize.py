"""Linearizability over the spec's engine: operations that overlap may take effect in any
order real time allows, an unknown one at its place or never (pure logic, a toy model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.spec.engine import Branch, Candidates, Problem
from harness.spec.linearize import MAX_OVERLAPPING, linearizations


@dataclass
class Op:
    """append(x) answers the list's new length; `None` as value: the outcome is unknown."""

    index: int
    x: str
    value: int | None
    invoked_at: float = 0.0
    completed_at: float | None = 1.0


class AppendLog:
    """A log that append() extends: the answer is the length after."""

    def successors(self, branch: Branch[tuple[str, ...]], op: Op) -> list[Branch]:
        after = Branch((*branch.state, op.x), branch.problems, branch.choices)
        if op.value is None:  # unknown: took effect, or never happened
            return [branch, after]
        if op.value != len(after.state):
            return [after.with_problems([Problem("correct_answers",
                                                 f"#{op.index} answered {op.value}")])]
        return [after]

    def observe(self, branch: Branch, observation: tuple[str, ...]) -> list[Branch]:
        if branch.state == observation:
            return [branch]
        return [branch.with_problems([Problem("acknowledged_effects",
                                              f"log is {observation}")])]

    def adopt(self, branch: Branch, observation: tuple[str, ...]) -> tuple[str, ...]:
        return observation

    def key(self, state: tuple[str, ...]) -> Any:
        return state


def states(ops: list[Op]) -> set[tuple[str, ...]]:
    found, why = linearizations([Branch(())], ops, AppendLog().successors, AppendLog().key, 64)
    assert why is None
    return {b.state for b in found if not b.problems}


def test_overlapping_operations_may_take_effect_in_either_order():
    assert states([Op(1, "a", 1), Op(2, "b", 2)]) == {("a", "b")}
    assert states([Op(1, "a", 2), Op(2, "b", 1)]) == {("b", "a")}


def test_an_operation_that_completed_before_another_was_invoked_stays_first():
    first = Op(1, "a", 2, invoked_at=0.0, completed_at=1.0)
    later = Op(2, "b", 1, invoked_at=2.0, completed_at=3.0)
    assert states([first, later]) == set()  # b before a is the only order its answers fit


def test_an_unknown_outcome_took_effect_at_any_place_or_never():
    assert states([Op(1, "a", None), Op(2, "b", 1)]) == {("b",), ("b", "a")}
    assert states([Op(1, "a", None), Op(2, "b", 2)]) == {("a", "b")}


def test_the_snapshot_after_the_overlap_keeps_only_the_orders_it_agrees_with():
    candidates = Candidates(AppendLog(), ())
    assert candidates.apply_overlapping([Op(1, "a", None), Op(2, "b", None)]) == []
    assert candidates.observe(("b", "a")) == []


def test_no_order_explaining_the_answers_reports_the_nearest_ones_problems():
    candidates = Candidates(AppendLog(), ())
    problems = candidates.apply_overlapping([Op(1, "a", 1), Op(2, "b", 1)])  # both first
    assert [p.invariant for p in problems] == ["correct_answers"]


def test_states_reached_by_the_same_operations_are_kept_once():
    ops = [Op(i, "x", None) for i in range(1, 7)]  # 6! orders, 7 distinct logs
    found, why = linearizations([Branch(())], ops, AppendLog().successors, AppendLog().key, 64)
    assert why is None
    assert len(found) == 7


def test_more_overlapping_operations_than_the_search_takes_stop_judging_with_a_note():
    candidates = Candidates(AppendLog(), ())
    ops = [Op(i, "x", None) for i in range(MAX_OVERLAPPING + 1)]
    assert candidates.apply_overlapping(ops) == []
    assert candidates.undetermined is not None and "overlap" in candidates.undetermined


def test_more_branches_than_the_bound_stop_judging_with_a_note():
    candidates = Candidates(AppendLog(), (), bound=3)
    candidates.apply_overlapping([Op(i, f"x{i}", None) for i in range(4)])
    assert candidates.undetermined is not None and "bound of 3" in candidates.undetermined
