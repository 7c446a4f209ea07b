"""HOLDOUT single-defect queues: kept apart to measure how many real defects the harness catches.

A detector must be measured on defects it was not tuned on. Each class here is the reference
with ONE mistake a team writing a queue plausibly makes, written from the contract text in
harness/target.py alone (not from the harness's judging code), of kinds the variants in
queue_impl.variants do not already carry. Nothing in the harness names these queues: do not
tune the harness on them; load one by "queue_impl.holdout_variants:make_<name>" to measure.

H-6, H-7, H-8 and H-17 show only when a Redis call fails or its reply is lost; H-18 and H-19
only when two calls overlap (written after the race variants RACE-1..3 and the overlapping
steps, never tuned on); H-20..H-25 were written after the fault sweep
(harness/fault_sweep.py), from the contract, before anything was run on them; the others
show on a healthy network (H-10 needs a job left in the
old schema only, H-12 more keys than one SCAN page covers).

Round trips of each replaced method (the rest is the reference: one EVALSHA per write):
  H-6  dequeue          1 LMOVE pending -> processing  2 EVALSHA (lease, status running)
                        (again from 1 while a moved id has no record)
  H-7  update_status    the reference's one EVALSHA; a redis error is logged, not raised
  H-8  requeue_expired  1 ZRANGEBYSCORE leases  2 EVALSHA put-back, re-sent by the queue
                        (up to 3 times) on a connection error or timeout
  H-10 get_job          the reference's MULTI/EXEC, then 2 HSET of the new record on fallback
  H-12 list_jobs        one SCAN page per schema (no cursor loop), then the pipelined read
  H-16 update_status    the reference's one EVALSHA, then 2 RPUSH when the status is queued
  H-18 enqueue          1 WATCH idem  2 GET idem  3 MULTI HSET old, HSET new, RPUSH, SET EXEC
  H-19 dequeue          1 LINDEX pending 0  2 EVALSHA (lease it if still the head, else nil)
  H-1..H-5, H-9, H-11, H-13..H-15, H-17 change no round trip.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import redis
from prometheus_client import CollectorRegistry

from harness.target import (
    MAX_PAYLOAD_BYTES,
    Job,
    JobNotFound,
    JobStatus,
    KeyKind,
    decode_job,
    encode_job,
)
from queue_impl import reference, validation
from queue_impl.records import new_job, write_records
from queue_impl.reference import ReferenceQueue, lua_prelude
from queue_impl.telemetry import record_dual_write_attempt

log = logging.getLogger(__name__)


def _patched(source: str, old: str, new: str) -> str:
    """The reference script with one fragment replaced; loud if the fragment is gone."""
    if source.count(old) != 1:
        raise AssertionError(f"fragment to patch not found exactly once: {old!r}")
    return source.replace(old, new)


def _rewired(
    script: Callable[..., Any],
    *,
    change_keys: Callable[[list[str]], list[str]] = list,
    change_args: Callable[[list[Any]], list[Any]] = list,
) -> Callable[..., Any]:
    """`script`, called with its KEYS or ARGV changed first: the one value a variant builds
    differently from the reference, without copying the method that builds the rest."""

    def call(keys: Sequence[str] = (), args: Sequence[Any] = ()) -> Any:
        return script(keys=change_keys(list(keys)), args=change_args(list(args)))

    return call


# --- visible without any fault -------------------------------------------------------------


class DequeueNewestFirst(ReferenceQueue):
    """H-1: dequeue leases the NEWEST pending job (LMOVE RIGHT RIGHT: a stack, not a queue).

    Breaks dequeue: "Lease the oldest pending job", and the words: "pending ... its head
    (left) is the oldest job".
    """

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        source = _patched(reference.DEQUEUE, "'LEFT', 'RIGHT'", "'RIGHT', 'RIGHT'")
        self._dequeue = self._script(lua_prelude(self.key_schema) + source)


class DequeueReturnsBeforeRunning(ReferenceQueue):
    """H-2: dequeue reads the job, THEN marks it running, and returns what it read: the
    returned job says status queued while Redis holds running.

    Breaks dequeue: "the job is returned as get_job in its own workspace would now return it".
    """

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        source = _patched(
            reference.DEQUEUE,
            "    set_status(records, 'running')\n"
            "    return redis.call('HGETALL', records[1])\n",
            "    local record = redis.call('HGETALL', records[1])\n"
            "    set_status(records, 'running')\n"
            "    return record\n",
        )
        self._dequeue = self._script(lua_prelude(self.key_schema) + source)


class LeaseDeadlineInMilliseconds(ReferenceQueue):
    """H-3: dequeue stores the lease deadline in epoch MILLISECONDS (the team's JS habit), so
    requeue_expired, comparing with epoch seconds, never finds it expired: a dead worker's
    job is never requeued.

    Breaks the words: "leases ... leased job id -> deadline (epoch seconds)", and dequeue:
    "a lease whose deadline is the wall clock during the call plus `lease_seconds`".
    """

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        self._dequeue = _rewired(self._dequeue, change_args=lambda argv: [argv[0] * 1000])


class LeaseKeyMisspelt(ReferenceQueue):
    """H-4: dequeue writes leases to a hand-typed key, "ai:queue:lease" (no final s), not the
    schema's `lease_key`; requeue_expired reads the schema's key and finds no lease.

    Breaks dequeue: the job "gets a lease" (in `lease_key`, per "leases  the sorted set
    `lease_key`" and the KeySchema: "Every key a target writes, in one place").
    """

    MISSPELT_LEASE_KEY = "ai:queue:lease"

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        self._dequeue = _rewired(
            self._dequeue, change_keys=lambda keys: [*keys[:2], self.MISSPELT_LEASE_KEY]
        )


class FinishRequiresLease(ReferenceQueue):
    """H-5: complete and fail refuse a job that is not in processing (JobNotFound, nothing
    written): a worker whose lease ended and was requeued cannot report its work.

    Breaks complete: "A job that is not leased is finished all the same" (and JobNotFound
    only "if the job is not readable in `workspace_id`"); fail is "as complete does".
    """

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        source = _patched(
            reference.FINISH,
            "redis.call('LREM', KEYS[1], 1, ARGV[2])\n",
            "if redis.call('LREM', KEYS[1], 1, ARGV[2]) == 0 then return 0 end\n",
        )
        self._finish = self._script(lua_prelude(self.key_schema) + source)


# --- visible only when a Redis call fails or its reply is lost ------------------------------

# KEYS queue, processing, leases; ARGV deadline, job id (already moved to processing).
LEASE_MOVED_JOB = """
local id = ARGV[2]
local records = records_of(id)
if #records == 0 then
  redis.call('LREM', KEYS[2], -1, id)
  return false
end
redis.call('ZADD', KEYS[3], ARGV[1], id)
set_status(records, 'running')
return redis.call('HGETALL', records[1])
"""


class LeaseAfterMove(ReferenceQueue):
    """H-6: dequeue moves the job to processing in one round trip and leases it in a second.
    When the second fails, the job sits in processing with no lease and status queued:
    requeue_expired never brings it back, and no later dequeue sees it. Lost.

    Breaks dequeue: "the head of pending moves to processing, gets a lease ..., its records
    get status running" (all of it, or, when the outcome is unknown, none of it).
    """

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        self._lease = self._script(lua_prelude(self.key_schema) + LEASE_MOVED_JOB)

    def dequeue(self, lease_seconds: float) -> Job | None:
        lease = validation.validate_lease_seconds(lease_seconds)
        schema = self.key_schema
        keys = [schema.queue_key, schema.processing_key, schema.lease_key]
        with self._counted("dequeue"):
            while (job_id := self.client.lmove(*keys[:2], "LEFT", "RIGHT")) is not None:
                reply = self._lease(keys=keys, args=[time.time() + lease, job_id])
                if reply:
                    return decode_job(reference._as_record(reply))
        return None


class UpdateStatusSwallowsErrors(ReferenceQueue):
    """H-7: update_status logs a redis error and returns normally ("status is best effort"):
    the caller is told the status was set when it may never have reached Redis.

    Breaks the module docstring: a redis.RedisError means "the outcome is unknown", so a
    normal return must mean update_status happened: "Every record of the job readable in
    `workspace_id` gets `status`".
    """

    def update_status(self, workspace_id: str, job_id: str, status: str) -> None:
        try:
            super().update_status(workspace_id, job_id, status)
        except redis.RedisError as exc:
            log.warning("update_status %s -> %s not written: %s", job_id, status, exc)


# KEYS queue, processing, leases; ARGV the expired job ids. Returns them.
PUT_BACK = """
for _, id in ipairs(ARGV) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('LREM', KEYS[2], 1, id)
  redis.call('RPUSH', KEYS[1], id)
  set_status(records_of(id), 'queued')
end
return ARGV
"""

PUT_BACK_ATTEMPTS = 3


class RequeueRetriesPutBack(ReferenceQueue):
    """H-8: requeue_expired reads the expired leases, then puts those jobs back in a script it
    re-sends itself on a connection error. The script pushes without checking the job was
    still in processing, so a re-send after a LOST REPLY pushes every job a second time: one
    job, two pending entries, run twice.

    Breaks requeue_expired: "each such job in processing leaves it, goes to the tail of
    pending" (one entry per job put back, as the reference's single guarded script does).
    """

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        self._put_back = self._script(lua_prelude(self.key_schema) + PUT_BACK)

    def requeue_expired(self, now: float | None = None) -> list[str]:
        now = validation.validate_now(now)
        schema = self.key_schema
        keys = [schema.queue_key, schema.processing_key, schema.lease_key]
        with self._counted("requeue"):
            expired = self.client.zrangebyscore(
                schema.lease_key, "-inf", time.time() if now is None else now
            )
            if expired:
                self._put_back_retrying(keys, expired)
            return list(expired)

    def _put_back_retrying(self, keys: list[str], job_ids: list[str]) -> None:
        """The put-back, re-sent on a connection error: "it is only a push"."""
        for attempt in range(1, PUT_BACK_ATTEMPTS + 1):
            try:
                self._put_back(keys=keys, args=job_ids)
                return
            except (redis.ConnectionError, redis.TimeoutError):
                if attempt == PUT_BACK_ATTEMPTS:
                    raise


# --- requeue, reads, validation, key layout, status changes: no fault; telemetry: a fault --


class RequeueStrictDeadline(ReferenceQueue):
    """H-9: requeue_expired takes only leases whose deadline is strictly BEFORE now
    (ZRANGEBYSCORE -inf "(now"): a lease ending exactly at `now` stays.

    Breaks requeue_expired: "Every lease with deadline <= now goes".
    """

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        source = _patched(reference.REQUEUE_EXPIRED, "'-inf', ARGV[1]", "'-inf', '(' .. ARGV[1]")
        self._requeue_expired = self._script(lua_prelude(self.key_schema) + source)


class GetJobMigratesOnRead(ReferenceQueue):
    """H-10: get_job "lazily migrates": when it answers from the old record, it copies that
    record into the new schema.

    Breaks get_job: "Changes nothing", and "What no operation does: ... create the record of
    a schema a job lacks (a job another writer left in one schema stays in one schema)".
    """

    def _fallback(self, workspace_id: str, old_record: dict[str, str]) -> Job | None:
        job = super()._fallback(workspace_id, old_record)
        if job is not None:
            self.client.hset(self.key_schema.new_job_key(workspace_id, job.job_id),
                             mapping=old_record)
        return job


class ListJobsBothSchemas(ReferenceQueue):
    """H-11: list_jobs concatenates the old-schema and new-schema listings instead of merging
    them by id: every dual-written job is listed twice.

    Breaks list_jobs: "Each job readable in `workspace_id` once".
    """

    def list_jobs(self, workspace_id: str) -> list[Job]:
        workspace_id = self._workspace(workspace_id)
        return [*self._old_schema_jobs(workspace_id), *self._new_schema_jobs(workspace_id)]


class ListJobsOneScanPage(ReferenceQueue):
    """H-12: list_jobs makes ONE SCAN call (COUNT 1000) and never follows the cursor: in a
    Redis with more keys than one page covers, jobs are missing from the list.

    Breaks list_jobs: "Every job of the workspace, whichever schema holds it".
    """

    def _scan(self, pattern: str, kind: KeyKind) -> Iterator[str]:
        _cursor, keys = self.client.scan(0, match=pattern, count=1000)
        return (key for key in keys if self.key_schema.parse(key).kind is kind)


class LeaseSecondsAcceptsBool(ReferenceQueue):
    """H-13: dequeue checks `lease_seconds` with isinstance(value, int | float), which a bool
    passes (bool is an int): dequeue(True) leases a job for one second.

    Breaks the admitted inputs: "lease_seconds  a finite int or float > 0 (not a bool)";
    "anything else raises ValueError and writes nothing".
    """

    def dequeue(self, lease_seconds: float) -> Job | None:
        if (not isinstance(lease_seconds, int | float) or not math.isfinite(lease_seconds)
                or lease_seconds <= 0):
            raise ValueError(f"lease_seconds {lease_seconds!r} is invalid: a number > 0")
        return super().dequeue(float(lease_seconds))


class PayloadOnlySerialisable(ReferenceQueue):
    """H-14: enqueue checks only that the payload is a dict json.dumps accepts (and its size),
    not that JSON gives it back unchanged: tuples, int keys and NaN are stored, and get_job
    returns something else (a list, a str key) than what was enqueued.

    Breaks the admitted inputs: "payload  a dict that JSON gives back unchanged (str keys,
    lists, no NaN)"; "anything else raises ValueError and writes nothing".
    """

    def _valid_new_job(
        self, workspace_id: Any, payload: Any, client_request_id: Any
    ) -> Job:
        workspace_id = self._workspace(workspace_id)
        validation.validate_request_id(client_request_id, self.key_schema)
        if not isinstance(payload, Mapping):
            raise ValueError("payload is invalid: must be a dict")
        try:
            size = len(json.dumps(payload, separators=(",", ":")).encode())
        except (TypeError, ValueError) as exc:
            raise ValueError(f"payload is invalid: not JSON-serialisable ({exc})") from None
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload is invalid: {size} bytes, limit {MAX_PAYLOAD_BYTES}")
        return new_job(workspace_id, payload, client_request_id)


class IdempotencyKeyWithoutWorkspace(ReferenceQueue):
    """H-15: enqueue builds the idempotency key by hand as {idempotency_prefix}{request id},
    leaving out the workspace: the same request id in two workspaces gives the second
    workspace the FIRST workspace's job id (and a key the schema cannot parse).

    Breaks the words: "idempotency  {idempotency_prefix}W:{request id}", and enqueue: "If
    (workspace_id, client_request_id) has an idempotency entry ..." (the pair, not the id).
    """

    def _idempotency_key(self, workspace_id: str, client_request_id: str) -> str:
        return f"{self.key_schema.idempotency_prefix}{client_request_id}"


class QueuedStatusRequeues(ReferenceQueue):
    """H-16: update_status to queued also pushes the job onto pending (the team's "retry this
    job" button): a finished job runs again, a pending one is in pending twice.

    Breaks update_status: "nothing else changes: no list or lease moves ... (a caller who
    sets queued on a finished job does not requeue it)".
    """

    def update_status(self, workspace_id: str, job_id: str, status: str) -> None:
        super().update_status(workspace_id, job_id, status)
        if status == JobStatus.QUEUED:
            self.client.rpush(self.key_schema.queue_key, job_id)


class TelemetryCountedUpFront(ReferenceQueue):
    """H-17: a dual write is counted as a success when it STARTS, so a write that then raises
    a redis error is reported as a success and no failure is ever counted.

    Breaks MetricNames: dual_writes "labels ... outcome (success | failure): one per call";
    a call that failed is counted with outcome success.
    """

    @contextlib.contextmanager
    def _counted(self, operation: str) -> Iterator[None]:
        record_dual_write_attempt(self.metrics, operation, success=True)
        yield


# --- factories and the list ----------------------------------------------------------------

# --- visible only when two calls overlap --------------------------------------------------


class EnqueueAssumesCommitted(ReferenceQueue):
    """H-18: enqueue WATCHes the idempotency key, GETs it, and writes the job in MULTI/EXEC;
    when EXEC is aborted (another caller wrote the key meanwhile) it returns its own job id
    as if the write had happened.

    Breaks enqueue: "Returns the job id ... the first call's job id" for a request retried
    (or sent twice), and every acknowledged id names a job that exists.
    """

    def _enqueue_job(self, job: Job) -> str:
        key = self._idempotency_key(job.workspace_id, job.client_request_id)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.watch(key)
            existing = pipe.get(key)
            if existing is not None:
                return str(existing)
            pipe.multi()
            write_records(pipe, self.key_schema, job)
            pipe.rpush(self.key_schema.queue_key, job.job_id)
            pipe.set(key, job.job_id)
            with contextlib.suppress(redis.WatchError):  # "someone else did it: fine"
                pipe.execute()
        return job.job_id


# KEYS queue, processing, leases; ARGV deadline, the id read at the head of pending.
LEASE_IF_STILL_HEAD = _patched(reference.DEQUEUE, """\
while true do
  local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not id then return false end
""", """\
while true do
  if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[2] then return false end
  local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
""")


class DequeueGivesUpWhenHeadMoved(ReferenceQueue):
    """H-19: dequeue reads the head of pending, then leases it in a script that checks it is
    still the head; if another worker took it meanwhile, dequeue returns None, though
    pending still holds jobs.

    Breaks dequeue: "Lease the oldest pending job ... None only if pending is empty".
    """

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        self._dequeue = self._script(lua_prelude(self.key_schema) + LEASE_IF_STILL_HEAD)

    def _lease(self, deadline: float) -> Any:
        schema = self.key_schema
        head = self.client.lindex(schema.queue_key, 0)
        if head is None:
            return None
        return self._dequeue(keys=[schema.queue_key, schema.processing_key, schema.lease_key],
                             args=[deadline, head])


# --- written after the fault sweep (harness/fault_sweep.py), never tuned on -------------------


class FailDropsTheJob(ReferenceQueue):
    """H-20: fail deletes the job's records and its queue entries (a failed job "is not
    worth keeping"), instead of marking it failed.

    Breaks fail: "as complete does, with status failed"; a failed job stays readable.
    """

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        self._drop = self._script(lua_prelude(self.key_schema) + DROP_JOB)

    def fail(self, workspace_id: str, job_id: str) -> None:
        workspace_id = self._workspace(workspace_id)
        validation.validate_job_id(job_id, self.key_schema)
        keys = [self.key_schema.processing_key, self.key_schema.lease_key,
                *self._record_keys(workspace_id, job_id)]
        with self._counted("fail"):
            if not self._drop(keys=keys, args=[workspace_id, job_id]):
                raise JobNotFound(f"job {job_id} is not in workspace {workspace_id}")


class BigPayloadNewSchemaOnly(ReferenceQueue):
    """H-21: enqueue writes a payload over 8 KiB to the new schema only (the legacy reader's
    row limit, a team's workaround): a big job has no old record.

    Breaks enqueue: the job is written "to both schemas" whatever its payload's size (up to
    MAX_PAYLOAD_BYTES).
    """

    LEGACY_LIMIT = 8 * 1024

    def _enqueue_job(self, job: Job) -> str:
        if len(json.dumps(job.payload)) <= self.LEGACY_LIMIT:
            return super()._enqueue_job(job)
        schema = self.key_schema
        keys = [self._idempotency_key(job.workspace_id, job.client_request_id),
                schema.new_job_key(job.workspace_id, job.job_id), schema.queue_key]
        fields = [item for pair in encode_job(job).items() for item in pair]
        return self._enqueue_new_only(keys=keys, args=[job.job_id, *fields])

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        self._enqueue_new_only = self._script(ENQUEUE_NEW_ONLY)


class RequeueOnePerCall(ReferenceQueue):
    """H-22: requeue_expired puts back at most one ended lease per call (LIMIT 0 1, "to keep
    the script short"): with two dead workers, one job stays leased after the call.

    Breaks requeue_expired: "Put every job whose lease ended back on pending".
    """

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        source = _patched(reference.REQUEUE_EXPIRED, "'-inf', ARGV[1])",
                          "'-inf', ARGV[1], 'LIMIT', 0, 1)")
        self._requeue_expired = self._script(lua_prelude(self.key_schema) + source)


class DequeueDropsLegacyJobs(ReferenceQueue):
    """H-23: dequeue finds a job's record in the new schema only; a pending id whose job a
    legacy writer left in the old schema alone is dropped from the queue as "no record".

    Breaks dequeue: a job "readable in either schema" is leased, never dropped.
    """

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        source = _patched(lua_prelude(self.key_schema) + reference.DEQUEUE,
                          "  local records = records_of(id)\n  if #records > 0 then",
                          "  local records = records_of(id)\n"
                          "  if #records > 0 and records[1]:sub(1, #NEW) == NEW then")
        self._dequeue = self._script(source)


class CompleteInTwoSteps(ReferenceQueue):
    """H-24: complete and fail write the status in one round trip, then take the job off
    processing and its lease in a second (a pipeline): if the second fails, a finished job
    still holds a lease, and requeue_expired runs it again.

    Breaks complete: "Record that the job finished ... it is no longer leased", in one call.
    """

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        self._status_only = self._script(lua_prelude(self.key_schema) + reference.UPDATE_STATUS)

    def _finish_job(self, workspace_id: str, job_id: str, status: JobStatus,
                    operation: str) -> None:
        workspace_id = self._workspace(workspace_id)
        validation.validate_job_id(job_id, self.key_schema)
        with self._counted(operation):
            if not self._status_only(keys=self._record_keys(workspace_id, job_id),
                                     args=[workspace_id, status]):
                raise JobNotFound(f"job {job_id} is not in workspace {workspace_id}")
            pipe = self.client.pipeline(transaction=True)
            pipe.lrem(self.key_schema.processing_key, 1, job_id)
            pipe.zrem(self.key_schema.lease_key, job_id)
            pipe.execute()


class ListJobsByPrefix(ReferenceQueue):
    """H-25: list_jobs scans the new schema with `prefix + workspace + '*'` (no ':'), so
    the jobs of every workspace whose id starts with this one's are listed too.

    Breaks list_jobs: "Every job of the workspace" (and only its: tenant isolation).
    """

    def _new_schema_jobs(self, workspace_id: str) -> list[Job]:
        pattern = f"{self.key_schema.new_job_prefix}{workspace_id}*"
        return self._read(self._scan(pattern, KeyKind.NEW_JOB))


# KEYS processing, leases, new record, old record; ARGV workspace id, job id.
DROP_JOB = """
local records = existing(KEYS[3], KEYS[4], ARGV[1])
if #records == 0 then return 0 end
redis.call('LREM', KEYS[1], 1, ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
for _, key in ipairs(records) do redis.call('DEL', key) end
return #records
"""

# KEYS idem, new, queue; ARGV job id, then the record's field/value pairs.
ENQUEUE_NEW_ONLY = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


make_dequeue_newest_first = DequeueNewestFirst
make_dequeue_returns_before_running = DequeueReturnsBeforeRunning
make_lease_deadline_in_milliseconds = LeaseDeadlineInMilliseconds
make_lease_key_misspelt = LeaseKeyMisspelt
make_finish_requires_lease = FinishRequiresLease
make_lease_after_move = LeaseAfterMove
make_update_status_swallows_errors = UpdateStatusSwallowsErrors
make_requeue_retries_put_back = RequeueRetriesPutBack
make_requeue_strict_deadline = RequeueStrictDeadline
make_get_job_migrates_on_read = GetJobMigratesOnRead
make_list_jobs_both_schemas = ListJobsBothSchemas
make_list_jobs_one_scan_page = ListJobsOneScanPage
make_lease_seconds_accepts_bool = LeaseSecondsAcceptsBool
make_payload_only_serialisable = PayloadOnlySerialisable
make_idempotency_key_without_workspace = IdempotencyKeyWithoutWorkspace
make_queued_status_requeues = QueuedStatusRequeues
make_telemetry_counted_up_front = TelemetryCountedUpFront
make_enqueue_assumes_committed = EnqueueAssumesCommitted
make_dequeue_gives_up_when_head_moved = DequeueGivesUpWhenHeadMoved
make_fail_drops_the_job = FailDropsTheJob
make_big_payload_new_schema_only = BigPayloadNewSchemaOnly
make_requeue_one_per_call = RequeueOnePerCall
make_dequeue_drops_legacy_jobs = DequeueDropsLegacyJobs
make_complete_in_two_steps = CompleteInTwoSteps
make_list_jobs_by_prefix = ListJobsByPrefix

HOLDOUT: dict[str, tuple[str, str]] = {
    "H-1": ("make_dequeue_newest_first", "dequeue leases the newest pending job, not the oldest"),
    "H-2": ("make_dequeue_returns_before_running",
            "dequeue returns the job as read before it was marked running (status queued)"),
    "H-3": ("make_lease_deadline_in_milliseconds",
            "lease deadlines stored in epoch milliseconds: requeue_expired never finds one"),
    "H-4": ("make_lease_key_misspelt",
            "dequeue writes leases to 'ai:queue:lease', not the schema's lease_key"),
    "H-5": ("make_finish_requires_lease",
            "complete/fail raise JobNotFound for a job that is not in processing"),
    "H-6": ("make_lease_after_move",
            "dequeue moves then leases in two round trips: a failed second one loses the job"),
    "H-7": ("make_update_status_swallows_errors",
            "update_status logs a redis error and returns as if it had succeeded"),
    "H-8": ("make_requeue_retries_put_back",
            "requeue_expired re-sends an unguarded put-back after a lost reply: pushed twice"),
    "H-9": ("make_requeue_strict_deadline",
            "requeue_expired takes deadline < now, leaving a lease that ends exactly at now"),
    "H-10": ("make_get_job_migrates_on_read",
             "get_job copies an old-only job into the new schema (read repair)"),
    "H-11": ("make_list_jobs_both_schemas",
             "list_jobs lists every dual-written job twice (old and new, not merged)"),
    "H-12": ("make_list_jobs_one_scan_page",
             "list_jobs reads one SCAN page only: misses jobs in a bigger Redis"),
    "H-13": ("make_lease_seconds_accepts_bool", "dequeue accepts lease_seconds=True"),
    "H-14": ("make_payload_only_serialisable",
             "enqueue accepts payloads JSON does not give back (tuples, int keys, NaN)"),
    "H-15": ("make_idempotency_key_without_workspace",
             "idempotency key without the workspace: one request id is shared across tenants"),
    "H-16": ("make_queued_status_requeues",
             "update_status to queued pushes the job onto pending again"),
    "H-17": ("make_telemetry_counted_up_front",
             "dual writes counted as success before the write: failures count as success"),
    "H-18": ("make_enqueue_assumes_committed",
             "enqueue takes an aborted WATCH transaction for a write: two submits, two ids"),
    "H-19": ("make_dequeue_gives_up_when_head_moved",
             "dequeue returns None when another worker took the head it read"),
    "H-20": ("make_fail_drops_the_job", "fail deletes the job instead of marking it failed"),
    "H-21": ("make_big_payload_new_schema_only",
             "enqueue writes a payload over 8 KiB to the new schema only"),
    "H-22": ("make_requeue_one_per_call", "requeue_expired puts back one ended lease per call"),
    "H-23": ("make_dequeue_drops_legacy_jobs",
             "dequeue drops a pending job held in the old schema only"),
    "H-24": ("make_complete_in_two_steps",
             "complete/fail write the status, then clear processing and lease in a 2nd trip"),
    "H-25": ("make_list_jobs_by_prefix",
             "list_jobs also lists workspaces whose id starts with the one asked"),
}
