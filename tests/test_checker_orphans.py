"""no_orphan_keys: nothing a worker would trip over or that nothing will ever clean up."""

from checker_states import WS_A, Ops, State, jid, rid, with_field

from harness.checker import Checker, check_snapshot
from harness.target import DEFAULT_SCHEMA, JobStatus


def only(violations, invariant="no_orphan_keys"):
    return [v for v in violations if v.invariant == invariant]


def test_a_record_in_no_list_with_an_unfinished_status_is_an_orphan():
    [violation] = check_snapshot(State().job(jid(1)).build())
    assert violation.invariant == "no_orphan_keys"
    assert violation.evidence["keys"] == [f"job:{jid(1)}", f"ai:job:{WS_A}:{jid(1)}"]
    assert violation.evidence["statuses"] == [JobStatus.QUEUED]


def test_a_finished_record_in_no_list_is_not_an_orphan():
    assert check_snapshot(State().finished(jid(1)).build()) == []


def test_a_finished_job_still_pending_is_not_an_orphan():
    state = State().finished(jid(1)).set(queue=[jid(1)])
    assert check_snapshot(state.build()) == []


def test_alone_a_caller_set_status_looks_orphaned_but_with_its_history_it_is_not():
    snapshot = State().job(jid(1), status=JobStatus.RUNNING).build()
    assert only(check_snapshot(snapshot))
    ops = Ops()
    checker = Checker(DEFAULT_SCHEMA)
    checker.observe(ops.enqueue(WS_A, rid(1), jid(1)))
    checker.observe(ops.update_status(WS_A, jid(1), JobStatus.RUNNING))
    assert checker.check_state(snapshot) == []


def test_a_pending_entry_without_a_record_is_an_orphan():
    [violation] = check_snapshot(State().set(queue=[jid(1)]).build())
    assert violation.evidence == {"job_id": jid(1), "lists": ["ai:queue:pending"]}


def test_a_processing_entry_without_a_record_is_an_orphan():
    found = check_snapshot(State().set(processing=[jid(1)], leases={jid(1): 5.0}).build())
    assert [v.evidence["lists"] for v in only(found)] == [["ai:queue:processing"]]


def test_an_idempotency_key_without_its_job_is_an_orphan():
    [violation] = check_snapshot(State().set(idempotency={(WS_A, rid(1)): jid(1)}).build())
    assert violation.evidence == {"key": f"ai:idem:{WS_A}:{rid(1)}", "job_id": jid(1)}


def test_a_lease_without_a_processing_entry_is_an_orphan():
    state = State().finished(jid(1)).set(leases={jid(1): 12.5})
    [violation] = check_snapshot(state.build())
    assert violation.evidence == {"key": "ai:queue:leases", "job_id": jid(1), "deadline": 12.5}


def test_a_malformed_key_is_an_orphan():
    why = "new job key whose parts are not valid ids (expected ai:job:{workspace_id}:{job_id})"
    state = State().set(malformed={f"ai:job::{jid(1)}": why})
    [violation] = check_snapshot(state.build())
    assert violation.evidence == {"key": f"ai:job::{jid(1)}", "why": why}


def test_a_record_missing_the_fields_a_worker_needs_is_an_orphan():
    state = State().finished(jid(1)).set(old_jobs={jid(1): {"status": "completed"}})
    found = only(check_snapshot(state.build()))
    assert [v.evidence["missing"] for v in found] == [["id", "workspace_id"]]


def test_a_record_naming_another_id_is_an_orphan():
    snapshot = with_field(State().pending(jid(1)).build(), jid(1), id=jid(2))
    found = only(check_snapshot(snapshot))
    assert [v.evidence["key"] for v in found] == [f"job:{jid(1)}"]


def test_each_orphan_is_reported_once_in_a_stable_order():
    state = State().set(queue=[jid(2), jid(1), jid(2)], processing=[jid(1)])
    first = check_snapshot(state.build())
    assert first == check_snapshot(state.build())
    orphans = only(first)
    assert [v.evidence["job_id"] for v in orphans] == [jid(1), jid(2)]

