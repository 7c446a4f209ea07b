"""The fixed queue: the design every invariant must hold for, and the example to point to.

Every write is ONE Lua script, so it is atomic (Redis runs a script to its end, even when the
client has gone) and running it twice is harmless: redis-py re-sends a script whose reply was
lost when retries are on. What makes each script safe to run twice:
  enqueue          the idempotency key is written in the same script as the job, so a second
                   run finds it and returns the same job id.
  update_status    setting a field to the same value twice is one change.
  dequeue          a second run leases a second job; the first stays leased and comes back
                   through requeue_expired when its lease ends. No job is lost.
  complete, fail   the second run finds nothing left to remove.
  requeue_expired  the second run finds no expired lease.

Jobs another writer left in ONE schema (legacy: old only; a Phase-2 writer: new only) work
everywhere, and the missing record is never created. The queue list holds bare job ids, so a
worker finds a job's records from its id: the old record names the workspace; with no old
record, the script looks the new record up by SCAN MATCH {new prefix}*:{id} (only jobs that
no dual-writer wrote take that path). Scripts name their keys in KEYS wherever the caller
knows them (enqueue, update_status, complete, fail); dequeue and requeue_expired learn the
job id inside the script and derive its record keys there: fine on one Redis, not on Redis
Cluster.

Round trips: one EVALSHA per write operation (scripts are loaded when the queue is built);
get_job one MULTI/EXEC of two HGETALLs; list_jobs SCAN pages plus one pipelined read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import redis
from prometheus_client import CollectorRegistry

from harness.target import (
    DEFAULT_SCHEMA,
    Job,
    JobNotFound,
    JobStatus,
    KeyKind,
    KeySchema,
    decode_job,
    encode_job,
)
from queue_impl import validation
from queue_impl.records import new_job
from queue_impl.telemetry import QueueMetrics, counted_dual_write

# Helpers every script starts with. OLD and NEW are the schema's record prefixes.
LUA_PRELUDE = """
local OLD, NEW = %(old)s, %(new)s

-- Which of a job's two record keys exist, the new one first; the old record counts only
-- if it belongs to workspace `ws`.
local function existing(new, old, ws)
  local found = {}
  if redis.call('EXISTS', new) == 1 then table.insert(found, new) end
  if redis.call('HGET', old, 'workspace_id') == ws then table.insert(found, old) end
  return found
end

-- The existing records of job `id`, whatever its workspace (workers know only the id).
local function records_of(id)
  local ws = redis.call('HGET', OLD .. id, 'workspace_id')
  if ws then return existing(NEW .. ws .. ':' .. id, OLD .. id, ws) end
  local cursor = '0'
  repeat
    local page = redis.call('SCAN', cursor, 'MATCH', NEW .. '*:' .. id, 'COUNT', 1000)
    cursor = page[1]
    if page[2][1] then return {page[2][1]} end
  until cursor == '0'
  return {}
end

local function set_status(records, status)
  for _, key in ipairs(records) do redis.call('HSET', key, 'status', status) end
end
"""

# KEYS idem, old, new, queue; ARGV job id, then the record's field/value pairs.
ENQUEUE = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
redis.call('HSET', KEYS[3], unpack(ARGV, 2))
redis.call('RPUSH', KEYS[4], ARGV[1])
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""

# KEYS new record, old record; ARGV workspace id, status. Returns records changed (0: none).
UPDATE_STATUS = """
local records = existing(KEYS[1], KEYS[2], ARGV[1])
set_status(records, ARGV[2])
return #records
"""

# KEYS queue, processing, leases; ARGV lease deadline. Returns the job's record, or nil.
# A queue entry with no record at all holds nothing to run: it is dropped, not leased.
DEQUEUE = """
while true do
  local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not id then return false end
  local records = records_of(id)
  if #records > 0 then
    redis.call('ZADD', KEYS[3], ARGV[1], id)
    set_status(records, 'running')
    return redis.call('HGETALL', records[1])
  end
  redis.call('LREM', KEYS[2], -1, id)
