"""The nightly overlaps what races (a racer makes two calls at once) and its report names a
race as such: the overlapping operations, side by side."""

from __future__ import annotations

import pytest

from harness.checker import Checker
from harness.cli import main
from harness.history import History, OpKind, Outcome
from harness.invariants import Violation
from harness.nightly.artifacts import race_of
from harness.report.journal import read_journal
from harness.target import DEFAULT_SCHEMA, Job
from queue_impl.race_variants import RACE_VARIANTS

JOB = Job("0" * 32, "ws-a", "req-1", {"n": 1}, "running")


def op(index: int, kind: OpKind, invoked: float, completed: float) -> dict:
    """An operation as history.jsonl holds it."""
    return {"index": index, "process": f"p{index}", "kind": str(kind), "args": {},
            "invoked_at": invoked, "completed_at": completed, "outcome": "ok", "value": None}


def test_a_violation_whose_operations_overlapped_is_a_race_of_those_operations():
    trace = [op(1, OpKind.ENQUEUE, 0.0, 2.0), op(2, OpKind.ENQUEUE, 1.0, 3.0),
             op(3, OpKind.GET_JOB, 5.0, 6.0)]
    violation = Violation("retry_safe_idempotency", "two jobs", {}, (1, 2, 3))
    assert [o["index"] for o in race_of(violation, trace)] == [1, 2]


def test_a_violation_whose_operations_ran_one_after_another_is_no_race():
    trace = [op(1, OpKind.ENQUEUE, 0.0, 1.0), op(2, OpKind.ENQUEUE, 2.0, 3.0)]
    assert race_of(Violation("retry_safe_idempotency", "two jobs", {}, (1, 2)), trace) == []


def dequeue(history: History, checker: Checker, invoked: float,
            completed: float) -> list[Violation]:
    operation = history.invoke("worker", OpKind.DEQUEUE, {"lease_seconds": 30.0})
    history.complete(operation, Outcome.OK, JOB)
    operation.invoked_at, operation.completed_at = invoked, completed
    return checker.observe(operation)


def test_two_dequeues_at_once_that_lease_one_job_break_correct_answers():
    history, checker = History(), Checker(DEFAULT_SCHEMA)
    assert dequeue(history, checker, 0.0, 2.0) == []
    found = dequeue(history, checker, 1.0, 3.0)
    assert [v.invariant for v in found] == ["correct_answers"]
    assert "overlapped in time" in found[0].message


def test_a_job_leased_again_after_the_first_dequeue_ended_is_no_race():
    history, checker = History(), Checker(DEFAULT_SCHEMA)
    dequeue(history, checker, 0.0, 1.0)
    assert dequeue(history, checker, 2.0, 3.0) == []


def test_a_requeue_that_gave_the_job_back_meanwhile_excuses_a_second_lease():
    history, checker = History(), Checker(DEFAULT_SCHEMA)
    dequeue(history, checker, 0.0, 2.0)
    requeue = history.invoke("reaper", OpKind.REQUEUE_EXPIRED, {"now": 4e9})
    history.complete(requeue, Outcome.OK, [JOB.job_id])
    requeue.invoked_at, requeue.completed_at = 0.5, 0.6
    checker.observe(requeue)
    assert dequeue(history, checker, 1.0, 3.0) == []


@pytest.mark.servers
def test_a_nightly_racer_submits_one_request_twice_at_once_and_the_report_names_the_race(
        tmp_path):
    out = tmp_path / "race"
    code = main(["nightly", "--budget", "4s", "--seed", "3", "--target",
                 RACE_VARIANTS["RACE-1"].spec, "--out", str(out), "--quiet", "--no-machine",
                 "--no-nemesis", "--producers", "1", "--workers", "1"])
    journal = read_journal(out)
    assert code == 1
    races = [v for v in journal["violations"] if v["invariant"] == "retry_safe_idempotency"]
    assert races, journal["violations_by_invariant"]
    assert {o["process"] for o in races[0]["race"]} == {"racer-0", "racer-0-twin"}
    assert 'class="pill race"' in (out / "report.html").read_text()
