"""Each promise of harness/target.py, as the spec judges it: the broken ones, by invariant.

Hand-made histories and snapshots (no Redis), one promise per test.
"""

from __future__ import annotations

import dataclasses

from checker_states import WS_A, WS_B, Ops, State, jid, job_value, names, rid, with_field

from harness.history import OpKind, Outcome, Refusal
from harness.snapshot import Snapshot
from harness.spec import SpecJudge
from harness.spec.contract import DualWriteContract
from harness.target import DEFAULT_SCHEMA, JobStatus


class Run:
    """Operations and snapshots fed to one SpecJudge, as a Driver does."""

    def __init__(self, schema=DEFAULT_SCHEMA) -> None:
        self.ops = Ops()
        self.judge = SpecJudge(schema, self.ops.history, Snapshot(schema=schema))
        self.state = State()

    def step(self, op, snapshot=None):
        return self.judge.observe(op, snapshot if snapshot is not None else self.state.build())

    def enqueued(self, n: int, ws: str = WS_A) -> None:
        self.state.pending(jid(n), ws)
        assert self.step(self.ops.enqueue(ws, rid(n), jid(n))) == []

    def dequeue(self, value, lease: float = 30.0, outcome: Outcome = Outcome.OK):
        return self.ops.op(OpKind.DEQUEUE, {"lease_seconds": lease}, outcome, value)

    def lease_of(self, op, lease: float = 30.0) -> float:
        return self.ops.history.wall(op.invoked_at) + lease

    def leased(self, n: int, ws: str = WS_A):
        """Dequeue job n (the head), Redis showing it leased as the contract says."""
        op = self.dequeue(job_value(jid(n), ws, JobStatus.RUNNING))
        self.state.parts["queue"].remove(jid(n))
        self.state.leased(jid(n), ws, deadline=self.lease_of(op))
        assert self.step(op) == []


def refused(ops: Ops, kind: OpKind, args: dict, refusal: Refusal, error: str):
    op = ops.op(kind, args, Outcome.FAIL, error=error)
    op.refusal = refusal
    return op


def test_the_reference_behaviour_of_a_whole_job_life_has_nothing_to_report():
    run = Run()
    run.enqueued(1)
    run.leased(1)
    run.state.parts["processing"].clear()
    run.state.parts["leases"].clear()
    run.state.finished(jid(1))
    assert run.step(run.ops.op(OpKind.COMPLETE, {"workspace_id": WS_A, "job_id": jid(1)})) == []


def test_an_ok_update_status_that_changed_nothing_is_an_acknowledged_effect_not_there():
    run = Run()
    run.enqueued(1)
    found = run.step(run.ops.update_status(WS_A, jid(1), "running"))
    assert names(found) == ["acknowledged_effects"] * 2  # both records
    assert (f"after #1 update_status(ws-a, {jid(1)}, running) -> ok: the contract says "
            f"ai:job:ws-a:{jid(1)} has status=running; Redis: status=queued") in \
        [v.message for v in found]


def test_job_not_found_for_a_job_readable_in_that_workspace_is_a_wrong_answer():
    run = Run()
    run.enqueued(1)
    op = refused(run.ops, OpKind.UPDATE_STATUS,
                 {"workspace_id": WS_A, "job_id": jid(1), "status": "running"},
                 Refusal.NOT_FOUND, "JobNotFound: gone")
    found = run.step(op)
    assert names(found) == ["correct_answers"]
    assert "raised JobNotFound: job" in found[0].message


def test_an_ok_update_of_another_workspaces_job_breaks_tenant_isolation():
    run = Run()
    run.enqueued(1, WS_A)
    found = run.step(run.ops.update_status(WS_B, jid(1), "running"))
    assert names(found) == ["tenant_isolation"]
    assert "the contract says JobNotFound" in found[0].message


def test_a_value_error_on_good_input_breaks_input_validation():
    run = Run()
    op = refused(run.ops, OpKind.ENQUEUE, {"workspace_id": "ws.a", "payload": {},
                                           "client_request_id": "r"},
                 Refusal.BAD_INPUT, "ValueError: no dots")
    assert names(run.step(op)) == ["input_validation"]


def test_dequeue_from_the_tail_breaks_queue_order():
    run = Run()
    run.enqueued(1)
    run.enqueued(2)
    found = run.step(run.dequeue(job_value(jid(2), WS_A, JobStatus.RUNNING)))
    assert "queue_order" in names(found)


def test_dequeue_answering_none_while_jobs_are_pending_is_a_wrong_answer():
    run = Run()
    run.enqueued(1)
    assert names(run.step(run.dequeue(None))) == ["correct_answers"]


def test_a_dequeue_that_leaves_the_status_queued_is_an_acknowledged_effect_not_there():
    run = Run()
    run.enqueued(1)
    op = run.dequeue(job_value(jid(1), WS_A, JobStatus.RUNNING))
    run.state.parts["queue"].clear()
    run.state.parts["processing"].append(jid(1))
    run.state.parts["leases"][jid(1)] = run.lease_of(op)
    assert set(names(run.step(op))) == {"acknowledged_effects"}


def test_a_lease_that_ends_long_after_the_one_asked_for_breaks_lease_recovery():
    run = Run()
    run.enqueued(1)
    op = run.dequeue(job_value(jid(1), WS_A, JobStatus.RUNNING))
    run.state.parts["queue"].clear()
    run.state.leased(jid(1), deadline=run.lease_of(op) * 1000)  # milliseconds
    found = run.step(op)
    assert names(found) == ["lease_recovery"]
    assert "the call's clock plus lease_seconds" in found[0].message


