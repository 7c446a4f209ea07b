"""dramatiq 2.2.1's RedisBroker under the generic job-queue contract, on the real servers.

dramatiq is an optional extra (`queue-chaos[dramatiq]`, in `dev`): without it these skip.
"""

from __future__ import annotations

import pytest

pytest.importorskip("dramatiq", reason="dramatiq is not installed: "
                                       "pip install 'queue-chaos[dramatiq]'")

from harness.faults import Fault, FaultKind
from harness.job_queue_run import JobQueueRun, JobQueueScenario, JobStep, run_job_queue_scenario
from harness.spec.job_queue import Delivery, JobOp, JobState
from queue_impl.adapters.dramatiq_adapter import make_dramatiq

pytestmark = pytest.mark.servers

Q, T, F = JobState.QUEUED, JobState.TAKEN, JobState.FAILED


@pytest.fixture
def run(qc_services):
    run = JobQueueRun(qc_services, make_dramatiq, {}, "dramatiq")
    yield run
    run.close()


def play(run: JobQueueRun, *steps: JobStep, fault_on: int | None = None,
         kind: FaultKind = FaultKind.REPLY_LOST) -> list[tuple[str, dict[str, JobState]]]:
    """Each step's outcome and what the keys said after it; fails on any problem."""
    seen = []
    for i, step in enumerate(steps):
        problems = run.step(step, (Fault(kind, 1),) if i == fault_on else ())
        assert problems == [], problems
        seen.append((str(run.history.ops[-1].outcome), dict(run.seen)))
    return seen


def test_a_correct_run_of_every_operation_holds(qc_services):
    scenario = JobQueueScenario(
        id="DRAMATIQ-CORRECT", title="an ordinary day", library="dramatiq",
        breaks="no_lost_jobs", source="-", says="-", fix="-",
        steps=(JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.TAKE), JobStep(JobOp.FINISH),
               JobStep(JobOp.ENQUEUE, "b"), JobStep(JobOp.TAKE), JobStep(JobOp.FAIL),
               JobStep(JobOp.ENQUEUE, "c"), JobStep(JobOp.TAKE),
               JobStep(JobOp.RECOVER, at=0.0), JobStep(JobOp.RECOVER, at=3600.0),
               JobStep(JobOp.TAKE), JobStep(JobOp.FINISH)))
    result = run_job_queue_scenario(scenario, qc_services, make_dramatiq, "dramatiq")
    assert result.verdict == "holds", result.trace


def test_every_operation_is_one_script_call_from_the_first(run):
    for step in (JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.TAKE), JobStep(JobOp.FINISH),
                 JobStep(JobOp.RECOVER, at=0.0)):
        run.step(step)
        assert [trip.commands for trip in run.trips] == [("EVALSHA",)]


def test_a_lost_fetch_reply_leaves_the_job_with_the_worker_until_it_is_declared_dead(run):
    seen = play(run, JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.TAKE),
                JobStep(JobOp.RECOVER, at=0.0), JobStep(JobOp.RECOVER, at=3600.0),
                JobStep(JobOp.TAKE), JobStep(JobOp.FINISH), fault_on=1)
    assert [s for _, s in seen] == [{"a": Q}, {"a": T}, {"a": T}, {"a": Q}, {"a": T}, {}]
    assert seen[1][0] == "unknown"


def test_a_lost_ack_reply_is_unknown_and_the_job_is_done(run):
    seen = play(run, JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.TAKE), JobStep(JobOp.FINISH),
                fault_on=2)
    assert seen[2] == ("unknown", {})


def test_a_nacked_job_is_dead_lettered_and_a_finished_one_leaves_no_key(run):
    seen = play(run, JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.ENQUEUE, "b"),
                JobStep(JobOp.TAKE), JobStep(JobOp.FAIL), JobStep(JobOp.TAKE),
                JobStep(JobOp.FINISH))
    assert seen[-1][1] == {"a": F}
    assert run.target.promises.forgets_done
    assert run.target.promises.delivery is Delivery.AT_LEAST_ONCE


def test_one_job_id_sent_twice_is_two_messages_and_runs_twice(run):
    seen = play(run, JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.ENQUEUE, "a"),
                JobStep(JobOp.TAKE), JobStep(JobOp.FINISH), JobStep(JobOp.TAKE),
                JobStep(JobOp.FINISH))
    assert [s for _, s in seen][2:] == [{"a": Q}, {"a": Q}, {"a": T}, {}]


def test_a_stalled_fetch_escapes_as_a_raw_redis_timeout_not_connection_closed(run):
    """dramatiq#894 (open on 2.2.1): only ConnectionError is wrapped; the job is safe."""
    seen = play(run, JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.TAKE), fault_on=1,
                kind=FaultKind.STALL)
    assert run.history.ops[-1].error.startswith("TimeoutError")
    assert seen[-1] == ("unknown", {"a": T})


def test_a_job_failed_then_sent_again_and_finished_leaves_its_dead_letter_and_holds(run):
    """Found by the state machine: each send is its own message, and only the nacked one
    leaves a key (dead-lettered); the spec is told so (Promises.failed_copies_stay)."""
    seen = play(run, JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.TAKE), JobStep(JobOp.FAIL),
                JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.TAKE), JobStep(JobOp.FINISH))
    assert seen[-1] == ("ok", {"a": F})
