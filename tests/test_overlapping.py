"""Operations run at once on several logical clients, under a schedule, on real servers:
each client its own target, connection and Toxiproxy proxy; judged as linearizable."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import settings

from harness import calls
from harness.driver import Driver, Request
from harness.faults import Fault
from harness.history import Outcome
from harness.machine import MachineSetup, run_machine
from harness.op_deadline import OperationHung
from harness.profiles import profile_settings
from queue_impl.race_variants import RACE_VARIANTS
from queue_impl.reference import ReferenceQueue

EXTERNAL_QUEUE = Path(__file__).resolve().parents[1] / "examples" / "external_queue"
REQUEST = Request("ws-a", "req-1", {"prompt": "summarise"})
TWICE = [(0, calls.enqueue("ws-a", REQUEST.payload, "req-1"), ()),
         (1, calls.enqueue("ws-a", REQUEST.payload, "req-1"), ())]
INTERLEAVED = [0, 1]  # A's first round trip, then B to its end, then A's rest


@pytest.fixture
def driver(qc_services):
    def build(target: object, **options: object) -> Driver:
        made = Driver(qc_services, target, clients=2, **options)  # type: ignore[arg-type]
        built.append(made)
        return made

    built: list[Driver] = []
    yield build
    for made in built:
        made.close()


def test_one_request_submitted_twice_at_once_gets_one_job_from_the_reference(driver):
    d = driver("reference")
    step = d.run_overlapping(TWICE, INTERLEAVED)
    assert [op.outcome for op in step.ops] == [Outcome.OK, Outcome.OK]
    assert step.ops[0].value == step.ops[1].value
    assert d.judge() == []


def test_check_then_act_idempotency_holds_when_the_calls_run_one_after_the_other(driver):
    d = driver(RACE_VARIANTS["RACE-1"].spec)
    d.run_overlapping(TWICE, [])
    assert d.judge() == []


def test_check_then_act_idempotency_makes_two_jobs_when_their_round_trips_interleave(driver):
    d = driver(RACE_VARIANTS["RACE-1"].spec)
    step = d.run_overlapping(TWICE, INTERLEAVED)
    assert step.ops[0].value != step.ops[1].value
    assert "retry_safe_idempotency" in {v.invariant for v in d.judge()}
    assert "B's round trips 1-2 ran between A's 1 and 2" in step.ops[0].overlap


def test_pipeline_fix_makes_two_jobs_for_one_request_submitted_twice_at_once(driver):
    d = driver("pipeline-fix")  # GET idem, then MULTI/EXEC: the gap its docstring names
    d.run_overlapping(TWICE, INTERLEAVED)
    assert "retry_safe_idempotency" in {v.invariant for v in d.judge()}


def test_each_logical_client_talks_through_a_proxy_of_its_own(driver):
    d = driver("reference")
    a, b = d.clients
    assert a.injector.proxy_name != b.injector.proxy_name
    assert a.client.connection_pool.connection_kwargs["port"] != \
        b.client.connection_pool.connection_kwargs["port"]


def test_a_fault_armed_for_one_client_leaves_the_others_traffic_alone(driver):
    d = driver("reference")
    step = d.run_overlapping([
        (0, calls.enqueue("ws-a", {"n": 1}, "req-a"), (Fault.parse("reply_lost@1"),)),
        (1, calls.enqueue("ws-a", {"n": 2}, "req-b"), ())], INTERLEAVED)
    assert [op.outcome for op in step.ops] == [Outcome.UNKNOWN, Outcome.OK]
    assert d.judge() == []


class StuckBetweenRoundTrips(ReferenceQueue):
    """enqueue waits, after one round trip, on something that does not come in time (and
    then writes nothing: a write landing in a later test would be that test's mystery)."""

    def _enqueue_job(self, job):  # type: ignore[no-untyped-def]
        self.client.ping()
        time.sleep(2)
        return job.job_id


def test_a_client_stuck_between_its_round_trips_ends_the_step_as_a_liveness_verdict(driver):
    d = driver(StuckBetweenRoundTrips, op_timeout=0.5)
    with pytest.raises(OperationHung) as hung:
        d.run_overlapping(TWICE, INTERLEAVED)
    assert [v.invariant for v in hung.value.violations] == ["liveness"]
    assert "did not return within 0.5 s" in hung.value.trace


SEQUENTIAL = settings(profile_settings("gate"), max_examples=25)


@pytest.mark.parametrize("variant", sorted(RACE_VARIANTS))
def test_each_race_variant_holds_when_no_operations_overlap(qc_services, variant):
    result = run_machine(MachineSetup(qc_services, RACE_VARIANTS[variant].spec, clients=1),
                         SEQUENTIAL)
    assert result.holds, result.report
    assert result.overlapping == 0


def test_the_program_that_kills_a_race_variant_prints_its_schedule(qc_services):
    result = run_machine(MachineSetup(qc_services, RACE_VARIANTS["RACE-1"].spec,
                                      shrink_budget=2.0), profile_settings("gate"))
    assert not result.holds
    assert "state.double_submit(" in result.report
    assert "Draw" in result.report and "(schedule):" in result.report
    assert "ran between" in result.report


def test_a_latency_fault_keeps_the_connection_and_the_watch_on_it(driver, monkeypatch):
    # The external example's enqueue: WATCH idem, GET idem, MULTI/EXEC. A reconnect after the
    # latency toxic went would drop B's WATCH, and B's EXEC would write a second job.
    monkeypatch.syspath_prepend(str(EXTERNAL_QUEUE))
    d = driver("simple_queue:make_queue")
    d.run_overlapping([TWICE[0], (1, TWICE[1][1], (Fault.parse("latency@2"),))],
                      [0, 1, 0, 1, 0, 1])
    assert d.judge() == []
