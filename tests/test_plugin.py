"""The pytest plugin's helpers drive a target, run a scenario and run the state machine.

These tests use the fixtures as a team's own test file would (the plugin is loaded by its
`pytest11` entry point, no import needed).
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings

from harness.driver import Request
from harness.errors import UsageError
from harness.faults import FaultKind
from harness.history import Outcome
from harness.invariants import Severity
from harness.profiles import profile_settings
from harness.scenario import Enqueue, FaultAt, Heal, Scenario
from harness.target import KeyKind, load_factory

pytestmark = pytest.mark.servers

REFERENCE = load_factory("reference")


def make_reference_queue(client, registry):
    """A factory given as a callable, as a test file defines its own."""
    return REFERENCE(client, registry)


def test_qc_target_drives_a_named_target_and_judges_it(qc_target):
    driver = qc_target("reference")
    op = driver.enqueue(Request("ws-a", "r1", {"n": 1}))
    assert op.outcome is Outcome.OK
    assert driver.judge() == []


def test_qc_target_accepts_a_factory_callable(qc_target):
    calls = []

    def factory(client, registry):
        calls.append(client)
        return make_reference_queue(client, registry)

    driver = qc_target(factory)
    assert calls == [driver.client]
    assert driver.enqueue(Request("ws-a", "r1", {"n": 1})).outcome is Outcome.OK


@pytest.mark.qc_target("phase1")
def test_the_qc_target_marker_names_the_target_when_a_test_names_none(qc_target):
    assert type(qc_target().target).__module__ == "queue_impl.phase1"


def test_a_helper_without_any_target_says_how_to_name_one(qc_target):
    with pytest.raises(UsageError, match="no target"):
        qc_target()


def test_qc_reproduce_shows_a_finding_on_phase1(qc_reproduce):
    result = qc_reproduce("CRITICAL-1", "phase1")
    assert result.violated
    assert "no_lost_jobs" in {v.invariant for v in result.violations}
    assert "VIOLATED: no_lost_jobs" in result.trace


def test_qc_reproduce_holds_on_the_reference(qc_reproduce):
    result = qc_reproduce("CRITICAL-1", "reference")
    assert result.verdict == "holds", result.trace


def test_qc_reproduce_names_a_callable_target_by_module_and_name(qc_reproduce):
    result = qc_reproduce("HIGH-1", make_reference_queue)
    assert f"target: {__name__}:make_reference_queue" in result.trace
    assert not result.violated, result.trace


def test_a_static_finding_on_a_callable_lints_the_callable_s_own_module(qc_reproduce):
    result = qc_reproduce("MEDIUM-1", load_factory("phase1"))
    assert result.violated
    assert "queue_impl/phase1.py" in result.trace


def test_qc_reproduce_refuses_a_group_id(qc_reproduce):
    with pytest.raises(UsageError, match=r"MEDIUM-4 names 7 scenarios"):
        qc_reproduce("MEDIUM-4", "phase1")


LOST_PUSH_REPLY = Scenario(
    id="TEAM-1", title="our own: the push's reply is lost, then the network heals",
    severity=Severity.CRITICAL, breaks="retry_safe_idempotency", source="team: incident 42",
    says="the job was pushed but the caller saw an error and retried",
    fix="one atomic, idempotent enqueue",
    steps=(Enqueue("r1", fault=FaultAt(FaultKind.REPLY_LOST, touching=KeyKind.QUEUE)), Heal()),
)


@pytest.mark.parametrize(("target", "verdict"), [("phase1", "violated"),
                                                 ("reference", "holds")])
def test_qc_reproduce_runs_a_scenario_defined_in_a_test_file(qc_reproduce, target, verdict):
    result = qc_reproduce(LOST_PUSH_REPLY, target)
    assert result.verdict == verdict, result.trace


def test_qc_check_queue_returns_the_result_when_every_invariant_holds(qc_check_queue):
    result = qc_check_queue(make_reference_queue, max_examples=3, steps=5)
    assert result.holds
    assert result.report == ""


def test_qc_check_queue_fails_the_test_with_the_failing_program(qc_check_queue):
    quick = settings(profile_settings("gate", max_examples=5, step_count=10),
                     phases=[Phase.generate])  # no shrinking: seconds, not half a minute
    with pytest.raises(pytest.fail.Exception) as failed:
        qc_check_queue("phase1", settings=quick, severity_passes=False)
    message = str(failed.value)
    assert message.startswith("queue-chaos: phase1 violates ")
    assert "state = QueueMachine()" in message  # the program Hypothesis found

