"""Documented issues of third-party queue libraries, as scenarios of the generic contract.

Each is written for a library's adapter (`library`), with the options that show the issue,
and is reproduced on the pinned version: `queue-chaos reproduce RQ-1716 --target rq`.
"""

from __future__ import annotations

from harness.errors import UsageError
from harness.faults import FaultKind
from harness.job_queue_run import FaultOn, JobQueueScenario, JobStep
from harness.spec.job_queue import JobOp

RQ_1716 = JobQueueScenario(
    id="RQ-1716",
    title="a worker on two queues loses a job whose LPOP reply is lost",
    library="rq",
    breaks="no_lost_jobs",
    source="https://github.com/rq/rq/issues/1716",
    says="A worker listening on several queues pops a job with LPOP, then registers it as "
         "started in a separate round trip. When the LPOP reply is lost, the job is in no "
         "queue, no intermediate list and no registry: no worker and no cleanup ever finds "
         "it, while its hash still says queued (also #580, #1553).",
    fix="one queue per worker (rq then takes with LMOVE into an intermediate list that its "
        "cleanup scans), or an atomic pop-and-register for several queues",
    options={"queues": 2},
    steps=(
        JobStep(JobOp.ENQUEUE, "job-1"),
        JobStep(JobOp.TAKE, fault=FaultOn(FaultKind.REPLY_LOST, "LPOP")),
        JobStep(JobOp.TAKE),  # the worker goes on: nothing comes
        JobStep(JobOp.RECOVER, at=0.0),
        JobStep(JobOp.RECOVER, at=120.0),  # rq's maintenance, minutes later
    ),
)

RQ_2061 = JobQueueScenario(
    id="RQ-2061",
    title="a job whose LMOVE reply is lost is failed by cleanup without ever running",
    library="rq",
    breaks="no_unrun_failures",
    source="https://github.com/rq/rq/issues/2061",
    says="A worker on one queue takes with LMOVE into the intermediate list. When that "
         "reply is lost, no worker holds the job; the intermediate-queue cleanup sees it "
         "there on two passes a minute apart and moves it to the failed registry ('Job was "
         "stuck in intermediate queue'), though no worker ever received it.",
    fix="give the job retries (Retry(max=1) or more): the cleanup then requeues it instead "
        "of failing it; better, the cleanup requeues a job never registered as started",
    options={"queues": 1},
    steps=(
        JobStep(JobOp.ENQUEUE, "job-1"),
        JobStep(JobOp.TAKE, fault=FaultOn(FaultKind.REPLY_LOST, "LMOVE")),
        JobStep(JobOp.TAKE),
        JobStep(JobOp.RECOVER, at=0.0),  # first pass: rq notes when it first saw the job
        JobStep(JobOp.RECOVER, at=120.0),  # second pass, over a minute later
    ),
)

RQ_2424 = JobQueueScenario(
    id="RQ-2424",
    title="a finished job whose success write is lost is later failed as abandoned",
    library="rq",
    breaks="done_stays_done",
    source="https://github.com/rq/rq/issues/2424",
    says="The symptom of #2424 (also #1507, #2289), from one lost request: "
         "handle_job_success runs WATCH then a MULTI block, and redis-py turns a connection "
         "error under WATCH into a WatchError, which rq retries. The first pass already "
         "forgot the worker's execution (in Python, before the block was sent), so the "
         "retried block leaves the job's entry in the started registry: the job is done, "
         "and the registry's cleanup later moves it to the failed registry as abandoned.",
    fix="rebuild the whole success block, execution included, on every WatchError retry",
    options={"queues": 1},
    steps=(
        JobStep(JobOp.ENQUEUE, "job-1"),
        JobStep(JobOp.TAKE),
        JobStep(JobOp.FINISH, fault=FaultOn(FaultKind.REQUEST_LOST, "EXEC")),
        JobStep(JobOp.RECOVER, at=3600.0),  # rq's maintenance, an hour later
    ),
)

SCENARIOS: tuple[JobQueueScenario, ...] = (RQ_1716, RQ_2061, RQ_2424)
BY_ID: dict[str, JobQueueScenario] = {s.id: s for s in SCENARIOS}


def select(scenario_id: str) -> JobQueueScenario:
    if scenario_id not in BY_ID:
        raise UsageError(f"unknown job-queue scenario {scenario_id!r}: {', '.join(BY_ID)}")
    return BY_ID[scenario_id]
