"""rq 2.12.0 under the generic job-queue contract, on a real Redis behind a real Toxiproxy.

rq is an optional extra (`queue-chaos[rq]`, in `dev`): without it these tests skip, saying so.
"""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("rq", reason="rq is not installed: pip install 'queue-chaos[rq]'")

from harness.job_queue_run import JobQueueRun, JobQueueScenario, JobStep, run_job_queue_scenario
from harness.spec.job_queue import Delivery, JobOp, JobState
from queue_impl.adapters.rq_adapter import make_rq
from scenarios.job_queues import RQ_1716, RQ_2061, RQ_2424, SCENARIOS

pytestmark = pytest.mark.servers


def everyday(queues: int) -> JobQueueScenario:
    """Jobs done, failed, and abandoned by a worker that died, with no fault anywhere."""
    return JobQueueScenario(
        id="RQ-CORRECT", title="an ordinary day", library="rq", breaks="no_lost_jobs",
        source="-", says="-", fix="-", options={"queues": queues},
        steps=(JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.ENQUEUE, "b"),
               JobStep(JobOp.ENQUEUE, "c"), JobStep(JobOp.ENQUEUE, "a"),
               JobStep(JobOp.TAKE), JobStep(JobOp.FINISH), JobStep(JobOp.TAKE),
               JobStep(JobOp.FAIL), JobStep(JobOp.TAKE), JobStep(JobOp.TAKE),
               JobStep(JobOp.RECOVER, at=0.0), JobStep(JobOp.RECOVER, at=3600.0),
               JobStep(JobOp.TAKE)))


def test_rq_1716_a_lost_lpop_reply_with_two_queues_loses_the_job(qc_services):
    result = run_job_queue_scenario(RQ_1716, qc_services, make_rq, "rq")
    assert result.violated, result.trace
    assert [p.invariant for p in result.problems] == ["no_lost_jobs"]
    assert result.problems[0].evidence["job_id"] == "job-1"
    assert "reply_lost@1" in result.plan and "job-1: gone" in result.trace


def test_rq_2061_a_lost_lmove_reply_gets_the_job_failed_though_it_never_ran(qc_services):
    result = run_job_queue_scenario(RQ_2061, qc_services, make_rq, "rq")
    assert result.violated, result.trace
    assert [p.invariant for p in result.problems] == ["no_unrun_failures"]
    assert "job-1: failed" in result.trace


def test_rq_2424_a_lost_success_write_leaves_a_done_job_to_be_failed_as_abandoned(qc_services):
    result = run_job_queue_scenario(RQ_2424, qc_services, make_rq, "rq")
    assert result.violated, result.trace
    assert [p.invariant for p in result.problems] == ["done_stays_done"]
    assert "finish(job_id='job-1') [fault request_lost@3] -> ok" in result.trace
    assert "job-1: failed" in result.trace


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_each_scenario_without_its_fault_holds(qc_services, scenario):
    result = run_job_queue_scenario(scenario, qc_services, make_rq, "rq", faulted=False)
    assert result.verdict == "holds", result.trace


@pytest.mark.parametrize("queues", [1, 2], ids=["lmove", "lpop"])
def test_a_correct_run_of_every_operation_holds(qc_services, queues):
    result = run_job_queue_scenario(everyday(queues), qc_services, make_rq, "rq")
    assert result.verdict == "holds", result.trace


def test_with_retries_the_intermediate_cleanup_requeues_the_unrun_job(qc_services):
    scenario = dataclasses.replace(RQ_2061, options={"queues": 1, "retries": 1})
    result = run_job_queue_scenario(scenario, qc_services, make_rq, "rq")
    assert result.verdict == "holds", result.trace
    assert "job-1: queued" in result.trace


def test_retries_do_not_save_the_job_a_lost_lpop_reply_loses(qc_services):
    scenario = dataclasses.replace(RQ_1716, options={"queues": 2, "retries": 1})
    assert run_job_queue_scenario(scenario, qc_services, make_rq, "rq").violated


def test_the_adapter_declares_rq_at_most_once_unless_jobs_have_retries(qc_client):
    assert make_rq(qc_client).promises.delivery is Delivery.AT_MOST_ONCE
    assert make_rq(qc_client, retries=1).promises.delivery is Delivery.AT_LEAST_ONCE
    assert make_rq(qc_client, unique=True).promises.idempotent_enqueue


def test_preparing_the_worker_leaves_the_harness_socket_timeout_and_sends_nothing_later(
        qc_services):
    run = JobQueueRun(qc_services, make_rq, {}, "rq")
    try:
        pool = run.client.connection_pool
        assert pool.connection_kwargs["socket_timeout"] == 1.0  # rq had raised it to ~415 s
        run.step(JobStep(JobOp.ENQUEUE, "a"))
        run.step(JobStep(JobOp.TAKE))
        assert [trip.commands[0] for trip in run.trips] == ["LMOVE", "HGETALL", "MULTI", "MULTI"]
        sent = {c for trip in run.trips for c in trip.commands}
        assert not sent & {"CLIENT", "INFO"}
        assert all(c.socket_timeout == 1.0 for c in pool._available_connections)
    finally:
        run.close()


def test_a_unique_enqueue_is_one_round_trip_of_its_script_from_the_first_call(qc_services):
    run = JobQueueRun(qc_services, make_rq, {"unique": True}, "rq")
    try:
        run.step(JobStep(JobOp.ENQUEUE, "a"))
        assert [trip.commands for trip in run.trips][-1] == ("EVALSHA",)
        assert run.step(JobStep(JobOp.ENQUEUE, "a")) == []  # idempotent, as promised
        assert run.seen == {"a": JobState.QUEUED}
    finally:
        run.close()


def test_a_job_id_enqueued_twice_without_unique_is_judged_as_non_idempotent(qc_services):
    run = JobQueueRun(qc_services, make_rq, {}, "rq")
    try:
        for step in (JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.TAKE),
                     JobStep(JobOp.FINISH), JobStep(JobOp.ENQUEUE, "a")):
            assert run.step(step) == []
        assert run.seen == {"a": JobState.QUEUED}
    finally:
        run.close()


def test_a_finished_job_whose_hash_expired_is_forgotten_not_lost(qc_services, qc_redis):
    run = JobQueueRun(qc_services, make_rq, {}, "rq")
    try:
        for step in (JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.TAKE), JobStep(JobOp.FINISH)):
            assert run.step(step) == []
        qc_redis.delete("rq:job:a")  # what result_ttl does, 500 s later
        assert run.step(JobStep(JobOp.TAKE)) == []
        assert run.seen == {}
    finally:
        run.close()
