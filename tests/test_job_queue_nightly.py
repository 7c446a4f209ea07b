"""The concurrent run of a job-queue library: producers and workers at once under a fixed
toxic schedule, then recovery and a drain, judged on the final keys."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from harness.commands.job_queues import load_job_queue_factory
from harness.history import History, Outcome
from harness.job_queue_nightly import judge_final, run_concurrent
from harness.spec.job_queue import Delivery, JobOp, JobState, Promises

needs_rq = pytest.mark.skipif(importlib.util.find_spec("rq") is None,
                              reason="rq is not installed: pip install 'queue-chaos[rq]'")
needs_dramatiq = pytest.mark.skipif(
    importlib.util.find_spec("dramatiq") is None,
    reason="dramatiq is not installed: pip install 'queue-chaos[dramatiq]'")
AT_MOST = Promises(Delivery.AT_MOST_ONCE, idempotent_enqueue=False)


def history(*ops: tuple[JobOp, Outcome, dict[str, Any], Any]) -> History:
    done = History()
    for kind, outcome, args, value in ops:
        op = done.invoke("worker", kind, args)  # type: ignore[arg-type]
        done.complete(op, outcome, value)
    return done


def test_an_acknowledged_job_gone_at_the_end_is_lost():
    ops = history((JobOp.ENQUEUE, Outcome.OK, {"job_id": "a"}, None))
    problems = judge_final(ops, {"a": JobState.GONE}, AT_MOST)
    assert [p.invariant for p in problems] == ["no_lost_jobs"]


def test_a_failed_job_no_take_handed_out_is_an_unrun_failure():
    ops = history((JobOp.ENQUEUE, Outcome.OK, {"job_id": "a"}, None),
                  (JobOp.TAKE, Outcome.UNKNOWN, {}, None))
    problems = judge_final(ops, {"a": JobState.FAILED}, AT_MOST)
    assert [p.invariant for p in problems] == ["no_unrun_failures"]


def test_a_finished_job_failed_by_nobody_breaks_done_stays_done():
    ops = history((JobOp.ENQUEUE, Outcome.OK, {"job_id": "a"}, None),
                  (JobOp.TAKE, Outcome.OK, {}, "a"),
                  (JobOp.FINISH, Outcome.OK, {"job_id": "a"}, None))
    problems = judge_final(ops, {"a": JobState.FAILED}, AT_MOST)
    assert [p.invariant for p in problems] == ["done_stays_done"]


def test_a_received_job_failed_by_its_worker_is_no_problem():
    ops = history((JobOp.ENQUEUE, Outcome.OK, {"job_id": "a"}, None),
                  (JobOp.TAKE, Outcome.OK, {}, "a"),
                  (JobOp.FAIL, Outcome.UNKNOWN, {"job_id": "a"}, None))
    assert judge_final(ops, {"a": JobState.FAILED}, AT_MOST) == []


@needs_rq
@pytest.mark.servers
@pytest.mark.parametrize("queues", [1, 2], ids=["lmove", "lpop"])
def test_without_network_trouble_rq_holds_with_producers_and_workers_at_once(qc_services,
                                                                             queues):
    result = run_concurrent(qc_services, load_job_queue_factory("rq"), "rq",
                            options={"queues": queues}, schedule=())
    assert result.holds, result.problems
    assert result.outcomes["enqueue ok"] == 80


@needs_dramatiq
@pytest.mark.servers
def test_dramatiq_holds_under_the_toxic_schedule(qc_services):
    result = run_concurrent(qc_services, load_job_queue_factory("dramatiq"), "dramatiq")
    assert result.holds, result.problems
    assert result.outcomes.get("take unknown", 0) > 0  # the schedule did meet the workers
