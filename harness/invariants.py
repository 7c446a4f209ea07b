"""The invariants a queue must keep, each with a name, a severity and what it promises.

The checker (harness.checker) judges them; scenarios, the gate and the reports name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"

    @property
    def rank(self) -> int:
        return {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3}[self.value]


@dataclass(frozen=True)
class Invariant:
    name: str
    severity: Severity
    promise: str


INVARIANTS: dict[str, Invariant] = {
    inv.name: inv
    for inv in (
        Invariant("no_lost_jobs", Severity.CRITICAL,
                  "every acknowledged enqueue is readable and pending, leased or finished; "
                  "after healing, a retry of every unknown or failed enqueue succeeds"),
        Invariant("retry_safe_idempotency", Severity.CRITICAL,
                  "one request id, one job id, whatever failed in between"),
        Invariant("no_orphan_keys", Severity.HIGH,
                  "no job record outside queue/processing/finished, no queue entry without "
                  "its record, no idempotency key without its job, no malformed key"),
        Invariant("schema_agreement", Severity.HIGH,
                  "old and new records of a job agree on every field at every step"),
        Invariant("no_duplicates", Severity.HIGH,
                  "a job id is at most once in the pending and processing lists together"),
        Invariant("tenant_isolation", Severity.HIGH,
                  "no workspace reads, lists or reuses another workspace's job"),
        Invariant("acknowledged_effects", Severity.HIGH,
                  "an operation that answered ok did exactly what the contract says: every "
                  "record, list entry and status it promised is in Redis, and nothing else"),
        Invariant("correct_answers", Severity.HIGH,
                  "every answer is the contract's: get_job, list_jobs, dequeue and "
                  "requeue_expired return what Redis holds, JobNotFound exactly when the job "
                  "is not in that workspace"),
        Invariant("lease_recovery", Severity.HIGH,
                  "every leased job has a lease ending when the call asked, and "
                  "requeue_expired brings it back once that has passed, not before"),
        Invariant("queue_order", Severity.MEDIUM,
                  "dequeue leases the oldest pending job; new and requeued jobs join the tail"),
        Invariant("list_jobs_complete", Severity.MEDIUM,
                  "list_jobs(ws) returns every job of ws that Redis holds in either schema"),
        Invariant("telemetry_agreement", Severity.LOW,
                  "the target's counters match what the history says happened"),
        Invariant("input_validation", Severity.MEDIUM,
                  "bad input is refused with ValueError and nothing is written; good input "
                  "is never refused"),
        Invariant("contract", Severity.HIGH,
                  "operations raise only ValueError, JobNotFound or a Redis error"),
        # HIGH: a call that never returns blocks its caller (an API request, a worker with
        # a lease) and must block the merge; CRITICAL stays for lost or doubled work.
        # HIGH: a queue whose answers differ on the same inputs over a healthy network
        # cannot be shrunk to a minimal program, and it must not pass the gate.
        Invariant("deterministic", Severity.HIGH,
                  "the same program, replayed with both servers healthy, gives the same "
                  "outcome"),
        Invariant("liveness", Severity.HIGH,
                  "every operation returns within the operation time limit, and in a nightly "
                  "run every producer and worker gets answers (not only errors)"),
        Invariant("code_quality", Severity.MEDIUM,
                  "the target's source passes the linter rules a finding names (static)"),
    )
}


# Judged on the target's source, not on its behaviour: the state machine skips them.
STATIC_INVARIANTS = frozenset({"code_quality"})


@dataclass(frozen=True)
class Violation:
    """One broken invariant, with the evidence a reader needs to see it for themselves."""

    invariant: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    operations: tuple[int, ...] = ()  # history indexes of the operations involved

    @property
    def severity(self) -> Severity:
        return INVARIANTS[self.invariant].severity

    def describe(self) -> str:
        ops = f" (ops {', '.join(f'#{i}' for i in self.operations)})" if self.operations else ""
        return f"[{self.severity}] {self.invariant}: {self.message}{ops}"
