"""The fault sweep: every operation from each state of the contract, one fault on each round
trip it writes on, of each kind; its first failing program per severity, and no finding on a
correct queue. Pure-logic tests of what it runs, then runs on real servers."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from harness.driver import Driver
from harness.fault_sweep import (
    NOTHING,
    OPERATIONS,
    SWEPT_KINDS,
    fault_places,
    programs,
    sweep,
)
from harness.faults import FaultKind
from harness.gate import render_report, run_gate, searched_line
from harness.injector import RoundTrip
from harness.invariants import Severity
from harness.machine import MachineSetup, run_by_severity
from harness.profiles import profile_settings
from harness.target import load_factory

WRITE_THEN_READ = [RoundTrip(1, ("HGET",)), RoundTrip(2, ("HSET",)), RoundTrip(3, ("HSET",))]


def test_faults_go_on_the_round_trips_that_write():
    assert fault_places(WRITE_THEN_READ) == [2, 3]


def test_an_operation_that_only_reads_has_every_round_trip_faulted():
    assert fault_places([RoundTrip(1, ("HGETALL",)), RoundTrip(2, ("LRANGE",))]) == [1, 2]


def test_every_fault_free_program_runs_before_any_faulted_one():
    generated = programs(tuple(FaultKind))
    seen = []
    for program, trips in generated:
        if program.faults:
            seen.append(program)
            break
        trips.extend(WRITE_THEN_READ)  # what the caller does once a program has run
        seen.append(program)
    assert all(not p.faults for p in seen[:-1]) and seen[-1].faults


def test_each_faulted_program_is_one_fault_of_each_swept_kind_on_each_write():
    faulted = []
    for program, trips in programs(tuple(FaultKind)):
        if not program.faults:
            trips.extend(WRITE_THEN_READ)
            continue
        faulted.append(program)
    first = faulted[0]
    same = [p for p in faulted if (p.fixture, p.operation) == (first.fixture, first.operation)]
    assert sorted((f.kind, f.round_trip) for p in same for f in p.faults) == sorted(
        (kind, trip) for kind in SWEPT_KINDS for trip in (2, 3))


def test_a_late_reply_is_left_to_the_random_search():
    assert FaultKind.LATENCY not in SWEPT_KINDS


def test_operations_on_a_job_are_not_run_from_the_empty_state():
    names = {p.operation.name for p, _ in programs(()) if p.fixture is NOTHING}
    assert names == {"enqueue a new job", "list_jobs", "dequeue",
                     "requeue_expired once every lease is over"}


def test_only_an_enqueued_job_has_its_enqueue_retried():
    fixtures = {p.fixture.name for p, _ in programs(())
                if p.operation.name == "retry the job's enqueue"}
    assert fixtures == {"a queued job", "a leased job"}


def run_sweep(services, target, stop_at=frozenset()):
    return sweep(lambda: Driver(services, target, process="sweep"), tuple(FaultKind),
                 stop_at=stop_at)


@pytest.mark.servers
@pytest.mark.parametrize("target", ["reference", "queue_impl.functions_queue:make_queue"])
def test_a_correct_queue_holds_through_the_whole_sweep(qc_services, target):
    outcome = run_sweep(qc_services, target)
    assert outcome.found == {}, outcome.report()
    assert outcome.programs > 200  # every fault-free program, then the faulted ones


@pytest.mark.servers
def test_the_two_separate_status_writes_are_found_with_one_fault_between_them(qc_services):
    outcome = run_sweep(qc_services, "variant:HIGH-2", stop_at=frozenset({Severity.HIGH}))
    finding = outcome.found[Severity.HIGH]
    assert "schema_agreement" in finding.invariants
    assert finding.program.operation.name.startswith("update_status")
    assert finding.program.faults[0].round_trip >= 2  # after the first status write
    assert finding.text.startswith(f"fault sweep, program {finding.number}: from ")
    assert set(outcome.found) == {Severity.HIGH}  # nothing else broke before it


@pytest.mark.servers
def test_the_sweep_stops_once_a_severity_that_settles_the_verdict_broke(qc_services):
    outcome = run_sweep(qc_services, "phase1", stop_at=frozenset({Severity.HIGH}))
    assert Severity.HIGH in outcome.found
    last = max(f.number for f in outcome.found.values())
    assert outcome.programs == last


@pytest.mark.servers
def test_a_severity_the_sweep_did_not_break_is_searched_at_random_after_it(qc_services):
    setup = MachineSetup(qc_services, "variant:MEDIUM-5", sweep=True, shrink_budget=0)
    result = run_by_severity(setup, profile_settings("gate", max_examples=10),
                             stop_at=frozenset({Severity.CRITICAL, Severity.HIGH}))
    assert result.invariants_violated == ["list_jobs_complete"]
    assert result.swept > 0 and result.examples > 0  # the blocking ones, at random
    assert "fault sweep, program" in result.report


def test_an_operation_from_another_workspace_runs_once_without_faults():
    elsewhere = [p for p, trips in _all_programs() if "another workspace" in p.operation.name
                 and not p.operation.name.startswith("enqueue")]
    assert elsewhere and all(not p.faults for p in elsewhere)


def test_a_state_of_two_jobs_is_only_for_what_their_order_decides():
    names = {p.operation.name for p, _ in _all_programs() if p.fixture.name == "two queued jobs"}
    assert names == {"dequeue", "list_jobs"}


def _all_programs():
    """Every program, as if each fault-free one had made WRITE_THEN_READ's round trips."""
    for program, trips in programs(tuple(FaultKind)):
        if not program.faults:
            trips.extend(WRITE_THEN_READ)
        yield program, trips


@pytest.mark.servers
@pytest.mark.parametrize("swept", [True, False])
def test_the_gate_says_what_its_state_machine_ran(qc_services, swept):
    report = run_gate(qc_services, "reference", [], profile_settings("gate", max_examples=2),
                      sweep=swept)
    line = searched_line(report.searched)
    assert report.passed and line in render_report(report)
    assert ("fault-sweep programs, then 2 random examples" in line) is swept
    assert (report.searched["sweep_programs"] > 0) is swept


def test_a_requeue_at_a_lease_deadline_is_not_run_when_the_job_holds_no_lease():
    class NoLeases:  # a driver whose snapshot shows no lease (the fixture's dequeue leased none)
        snapshot = SimpleNamespace(leases={})

        def requeue_expired(self, now, faults):
            raise AssertionError("requeue_expired was run")

    deadline_ops = [o for o in OPERATIONS if "deadline" in o.name]
    assert deadline_ops and all(o.run(NoLeases(), "job-1", ()) is None for o in deadline_ops)


class _SlowListQueue:
    """The reference, except that list_jobs takes 1.5 s: past a 0.3 s operation limit."""

    def __init__(self, inner):
        self._inner = inner
        self.key_schema = inner.key_schema

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def list_jobs(self, workspace_id):
        time.sleep(1.5)
        return self._inner.list_jobs(workspace_id)


def _slow_list_queue(client, registry):
    return _SlowListQueue(load_factory("reference")(client, registry))


@pytest.mark.servers
def test_a_hang_ends_the_sweep_even_where_liveness_is_not_judged(qc_services):
    outcome = sweep(lambda: Driver(qc_services, _slow_list_queue, op_timeout=0.3),
                    tuple(FaultKind), judged=frozenset({"no_lost_jobs"}))
    assert outcome.hung
    hung = next(iter(outcome.found.values()))
    assert hung.program.operation.name == "list_jobs" and outcome.programs == hung.number
