"""no_lost_jobs: every acknowledged or seeded job is readable and pending, leased or finished;
unknown enqueues are judged honestly; after healing a retry must succeed."""

from checker_states import WS_A, WS_B, Ops, State, jid, names, observe_all, rid

from harness.checker import Checker
from harness.history import Outcome
from harness.target import DEFAULT_SCHEMA, JobStatus


def checker_after(*history) -> Checker:
    checker = Checker(DEFAULT_SCHEMA)
    assert observe_all(checker, list(history)) == []
    return checker


def test_an_acknowledged_job_with_no_record_is_lost():
    ops = Ops()
    checker = checker_after(ops.enqueue(WS_A, rid(1), jid(1)))
    [violation] = checker.check_state(State().build())
    assert violation.invariant == "no_lost_jobs"
    assert violation.evidence["job_id"] == jid(1)
    assert violation.operations == (0,)


def test_an_acknowledged_job_readable_only_in_another_workspace_is_lost():
    ops = Ops()
    checker = checker_after(ops.enqueue(WS_A, rid(1), jid(1)))
    state = State().pending(jid(1), WS_B, request_id=rid(1)).build()
    assert "no_lost_jobs" in names(checker.check_state(state))


def test_an_acknowledged_job_outside_the_lists_and_unfinished_is_lost():
    ops = Ops()
    checker = checker_after(ops.enqueue(WS_A, rid(1), jid(1)))
    found = checker.check_state(State().job(jid(1)).build())
    lost = [v for v in found if v.invariant == "no_lost_jobs"]
    assert [v.evidence["statuses"] for v in lost] == [[JobStatus.QUEUED]]


def test_an_acknowledged_job_pending_leased_or_finished_is_not_lost():
    ops = Ops()
    checker = checker_after(*(ops.enqueue(WS_A, rid(n), jid(n)) for n in (1, 2, 3)))
    state = State().pending(jid(1)).leased(jid(2)).finished(jid(3), status=JobStatus.FAILED)
    assert checker.check_state(state.build()) == []


def test_a_job_a_caller_set_back_to_queued_after_it_finished_is_not_lost():
    ops = Ops()
    checker = checker_after(ops.enqueue(WS_A, rid(1), jid(1)),
                            ops.update_status(WS_A, jid(1), JobStatus.QUEUED))
    assert checker.check_state(State().job(jid(1)).build()) == []


def test_a_seeded_legacy_job_that_vanished_is_lost():
    ops = Ops()
    checker = checker_after(ops.seed(WS_A, jid(6), "old"))
    [violation] = checker.check_state(State().build())
    assert violation.invariant == "no_lost_jobs"
    assert "seeded" in violation.message


def test_an_unknown_enqueue_whose_job_is_absent_is_fine():
    ops = Ops()
    checker = checker_after(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN))
    snapshot = State().build()
    assert checker.check_state(snapshot) == []
    assert checker.summary(snapshot)["unknown"] == 1
    assert checker.summary(snapshot)["recovered"] == 0


def test_an_unknown_enqueue_whose_job_is_present_and_pending_is_fine_and_recovered():
    ops = Ops()
    checker = checker_after(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN))
    snapshot = State().pending(jid(1), request_id=rid(1)).build()
    assert checker.check_state(snapshot) == []
    summary = checker.summary(snapshot)
    assert (summary["recovered"], summary["unexpected"]) == (1, 0)
    assert summary["recovered_requests"] == [[WS_A, rid(1)]]


def test_a_healed_retry_that_fails_is_a_lost_job():
    ops = Ops()
    checker = checker_after(
        ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN),
        ops.enqueue(WS_A, rid(1), None, Outcome.FAIL, healed=True,
                    error="ValueError: duplicate request"))
    [violation] = checker.check_state(State().build())
    assert violation.invariant == "no_lost_jobs"
    assert violation.operations == (0, 1)
    assert "fail: ValueError: duplicate request" in violation.message
    assert violation.evidence["attempts"] == {"fail": 1, "unknown": 1}


def test_a_healed_retry_that_errs_once_then_succeeds_is_fine():
    ops = Ops()
    checker = checker_after(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN),
                            ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN, healed=True),
                            ops.enqueue(WS_A, rid(1), jid(1), healed=True))
    assert checker.check_state(State().pending(jid(1)).build()) == []


def test_a_healed_retry_that_succeeds_is_fine_and_no_longer_pending():
    ops = Ops()
    checker = checker_after(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN))
    assert checker.pending_requests() == [(WS_A, rid(1), {"n": 1})]
    assert checker.observe(ops.enqueue(WS_A, rid(1), jid(1), healed=True)) == []
    assert checker.pending_requests() == []


def test_a_healed_retry_of_bad_input_may_fail():
    ops = Ops()
    checker = checker_after(ops.enqueue("", rid(1), None, Outcome.FAIL),
                            ops.enqueue("", rid(1), None, Outcome.FAIL, healed=True))
    assert checker.pending_requests() == []
    assert checker.check_state(State().build()) == []


def test_an_unknown_attempt_acknowledged_by_a_retry_counts_as_recovered_not_unresolved():
    ops = Ops()
    checker = checker_after(ops.enqueue(WS_A, rid(1), None, Outcome.UNKNOWN),
                            ops.enqueue(WS_A, rid(1), jid(1)))
    summary = checker.summary(State().pending(jid(1)).build())
    assert (summary["unknown"], summary["unresolved"], summary["recovered"]) == (1, 0, 1)


def test_the_summary_counts_a_lost_acknowledged_job():
    ops = Ops()
    checker = checker_after(ops.enqueue(WS_A, rid(1), jid(1)), ops.enqueue(WS_A, rid(2), jid(2)))
    summary = checker.summary(State().pending(jid(2)).build())
    assert (summary["lost"], summary["lost_ids"]) == (1, [jid(1)])
