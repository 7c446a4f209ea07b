"""Every finding of the Sprint 60 Phase 1 review (shared/sprint60-phase1-review.txt), replayable.

Round trips are named by the key they touch, so each scenario fits any target: on the
Phase 1 queue it lands between the separate writes; on the reference queue it lands on
the one atomic script, which is the point of the fix.
"""

from __future__ import annotations

from harness.faults import FaultKind
from harness.invariants import Severity
from harness.scenario import (
    Enqueue,
    FaultAt,
    GetJob,
    Heal,
    ListJobs,
    Scenario,
    Seed,
    UpdateStatus,
)
from harness.target import KeyKind

LOST = FaultKind.REQUEST_LOST
REVIEW = "review"


def _at(where: str) -> str:
    return f"{REVIEW}: src/queue/simple_queue.py:{where}"


CRITICAL_1 = Scenario(
    id="CRITICAL-1",
    title="Idempotency blocks retries after partial failure",
    severity=Severity.CRITICAL,
    breaks="no_lost_jobs",
    source=_at("71-77, 115-139 (enqueue)"),
    says="SETNX happens before the dual-write; if a write fails, the idempotency key "
         "prevents retries: the job is lost (not in Redis, blocked by idempotency)",
    fix="Move SETNX after all writes succeed OR use Redis pipeline",
    steps=(Enqueue("r1", fault=FaultAt(LOST, touching=KeyKind.OLD_JOB)), Heal()),
)

HIGH_1 = Scenario(
    id="HIGH-1",
    title="Non-atomic writes cause inconsistency",
    severity=Severity.HIGH,
    breaks="no_orphan_keys",
    source=_at("96-111 (enqueue)"),
    says="3 separate Redis ops (hset old, hset new, rpush), any can fail independently: "
         "a worker can see the job id in the queue but the job data missing",
    fix="Wrap all 3 ops in redis.pipeline()",
    steps=(Enqueue("r1", fault=FaultAt(FaultKind.REPLY_LOST, touching=KeyKind.QUEUE)),),
)

HIGH_2 = Scenario(
    id="HIGH-2",
    title="update_status silent divergence",
    severity=Severity.HIGH,
    breaks="schema_agreement",
    source=_at("208-214 (update_status)"),
    says="no error handling; if the new schema write fails, the old schema is left with the "
         "update: the job status depends on the read path",
    fix="Add try/catch + logging + telemetry for new schema write",
    steps=(Enqueue("r1"),
           UpdateStatus("r1", "running", fault=FaultAt(LOST, touching=KeyKind.NEW_JOB))),
)

HIGH_3 = Scenario(
    id="HIGH-3",
    title="Queue consistency lost if RPUSH fails",
    severity=Severity.HIGH,
    breaks="no_orphan_keys",
    source=_at("110-111, 131-135 (enqueue)"),
    says="if rpush() fails after the dual-write succeeds, the job exists in Redis but not in "
         "the queue; cleanup might fail: orphan keys, unprocessed jobs",
    fix="Use pipeline (see HIGH-1); add alerts for cleanup failure",
    steps=(Enqueue("r1", fault=FaultAt(LOST, touching=KeyKind.QUEUE, then=LOST)),),
)

MEDIUM_1 = Scenario(
    id="MEDIUM-1",
    title="Telemetry import inside method",
    severity=Severity.MEDIUM,
    breaks="code_quality",
    source=_at("106, 126 (enqueue)"),
    says="import inside enqueue(), run on every job",
    fix="Move to module-level imports at top",
    lint_rule="PLC0415",  # ruff's import-outside-toplevel
)

MEDIUM_2 = Scenario(
    id="MEDIUM-2",
    title="Fallback logic has no observability",
    severity=Severity.MEDIUM,
    breaks="telemetry_agreement",
    source=_at("156-162 (get_job)"),
    says="get_job() silently falls back from the new to the old schema: no logging or "
         "telemetry to track migration progress",
    fix="Add logging and telemetry counter for fallback rate",
    steps=(Seed("legacy", "ws-a", "old"), GetJob("legacy")),
)

MEDIUM_3 = Scenario(
    id="MEDIUM-3",
    title="workspace_id not validated",
    severity=Severity.MEDIUM,
    breaks="input_validation",
    source=_at("141-145, 209-214"),
    says="empty/None workspace_id not validated: creates malformed keys like ai:job::{job_id}",
    fix="Add validation; raise ValueError if invalid",
    steps=(Enqueue("r1", workspace=""),),
)

MEDIUM_5 = Scenario(
    id="MEDIUM-5",
    title="list_jobs does not scan the new schema",
    severity=Severity.MEDIUM,
    breaks="list_jobs_complete",
    source=_at("225-271 (list_jobs)"),
    says="only scans old schema keys; misses new schema jobs",
    fix="Document as Phase 1 limitation, add Phase 2 todo",
    steps=(Seed("phase2", "ws-a", "new"), ListJobs("ws-a")),
)

LOW_1 = Scenario(
    id="LOW-1",
    title="Telemetry only for enqueue",
    severity=Severity.LOW,
    breaks="telemetry_agreement",
    source=f"{REVIEW}: src/telemetry/prom.py:709-722",
    says="record_dual_write_attempt() not called for update_status/get_job",
    fix="Phase 2 enhancement; add comment in Phase 1",
    steps=(Enqueue("r1"), UpdateStatus("r1", "running")),
)


def _medium_4(n: int, name: str, breaks: str, base: Scenario | None = None,
              **fields: object) -> Scenario:
    """One of the failure tests MEDIUM-4 says are missing, by the review's own name."""
    spec = dict(
        id=f"MEDIUM-4.{n}", title=f"missing test: {name}", severity=Severity.MEDIUM,
        breaks=breaks, source=f"{REVIEW}: tests/test_dual_write.py (MEDIUM-4)",
        says=f"no test covers: {name}", fix="Add comprehensive error scenario tests",
    )
    if base is not None:
        spec["steps"] = base.steps
    spec.update(fields)
    return Scenario(**spec)  # type: ignore[arg-type]


MEDIUM_4 = (
    _medium_4(1, "idempotency + retry", "no_lost_jobs", steps=(
        Enqueue("r1", fault=FaultAt(FaultKind.REPLY_LOST, touching=KeyKind.IDEMPOTENCY)),
        Heal())),
    _medium_4(2, "partial write + cleanup", "no_orphan_keys", steps=(
        Enqueue("r1", fault=FaultAt(FaultKind.REPLY_LOST, touching=KeyKind.NEW_JOB,
                                    then=LOST)),)),
    _medium_4(3, "error on old key write", "no_lost_jobs", base=CRITICAL_1),
    _medium_4(4, "error on new key write", "no_lost_jobs", steps=(
        Enqueue("r1", fault=FaultAt(LOST, touching=KeyKind.NEW_JOB)), Heal())),
    _medium_4(5, "error on rpush", "no_lost_jobs", steps=(
        Enqueue("r1", fault=FaultAt(LOST, touching=KeyKind.QUEUE)), Heal())),
    _medium_4(6, "update_status partial failure", "schema_agreement", base=HIGH_2),
    _medium_4(7, "workspace_id validation", "input_validation", base=MEDIUM_3),
)

SCENARIOS = (CRITICAL_1, HIGH_1, HIGH_2, HIGH_3, MEDIUM_1, MEDIUM_2, MEDIUM_3, *MEDIUM_4,
             MEDIUM_5, LOW_1)
