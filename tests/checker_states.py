"""Hand-made Redis states and histories for the checker's tests.

`State` builds a Snapshot the way a correct queue would have left it, one job at a time,
so a test can then break exactly one thing. `Ops` records operations through a real
`History`, with the outcome each test needs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.checker import Checker
from harness.history import History, Operation, OpKind, Outcome
from harness.invariants import Violation
from harness.snapshot import Record, Snapshot
from harness.target import DEFAULT_SCHEMA, Job, JobStatus, encode_job

WS_A, WS_B = "ws-a", "ws-b"


def jid(n: int) -> str:
    """A valid job id (32 hex digits) that reads as a small number."""
    return f"{n:032x}"


def rid(n: int) -> str:
    return f"req-{n}"


def record(job_id: str, ws: str = WS_A, status: str = JobStatus.QUEUED,
           request_id: str | None = None, payload: dict | None = None) -> Record:
    request_id = request_id or rid(int(job_id, 16))
    return encode_job(Job(job_id, ws, request_id, payload or {"n": 1}, status))


class State:
    """A Snapshot under construction; every method adds one consistent fact."""

    def __init__(self) -> None:
        self.parts: dict[str, Any] = {
            "old_jobs": {}, "new_jobs": {}, "queue": [], "processing": [], "leases": {},
            "idempotency": {}, "malformed": {}}

    def job(self, job_id: str, ws: str = WS_A, status: str = JobStatus.QUEUED, *,
            request_id: str | None = None, schemas: str = "both", idem: bool = True) -> State:
        rec = record(job_id, ws, status, request_id)
        if schemas in ("old", "both"):
            self.parts["old_jobs"][job_id] = dict(rec)
        if schemas in ("new", "both"):
            self.parts["new_jobs"][(ws, job_id)] = dict(rec)
        if idem:
            self.parts["idempotency"][(ws, rec["client_request_id"])] = job_id
        return self

    def pending(self, job_id: str, ws: str = WS_A, **kw: Any) -> State:
        self.job(job_id, ws, JobStatus.QUEUED, **kw)
        self.parts["queue"].append(job_id)
        return self

    def leased(self, job_id: str, ws: str = WS_A, deadline: float = 1000.0, **kw: Any) -> State:
        self.job(job_id, ws, JobStatus.RUNNING, **kw)
        self.parts["processing"].append(job_id)
        self.parts["leases"][job_id] = deadline
        return self

    def finished(self, job_id: str, ws: str = WS_A, status: str = JobStatus.COMPLETED,
                 **kw: Any) -> State:
        return self.job(job_id, ws, status, **kw)

    def legacy(self, job_id: str, ws: str = WS_A) -> State:
        """A job a legacy writer made: old schema only, no idempotency key, pending."""
        return self.pending(job_id, ws, schemas="old", idem=False)

    def set(self, **parts: Any) -> State:
        """Overwrite parts wholesale (to break something on purpose)."""
        self.parts.update(parts)
        return self

    def build(self) -> Snapshot:
        copied = {k: (dict(v) if isinstance(v, dict) else list(v)) for k, v in self.parts.items()}
        copied["old_jobs"] = {k: dict(v) for k, v in copied["old_jobs"].items()}
        copied["new_jobs"] = {k: dict(v) for k, v in copied["new_jobs"].items()}
        return Snapshot(schema=DEFAULT_SCHEMA, **copied)


def with_field(snapshot: Snapshot, key: tuple[str, str] | str, **fields: str) -> Snapshot:
    """The snapshot with fields changed in one record: a job id (old) or (ws, job id) (new)."""
    if isinstance(key, tuple):
        new_jobs = dict(snapshot.new_jobs)
        new_jobs[key] = {**new_jobs[key], **fields}
        return dataclasses.replace(snapshot, new_jobs=new_jobs)
    old_jobs = dict(snapshot.old_jobs)
    old_jobs[key] = {**old_jobs[key], **fields}
    return dataclasses.replace(snapshot, old_jobs=old_jobs)


class Ops:
    """Completed operations with consecutive indexes, as a run would record them."""

    def __init__(self) -> None:
        self.history = History()

    def op(self, kind: OpKind, args: dict[str, Any], outcome: Outcome = Outcome.OK,
           value: Any = None, *, error: str | None = None, crashed: bool = False) -> Operation:
        op = self.history.invoke("test", kind, args)
        if outcome is not Outcome.OK and error is None:
            error = "ValueError: bad input" if outcome is Outcome.FAIL else "ConnectionError"
        return self.history.complete(op, outcome, value, error, crashed)

    def enqueue(self, ws: str, request_id: str, job_id: str | None,
                outcome: Outcome = Outcome.OK, *, payload: Any = None, healed: bool = False,
                **kw: Any) -> Operation:
        args = {"workspace_id": ws, "payload": {"n": 1} if payload is None else payload,
                "client_request_id": request_id}
        if healed:
            args["healed"] = True
        return self.op(OpKind.ENQUEUE, args, outcome, job_id, **kw)

    def seed(self, ws: str, job_id: str, schemas: str = "old",
             status: str = JobStatus.QUEUED) -> Operation:
        return self.op(OpKind.SEED, {"workspace_id": ws, "job_id": job_id, "schemas": schemas,
                                     "status": status, "payload": {"n": 1},
                                     "client_request_id": rid(int(job_id, 16))})

    def get_job(self, ws: str, job_id: str, value: Job | None,
                outcome: Outcome = Outcome.OK) -> Operation:
        return self.op(OpKind.GET_JOB, {"workspace_id": ws, "job_id": job_id}, outcome, value)

    def list_jobs(self, ws: str, jobs: list[Job], outcome: Outcome = Outcome.OK) -> Operation:
        return self.op(OpKind.LIST_JOBS, {"workspace_id": ws}, outcome, jobs)

    def update_status(self, ws: str, job_id: str, status: str,
                      outcome: Outcome = Outcome.OK, **kw: Any) -> Operation:
        return self.op(OpKind.UPDATE_STATUS,
                       {"workspace_id": ws, "job_id": job_id, "status": status}, outcome, **kw)


def job_value(job_id: str, ws: str = WS_A, status: str = JobStatus.QUEUED) -> Job:
    """The Job a read returns for `record(job_id, ws, status)`."""
    return Job(job_id, ws, rid(int(job_id, 16)), {"n": 1}, status)


def observe_all(checker: Checker, ops: list[Operation],
                snapshot: Snapshot | None = None) -> list[Violation]:
    """Observe each op (with the same snapshot, if any); every violation, in order."""
    return [v for op in ops for v in checker.observe(op, snapshot)]


def names(violations: list[Violation]) -> list[str]:
    return [v.invariant for v in violations]
