"""The generic job-queue contract judges a library against what its adapter says it promises."""

from __future__ import annotations

from typing import Any

from harness.history import History, Outcome
from harness.spec.engine import Candidates
from harness.spec.job_queue import (
    Delivery,
    JobOp,
    JobQueueContract,
    JobQueueState,
    JobState,
    Promises,
)

AT_MOST = Promises(Delivery.AT_MOST_ONCE, idempotent_enqueue=False)
AT_LEAST = Promises(Delivery.AT_LEAST_ONCE, idempotent_enqueue=False)
IDEMPOTENT = Promises(Delivery.AT_LEAST_ONCE, idempotent_enqueue=True)
Q, T, D, F, G = (JobState.QUEUED, JobState.TAKEN, JobState.DONE, JobState.FAILED,
                 JobState.GONE)


class Judge:
    """One operation, then one observation, as the runner does."""

    def __init__(self, promises: Promises) -> None:
        self.history = History()
        self.candidates = Candidates(JobQueueContract(promises), JobQueueState())

    def step(self, kind: JobOp, outcome: Outcome, seen: dict[str, JobState],
             value: Any = None, **args: Any) -> list[str]:
        op = self.history.invoke("worker", kind, args)  # type: ignore[arg-type]
        self.history.complete(op, outcome, value)
        problems = self.candidates.apply(op) + self.candidates.observe(seen)
        return [p.invariant for p in problems]


OK, UNKNOWN, FAIL = Outcome.OK, Outcome.UNKNOWN, Outcome.FAIL


def test_a_correct_run_enqueue_take_finish_has_no_problems():
    judge = Judge(AT_MOST)
    assert judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a") == []
    assert judge.step(JobOp.TAKE, OK, {"a": T}, value="a") == []
    assert judge.step(JobOp.FINISH, OK, {"a": D}, job_id="a") == []


