"""A correct queue built on Redis Functions, with keys of its own: a second design to judge.

The harness must never call a correct queue broken, so it needs correct queues that share
nothing with the reference but the contract. This one differs in every choice the contract
leaves open:
  - one Lua library, loaded once with FUNCTION LOAD REPLACE when the queue is built; every
    operation, reads included, is exactly one FCALL (FCALL_RO for reads), so each is atomic;
  - the library knows no key names: every key and prefix arrives in KEYS or ARGV, so one
    library serves any KeySchema (this queue uses SCHEMA, none of whose keys is a default);
  - lease deadlines and requeue_expired's default `now` come from the Redis server's clock
    (TIME inside the function), not the client's, so clients with skewed clocks agree.

Safe to run twice (redis-py re-sends an FCALL whose reply was lost when retries are on):
enqueue finds its idempotency key; update_status, complete and fail set what is already
set; a second dequeue leases a second job (the first comes back through requeue_expired);
a second requeue_expired finds no expired lease.

Jobs another writer left in one schema: the old record names the workspace; with none, the
function finds the new record by SCAN MATCH {new prefix}*:{id} (glob characters escaped).
The missing record is never created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
from prometheus_client import CollectorRegistry

from harness.target import Job, JobNotFound, JobStatus, KeyKind, KeySchema, decode_job, encode_job
from queue_impl import validation
from queue_impl.records import glob_literal, new_job, workspace_record_patterns
from queue_impl.telemetry import QueueMetrics, counted_dual_write

SCHEMA = KeySchema(
    old_job_prefix="q2:old:",
    new_job_prefix="q2:job:",
    queue_key="q2:pending",
    processing_key="q2:leased",
    lease_key="q2:deadlines",
    idempotency_prefix="q2:req:",
)

LIBRARY_NAME = "q2queue"

# Conventions: `old`, `new` are record keys; OLD, NEW, NEW_GLOB prefixes passed in ARGV.
LIBRARY = f"""#!lua name={LIBRARY_NAME}

local function flat(key) return redis.call('HGETALL', key) end

