"""retry_safe_idempotency: one request id, one job id, whatever failed in between."""

from checker_states import WS_A, WS_B, Ops, State, jid, rid

from harness.checker import Checker, check_snapshot
from harness.history import Outcome
from harness.target import DEFAULT_SCHEMA


def test_a_retry_that_returns_the_same_job_is_fine():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    assert checker.observe(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN)) == []
    assert checker.observe(ops.enqueue(WS_A, rid(1), jid(1))) == []
    assert checker.observe(ops.enqueue(WS_A, rid(1), jid(1))) == []


def test_two_job_ids_for_one_request_break_idempotency():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    checker.observe(ops.enqueue(WS_A, rid(1), jid(1)))
    checker.observe(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN))
    [violation] = checker.observe(ops.enqueue(WS_A, rid(1), jid(2)))
    assert violation.invariant == "retry_safe_idempotency"
    assert violation.evidence["job_ids"] == [jid(1), jid(2)]
    assert violation.operations == (0, 2)


def test_two_requests_given_one_job_id_break_idempotency():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    checker.observe(ops.enqueue(WS_A, rid(1), jid(1)))
    [violation] = checker.observe(ops.enqueue(WS_A, rid(2), jid(1)))
    assert violation.invariant == "retry_safe_idempotency"
    assert violation.operations == (0, 1)


def test_two_records_for_one_request_break_idempotency_even_without_history():
    state = State().pending(jid(1), request_id=rid(1)).pending(jid(2), request_id=rid(1))
    [violation] = check_snapshot(state.build())
    assert violation.invariant == "retry_safe_idempotency"
    assert violation.evidence["job_ids"] == [jid(1), jid(2)]
    assert violation.evidence["client_request_id"] == rid(1)


def test_an_unknown_attempt_that_left_a_second_job_breaks_idempotency():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    checker.observe(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN))
    checker.observe(ops.enqueue(WS_A, rid(1), jid(2)))
    state = State().pending(jid(1), request_id=rid(1)).pending(jid(2), request_id=rid(1))
    found = checker.check_state(state.build())
    assert [v.invariant for v in found] == ["retry_safe_idempotency"]
    assert found[0].operations == (0, 1)


def test_the_same_request_id_in_two_workspaces_is_two_requests():
    state = State().pending(jid(1), WS_A, request_id=rid(1)).pending(jid(2), WS_B,
                                                                       request_id=rid(1))
    assert check_snapshot(state.build()) == []


def test_seeded_jobs_sharing_a_request_id_are_not_judged_with_the_history():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    checker.observe(ops.seed(WS_A, jid(1)))
    checker.observe(ops.seed(WS_A, jid(2)))
    state = State().legacy(jid(1)).legacy(jid(2))
    state.parts["old_jobs"][jid(2)]["client_request_id"] = rid(1)
    assert checker.check_state(state.build()) == []


def test_an_idempotency_key_naming_another_job_than_the_request_got_is_a_violation():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    checker.observe(ops.enqueue(WS_A, rid(1), jid(1)))
    state = State().pending(jid(1)).pending(jid(2), request_id=rid(2))
    state.set(idempotency={(WS_A, rid(1)): jid(2), (WS_A, rid(2)): jid(2)})
    found = checker.check_state(state.build())
    assert [v.evidence.get("key") for v in found] == [f"ai:idem:{WS_A}:{rid(1)}"]
    assert found[0].evidence["acknowledged"] == [jid(1)]


def test_an_idempotency_key_naming_a_job_of_another_request_is_a_violation_alone():
    state = State().pending(jid(1)).set(idempotency={(WS_A, rid(9)): jid(1)})
    [violation] = check_snapshot(state.build())
    assert violation.invariant == "retry_safe_idempotency"
    assert violation.evidence["record_request"] == [WS_A, rid(1)]