def test_an_acknowledged_job_in_no_reachable_state_is_lost():
    judge = Judge(AT_MOST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    assert judge.step(JobOp.TAKE, UNKNOWN, {"a": G}) == ["no_lost_jobs"]


def test_an_acknowledged_job_missing_from_the_observation_is_lost():
    judge = Judge(AT_LEAST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    assert judge.step(JobOp.TAKE, UNKNOWN, {}) == ["no_lost_jobs"]


def test_an_unknown_take_may_have_taken_the_job_or_not():
    for seen in (Q, T):
        judge = Judge(AT_MOST)
        judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
        assert judge.step(JobOp.TAKE, UNKNOWN, {"a": seen}) == []


def test_a_lost_job_is_reported_once_and_judging_goes_on_from_redis():
    judge = Judge(AT_MOST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    assert judge.step(JobOp.TAKE, UNKNOWN, {"a": G}) == ["no_lost_jobs"]
    assert judge.step(JobOp.TAKE, OK, {"a": G}, value=None) == []


def test_recovery_failing_a_job_no_worker_received_is_an_unrun_failure_under_either_promise():
    for promises in (AT_MOST, AT_LEAST):
        judge = Judge(promises)
        judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
        judge.step(JobOp.TAKE, UNKNOWN, {"a": T})
        assert judge.step(JobOp.RECOVER, OK, {"a": T}, now=1.0) == []  # not due yet
        assert judge.step(JobOp.RECOVER, OK, {"a": F}, now=100.0) == ["no_unrun_failures"]


def test_recovery_gives_a_job_no_worker_received_back_to_the_queue():
    judge = Judge(AT_MOST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, UNKNOWN, {"a": T})
    assert judge.step(JobOp.RECOVER, OK, {"a": Q}, now=100.0) == []


def test_at_most_once_may_fail_a_received_job_whose_worker_died_but_not_requeue_it():
    judge = Judge(AT_MOST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.RECOVER, OK, {"a": F}, now=100.0) == []
    judge = Judge(AT_MOST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.RECOVER, OK, {"a": Q}, now=100.0) == ["no_duplicate_delivery"]


def test_at_least_once_requeues_a_received_job_whose_worker_died_and_may_deliver_it_again():
    judge = Judge(AT_LEAST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.RECOVER, OK, {"a": Q}, now=100.0) == []
    assert judge.step(JobOp.TAKE, OK, {"a": T}, value="a") == []


def test_at_most_once_handing_out_a_taken_job_again_is_a_duplicate_delivery():
    judge = Judge(AT_MOST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.TAKE, OK, {"a": T}, value="a") == ["no_duplicate_delivery"]


def test_an_idempotent_enqueue_of_a_finished_job_leaves_it_finished():
    judge = Judge(IDEMPOTENT)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    judge.step(JobOp.FINISH, OK, {"a": D}, job_id="a")
    assert judge.step(JobOp.ENQUEUE, OK, {"a": D}, job_id="a") == []


def test_an_idempotent_enqueue_that_queues_a_finished_job_again_breaks_its_promise():
    judge = Judge(IDEMPOTENT)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    judge.step(JobOp.FINISH, OK, {"a": D}, job_id="a")
    assert judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a") == ["idempotent_enqueue"]


def test_a_non_idempotent_enqueue_of_a_finished_job_queues_it_again():
    judge = Judge(AT_MOST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    judge.step(JobOp.FINISH, OK, {"a": D}, job_id="a")
    assert judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a") == []
    assert judge.step(JobOp.TAKE, OK, {"a": T}, value="a") == []


def test_an_unknown_enqueue_took_effect_entirely_or_not_at_all():
    for seen in ({}, {"a": Q}):
        judge = Judge(AT_MOST)
        assert judge.step(JobOp.ENQUEUE, UNKNOWN, seen, job_id="a") == []
    judge = Judge(AT_MOST)
    assert judge.step(JobOp.ENQUEUE, UNKNOWN, {"a": G}, job_id="a") == ["all_or_nothing"]


def test_a_failed_operation_wrote_nothing():
    judge = Judge(AT_MOST)
    assert judge.step(JobOp.ENQUEUE, FAIL, {}, job_id="a") == []
    judge = Judge(AT_MOST)
    assert judge.step(JobOp.ENQUEUE, FAIL, {"a": Q}, job_id="a") == ["acknowledged_effects"]


def test_a_job_failed_by_its_worker_after_it_ran_is_no_problem():
    judge = Judge(AT_LEAST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.FAIL, OK, {"a": F}, job_id="a") == []


def test_the_problem_names_the_lost_job_and_the_operation_that_showed_it():
    contract = JobQueueContract(AT_MOST)
    contract.context = "after #1 take() -> unknown"
    candidates = Candidates(contract, JobQueueState())
    history = History()
    op = history.invoke("worker", JobOp.ENQUEUE, {"job_id": "job-1"})  # type: ignore[arg-type]
    history.complete(op, Outcome.OK)
    candidates.apply(op)
    [problem] = candidates.observe({"job-1": JobState.GONE})
    assert "job-1" in problem.message and "after #1 take() -> unknown" in problem.message
    assert problem.evidence["job_id"] == "job-1"


def test_a_job_id_enqueued_twice_without_idempotence_may_be_delivered_twice():
    judge = Judge(AT_MOST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    assert judge.step(JobOp.TAKE, OK, {"a": Q}, value="a") == []  # one copy still queued
    assert judge.step(JobOp.FINISH, OK, {"a": Q}, job_id="a") == []
    assert judge.step(JobOp.TAKE, OK, {"a": T}, value="a") == []
    assert judge.step(JobOp.FINISH, OK, {"a": D}, job_id="a") == []
    assert judge.step(JobOp.TAKE, OK, {"a": T}, value="a") == ["no_duplicate_delivery"]


def test_an_unknown_take_of_a_twice_enqueued_job_leaves_the_other_copy_to_take():
    judge = Judge(AT_MOST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    assert judge.step(JobOp.TAKE, UNKNOWN, {"a": Q}) == []
    assert judge.step(JobOp.TAKE, OK, {"a": T}, value="a") == []


def test_a_finished_job_back_in_a_workers_hands_breaks_done_stays_done():
    judge = Judge(AT_MOST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.FINISH, OK, {"a": T}, job_id="a") == ["done_stays_done"]
    assert judge.step(JobOp.RECOVER, OK, {"a": F}, now=100.0) == []  # reported once


def test_a_failed_job_with_a_retry_left_is_queued_again_then_failed():
    judge = Judge(Promises(Delivery.AT_LEAST_ONCE, idempotent_enqueue=False, retries=1))
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.FAIL, OK, {"a": Q}, job_id="a") == []
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.FAIL, OK, {"a": F}, job_id="a") == []


def test_a_failed_job_without_retries_queued_again_is_not_what_was_promised():
    judge = Judge(AT_LEAST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.FAIL, OK, {"a": Q}, job_id="a") == ["acknowledged_effects"]


def test_an_abandoned_job_whose_retries_are_spent_may_be_failed_under_at_least_once():
    judge = Judge(Promises(Delivery.AT_LEAST_ONCE, idempotent_enqueue=False, retries=1))
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.RECOVER, OK, {"a": Q}, now=100.0) == []  # its one retry
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.RECOVER, OK, {"a": F}, now=200.0) == []


def test_a_fail_that_answered_ok_but_left_the_job_taken_is_an_unkept_acknowledgement():
    judge = Judge(AT_MOST)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.FAIL, OK, {"a": T}, job_id="a") == ["acknowledged_effects"]


def test_a_library_that_forgets_finished_jobs_may_leave_no_key_for_a_done_job():
    forgets = Promises(Delivery.AT_LEAST_ONCE, idempotent_enqueue=False, forgets_done=True)
    judge = Judge(forgets)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.FINISH, OK, {}, job_id="a") == []
    assert judge.step(JobOp.TAKE, OK, {}, value=None) == []
    judge = Judge(forgets)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    assert judge.step(JobOp.TAKE, UNKNOWN, {}) == ["no_lost_jobs"]  # only a done job


DEAD_LETTERS = Promises(Delivery.AT_LEAST_ONCE, idempotent_enqueue=False, forgets_done=True,
                        failed_copies_stay=True)


def failed_then_sent_again_and_finished(promises: Promises) -> list[str]:
    """A job failed by its worker, enqueued again, taken and finished: only the failed
    copy's key is left."""
    judge = Judge(promises)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    judge.step(JobOp.FAIL, OK, {"a": F}, job_id="a")
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    return judge.step(JobOp.FINISH, OK, {"a": F}, job_id="a")


def test_a_dead_letter_left_by_an_earlier_copy_of_a_finished_job_is_no_problem():
    assert failed_then_sent_again_and_finished(DEAD_LETTERS) == []


def test_where_failed_copies_do_not_stay_apart_a_finished_job_seen_failed_breaks_done_stays_done():
    forgets = Promises(Delivery.AT_LEAST_ONCE, idempotent_enqueue=False, forgets_done=True)
    assert failed_then_sent_again_and_finished(forgets) == ["done_stays_done"]


def test_a_finished_job_failed_later_breaks_done_stays_done_even_where_failed_copies_stay():
    judge = Judge(DEAD_LETTERS)
    judge.step(JobOp.ENQUEUE, OK, {"a": Q}, job_id="a")
    judge.step(JobOp.TAKE, OK, {"a": T}, value="a")
    assert judge.step(JobOp.FINISH, OK, {"a": F}, job_id="a") == ["done_stays_done"]
