"""A queue written by another team to the documented contract (harness/target.py), and nothing else.

It imports only harness.target, and uses optimistic transactions instead of Lua: read under
WATCH, then write in MULTI/EXEC; if a watched key changed meanwhile, EXEC does nothing and we
start again. redis-py never re-sends a watched transaction whose reply was lost: it raises
WatchError instead. Enqueue then reads again and finds its idempotency key (the same job id,
nothing written twice); every other operation raises a ConnectionError (outcome unknown), so
that no call answers ok for a job leased twice or ids requeued but not returned.

It reports no telemetry (the telemetry invariant is then skipped, and says so). A queue entry
names only the job id: a worker finds the job's workspace in its old record or, for a job
another writer left in the new schema only, by scanning for its new record's key.
"""

from __future__ import annotations

import json
import math
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

    # --- input checks (the contract's list, in harness/target.py) --------------------------

    def _check_ids(self, workspace_id: Any, **ids: Any) -> None:
        """ValueError unless every id matches its pattern; `ids` names job_id or request_id."""
        schema = self.key_schema
        checks = {"workspace_id": schema.valid_workspace_id, "job_id": schema.valid_job_id,
                  "client_request_id": schema.valid_request_id}
        for name, value in {"workspace_id": workspace_id, **ids}.items():
            if not checks[name](value):
                raise ValueError(f"{name} {value!r} is invalid")

    @staticmethod
    def _check_payload(payload: Any) -> None:
        """A dict that JSON gives back unchanged, measured as the record stores it."""
        if not isinstance(payload, Mapping):
            raise ValueError("payload must be a dict")
        try:
            stored = encode_job(Job("", "", "", payload, ""))["payload"]
            same = json.loads(stored, parse_constant=_no_constant) == payload
        except (TypeError, ValueError) as exc:
            raise ValueError(f"payload is not JSON-serialisable: {exc}") from None
        if not same:
            raise ValueError("payload would not come back unchanged from JSON "
                             "(use str keys and lists)")
        if len(stored.encode()) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload is {len(stored.encode())} bytes as JSON, "
                             f"more than {MAX_PAYLOAD_BYTES}")

    @staticmethod
    def _check_status(status: Any) -> None:
        if not isinstance(status, str) or status not in {s.value for s in JobStatus}:
            raise ValueError(f"status {status!r} is invalid")

    @staticmethod
    def _check_number(name: str, value: Any, positive: bool) -> None:
        """A finite int or float, not a bool (and > 0 when `positive`)."""
        finite = (isinstance(value, int | float) and not isinstance(value, bool)
                  and math.isfinite(value))
        if not finite or (positive and not value > 0):
            raise ValueError(f"{name} {value!r} is invalid: a finite number"
                             + (" > 0" if positive else ""))

    # --- the optimistic transaction ------------------------------------------------------

    def _transaction(self, body: Callable[[redis.client.Pipeline], T], *watched: str,
                     rerun_if_lost: bool = False) -> T:
        """Run body(pipe) under WATCH until no watched key changed between read and EXEC.

        redis-py also raises WatchError when the connection dropped while watching: then
        the EXEC may have run, and running body again would do it twice. Only a body whose
        second run writes nothing after a first that committed (`rerun_if_lost`: enqueue,
        which finds its idempotency key) runs again; the others raise the ConnectionError.
        """
        attempts = 0
        while True:
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(*watched)
                    return body(pipe)
                except redis.WatchError as exc:
                    lost = isinstance(exc.__context__, redis.ConnectionError | redis.TimeoutError)
                    if lost and not rerun_if_lost:
                        raise redis.ConnectionError(f"outcome unknown: {exc}") from exc
                    attempts += 1
                    if attempts == MAX_ATTEMPTS:
                        raise

    # --- the contract ----------------------------------------------------------------------

    def enqueue(
        self, workspace_id: str, payload: Mapping[str, Any], client_request_id: str
    ) -> str:
        self._check_ids(workspace_id, client_request_id=client_request_id)
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

        return self._transaction(body, idem, rerun_if_lost=True)

    def get_job(self, workspace_id: str, job_id: str) -> Job | None:
        self._check_ids(workspace_id, job_id=job_id)
        record = self.redis.hgetall(self.key_schema.new_job_key(workspace_id, job_id))
        if not record:
            record = self.redis.hgetall(self.key_schema.old_job_key(job_id))
            if record.get("workspace_id") != workspace_id:
                return None
        return decode_job(record)

    def update_status(self, workspace_id: str, job_id: str, status: str) -> None:
        self._check_ids(workspace_id, job_id=job_id)
        self._check_status(status)
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
        self._check_ids(workspace_id)
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
        self._check_number("lease_seconds", lease_seconds, positive=True)
        schema = self.key_schema

        def body(pipe: redis.client.Pipeline) -> Job | bool | None:
            job_id = pipe.lindex(schema.queue_key, 0)
            if job_id is None:
                return None
            records = self._records(pipe, job_id)
            # What get_job will answer: the new record if there is one (listed first).
            record = pipe.hgetall(records[0]) if records else {}
            pipe.multi()
            if not records:  # an entry with no record names nothing to run: drop it
                pipe.lpop(schema.queue_key)
                pipe.execute()
                return False
            pipe.lmove(schema.queue_key, schema.processing_key, "LEFT", "RIGHT")
            pipe.zadd(schema.lease_key, {job_id: time.time() + lease_seconds})
            for key in records:
                pipe.hset(key, "status", JobStatus.RUNNING)
            pipe.execute()
            return decode_job({**record, "status": JobStatus.RUNNING})

        while True:
            job = self._transaction(body, schema.queue_key)
            if job is not False:
                return job

    def _records(self, pipe: redis.client.Pipeline, job_id: str) -> list[str]:
        """The job's existing record keys, the new one first, read under WATCH.

        The old record names the job's workspace. A job another writer left in the new
        schema only is found by its key, {new_job_prefix}<workspace>:<job id>.
        """
        schema = self.key_schema
        old = schema.old_job_key(job_id)
        workspace_id = pipe.hget(old, "workspace_id")
        if workspace_id is None:
            for key in pipe.scan_iter(match=f"{schema.new_job_prefix}*:{job_id}", count=1000):
                if schema.parse(key).job_id == job_id:
                    return [key]
            return []
        new = schema.new_job_key(workspace_id, job_id)
        return [new, old] if pipe.exists(new) else [old]

    def complete(self, workspace_id: str, job_id: str) -> None:
        self._finish(workspace_id, job_id, JobStatus.COMPLETED)

    def fail(self, workspace_id: str, job_id: str) -> None:
        self._finish(workspace_id, job_id, JobStatus.FAILED)

    def _finish(self, workspace_id: str, job_id: str, status: str) -> None:
        self._check_ids(workspace_id, job_id=job_id)
        schema = self.key_schema
        self._set_status(
            workspace_id, job_id, status,
            lambda pipe: pipe.lrem(schema.processing_key, 1, job_id),
            lambda pipe: pipe.zrem(schema.lease_key, job_id),
        )

    def requeue_expired(self, now: float | None = None) -> list[str]:
        if now is not None:
            self._check_number("now", now, positive=False)
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


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def make_queue(client: redis.Redis, registry: CollectorRegistry) -> SimpleQueue:
    """The factory the harness calls: `--target simple_queue:make_queue`."""
    return SimpleQueue(client)