def test_requeue_expired_with_a_now_before_every_deadline_requeues_nothing():
    run = Run()
    run.enqueued(1)
    run.leased(1)
    op = run.ops.op(OpKind.REQUEUE_EXPIRED, {"now": 0.0}, Outcome.OK, [])
    assert run.step(op) == []
    eager = run.ops.op(OpKind.REQUEUE_EXPIRED, {"now": 0.0}, Outcome.OK, [jid(1)])
    assert names(run.step(eager)) == ["correct_answers"]


def test_requeue_expired_after_every_deadline_brings_each_leased_job_back():
    run = Run()
    run.enqueued(1)
    run.leased(1)
    run.state = State().pending(jid(1))
    op = run.ops.op(OpKind.REQUEUE_EXPIRED, {"now": 4e9}, Outcome.OK, [jid(1)])
    assert run.step(op) == []


def test_a_finished_job_left_in_processing_is_an_acknowledged_effect_not_there():
    run = Run()
    run.enqueued(1)
    run.leased(1)
    run.state.parts["old_jobs"][jid(1)]["status"] = "completed"
    run.state.parts["new_jobs"][(WS_A, jid(1))]["status"] = "completed"
    found = run.step(run.ops.op(OpKind.COMPLETE, {"workspace_id": WS_A, "job_id": jid(1)}))
    assert "requeue_expired will run it again" in " ".join(v.message for v in found)


def test_a_get_job_answer_with_a_stale_status_is_a_wrong_answer():
    run = Run()
    run.enqueued(1)
    found = run.step(run.ops.get_job(WS_A, jid(1), job_value(jid(1), WS_A, "running")))
    assert names(found) == ["correct_answers"]
    assert "status='running' (contract: 'queued')" in found[0].message


def test_list_jobs_listing_a_job_twice_or_leaving_one_out_is_named():
    run = Run()
    run.enqueued(1)
    run.enqueued(2)
    twice = [job_value(jid(1)), job_value(jid(1))]
    assert sorted(names(run.step(run.ops.list_jobs(WS_A, twice)))) == [
        "correct_answers", "list_jobs_complete"]


def test_a_record_created_for_a_job_another_writer_left_in_one_schema_is_named():
    run = Run()
    run.state.legacy(jid(5))
    assert run.step(run.ops.seed(WS_A, jid(5), "old")) == []
    repaired = dataclasses.replace(
        run.state.build(), new_jobs={(WS_A, jid(5)): run.state.build().old_jobs[jid(5)]})
    found = run.step(run.ops.get_job(WS_A, jid(5), job_value(jid(5))), repaired)
    assert names(found) == ["schema_agreement"]
    assert "no operation creates the record of a schema a job lacks" in found[0].message


def test_a_job_record_with_a_ttl_is_a_lost_job_later():
    run = Run()
    run.state.pending(jid(1))
    expiring = dataclasses.replace(run.state.build(), ttls={f"job:{jid(1)}": 3600.0})
    found = run.step(run.ops.enqueue(WS_A, rid(1), jid(1)), expiring)
    assert names(found) == ["no_lost_jobs"]
    assert "expires in 3600 s" in found[0].message


def test_an_idempotency_ttl_within_the_declared_retention_is_kept():
    schema = dataclasses.replace(DEFAULT_SCHEMA, idempotency_retention=86400)
    run = Run(schema)
    run.state.pending(jid(1))
    snap = dataclasses.replace(run.state.build(), schema=schema,
                               ttls={f"ai:idem:ws-a:{rid(1)}": 86399.0})
    assert run.step(run.ops.enqueue(WS_A, rid(1), jid(1)), snap) == []


def test_schemas_that_disagree_after_an_ok_update_break_schema_agreement():
    run = Run()
    run.enqueued(1)
    run.state.parts["old_jobs"][jid(1)]["status"] = "running"
    found = run.step(run.ops.update_status(WS_A, jid(1), "running"))
    assert names(found) == ["schema_agreement"]
    assert "the other record job:" in found[0].message


def test_a_payload_stored_otherwise_than_given_is_an_acknowledged_effect_not_there():
    run = Run()
    run.state.pending(jid(1))
    altered = with_field(run.state.build(), jid(1), payload='{"n": 2}')
    altered = with_field(altered, (WS_A, jid(1)), payload='{"n":2}')
    found = run.step(run.ops.enqueue(WS_A, rid(1), jid(1)), altered)
    assert names(found) == ["acknowledged_effects"] * 2


class LeasedOnlyContract(DualWriteContract):
    """A queue promising that complete of a job that is not leased raises JobNotFound."""

    def effects(self, kind, state, op, validity):
        if kind is OpKind.COMPLETE and op.args["job_id"] not in state.processing:
            return Refusal.NOT_FOUND, []
        return super().effects(kind, state, op, validity)


def test_a_queue_that_promises_something_else_is_judged_by_its_own_contract():
    for contract, expected in ((DualWriteContract, ["correct_answers"]),
                               (LeasedOnlyContract, [])):
        run = Run()
        run.judge = SpecJudge(DEFAULT_SCHEMA, run.ops.history, Snapshot(schema=DEFAULT_SCHEMA),
                              contract=contract)
        run.enqueued(1)
        op = refused(run.ops, OpKind.COMPLETE, {"workspace_id": WS_A, "job_id": jid(1)},
                     Refusal.NOT_FOUND, "JobNotFound: not leased")
        assert names(run.step(op)) == expected