end
"""

# KEYS processing, leases, new record, old record; ARGV workspace id, job id, status.
# Returns records changed.
FINISH = """
local records = existing(KEYS[3], KEYS[4], ARGV[1])
if #records == 0 then return 0 end
redis.call('LREM', KEYS[1], 1, ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
set_status(records, ARGV[3])
return #records
"""

# KEYS queue, processing, leases; ARGV now. Returns the ids put back on the queue.
REQUEUE_EXPIRED = """
local requeued = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])) do
  redis.call('ZREM', KEYS[3], id)
  if redis.call('LREM', KEYS[2], 1, id) == 1 then
    redis.call('RPUSH', KEYS[1], id)
    set_status(records_of(id), 'queued')
    table.insert(requeued, id)
  end
end
return requeued
"""


class ReferenceQueue:
    key_schema: KeySchema = DEFAULT_SCHEMA

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        self.client = client
        self.metrics = QueueMetrics(registry)
        prelude = lua_prelude(self.key_schema)
        self._enqueue = self._script(ENQUEUE)  # needs no helpers
        self._update_status = self._script(prelude + UPDATE_STATUS)
        self._dequeue = self._script(prelude + DEQUEUE)
        self._finish = self._script(prelude + FINISH)
        self._requeue_expired = self._script(prelude + REQUEUE_EXPIRED)

    def _script(self, source: str) -> Any:
        """A script loaded now, so each later call is exactly one EVALSHA round trip."""
        script = self.client.register_script(source)
        self.client.script_load(source)
        return script

    # --- hooks the single-defect variants override ---------------------------------------

    def _workspace(self, workspace_id: Any) -> str:
        return validation.validate_workspace_id(workspace_id, self.key_schema)

    def _counted(self, operation: str) -> AbstractContextManager[None]:
        return counted_dual_write(self.metrics, operation)

    def _fallback(self, workspace_id: str, old_record: dict[str, str]) -> Job | None:
        """The old record answers only for its own workspace, and each answer is counted."""
        if old_record.get("workspace_id") != workspace_id:
            return None
        self.metrics.fallback_reads.inc()
        return decode_job(old_record)

    # --- input checks (before any Redis call) --------------------------------------------

    def _valid_new_job(
        self, workspace_id: Any, payload: Any, client_request_id: Any
    ) -> Job:
        workspace_id = self._workspace(workspace_id)
        validation.validate_request_id(client_request_id, self.key_schema)
        validation.validate_payload(payload)
        return new_job(workspace_id, payload, client_request_id)

    def _valid_status_change(
        self, workspace_id: Any, job_id: Any, status: Any
    ) -> tuple[str, str, JobStatus]:
        return (
            self._workspace(workspace_id),
            validation.validate_job_id(job_id, self.key_schema),
            validation.validate_status(status),
        )

    # --- the contract ----------------------------------------------------------------------

    def enqueue(
        self, workspace_id: str, payload: Mapping[str, Any], client_request_id: str
    ) -> str:
        job = self._valid_new_job(workspace_id, payload, client_request_id)
        with self._counted("enqueue"):
            return self._enqueue_job(job)

    def _enqueue_job(self, job: Job) -> str:
        """The enqueue script's one round trip: the job's id, or the one its request has."""
        schema = self.key_schema
        keys = [
            self._idempotency_key(job.workspace_id, job.client_request_id),
            schema.old_job_key(job.job_id),
            schema.new_job_key(job.workspace_id, job.job_id),
            schema.queue_key,
        ]
        fields = [item for pair in encode_job(job).items() for item in pair]
        return self._enqueue(keys=keys, args=[job.job_id, *fields])

    def _idempotency_key(self, workspace_id: str, client_request_id: str) -> str:
        return self.key_schema.idempotency_key(workspace_id, client_request_id)

    def get_job(self, workspace_id: str, job_id: str) -> Job | None:
        workspace_id = self._workspace(workspace_id)
        validation.validate_job_id(job_id, self.key_schema)
        pipe = self.client.pipeline(transaction=True)  # one snapshot of both records
        pipe.hgetall(self.key_schema.new_job_key(workspace_id, job_id))
        pipe.hgetall(self.key_schema.old_job_key(job_id))
        new, old = pipe.execute()
        if not new:
            return self._fallback(workspace_id, old)
        if old.get("workspace_id") == workspace_id and old != new:
            self.metrics.divergence.inc()
        return decode_job(new)

    def update_status(self, workspace_id: str, job_id: str, status: str) -> None:
        workspace_id, job_id, status = self._valid_status_change(workspace_id, job_id, status)
        with self._counted("update_status"):
            changed = self._update_status(keys=self._record_keys(workspace_id, job_id),
                                          args=[workspace_id, status])
            if not changed:
                raise JobNotFound(f"job {job_id} is not in workspace {workspace_id}")

    def _record_keys(self, workspace_id: str, job_id: str) -> list[str]:
        """A job's new and old record keys, passed to scripts in KEYS as Redis asks."""
        return [self.key_schema.new_job_key(workspace_id, job_id),
                self.key_schema.old_job_key(job_id)]

    def list_jobs(self, workspace_id: str) -> list[Job]:
        workspace_id = self._workspace(workspace_id)
        jobs = {job.job_id: job for job in self._old_schema_jobs(workspace_id)}
        jobs.update((job.job_id, job) for job in self._new_schema_jobs(workspace_id))
        return sorted(jobs.values(), key=lambda job: job.job_id)

    def _old_schema_jobs(self, workspace_id: str) -> list[Job]:
        # Old keys do not name their workspace: every old record is read, then filtered.
        keys = self._scan(f"{self.key_schema.old_job_prefix}*", KeyKind.OLD_JOB)
        return [job for job in self._read(keys) if job.workspace_id == workspace_id]

    def _new_schema_jobs(self, workspace_id: str) -> list[Job]:
        pattern = f"{self.key_schema.new_job_prefix}{workspace_id}:*"
        return self._read(self._scan(pattern, KeyKind.NEW_JOB))

    def _scan(self, pattern: str, kind: KeyKind) -> Iterator[str]:
        """SCAN (never KEYS), keeping only job records of that kind."""
        for key in self.client.scan_iter(match=pattern, count=1000):
            if self.key_schema.parse(key).kind is kind:
                yield key

    def _read(self, keys: Iterable[str]) -> list[Job]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return [decode_job(record) for record in pipe.execute() if record]

    # --- workers ---------------------------------------------------------------------------

    def dequeue(self, lease_seconds: float) -> Job | None:
        deadline = time.time() + validation.validate_lease_seconds(lease_seconds)
        with self._counted("dequeue"):
            reply = self._lease(deadline)
        return decode_job(_as_record(reply)) if reply else None

    def _lease(self, deadline: float) -> Any:
        """The dequeue script's one round trip: the leased job's record, or None."""
        schema = self.key_schema
        return self._dequeue(keys=[schema.queue_key, schema.processing_key, schema.lease_key],
                             args=[deadline])

    def complete(self, workspace_id: str, job_id: str) -> None:
        self._finish_job(workspace_id, job_id, JobStatus.COMPLETED, "complete")

    def fail(self, workspace_id: str, job_id: str) -> None:
        self._finish_job(workspace_id, job_id, JobStatus.FAILED, "fail")

    def _finish_job(
        self, workspace_id: str, job_id: str, status: JobStatus, operation: str
    ) -> None:
        workspace_id = self._workspace(workspace_id)
        validation.validate_job_id(job_id, self.key_schema)
        keys = [self.key_schema.processing_key, self.key_schema.lease_key,
                *self._record_keys(workspace_id, job_id)]
        with self._counted(operation):
            if not self._finish(keys=keys, args=[workspace_id, job_id, status]):
                raise JobNotFound(f"job {job_id} is not in workspace {workspace_id}")

    def requeue_expired(self, now: float | None = None) -> list[str]:
        now = validation.validate_now(now)
        with self._counted("requeue"):
            return self._requeue(time.time() if now is None else now)

    def _requeue(self, now: float) -> list[str]:
        """The requeue script's one round trip."""
        schema = self.key_schema
        return self._requeue_expired(
            keys=[schema.queue_key, schema.processing_key, schema.lease_key], args=[now])


def lua_prelude(schema: KeySchema) -> str:
    """LUA_PRELUDE for this schema's record prefixes."""
    return LUA_PRELUDE % {
        "old": json.dumps(schema.old_job_prefix),
        "new": json.dumps(schema.new_job_prefix),
    }


def _as_record(flat: list[str]) -> dict[str, str]:
    """An HGETALL reply as Lua returns it (field, value, ...) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def make_queue(client: redis.Redis, registry: CollectorRegistry) -> ReferenceQueue:
    return ReferenceQueue(client, registry)
