"""The job-queue runner: a call that never returns is a liveness violation, and the run ends."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest

from harness.job_queue_run import JobQueueScenario, JobStep, run_job_queue_scenario
from harness.spec.job_queue import Delivery, JobOp, JobState, Promises

pytestmark = pytest.mark.servers


class StuckTake:
    """A queue whose take waits on a lock it never gets (its own code, not Redis)."""

    promises = Promises(Delivery.AT_LEAST_ONCE, idempotent_enqueue=False)
    library = "stuck 0"

    def __init__(self, client) -> None:
        self.jobs: dict[str, JobState] = {}
        self.never = threading.Event()

    def prepare(self) -> None: ...
    def enqueue(self, job_id: str) -> None: self.jobs[job_id] = JobState.QUEUED
    def take(self) -> str | None:
        self.never.wait(30)
        return None
    def finish(self, job_id: str) -> None: ...
    def fail(self, job_id: str) -> None: ...
    def recover(self, now: float) -> None: ...
    def observe(self, reader) -> Mapping[str, JobState]: return dict(self.jobs)
    def close(self) -> None: self.never.set()


def test_a_call_that_does_not_return_in_time_is_a_liveness_violation_and_ends_the_run(
        qc_services):
    scenario = JobQueueScenario(
        id="STUCK", title="a take that hangs", library="stuck", breaks="liveness",
        source="-", says="-", fix="-",
        steps=(JobStep(JobOp.ENQUEUE, "a"), JobStep(JobOp.TAKE), JobStep(JobOp.ENQUEUE, "b")))
    result = run_job_queue_scenario(scenario, qc_services, StuckTake, "stuck", op_timeout=0.2)
    assert result.violated
    assert [p.invariant for p in result.problems] == ["liveness"]
    assert "#1 worker take() -> unknown: OperationHung" in result.trace
    assert "enqueue(job_id='b')" not in result.trace  # nothing ran after the hang
