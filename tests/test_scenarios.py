"""Each scenario breaks the invariant it names where the defect is, and holds where it is not."""

from __future__ import annotations

import pytest

from harness.faults import Fault, FaultKind
from harness.injector import RoundTrip
from harness.invariants import Severity
from harness.scenario import Enqueue, FaultAt, Scenario, run_scenario
from harness.target import DEFAULT_SCHEMA, KeyKind
from scenarios import BY_ID, CATALOGUE, select

# A target carrying the defect each field scenario is about (the review's are all in phase1).
DEFECTIVE = {
    "FIELD-1": "variant:HIGH-1",  # idempotency key written last, separately
    "FIELD-2": "pipeline-fix",  # MULTI/EXEC re-sent by redis-py's default retries
    "FIELD-4": "variant:QC-2",  # dequeue pops without a lease
}
PHASE1_TRIPS = [RoundTrip(1, ("SET",), ("ai:idem:ws-a:r1",)),
                RoundTrip(2, ("HSET",), ("job:" + "a" * 32,)),
                RoundTrip(3, ("HSET",), ("ai:job:ws-a:" + "a" * 32,)),
                RoundTrip(4, ("RPUSH",), ("ai:queue:pending",))]


@pytest.mark.parametrize("scenario", CATALOGUE, ids=lambda s: s.id)
def test_the_scenario_breaks_the_invariant_it_names_where_the_defect_is(qc_services, scenario):
    result = run_scenario(scenario, qc_services, DEFECTIVE.get(scenario.id, "phase1"))
    assert result.violated, result.trace
    assert scenario.breaks in {v.invariant for v in result.violations}, result.trace


@pytest.mark.parametrize("scenario", CATALOGUE, ids=lambda s: s.id)
def test_the_scenario_holds_on_the_reference_queue(qc_services, scenario):
    result = run_scenario(scenario, qc_services, "reference")
    assert result.verdict == "holds", result.trace


def test_a_fault_aimed_at_a_key_lands_on_each_round_trip_that_touches_it():
    plans = FaultAt(FaultKind.REQUEST_LOST, touching=KeyKind.NEW_JOB).plans(
        PHASE1_TRIPS, DEFAULT_SCHEMA)
    assert plans == [(Fault(FaultKind.REQUEST_LOST, 3),)]


def test_a_then_fault_lands_on_the_round_trip_after_the_first():
    plans = FaultAt(FaultKind.REPLY_LOST, touching=KeyKind.QUEUE,
                    then=FaultKind.RESET).plans(PHASE1_TRIPS, DEFAULT_SCHEMA)
    assert plans == [(Fault(FaultKind.REPLY_LOST, 4), Fault(FaultKind.RESET, 5))]


def test_a_fault_without_a_key_lands_on_every_round_trip():
    plans = FaultAt(FaultKind.STALL).plans(PHASE1_TRIPS, DEFAULT_SCHEMA)
    assert [plan[0].round_trip for plan in plans] == [1, 2, 3, 4]


def test_a_target_that_never_touches_the_key_makes_the_scenario_not_applicable(qc_services):
    scenario = Scenario(id="X", title="x", severity=Severity.LOW, breaks="no_lost_jobs",
                        source="test", says="", fix="",
                        steps=(Enqueue("r1", fault=FaultAt(FaultKind.REQUEST_LOST,
                                                           touching=KeyKind.LEASES)),))
    assert run_scenario(scenario, qc_services, "reference").verdict == "not applicable"


def test_a_scenario_carries_at_most_one_fault():
    with pytest.raises(ValueError, match="at most one step"):
        Scenario(id="X", title="x", severity=Severity.LOW, breaks="no_lost_jobs",
                 source="t", says="", fix="",
                 steps=(Enqueue("a", fault=FaultAt(FaultKind.STALL)),
                        Enqueue("b", fault=FaultAt(FaultKind.STALL))))


def test_medium_4_names_the_seven_failure_tests_the_review_lists():
    titles = [s.title.removeprefix("missing test: ") for s in select("MEDIUM-4")]
    assert titles == ["idempotency + retry", "partial write + cleanup",
                      "error on old key write", "error on new key write", "error on rpush",
                      "update_status partial failure", "workspace_id validation"]


def test_every_review_finding_has_a_scenario():
    review = {"CRITICAL-1", "HIGH-1", "HIGH-2", "HIGH-3", "MEDIUM-1", "MEDIUM-2", "MEDIUM-3",
              "MEDIUM-5", "LOW-1"}
    assert review <= set(BY_ID)
