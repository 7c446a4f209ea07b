"""The spec keeps a branch per possible outcome, and every observation prunes them.

Hand-made histories (no Redis): an unknown outcome took effect entirely or not at all; a
snapshot, or a later answer, decides which; a partial effect matches no branch.
"""

from __future__ import annotations

from checker_states import WS_A, Ops, State, jid, names, rid

from harness.history import OpKind, Outcome
from harness.snapshot import Snapshot
from harness.spec import SpecJudge
from harness.target import DEFAULT_SCHEMA


def judge_for(ops: Ops, bound: int = 64) -> SpecJudge:
    return SpecJudge(DEFAULT_SCHEMA, ops.history, Snapshot(schema=DEFAULT_SCHEMA), bound)


def test_an_unknown_enqueue_leaves_two_candidate_states():
    ops = Ops()
    judge = judge_for(ops)
    assert judge.observe(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN)) == []
    assert len(judge.candidates.branches) == 2


def test_a_snapshot_holding_the_job_keeps_the_branch_where_it_took_effect():
    ops = Ops()
    judge = judge_for(ops)
    found = judge.observe(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN),
                          State().pending(jid(1)).build())
    assert found == []
    [branch] = judge.candidates.branches
    assert branch.state.pending == (jid(1),)  # the placeholder was bound to the real id


def test_a_snapshot_without_the_job_keeps_the_branch_where_it_never_happened():
    ops = Ops()
    judge = judge_for(ops)
    assert judge.observe(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN),
                         Snapshot(schema=DEFAULT_SCHEMA)) == []
    [branch] = judge.candidates.branches
    assert branch.state.job_ids() == set()


def test_a_partial_effect_matches_no_branch_and_names_the_keys_that_differ():
    ops = Ops()
    judge = judge_for(ops)
    records_only = State().job(jid(1)).build()  # both records and the key, never pushed
    found = judge.observe(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN), records_only)
    assert names(found) == ["no_lost_jobs"]
    assert "ai:queue:pending" in found[0].message and "it will never run" in found[0].message


def test_a_retry_answer_binds_the_job_an_unknown_attempt_made_without_a_snapshot():
    ops = Ops()
    judge = judge_for(ops)
    judge.observe(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN))
    assert judge.observe(ops.enqueue(WS_A, rid(1), jid(1))) == []
    assert sorted(b.state.pending for b in judge.candidates.branches) == [(jid(1),)]


def test_an_ok_retry_that_answers_another_job_breaks_retry_safe_idempotency():
    ops = Ops()
    judge = judge_for(ops)
    judge.observe(ops.enqueue(WS_A, rid(1), jid(1)), State().pending(jid(1)).build())
    found = judge.observe(ops.enqueue(WS_A, rid(1), jid(2)))
    assert names(found) == ["retry_safe_idempotency"]
    assert f"already has job {jid(1)}" in found[0].message


def test_unknown_outcomes_never_observed_stop_the_spec_at_its_bound_with_a_note():
    ops = Ops()
    judge = judge_for(ops, bound=8)
    for n in range(1, 6):  # 2**5 = 32 candidate states > 8
        assert judge.observe(ops.enqueue(WS_A, rid(n), None, Outcome.UNKNOWN)) == []
    assert judge.undetermined is not None
    assert "more than the bound of 8" in judge.undetermined
    assert judge.largest_branch_count == 16
    # Past the bound nothing is judged (no crash, no verdict either way).
    assert judge.observe(ops.enqueue(WS_A, rid(1), "not a job id")) == []


def test_after_a_reported_mismatch_the_spec_goes_on_from_what_redis_holds():
    ops = Ops()
    judge = judge_for(ops)
    judge.observe(ops.enqueue(WS_A, rid(1), jid(1)), State().pending(jid(1)).build())
    not_updated = State().pending(jid(1)).build()
    found = judge.observe(ops.update_status(WS_A, jid(1), "running"), not_updated)
    assert names(found) == ["acknowledged_effects", "acknowledged_effects"]
    # The same state after a read: nothing new to say.
    assert judge.observe(ops.get_job(WS_A, jid(1), None, Outcome.UNKNOWN), not_updated) == []


def test_a_crashed_operation_lets_the_next_snapshot_stand_as_it_is():
    ops = Ops()
    judge = judge_for(ops)
    crashed = ops.op(OpKind.UPDATE_STATUS, {"workspace_id": WS_A, "job_id": jid(1),
                                            "status": "running"}, Outcome.UNKNOWN,
                     error="KeyError: 'x'", crashed=True)
    assert judge.observe(crashed, State().pending(jid(7)).build()) == []


def test_an_unknown_dequeue_that_leased_a_job_off_the_head_breaks_queue_order_only():
    ops = Ops()
    judge = judge_for(ops)
    both = State().pending(jid(1)).pending(jid(2))
    judge.observe(ops.enqueue(WS_A, rid(1), jid(1)), State().pending(jid(1)).build())
    judge.observe(ops.enqueue(WS_A, rid(2), jid(2)), both.build())
    lost_reply = ops.op(OpKind.DEQUEUE, {"lease_seconds": 30.0}, Outcome.UNKNOWN)
    deadline = ops.history.wall(lost_reply.invoked_at) + 30.0
    newest_leased = State().pending(jid(1)).leased(jid(2), deadline=deadline).build()
    assert names(judge.observe(lost_reply, newest_leased)) == ["queue_order"]


def test_an_unknown_dequeue_that_leased_the_oldest_job_has_nothing_to_report():
    ops = Ops()
    judge = judge_for(ops)
    judge.observe(ops.enqueue(WS_A, rid(1), jid(1)), State().pending(jid(1)).build())
    judge.observe(ops.enqueue(WS_A, rid(2), jid(2)),
                  State().pending(jid(1)).pending(jid(2)).build())
    lost_reply = ops.op(OpKind.DEQUEUE, {"lease_seconds": 30.0}, Outcome.UNKNOWN)
    deadline = ops.history.wall(lost_reply.invoked_at) + 30.0
    oldest_leased = State().leased(jid(1), deadline=deadline).pending(jid(2)).build()
    assert judge.observe(lost_reply, oldest_leased) == []
