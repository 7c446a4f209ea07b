"""Failure modes the field knows (shared/FIELD-NOTES.md), beyond what the review found."""

from __future__ import annotations

from harness.driver import DRIVER_POLICY
from harness.faults import FaultKind
from harness.invariants import Severity
from harness.scenario import (
    Dequeue,
    Enqueue,
    FaultAt,
    Finish,
    GetJob,
    Heal,
    Retry,
    Scenario,
    Seed,
    WorkersDie,
)
from harness.target import KeyKind

REDIS_PY_DEFAULT_RETRIES = DRIVER_POLICY.with_redis_py_retries()

SCENARIOS = (
    Scenario(
        id="FIELD-1",
        title="Reply lost on the push, then the client retries",
        severity=Severity.CRITICAL,
        breaks="retry_safe_idempotency",
        source="field: Sidekiq #3303, #6770 (a write that timed out but landed, pushed again)",
        says="the push reached Redis but its reply did not; the caller retries with the same "
             "request id and must get the same job, once",
        fix="make enqueue one atomic, idempotent unit (a Lua script) so a retry finds the job",
        steps=(Enqueue("r1", fault=FaultAt(FaultKind.REPLY_LOST, touching=KeyKind.QUEUE)),
               Retry("r1")),
    ),
    Scenario(
        id="FIELD-2",
        title="redis-py's default retries re-send a write whose reply was lost",
        severity=Severity.HIGH,
        breaks="no_duplicates",
        source="field: redis/redis-py #261, #977, #2851, #3554 (retries re-run non-idempotent "
               "commands; 10 retries by default in redis-py 8)",
        says="with redis-py's default retry policy, a command whose reply was lost is sent "
             "again: an RPUSH or a MULTI/EXEC runs twice and the job is queued twice",
        fix="turn client retries off for non-idempotent writes, or make the write a script "
            "that checks the idempotency key itself",
        steps=(Enqueue("r1", fault=FaultAt(FaultKind.REPLY_LOST, touching=KeyKind.QUEUE)),),
        policy=REDIS_PY_DEFAULT_RETRIES,
    ),
    Scenario(
        id="FIELD-3",
        title="A pipeline cut part-way",
        severity=Severity.HIGH,
        breaks="no_orphan_keys",
        source="field: frappe/press PR #3847, RQ #580/#758 (hash written, RPUSH never happened)",
        says="the connection drops in the middle of the request: a non-transactional pipeline "
             "runs only its first commands",
        fix="MULTI/EXEC or a Lua script: Redis runs all of it or none of it",
        steps=(Enqueue("r1", fault=FaultAt(FaultKind.PARTIAL, touching=KeyKind.QUEUE)),),
    ),
    Scenario(
        id="FIELD-4",
        title="A worker dies with a job leased",
        severity=Severity.CRITICAL,
        breaks="no_lost_jobs",
        source="field: RQ #580 (pop and registry-add are two instructions)",
        says="a worker takes a job and dies before finishing it: the job must come back "
             "when its lease expires",
        fix="lease with LMOVE to a processing list plus a deadline; requeue expired leases",
        steps=(Enqueue("r1"), Dequeue(), WorkersDie(), Dequeue(), Finish()),
    ),
    Scenario(
        id="FIELD-5",
        title="A stall past the socket timeout",
        severity=Severity.CRITICAL,
        breaks="no_lost_jobs",
        source="field: Sidekiq #3303 (a write that timed out but landed)",
        says="Redis executes the push but the reply never comes before the client's socket "
             "timeout; the caller sees a timeout and retries after the network heals",
        fix="an atomic, idempotent enqueue; never undo a write whose outcome is unknown",
        steps=(Enqueue("r1", fault=FaultAt(FaultKind.STALL, touching=KeyKind.QUEUE)), Heal()),
    ),
    Scenario(
        id="FIELD-6",
        title="A second fault during cleanup",
        severity=Severity.HIGH,
        breaks="no_orphan_keys",
        source="field: review HIGH-3 'cleanup might fail', shown with two faults",
        says="a write fails after landing, then the compensating delete fails too: the "
             "records stay, in no queue",
        fix="no compensating cleanup at all: one atomic write",
        steps=(Enqueue("r1", fault=FaultAt(FaultKind.REPLY_LOST, touching=KeyKind.NEW_JOB,
                                           then=FaultKind.RESET)),),
    ),
    Scenario(
        id="FIELD-7",
        title="The old-schema fallback reads another tenant's job",
        severity=Severity.HIGH,
        breaks="tenant_isolation",
        source="queue-chaos: found by the state machine, not in the review",
        says="get_job(ws, id) misses the workspace-scoped key and falls back to the old, "
             "unscoped record without checking whose it is",
        fix="on fallback, return the old record only if its workspace_id matches",
        steps=(Seed("legacy", "ws-a", "old"), GetJob("legacy", workspace="ws-b")),
    ),
)