-- The job's records readable in workspace ws, the new one first.
local function readable(new, old, ws)
  local found = {{}}
  if redis.call('EXISTS', new) == 1 then found[#found + 1] = new end
  if redis.call('HGET', old, 'workspace_id') == ws then found[#found + 1] = old end
  return found
end

-- The job's records in its own workspace, known from its id only (a worker's view).
local function own_records(id, OLD, NEW, NEW_GLOB)
  local old = OLD .. id
  local ws = redis.call('HGET', old, 'workspace_id')
  if ws then return readable(NEW .. ws .. ':' .. id, old, ws) end
  local tail = ':' .. id
  local cursor = '0'
  repeat
    local page = redis.call('SCAN', cursor, 'MATCH', NEW_GLOB .. '*' .. tail, 'COUNT', 1000)
    cursor = page[1]
    for _, key in ipairs(page[2]) do
      local middle = string.sub(key, #NEW + 1, #key - #tail)
      if #middle > 0 and not string.find(middle, ':', 1, true) then return {{key}} end
    end
  until cursor == '0'
  return {{}}
end

local function set_status(records, status)
  for _, key in ipairs(records) do redis.call('HSET', key, 'status', status) end
end

-- Seconds since the epoch on the server's clock, plus `extra`, as a ZADD score.
local function server_time(extra)
  local t = redis.call('TIME')
  return string.format('%.6f', tonumber(t[1]) + tonumber(t[2]) / 1e6 + extra)
end

-- KEYS idem, old, new, pending; ARGV job id, then the record as field/value pairs.
redis.register_function('q2_enqueue', function(keys, args)
  local known = redis.call('GET', keys[1])
  if known then return known end
  local id = table.remove(args, 1)
  redis.call('HSET', keys[2], unpack(args))
  redis.call('HSET', keys[3], unpack(args))
  redis.call('RPUSH', keys[4], id)
  redis.call('SET', keys[1], id)
  return id
end)

-- KEYS new, old. Both records as they are (empty when absent); the caller picks.
redis.register_function{{function_name = 'q2_get', flags = {{'no-writes'}},
  callback = function(keys) return {{flat(keys[1]), flat(keys[2])}} end}}

-- ARGV old glob, new glob of the workspace, workspace. Key, record, key, record, ...
redis.register_function{{function_name = 'q2_list', flags = {{'no-writes'}},
  callback = function(_, args)
    local out = {{}}
    for i, pattern in ipairs({{args[1], args[2]}}) do
      local cursor = '0'
      repeat
        local page = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
        cursor = page[1]
        for _, key in ipairs(page[2]) do
          if i == 2 or redis.call('HGET', key, 'workspace_id') == args[3] then
            out[#out + 1] = key
            out[#out + 1] = flat(key)
          end
        end
      until cursor == '0'
    end
    return out
  end}}

-- KEYS new, old; ARGV workspace, status. Records changed (0: the job is not there).
redis.register_function('q2_status', function(keys, args)
  local records = readable(keys[1], keys[2], args[1])
  set_status(records, args[2])
  return #records
end)

-- KEYS pending, processing, leases; ARGV lease seconds, OLD, NEW, NEW_GLOB.
-- The leased job's record as get_job returns it, or nil. An entry with no record at all
-- names nothing to run: it leaves pending and the next one is taken.
redis.register_function('q2_dequeue', function(keys, args)
  while true do
    local id = redis.call('LPOP', keys[1])
    if not id then return false end
    local records = own_records(id, args[2], args[3], args[4])
    if #records > 0 then
      redis.call('RPUSH', keys[2], id)
      redis.call('ZADD', keys[3], server_time(tonumber(args[1])), id)
      set_status(records, 'running')
      return flat(records[1])
    end
  end
end)

-- KEYS processing, leases, new, old; ARGV workspace, job id, status. Records changed.
redis.register_function('q2_finish', function(keys, args)
  local records = readable(keys[3], keys[4], args[1])
  if #records == 0 then return 0 end
  redis.call('LREM', keys[1], 0, args[2])
  redis.call('ZREM', keys[2], args[2])
  set_status(records, args[3])
  return #records
end)

-- KEYS pending, processing, leases; ARGV now ('' for the server's clock), OLD, NEW,
-- NEW_GLOB. ZRANGEBYSCORE orders by deadline, then by id: the order the contract asks.
redis.register_function('q2_requeue', function(keys, args)
  local now = args[1]
  if now == '' then now = server_time(0) end
  local requeued = {{}}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', keys[3], '-inf', now)) do
    redis.call('ZREM', keys[3], id)
    if redis.call('LREM', keys[2], 0, id) > 0 then
      redis.call('RPUSH', keys[1], id)
      set_status(own_records(id, args[2], args[3], args[4]), 'queued')
      requeued[#requeued + 1] = id
    end
  end
  return requeued
end)
"""



def as_record(flat: list[str]) -> dict[str, str]:
    """An HGETALL reply as a Lua table returns it (field, value, ...), as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


class FunctionsQueue:
    key_schema: KeySchema = SCHEMA

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        self.client = client
        self.metrics = QueueMetrics(registry)
        client.function_load(LIBRARY, replace=True)
        schema = self.key_schema
        # What dequeue and requeue need to find a job's records from its id alone.
        self._prefixes = (schema.old_job_prefix, schema.new_job_prefix,
                          glob_literal(schema.new_job_prefix))

    def _call(self, function: str, keys: list[str], *args: Any) -> Any:
        return self.client.fcall(function, len(keys), *keys, *args)

    def _records(self, workspace_id: str, job_id: str) -> list[str]:
        return [self.key_schema.new_job_key(workspace_id, job_id),
                self.key_schema.old_job_key(job_id)]

    def _workspace_and_job(self, workspace_id: Any, job_id: Any) -> tuple[str, str]:
        return (validation.validate_workspace_id(workspace_id, self.key_schema),
                validation.validate_job_id(job_id, self.key_schema))

    # --- producers and readers -------------------------------------------------------------

    def enqueue(
        self, workspace_id: str, payload: Mapping[str, Any], client_request_id: str
    ) -> str:
        schema = self.key_schema
        workspace_id = validation.validate_workspace_id(workspace_id, schema)
        validation.validate_request_id(client_request_id, schema)
        job = new_job(workspace_id, validation.validate_payload(payload), client_request_id)
        keys = [schema.idempotency_key(workspace_id, client_request_id),
                schema.old_job_key(job.job_id),
                schema.new_job_key(workspace_id, job.job_id),
                schema.queue_key]
        fields = [item for pair in encode_job(job).items() for item in pair]
        with counted_dual_write(self.metrics, "enqueue"):
            return self._call("q2_enqueue", keys, job.job_id, *fields)

    def get_job(self, workspace_id: str, job_id: str) -> Job | None:
        workspace_id, job_id = self._workspace_and_job(workspace_id, job_id)
        keys = self._records(workspace_id, job_id)
        new, old = (as_record(flat) for flat in self.client.fcall_ro("q2_get", 2, *keys))
        own_old = old.get("workspace_id") == workspace_id
        if new:
            if own_old and old != new:
                self.metrics.divergence.inc()
            return decode_job(new)
        if not own_old:
            return None
        self.metrics.fallback_reads.inc()
        return decode_job(old)

    def list_jobs(self, workspace_id: str) -> list[Job]:
        schema = self.key_schema
        workspace_id = validation.validate_workspace_id(workspace_id, schema)
        patterns = workspace_record_patterns(schema, workspace_id)
        reply = self.client.fcall_ro("q2_list", 0, *patterns, workspace_id)
        old: dict[str, Job] = {}
        new: dict[str, Job] = {}
        for key, flat in zip(reply[::2], reply[1::2], strict=True):
            parsed = schema.parse(key)
            found = {KeyKind.OLD_JOB: old, KeyKind.NEW_JOB: new}.get(parsed.kind)
            if found is not None and flat and parsed.job_id is not None:
                found[parsed.job_id] = decode_job(as_record(flat))
        return list((old | new).values())  # the new record answers, as in get_job

    def update_status(self, workspace_id: str, job_id: str, status: str) -> None:
        workspace_id, job_id = self._workspace_and_job(workspace_id, job_id)
        status = validation.validate_status(status)
        with counted_dual_write(self.metrics, "update_status"):
            if not self._call("q2_status", self._records(workspace_id, job_id),
                              workspace_id, status):
                raise JobNotFound(f"job {job_id} is not in workspace {workspace_id}")

    # --- workers ---------------------------------------------------------------------------

    def dequeue(self, lease_seconds: float) -> Job | None:
        lease_seconds = validation.validate_lease_seconds(lease_seconds)
        schema = self.key_schema
        keys = [schema.queue_key, schema.processing_key, schema.lease_key]
        with counted_dual_write(self.metrics, "dequeue"):
            flat = self._call("q2_dequeue", keys, lease_seconds, *self._prefixes)
        return decode_job(as_record(flat)) if flat else None

    def complete(self, workspace_id: str, job_id: str) -> None:
        self._finish(workspace_id, job_id, JobStatus.COMPLETED, "complete")

    def fail(self, workspace_id: str, job_id: str) -> None:
        self._finish(workspace_id, job_id, JobStatus.FAILED, "fail")

    def _finish(self, workspace_id: Any, job_id: Any, status: JobStatus, operation: str) -> None:
        workspace_id, job_id = self._workspace_and_job(workspace_id, job_id)
        schema = self.key_schema
        keys = [schema.processing_key, schema.lease_key, *self._records(workspace_id, job_id)]
        with counted_dual_write(self.metrics, operation):
            if not self._call("q2_finish", keys, workspace_id, job_id, status):
                raise JobNotFound(f"job {job_id} is not in workspace {workspace_id}")

    def requeue_expired(self, now: float | None = None) -> list[str]:
        now = validation.validate_now(now)
        schema = self.key_schema
        keys = [schema.queue_key, schema.processing_key, schema.lease_key]
        with counted_dual_write(self.metrics, "requeue"):
            return self._call("q2_requeue", keys, "" if now is None else repr(now),
                              *self._prefixes)


def make_queue(client: redis.Redis, registry: CollectorRegistry) -> FunctionsQueue:
    return FunctionsQueue(client, registry)
