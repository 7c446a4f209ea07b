"""A correct queue with no Lua at all: optimistic transactions, and keys of its own.

A second design for the harness to judge (it must never call a correct queue broken). Each
write operation reads under WATCH and turns what it read into a `Plan`: the answer to give
and the commands to run. The commands then go in one MULTI/EXEC; if a watched key changed
meanwhile, EXEC does nothing and the operation reads again.

A lost connection is not a conflict. redis-py reports it as a WatchError too (raised while
handling the ConnectionError, so `__context__` tells them apart). While reading, nothing was
written and the operation reads again. During EXEC the outcome is unknown: only enqueue
reads again (its idempotency key makes the second run write nothing and return the first
run's job id); every other operation raises the ConnectionError, so that no call answers ok
for effects that happened twice (a second job leased, ids requeued but not returned).

Jobs another writer left in one schema: a queue entry names only the id, so a worker finds
the job's records from the old record (it names the workspace) or, with none, by SCAN MATCH
{new prefix}*:{id}. Every key read to build a plan is watched. No telemetry is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import redis
from prometheus_client import CollectorRegistry

from harness.target import Job, JobNotFound, JobStatus, KeyKind, KeySchema, decode_job, encode_job
from queue_impl import validation
from queue_impl.records import glob_literal, new_job, workspace_record_patterns

T = TypeVar("T")
Pipe = redis.client.Pipeline

SCHEMA = KeySchema(
    old_job_prefix="opt:legacy:",
    new_job_prefix="opt:jobs:",
    queue_key="opt:queue",
    processing_key="opt:running",
    lease_key="opt:lease-deadlines",
    idempotency_prefix="opt:once:",
)

MAX_CONFLICTS = 50  # then the WatchError (a redis error: outcome unknown) reaches the caller
LOST = (redis.ConnectionError, redis.TimeoutError, OSError)


@dataclass
class Plan(Generic[T]):
    """What an operation read under WATCH decided: its answer and the commands to send."""

    answer: T
    commands: list[tuple[Any, ...]] = field(default_factory=list)


def connection_lost(error: redis.WatchError) -> bool:
    """A WatchError redis-py raised for a dropped connection, not for a changed key."""
    return isinstance(error.__context__, LOST)


class OptimisticQueue:
    key_schema: KeySchema = SCHEMA

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    # --- the optimistic transaction ------------------------------------------------------

    def _run(self, plan: Callable[[Pipe], Plan[T]], watched: list[str],
             rerun_after_lost_exec: bool = False) -> T:
        """plan(pipe) under WATCH of `watched` (it may watch more), its commands in one EXEC."""
        for _ in range(MAX_CONFLICTS):
            with self.redis.pipeline() as pipe:
                try:
                    if watched:
                        pipe.watch(*watched)
                    decided = plan(pipe)
                except redis.WatchError:
                    continue  # the connection dropped while reading: nothing was written
                if not decided.commands:
                    return decided.answer
                pipe.multi()
                for command in decided.commands:
                    pipe.execute_command(*command)
                try:
                    pipe.execute()
                except redis.WatchError as error:
                    if connection_lost(error) and not rerun_after_lost_exec:
                        raise redis.ConnectionError(
                            f"connection lost during EXEC, outcome unknown: {error}"
                        ) from error
                    continue
                return decided.answer
        raise redis.WatchError(f"gave up after {MAX_CONFLICTS} conflicting writers")

    # --- finding records (under WATCH) -----------------------------------------------------

    def _readable(self, pipe: Pipe, workspace_id: str, job_id: str) -> list[str]:
        """The job's record keys readable in the workspace, watched; new first."""
        schema = self.key_schema
        new, old = schema.new_job_key(workspace_id, job_id), schema.old_job_key(job_id)
        pipe.watch(new, old)
        found = [new] if pipe.exists(new) else []
        return found + ([old] if pipe.hget(old, "workspace_id") == workspace_id else [])

    def _own(self, pipe: Pipe, job_id: str) -> list[str]:
        """The job's record keys in its own workspace, from its id alone; watched, new first."""
        schema = self.key_schema
        old = schema.old_job_key(job_id)
        pipe.watch(old)
        workspace_id = pipe.hget(old, "workspace_id")
        if workspace_id is not None:
            return self._readable(pipe, workspace_id, job_id)
        pattern = f"{glob_literal(schema.new_job_prefix)}*:{job_id}"
        for key in pipe.scan_iter(match=pattern, count=1000):
            parsed = schema.parse(key)
            if parsed.kind is KeyKind.NEW_JOB and parsed.job_id == job_id:
                pipe.watch(key)
                return [key]
        return []

    @staticmethod
    def _set_status(records: list[str], status: str) -> list[tuple[Any, ...]]:
        return [("HSET", key, "status", status) for key in records]

    # --- producers and readers -------------------------------------------------------------

    def enqueue(
        self, workspace_id: str, payload: Mapping[str, Any], client_request_id: str
    ) -> str:
        schema = self.key_schema
        workspace_id = validation.validate_workspace_id(workspace_id, schema)
        validation.validate_request_id(client_request_id, schema)
        job = new_job(workspace_id, validation.validate_payload(payload), client_request_id)
        idem = schema.idempotency_key(workspace_id, client_request_id)
        record = [item for pair in encode_job(job).items() for item in pair]

        def plan(pipe: Pipe) -> Plan[str]:
            known = pipe.get(idem)
            if known is not None:
                return Plan(known)
            return Plan(job.job_id, [
                ("HSET", schema.old_job_key(job.job_id), *record),
                ("HSET", schema.new_job_key(workspace_id, job.job_id), *record),
                ("RPUSH", schema.queue_key, job.job_id),
                ("SET", idem, job.job_id),
            ])

        return self._run(plan, [idem], rerun_after_lost_exec=True)

    def get_job(self, workspace_id: str, job_id: str) -> Job | None:
        schema = self.key_schema
        workspace_id = validation.validate_workspace_id(workspace_id, schema)
        validation.validate_job_id(job_id, schema)
        pipe = self.redis.pipeline(transaction=True)  # both records as of one moment
        pipe.hgetall(schema.new_job_key(workspace_id, job_id))
        pipe.hgetall(schema.old_job_key(job_id))
        new, old = pipe.execute()
        if new:
            return decode_job(new)
        return decode_job(old) if old.get("workspace_id") == workspace_id else None

    def list_jobs(self, workspace_id: str) -> list[Job]:
        schema = self.key_schema
        workspace_id = validation.validate_workspace_id(workspace_id, schema)
        patterns = workspace_record_patterns(schema, workspace_id)
        keys = {key for pattern in patterns
                for key in self.redis.scan_iter(match=pattern, count=1000)}
        parsed = {key: schema.parse(key) for key in keys}
        keys = sorted(k for k, p in parsed.items() if p.kind in (KeyKind.OLD_JOB, KeyKind.NEW_JOB))
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        answers: dict[str, Job] = {}
        for key, record in zip(keys, pipe.execute(), strict=True):
            job_id = parsed[key].job_id or ""
            if parsed[key].kind is KeyKind.NEW_JOB and record:
                answers[job_id] = decode_job(record)
            elif record.get("workspace_id") == workspace_id:
                answers.setdefault(job_id, decode_job(record))
        return list(answers.values())

    def update_status(self, workspace_id: str, job_id: str, status: str) -> None:
        schema = self.key_schema
        workspace_id = validation.validate_workspace_id(workspace_id, schema)
        validation.validate_job_id(job_id, schema)
        status = validation.validate_status(status)
        self._run(self._status_change(workspace_id, job_id, status, release=False), [])

    # --- workers ---------------------------------------------------------------------------

    def dequeue(self, lease_seconds: float) -> Job | None:
        lease_seconds = validation.validate_lease_seconds(lease_seconds)
        schema = self.key_schema

        def plan(pipe: Pipe) -> Plan[Job | str | None]:
            job_id = pipe.lindex(schema.queue_key, 0)
            if job_id is None:
                return Plan(None)
            records = self._own(pipe, job_id)
            take_head = ("LPOP", schema.queue_key)
            if not records:  # an entry with no record names nothing to run: drop it
                return Plan(job_id, [take_head])
            shown = {**pipe.hgetall(records[0]), "status": JobStatus.RUNNING.value}
            return Plan(decode_job(shown), [
                take_head,
                ("RPUSH", schema.processing_key, job_id),
                ("ZADD", schema.lease_key, repr(time.time() + lease_seconds), job_id),
                *self._set_status(records, JobStatus.RUNNING),
            ])

        while True:
            taken = self._run(plan, [schema.queue_key])
            if not isinstance(taken, str):
                return taken

    def complete(self, workspace_id: str, job_id: str) -> None:
        self._finish(workspace_id, job_id, JobStatus.COMPLETED)

    def fail(self, workspace_id: str, job_id: str) -> None:
        self._finish(workspace_id, job_id, JobStatus.FAILED)

    def _finish(self, workspace_id: Any, job_id: Any, status: JobStatus) -> None:
        schema = self.key_schema
        workspace_id = validation.validate_workspace_id(workspace_id, schema)
        validation.validate_job_id(job_id, schema)
        self._run(self._status_change(workspace_id, job_id, status, release=True), [])

    def _status_change(self, workspace_id: str, job_id: str, status: str,
                   release: bool) -> Callable[[Pipe], Plan[None]]:
        """The plan of update_status (release=False), complete and fail (release=True)."""
        schema = self.key_schema

        def plan(pipe: Pipe) -> Plan[None]:
            records = self._readable(pipe, workspace_id, job_id)
            if not records:
                raise JobNotFound(f"job {job_id} is not in workspace {workspace_id}")
            leave = [("LREM", schema.processing_key, 0, job_id),
                     ("ZREM", schema.lease_key, job_id)] if release else []
            return Plan(None, [*leave, *self._set_status(records, status)])

        return plan

    def requeue_expired(self, now: float | None = None) -> list[str]:
        now = validation.validate_now(now)
        schema = self.key_schema
        cutoff = time.time() if now is None else now

        def plan(pipe: Pipe) -> Plan[list[str]]:
            # Ordered by deadline, then by id (Redis orders equal scores by member).
            expired = pipe.zrangebyscore(schema.lease_key, "-inf", repr(cutoff))
            if not expired:
                return Plan([])
            leased = set(pipe.lrange(schema.processing_key, 0, -1))
            back = [job_id for job_id in expired if job_id in leased]
            commands: list[tuple[Any, ...]] = [("ZREM", schema.lease_key, *expired)]
            for job_id in back:
                commands += [("LREM", schema.processing_key, 0, job_id),
                             ("RPUSH", schema.queue_key, job_id),
                             *self._set_status(self._own(pipe, job_id), JobStatus.QUEUED)]
            return Plan(back, commands)

        return self._run(plan, [schema.lease_key, schema.processing_key])



def make_queue(client: redis.Redis, registry: CollectorRegistry) -> OptimisticQueue:
    """The factory the harness calls; this queue reports no telemetry."""
    return OptimisticQueue(client)
