"""input_validation: bad input is refused with ValueError and nothing is written."""

import pytest
from checker_states import WS_A, Ops, State, jid, rid

from harness.checker import Checker
from harness.history import OpKind, Outcome
from harness.inputs import Validity, classify_payload
from harness.target import DEFAULT_SCHEMA, MAX_PAYLOAD_BYTES


def test_bad_input_refused_without_a_write_is_fine():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    empty = State().build()
    checker.check_state(empty)
    assert checker.observe(ops.enqueue("", rid(1), None, Outcome.FAIL), empty) == []


def test_bad_input_accepted_is_a_violation():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    [violation] = checker.observe(ops.enqueue("", rid(1), jid(1)))
    assert violation.invariant == "input_validation"
    assert "workspace_id '' is not valid" in violation.message
    assert violation.operations == (0,)


def test_bad_input_refused_after_writing_a_malformed_key_is_a_violation():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    checker.check_state(State().build())
    after = State().set(malformed={f"ai:job::{jid(1)}": "bad name"}).build()
    [violation] = checker.observe(ops.enqueue("", rid(1), None, Outcome.FAIL), after)
    assert violation.evidence["changed_keys"] == [f"ai:job::{jid(1)}"]


def test_bad_input_that_crashes_the_target_is_a_violation():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    crash = ops.enqueue(None, rid(1), None, Outcome.UNKNOWN, error="TypeError: x",
                        crashed=True)
    [violation] = checker.observe(crash)
    assert "crashed on bad input" in violation.message


def test_bad_input_that_reaches_redis_is_a_violation():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    unknown = ops.enqueue(None, rid(1), None, Outcome.UNKNOWN, error="DataError: NoneType")
    [violation] = checker.observe(unknown)
    assert "raised a Redis error on bad input" in violation.message


def test_a_refused_valid_operation_that_wrote_is_a_violation():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    checker.check_state(State().build())
    after = State().set(old_jobs={jid(1): {"status": "completed"}}).build()
    update = ops.update_status(WS_A, jid(1), "completed", Outcome.FAIL,
                               error="JobNotFound: no such job")
    [violation] = checker.observe(update, after)
    assert violation.evidence["changed_keys"] == [f"job:{jid(1)}"]


def test_an_unknown_status_accepted_is_a_violation():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    [violation] = checker.observe(ops.update_status(WS_A, jid(1), "done"))
    assert "status 'done' is not a JobStatus" in violation.message


@pytest.mark.parametrize("kind,args", [
    (OpKind.GET_JOB, {"workspace_id": WS_A, "job_id": "not-hex"}),
    (OpKind.LIST_JOBS, {"workspace_id": "a:b"}),
    (OpKind.COMPLETE, {"workspace_id": " ", "job_id": jid(1)}),
    (OpKind.FAIL, {"workspace_id": WS_A, "job_id": None}),
])
def test_every_operation_with_ids_must_refuse_bad_ones(kind, args):
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    assert [v.invariant for v in checker.observe(ops.op(kind, args))] == ["input_validation"]


def test_a_refusal_of_an_unsure_payload_is_not_judged_and_not_retried():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    unsure = {"a": "x" * (MAX_PAYLOAD_BYTES - 8)}  # at the limit under one encoding only
    assert checker.observe(ops.enqueue(WS_A, rid(1), None, Outcome.FAIL, payload=unsure)) == []
    assert checker.pending_requests() == []


@pytest.mark.parametrize("payload,validity", [
    ({"a": [1, "é"]}, Validity.VALID),
    ([1, 2], Validity.INVALID),
    ({"a": {1, 2}}, Validity.INVALID),
    ({"a": b"bytes"}, Validity.INVALID),
    ({"a": "x" * MAX_PAYLOAD_BYTES}, Validity.INVALID),
    ({"a": "x" * (MAX_PAYLOAD_BYTES - 20)}, Validity.VALID),
    ({"a": "x" * (MAX_PAYLOAD_BYTES - 8)}, Validity.UNSURE),
    ({"a": "é" * (MAX_PAYLOAD_BYTES // 4)}, Validity.UNSURE),
    ({"a": "é" * (MAX_PAYLOAD_BYTES - 100)}, Validity.UNSURE),
    ({"a": float("inf")}, Validity.INVALID),  # JSON gives none of them back unchanged
    ({1: "a"}, Validity.INVALID),
    ({"a": (1, 2)}, Validity.INVALID),
])
def test_payloads_are_judged_valid_only_when_every_encoding_fits(payload, validity):
    assert classify_payload(payload)[0] is validity
