"""telemetry_agreement: the target's counters match what the history says happened."""

import pytest
from checker_states import WS_A, Ops, State, jid, job_value, rid
from prometheus_client import CollectorRegistry, Counter

from harness.checker import Checker
from harness.history import Outcome
from harness.target import DEFAULT_SCHEMA, JobStatus, MetricNames


@pytest.fixture
def registry():
    return CollectorRegistry()


@pytest.fixture
def dual_writes(registry):
    return Counter(MetricNames.DUAL_WRITES, "dual writes", ["operation", "outcome"],
                   registry=registry)


@pytest.fixture
def fallbacks(registry):
    return Counter(MetricNames.FALLBACK_READS, "fallback reads", registry=registry)


def count(counter, operation, outcome, times=1):
    counter.labels(operation=operation, outcome=outcome).inc(times)


def enqueue_history(checker):
    """Two ok enqueues, one unknown, one refused for bad input."""
    ops = Ops()
    checker.observe(ops.enqueue(WS_A, rid(1), jid(1)))
    checker.observe(ops.enqueue(WS_A, rid(2), jid(2)))
    checker.observe(ops.enqueue(WS_A, rid(3), None, Outcome.UNKNOWN))
    checker.observe(ops.enqueue("", rid(4), None, Outcome.FAIL))
    return ops


def test_counters_that_match_the_history_agree(registry, dual_writes):
    checker = Checker(DEFAULT_SCHEMA, registry)
    enqueue_history(checker)
    count(dual_writes, "enqueue", "success", 2)
    count(dual_writes, "enqueue", "failure", 1)
    assert checker.check_telemetry() == []
    assert checker.telemetry_checked


def test_a_counter_that_missed_an_unknown_write_disagrees(registry, dual_writes):
    checker = Checker(DEFAULT_SCHEMA, registry)
    enqueue_history(checker)
    count(dual_writes, "enqueue", "success", 2)
    [violation] = checker.check_telemetry()
    assert violation.invariant == "telemetry_agreement"
    assert violation.evidence == {"operation": "enqueue", "success": 2.0, "failure": 0.0,
                                  "ok": 2, "unknown": 1, "refused": 0}


def test_update_status_with_no_telemetry_disagrees(registry, dual_writes):
    checker = Checker(DEFAULT_SCHEMA, registry)
    ops = Ops()
    checker.observe(ops.update_status(WS_A, jid(1), JobStatus.COMPLETED))
    [violation] = checker.check_telemetry()
    assert violation.evidence["operation"] == "update_status"
    assert violation.evidence["ok"] == 1


def test_a_job_not_found_may_count_as_a_failure(registry, dual_writes):
    checker = Checker(DEFAULT_SCHEMA, registry)
    ops = Ops()
    checker.observe(ops.update_status(WS_A, jid(1), JobStatus.COMPLETED, Outcome.FAIL,
                                      error="JobNotFound: no such job"))
    count(dual_writes, "update_status", "failure")
    assert checker.check_telemetry() == []


def test_a_target_without_telemetry_is_not_judged_and_says_so(registry):
    checker = Checker(DEFAULT_SCHEMA, registry)
    enqueue_history(checker)
    assert checker.check_telemetry() == []
    assert not checker.telemetry_checked
    assert "telemetry not checked" in checker.notes[0]


def test_a_fallback_read_must_be_counted(registry, dual_writes, fallbacks):
    checker = Checker(DEFAULT_SCHEMA, registry)
    ops = Ops()
    legacy = State().legacy(jid(1)).build()
    checker.observe(ops.seed(WS_A, jid(1)), legacy)
    checker.observe(ops.get_job(WS_A, jid(1), job_value(jid(1))), legacy)
    [violation] = checker.check_telemetry()
    assert violation.evidence == {"counted": 0.0, "expected_min": 1, "expected_max": 1}
    fallbacks.inc()
    assert checker.check_telemetry() == []


def test_a_read_of_a_job_with_a_new_record_is_no_fallback(registry, dual_writes, fallbacks):
    checker = Checker(DEFAULT_SCHEMA, registry)
    ops = Ops()
    both = State().pending(jid(1)).build()
    checker.observe(ops.get_job(WS_A, jid(1), job_value(jid(1))), both)
    fallbacks.inc()
    [violation] = checker.check_telemetry()
    assert violation.evidence["expected_max"] == 0


def test_a_read_that_repairs_the_new_record_is_judged_on_the_state_before_it(
        registry, dual_writes, fallbacks):
    checker = Checker(DEFAULT_SCHEMA, registry)
    ops = Ops()
    checker.observe(ops.seed(WS_A, jid(1)), State().legacy(jid(1)).build())
    repaired = State().pending(jid(1), idem=False).build()
    checker.observe(ops.get_job(WS_A, jid(1), job_value(jid(1))), repaired)
    fallbacks.inc()
    assert checker.check_telemetry() == []


def test_fallbacks_are_not_judged_when_a_read_came_without_a_snapshot(registry, fallbacks):
    checker = Checker(DEFAULT_SCHEMA, registry)
    ops = Ops()
    checker.observe(ops.get_job(WS_A, jid(1), job_value(jid(1))))
    fallbacks.inc(5)
    assert checker.check_telemetry() == []
    assert any("fallback reads not checked" in note for note in checker.notes)
