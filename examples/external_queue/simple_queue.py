"""A queue written by another team to the documented contract (harness/target.py), and nothing else.

It imports only harness.target, and uses optimistic transactions instead of Lua: read under
WATCH, then write in MULTI/EXEC; if a watched key changed meanwhile, EXEC does nothing and we
start again. That also makes it safe when redis-py re-sends a transaction whose reply was
lost: redis-py raises WatchError instead of re-sending a watched transaction, and the next
attempt reads the state the first one left (e.g. finds the idempotency key).

It reports no telemetry (the telemetry invariant is then skipped, and says so), and it expects
every job it works on to have an old-schema record (which it always writes) to know the job's
workspace from its id.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import redis
from prometheus_client import CollectorRegistry

from harness.target import (
    DEFAULT_SCHEMA,
    MAX_PAYLOAD_BYTES,
    Job,
    JobNotFound,
    JobStatus,
    KeyKind,
    decode_job,
    encode_job,
)

T = TypeVar("T")
MAX_ATTEMPTS = 20  # then WatchError (a redis error: outcome unknown) reaches the caller


class SimpleQueue:
    key_schema = DEFAULT_SCHEMA

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    # --- input checks ------------------------------------------------------------------

    def _check(self, workspace_id: Any, job_id: Any = None, request_id: Any = None) -> None:
        schema = self.key_schema
        if not schema.valid_workspace_id(workspace_id):
            raise ValueError(f"workspace_id {workspace_id!r} is invalid")
        if job_id is not None and not schema.valid_job_id(job_id):
            raise ValueError(f"job_id {job_id!r} is invalid")
        if request_id is not None and not schema.valid_request_id(request_id):
            raise ValueError(f"client_request_id {request_id!r} is invalid")

    @staticmethod
    def _check_payload(payload: Any) -> None:
        if not isinstance(payload, Mapping):
            raise ValueError("payload must be a dict")
        try:
            size = len(json.dumps(payload, allow_nan=False).encode())
        except (TypeError, ValueError) as exc:
            raise ValueError(f"payload is not JSON-serialisable: {exc}") from None
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload is {size} bytes, more than {MAX_PAYLOAD_BYTES}")

    # --- the optimistic transaction ------------------------------------------------------

    def _transaction(self, body: Callable[[redis.client.Pipeline], T], *watched: str) -> T:
        """Run body(pipe) under WATCH until no watched key changed between read and EXEC."""
        attempts = 0
        while True:
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(*watched)
                    return body(pipe)
                except redis.WatchError:
                    attempts += 1
                    if attempts == MAX_ATTEMPTS:
                        raise

    # --- the contract ----------------------------------------------------------------------

    def enqueue(
        self, workspace_id: str, payload: Mapping[str, Any], client_request_id: str
    ) -> str:
        self._check(workspace_id, request_id=client_request_id)
        self._check_payload(payload)
        schema = self.key_schema
        idem = schema.idempotency_key(workspace_id, client_request_id)
        job = Job(uuid.uuid4().hex, workspace_id, client_request_id, payload, JobStatus.QUEUED)

        def body(pipe: redis.client.Pipeline) -> str:
            existing = pipe.get(idem)
            if existing is not None:
                return existing
            pipe.multi()
            pipe.hset(schema.old_job_key(job.job_id), mapping=encode_job(job))
            pipe.hset(schema.new_job_key(workspace_id, job.job_id), mapping=encode_job(job))
            pipe.rpush(schema.queue_key, job.job_id)
            pipe.set(idem, job.job_id)
            pipe.execute()
            return job.job_id

        return self._transaction(body, idem)

    def get_job(self, workspace_id: str, job_id: str) -> Job | None:
        self._check(workspace_id, job_id)
        record = self.redis.hgetall(self.key_schema.new_job_key(workspace_id, job_id))
        if not record:
            record = self.redis.hgetall(self.key_schema.old_job_key(job_id))
            if record.get("workspace_id") != workspace_id:
                return None
        return decode_job(record)

    def update_status(self, workspace_id: str, job_id: str, status: str) -> None:
        self._check(workspace_id, job_id)
        if not isinstance(status, str) or status not in {s.value for s in JobStatus}:
            raise ValueError(f"status {status!r} is invalid")
        self._set_status(workspace_id, job_id, status)

    def _set_status(
        self, workspace_id: str, job_id: str, status: str, *also: Callable[[Any], None]
    ) -> None:
        """Set the status on the job's existing records, plus any `also` writes, atomically."""
        old = self.key_schema.old_job_key(job_id)
        new = self.key_schema.new_job_key(workspace_id, job_id)

        def body(pipe: redis.client.Pipeline) -> None:
            keys = [new] if pipe.exists(new) else []
            if pipe.hget(old, "workspace_id") == workspace_id:
                keys.append(old)
            if not keys:
                raise JobNotFound(f"job {job_id} is not in workspace {workspace_id}")
            pipe.multi()
            for key in keys:
                pipe.hset(key, "status", status)
            for write in also:
                write(pipe)
            pipe.execute()

        self._transaction(body, old, new)

    def list_jobs(self, workspace_id: str) -> list[Job]:
        self._check(workspace_id)
        schema = self.key_schema
        jobs: dict[str, Job] = {}
        for pattern in (f"{schema.old_job_prefix}*", f"{schema.new_job_prefix}{workspace_id}:*"):
            for key in self.redis.scan_iter(match=pattern):
                if schema.parse(key).kind in (KeyKind.OLD_JOB, KeyKind.NEW_JOB):
                    job = decode_job(self.redis.hgetall(key))
                    if job.workspace_id == workspace_id:
                        jobs[job.job_id] = job  # the new record, scanned last, wins
        return list(jobs.values())

    # --- workers -------------------------------------------------------------------------

    def dequeue(self, lease_seconds: float) -> Job | None:
        schema = self.key_schema

        def body(pipe: redis.client.Pipeline) -> Job | None:
            job_id = pipe.lindex(schema.queue_key, 0)
            if job_id is None:
                return None
            record = pipe.hgetall(schema.old_job_key(job_id))
            records = self._records(pipe, job_id)
            pipe.multi()
            pipe.lmove(schema.queue_key, schema.processing_key, "LEFT", "RIGHT")
            pipe.zadd(schema.lease_key, {job_id: time.time() + lease_seconds})
            for key in records:
                pipe.hset(key, "status", JobStatus.RUNNING)
            pipe.execute()
            return decode_job({**record, "id": job_id, "status": JobStatus.RUNNING})

        return self._transaction(body, schema.queue_key)

    def _records(self, pipe: redis.client.Pipeline, job_id: str) -> list[str]:
        """The job's existing record keys, found from its old record (read under WATCH)."""
        old = self.key_schema.old_job_key(job_id)
        workspace_id = pipe.hget(old, "workspace_id")
        if workspace_id is None:
            return []
        new = self.key_schema.new_job_key(workspace_id, job_id)
        return [old, new] if pipe.exists(new) else [old]

    def complete(self, workspace_id: str, job_id: str) -> None:
        self._finish(workspace_id, job_id, JobStatus.COMPLETED)

    def fail(self, workspace_id: str, job_id: str) -> None:
        self._finish(workspace_id, job_id, JobStatus.FAILED)

    def _finish(self, workspace_id: str, job_id: str, status: str) -> None:
        self._check(workspace_id, job_id)
        schema = self.key_schema
        self._set_status(
            workspace_id, job_id, status,
            lambda pipe: pipe.lrem(schema.processing_key, 1, job_id),
            lambda pipe: pipe.zrem(schema.lease_key, job_id),
        )

    def requeue_expired(self, now: float | None = None) -> list[str]:
        schema = self.key_schema
        now = time.time() if now is None else now

        def body(pipe: redis.client.Pipeline) -> list[str]:
            expired = pipe.zrangebyscore(schema.lease_key, "-inf", now)
            leased = set(pipe.lrange(schema.processing_key, 0, -1))
            records = {job_id: self._records(pipe, job_id) for job_id in expired}
            pipe.multi()
            requeued = []
            for job_id in expired:
                pipe.zrem(schema.lease_key, job_id)
                if job_id not in leased:
                    continue
                pipe.lrem(schema.processing_key, 1, job_id)
                pipe.rpush(schema.queue_key, job_id)
                for key in records[job_id]:
                    pipe.hset(key, "status", JobStatus.QUEUED)
                requeued.append(job_id)
            pipe.execute()
            return requeued

        return self._transaction(body, schema.lease_key, schema.processing_key)


def make_queue(client: redis.Redis, registry: CollectorRegistry) -> SimpleQueue:
    """The factory the harness calls: `--target simple_queue:make_queue`."""
    return SimpleQueue(client)
