"""schema_agreement: old and new records of a job agree; the target writes both."""

from checker_states import WS_A, WS_B, Ops, State, jid, rid, with_field

from harness.checker import Checker, check_snapshot
from harness.history import Outcome
from harness.target import DEFAULT_SCHEMA, JobStatus


def test_records_that_differ_in_status_disagree_and_show_both_values():
    snapshot = with_field(State().pending(jid(1)).build(), jid(1), status=JobStatus.COMPLETED)
    [violation] = check_snapshot(snapshot)
    assert violation.invariant == "schema_agreement"
    assert violation.evidence["fields"] == {
        "status": {"old": JobStatus.COMPLETED, "new": JobStatus.QUEUED}}
    assert violation.evidence["keys"] == [f"job:{jid(1)}", f"ai:job:{WS_A}:{jid(1)}"]


def test_a_field_present_in_one_record_only_is_a_disagreement():
    snapshot = with_field(State().pending(jid(1)).build(), (WS_A, jid(1)), extra="x")
    [violation] = check_snapshot(snapshot)
    assert violation.evidence["fields"] == {"extra": {"old": None, "new": "x"}}


def test_one_sided_records_are_not_judged_without_history():
    state = State().pending(jid(1), schemas="old").pending(jid(2), schemas="new")
    assert check_snapshot(state.build()) == []


def test_a_job_the_target_acknowledged_with_no_new_record_is_one_sided():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    checker.observe(ops.enqueue(WS_A, rid(1), jid(1)))
    [violation] = checker.check_state(State().pending(jid(1), schemas="old").build())
    assert violation.invariant == "schema_agreement"
    assert violation.evidence["missing"] == "new"
    assert violation.operations == (0,)


def test_a_job_left_by_an_unknown_enqueue_with_no_old_record_is_one_sided():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    checker.observe(ops.enqueue(WS_B, rid(1), None, Outcome.UNKNOWN))
    state = State().pending(jid(1), WS_B, request_id=rid(1), schemas="new")
    [violation] = checker.check_state(state.build())
    assert violation.evidence == {"job_id": jid(1), "keys": [f"ai:job:{WS_B}:{jid(1)}"],
                                  "missing": "old"}


def test_seeded_jobs_may_be_one_sided():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    checker.observe(ops.seed(WS_A, jid(1), "old"))
    checker.observe(ops.seed(WS_A, jid(2), "new"))
    state = State().legacy(jid(1)).pending(jid(2), schemas="new", idem=False)
    assert checker.check_state(state.build()) == []


def test_seeded_jobs_with_both_records_must_agree():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    checker.observe(ops.seed(WS_A, jid(1), "old"))
    state = State().legacy(jid(1)).build()
    state.new_jobs[(WS_A, jid(1))] = {"status": JobStatus.RUNNING}
    found = [v for v in checker.check_state(state) if v.invariant == "schema_agreement"]
    assert sorted(found[0].evidence["fields"]) == [
        "client_request_id", "id", "payload", "status", "workspace_id"]
