"""Single-defect variants of the reference queue: each carries exactly ONE defect.

Phase 1 has all its defects at once, so a scenario against it cannot say which defect broke
which invariant. Each variant here is the reference with one method (or hook) replaced by the
defective code, so the harness can be shown to catch each defect on its own, and to tell them
apart. Where a defect is literally Phase 1 code, the variant runs the same function
(queue_impl.phase1), not a copy. The QC-* ones are defects the review missed: QC-1 and QC-2
were found by the harness; QC-3 onwards (issue 9) break a promise of the contract in
harness/target.py while leaving a state the invariant rules find plausible, so they show
what a judge that compares every step with the contract must catch. Where the defect is in a
script, the variant runs the reference's script with one piece of it changed (`defective`),
so the rest cannot drift from the reference.

Round trips of each replaced method (the rest is the reference: one EVALSHA per write):
  CRITICAL-1 enqueue        1 SET idem NX (if taken: 2 GET idem, return it)
                            2 MULTI HSET old, HSET new, RPUSH EXEC
  HIGH-1     enqueue        1 GET idem (if set: return it)  2 HSET old  3 HSET new
                            4 RPUSH  5 SET idem
  HIGH-2     update_status  1 HGET old workspace_id + EXISTS new (one pipeline)
                            2 HSET old status  3 HSET new status (each only if that record exists)
  HIGH-3     enqueue        1 GET idem (if set: return it)  2 MULTI HSET old, HSET new EXEC
                            3 RPUSH  4 SET idem; if round trip k in 2-3 raises:
                            k+1 DEL old, k+2 DEL new, then re-raise
  QC-2       dequeue        1 EVALSHA (LPOP, status running; no processing list, no lease)
  QC-19      get_job        1 HGET old workspace_id (not this workspace: None, done)
                            2 the reference's MULTI/EXEC of two HGETALLs
  MEDIUM-2, MEDIUM-3, MEDIUM-5, LOW-1, QC-1 and QC-3 to QC-24 but QC-19 change no round
  trip (a changed script is still one EVALSHA; QC-24 refuses before any round trip).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

import redis
from prometheus_client import CollectorRegistry

from harness.errors import UsageError
from harness.target import Job, JobNotFound, JobStatus, decode_job
from queue_impl import validation
from queue_impl.phase1 import (
    claim_request_id_first,
    delete_records_separately,
    set_status_separately,
    write_job_separately,
)
from queue_impl.pipeline_fix import IdempotencyCheckedFirst
from queue_impl.race_variants import RACE_VARIANTS
from queue_impl.records import existing_records, write_records
from queue_impl.reference import (
    DEQUEUE,
    ENQUEUE,
    FINISH,
    REQUEUE_EXPIRED,
    UPDATE_STATUS,
    ReferenceQueue,
)
from queue_impl.variant_base import ScriptVariant, Variant, catalogue, defective


class SetnxBeforeWrites(ReferenceQueue):
    """CRITICAL-1: the request id is claimed before the job is written, and kept if it fails."""

    def enqueue(
        self, workspace_id: str, payload: Mapping[str, Any], client_request_id: str
    ) -> str:
        job = self._valid_new_job(workspace_id, payload, client_request_id)
        idem_key = self.key_schema.idempotency_key(job.workspace_id, client_request_id)
        with self._counted("enqueue"):
            claimed = claim_request_id_first(self.client, idem_key, job.job_id, None)
            if claimed != job.job_id:
                return claimed
            pipe = self.client.pipeline(transaction=True)
            write_records(pipe, self.key_schema, job)
            pipe.rpush(self.key_schema.queue_key, job.job_id)
            pipe.execute()
            return job.job_id


class SeparateWrites(IdempotencyCheckedFirst):
    """HIGH-1: both records and the push are separate round trips; the request id comes last."""

    def _write_new_job(self, job: Job, idem_key: str) -> None:
        write_job_separately(self.client, self.key_schema, job)
        self.client.set(idem_key, job.job_id)


class UpdateStatusSeparate(ReferenceQueue):
    """HIGH-2: the two status writes are separate round trips with no error handling."""

    def update_status(self, workspace_id: str, job_id: str, status: str) -> None:
        workspace_id, job_id, status = self._valid_status_change(workspace_id, job_id, status)
        with self._counted("update_status"):
            keys = existing_records(self.client, self.key_schema, workspace_id, job_id)
            if not keys:
                raise JobNotFound(f"job {job_id} is not in workspace {workspace_id}")
            set_status_separately(self.client, keys, status)


class RpushAfterRecords(IdempotencyCheckedFirst):
    """HIGH-3: the records are one transaction but the push is not; the cleanup can fail."""

    def _write_new_job(self, job: Job, idem_key: str) -> None:
        try:
            pipe = self.client.pipeline(transaction=True)
            write_records(pipe, self.key_schema, job)
            pipe.execute()
            self.client.rpush(self.key_schema.queue_key, job.job_id)
        except redis.RedisError:
            delete_records_separately(self.client, self.key_schema, job)
            raise
        self.client.set(idem_key, job.job_id)


class SilentFallback(ReferenceQueue):
    """MEDIUM-2: get_job falls back to the old schema without counting it."""

    def _fallback(self, workspace_id: str, old_record: dict[str, str]) -> Job | None:
        return decode_job(old_record) if old_record.get("workspace_id") == workspace_id else None


class NoWorkspaceValidation(ReferenceQueue):
    """MEDIUM-3: any workspace id is accepted and keys are built from it (ai:job::{id})."""

    def _workspace(self, workspace_id: Any) -> str:
        return workspace_id


class ListOldSchemaOnly(ReferenceQueue):
    """MEDIUM-5: list_jobs scans the old schema only."""

    def _new_schema_jobs(self, workspace_id: str) -> list[Job]:
        return []


class TelemetryEnqueueOnly(ReferenceQueue):
    """LOW-1: only enqueue reports dual writes; update_status and the workers never do."""

    def _counted(self, operation: str) -> AbstractContextManager[None]:
        if operation == "enqueue":
            return super()._counted(operation)
        return contextlib.nullcontext()


class FallbackIgnoresWorkspace(ReferenceQueue):
    """QC-1: the old-schema fallback returns a job whatever its workspace (another tenant's)."""

    def _fallback(self, workspace_id: str, old_record: dict[str, str]) -> Job | None:
        if not old_record:
            return None
        self.metrics.fallback_reads.inc()
        return decode_job(old_record)


# KEYS queue (processing and leases are passed but unused); ARGV the deadline, unused.
POP_WITHOUT_LEASE = """
local id = redis.call('LPOP', KEYS[1])
if not id then return false end
local records = records_of(id)
set_status(records, 'running')
if #records == 0 then return {'id', id} end
return redis.call('HGETALL', records[1])
"""


class PopWithoutLease(ScriptVariant):
    """QC-2: dequeue pops the job outright: no processing list, no lease, so requeue_expired
    has nothing to bring back and a worker that dies loses the job."""

    script = ("_dequeue", POP_WITHOUT_LEASE)


# --- issue 9: promises of the contract that no invariant rule reads -------------------------

SKIP_RUNNING = defective(UPDATE_STATUS, "set_status(records, ARGV[2])", """\
if #records > 0 and redis.call('HGET', records[1], 'status') == 'running' then
  return #records  -- "its worker owns it": nothing written, the caller told ok
end
set_status(records, ARGV[2])""")


class UpdateStatusSkipsRunning(ScriptVariant):
    """QC-3: update_status leaves a running job as it is (its worker owns it) and answers ok."""

    script = ("_update_status", SKIP_RUNNING)


class UpdateStatusAssumesWritten(ReferenceQueue):
    """QC-4: a Redis error from the update_status script is taken for success (it "probably
    went through"): the caller is told ok for a write that may never have happened."""

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        script = self._update_status

        def assume_written(**arguments: Any) -> Any:
            try:
                return script(**arguments)
            except redis.RedisError:
                return 1  # one record changed, as far as the caller will ever know

        self._update_status = assume_written


# The job id is the old record key's tail; records_of ignores the workspace.
STATUS_BY_ID = defective(UPDATE_STATUS, "existing(KEYS[1], KEYS[2], ARGV[1])",
                         "records_of(string.sub(KEYS[2], #OLD + 1))")


class UpdateStatusAnyWorkspace(ScriptVariant):
    """QC-5: update_status finds the job by its id alone, as workers do (records_of), so the
    workspace it is given is never checked: another workspace's job is changed."""

    script = ("_update_status", STATUS_BY_ID)


COPY_MISSING_RECORD = defective(UPDATE_STATUS, "set_status(records, ARGV[2])", """\
if #records == 1 then
  local missing = records[1] == KEYS[1] and KEYS[2] or KEYS[1]
  redis.call('HSET', missing, unpack(redis.call('HGETALL', records[1])))
  table.insert(records, missing)
end
set_status(records, ARGV[2])""")


class UpdateStatusCopiesMissingRecord(ScriptVariant):
    """QC-6: update_status "repairs" a job another writer left in one schema by copying its
    record into the other schema: the contract says the missing record is never created."""

    script = ("_update_status", COPY_MISSING_RECORD)


FINISH_BY_ID = defective(FINISH, "existing(KEYS[3], KEYS[4], ARGV[1])", "records_of(ARGV[2])")


class FinishAnyWorkspace(ScriptVariant):
    """QC-7: complete and fail find the job by its id alone (records_of): the workspace they
    are given is never checked, so one tenant finishes another's job."""

    script = ("_finish", FINISH_BY_ID)


class FailWritesCompleted(ReferenceQueue):
    """QC-8: fail passes the wrong status: a failed job reads as completed."""

    def fail(self, workspace_id: str, job_id: str) -> None:
        self._finish_job(workspace_id, job_id, JobStatus.COMPLETED, "fail")


FINISH_KEEPING_LEASE = defective(
    FINISH, "redis.call('LREM', KEYS[1], 1, ARGV[2])\nredis.call('ZREM', KEYS[2], ARGV[2])\n", "")


class FinishKeepsLease(ScriptVariant):
    """QC-9: complete and fail set the status but leave the job in processing under its
    lease: when the lease ends, requeue_expired puts the finished job back to run again."""

    script = ("_finish", FINISH_KEEPING_LEASE)


FINISHED_RETENTION_SECONDS = 7 * 24 * 3600
FINISH_WITH_TTL = defective(FINISH, "set_status(records, ARGV[3])", f"""\
set_status(records, ARGV[3])
for _, key in ipairs(records) do
  redis.call('EXPIRE', key, {FINISHED_RETENTION_SECONDS})
end""")


class FinishedRecordsExpire(ScriptVariant):
    """QC-10: complete and fail give the job's records a week's TTL ("finished jobs clean
    themselves up"), a TTL the KeySchema does not declare: the job vanishes later."""

    script = ("_finish", FINISH_WITH_TTL)


class DequeueLeavesStatus(ScriptVariant):
    """QC-11: dequeue leases the job but never sets it running: it stays queued in processing."""

    script = ("_dequeue", defective(DEQUEUE, "    set_status(records, 'running')\n", ""))


class DequeueNewest(ScriptVariant):
    """QC-12: dequeue takes the tail of pending (LIFO): the newest job runs first and the
    oldest waits as long as new jobs keep coming."""

    script = ("_dequeue", defective(DEQUEUE, "'LEFT', 'RIGHT'", "'RIGHT', 'RIGHT'"))


LEASE_IN_MS = defective(DEQUEUE, "redis.call('ZADD', KEYS[3], ARGV[1], id)",
                        "redis.call('ZADD', KEYS[3], ARGV[1] * 1000, id)")


class LeaseInMilliseconds(ScriptVariant):
    """QC-13: dequeue stores the lease deadline in epoch milliseconds; requeue_expired compares
    seconds, so the lease never ends and a dead worker's job never comes back."""

    script = ("_dequeue", LEASE_IN_MS)


FIXED_LEASE_SECONDS = 300.0


class LeaseSecondsIgnored(ReferenceQueue):
    """QC-14: every lease lasts FIXED_LEASE_SECONDS whatever lease_seconds says (it is checked,
    then dropped): a job whose worker died waits minutes to come back, not seconds."""

    def dequeue(self, lease_seconds: float) -> Job | None:
        validation.validate_lease_seconds(lease_seconds)
        return super().dequeue(FIXED_LEASE_SECONDS)


class RequeueIgnoresNow(ScriptVariant):
    """QC-15: requeue_expired takes every lease, ended or not: a job a live worker is running
    is put back and runs twice at once."""

    script = ("_requeue_expired", defective(REQUEUE_EXPIRED, "'-inf', ARGV[1]", "'-inf', '+inf'"))


REQUEUE_RETURNING_PENDING = defective(REQUEUE_EXPIRED, "return requeued",
                                      "return redis.call('LRANGE', KEYS[1], 0, -1)")


class RequeueReturnsPending(ScriptVariant):
    """QC-16: requeue_expired does its work but returns the whole pending list, not the ids it
    put back: the caller counts and logs jobs that were never leased."""

    script = ("_requeue_expired", REQUEUE_RETURNING_PENDING)


REQUEUE_KEEPING_STATUS = defective(REQUEUE_EXPIRED, "    set_status(records_of(id), 'queued')\n",
                                   "")


class RequeueLeavesStatus(ScriptVariant):
    """QC-17: requeue_expired puts the job back on pending but leaves its status running."""

    script = ("_requeue_expired", REQUEUE_KEEPING_STATUS)


REQUEUE_AT_HEAD = defective(REQUEUE_EXPIRED, "redis.call('RPUSH', KEYS[1], id)",
                            "redis.call('LPUSH', KEYS[1], id)")


class RequeueToHead(ScriptVariant):
    """QC-18: requeue_expired puts jobs back at the head of pending ("retries first"), not at
    its tail: jobs that waited their turn are overtaken."""

    script = ("_requeue_expired", REQUEUE_AT_HEAD)


class TenantCheckOnOldRecord(ReferenceQueue):
    """QC-19: get_job checks the workspace on the old record before reading: a job with no old
    record (a Phase-2 writer's, new schema only) reads as None in its own workspace."""

    def get_job(self, workspace_id: str, job_id: str) -> Job | None:
        workspace_id = self._workspace(workspace_id)
        job_id = validation.validate_job_id(job_id, self.key_schema)
        if self.client.hget(self.key_schema.old_job_key(job_id), "workspace_id") != workspace_id:
            return None
        return super().get_job(workspace_id, job_id)


class ListJobsTwice(ReferenceQueue):
    """QC-20: list_jobs appends the new schema's jobs to the old schema's: a job held in both
    (every job this queue writes) is listed twice."""

    def list_jobs(self, workspace_id: str) -> list[Job]:
        workspace_id = self._workspace(workspace_id)
        return self._old_schema_jobs(workspace_id) + self._new_schema_jobs(workspace_id)


# ARGV holds the job id, then the record's field/value pairs (see the reference's ENQUEUE).
LATEST_PAYLOAD_WINS = defective(ENQUEUE, "if existing then return existing end", """\
if existing then
  local job = {}
  for i = 2, #ARGV, 2 do job[ARGV[i]] = ARGV[i + 1] end
  redis.call('HSET', OLD .. existing, 'payload', job.payload)
  redis.call('HSET', NEW .. job.workspace_id .. ':' .. existing, 'payload', job.payload)
  return existing
end""")


class RetryOverwritesPayload(ScriptVariant):
    """QC-21: an enqueue retried with the same request id writes its payload over the first
    one's ("the latest payload wins"): the contract keeps the first and changes nothing."""

    script = ("_enqueue", LATEST_PAYLOAD_WINS)


FLOAT_DIGITS = 6


def rounded(value: Any) -> Any:
    """Floats cut to FLOAT_DIGITS significant digits, as a compact encoder for logs does."""
    if isinstance(value, float):
        return float(f"{value:.{FLOAT_DIGITS}g}")
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


class FloatsRounded(ReferenceQueue):
    """QC-22: enqueue stores the payload's floats rounded to 6 significant digits: the job a
    worker runs is not the job that was asked for (0.1 + 0.2 comes back as 0.3)."""

    def _valid_new_job(self, workspace_id: Any, payload: Any, client_request_id: Any) -> Job:
        job = super()._valid_new_job(workspace_id, payload, client_request_id)
        return replace(job, payload=rounded(job.payload))


IDEMPOTENCY_TTL_SECONDS = 24 * 3600
IDEMPOTENCY_WITH_TTL = defective(ENQUEUE, "redis.call('SET', KEYS[1], ARGV[1])",
                                 "redis.call('SET', KEYS[1], ARGV[1], 'EX', "
                                 f"{IDEMPOTENCY_TTL_SECONDS})")


class IdempotencyKeyExpires(ScriptVariant):
    """QC-23: the idempotency key is written with a day's TTL the KeySchema does not declare
    (idempotency_retention None): a retry after it expires makes a second job."""

    script = ("_enqueue", IDEMPOTENCY_WITH_TTL)


class DottedWorkspaceRefused(ReferenceQueue):
    """QC-24: workspace ids with a '.' are refused with ValueError (a team's own stricter rule),
    though the KeySchema's pattern admits them: a valid caller cannot use the queue."""

    def _workspace(self, workspace_id: Any) -> str:
        if isinstance(workspace_id, str) and "." in workspace_id:
            raise ValueError(f"workspace_id {workspace_id!r} is invalid: no '.' allowed")
        return super()._workspace(workspace_id)


make_setnx_before_writes = SetnxBeforeWrites
make_separate_writes = SeparateWrites
make_update_status_separate = UpdateStatusSeparate
make_rpush_after_records = RpushAfterRecords
make_silent_fallback = SilentFallback
make_no_workspace_validation = NoWorkspaceValidation
make_list_old_schema_only = ListOldSchemaOnly
make_telemetry_enqueue_only = TelemetryEnqueueOnly
make_fallback_ignores_workspace = FallbackIgnoresWorkspace
make_pop_without_lease = PopWithoutLease
make_update_status_skips_running = UpdateStatusSkipsRunning
make_update_status_assumes_written = UpdateStatusAssumesWritten
make_update_status_any_workspace = UpdateStatusAnyWorkspace
make_update_status_copies_missing_record = UpdateStatusCopiesMissingRecord
make_finish_any_workspace = FinishAnyWorkspace
make_fail_writes_completed = FailWritesCompleted
make_finish_keeps_lease = FinishKeepsLease
make_finished_records_expire = FinishedRecordsExpire
make_dequeue_leaves_status = DequeueLeavesStatus
make_dequeue_newest = DequeueNewest
make_lease_in_milliseconds = LeaseInMilliseconds
make_lease_seconds_ignored = LeaseSecondsIgnored
make_requeue_ignores_now = RequeueIgnoresNow
make_requeue_returns_pending = RequeueReturnsPending
make_requeue_leaves_status = RequeueLeavesStatus
make_requeue_to_head = RequeueToHead
make_tenant_check_on_old_record = TenantCheckOnOldRecord
make_list_jobs_twice = ListJobsTwice
make_retry_overwrites_payload = RetryOverwritesPayload
make_floats_rounded = FloatsRounded
make_idempotency_key_expires = IdempotencyKeyExpires
make_dotted_workspace_refused = DottedWorkspaceRefused

VARIANTS: dict[str, Variant] = catalogue(
    Variant("CRITICAL-1", "setnx-before-writes",
            "SET NX on the idempotency key before the job is written; a failed write "
            "leaves it naming a job that does not exist", SetnxBeforeWrites),
    Variant("HIGH-1", "separate-writes",
            "HSET old, HSET new, RPUSH and SET idem as separate round trips",
            SeparateWrites),
    Variant("HIGH-2", "update-status-separate",
            "update_status writes the two schemas in separate round trips",
            UpdateStatusSeparate),
    Variant("HIGH-3", "rpush-after-records",
            "RPUSH after the records' transaction; the cleanup of a failure can "
            "itself fail, with no alert", RpushAfterRecords),
    Variant("MEDIUM-2", "silent-fallback",
            "get_job falls back to the old schema without telemetry", SilentFallback),
    Variant("MEDIUM-3", "no-workspace-validation",
            "any workspace id is accepted and keys are built from it",
            NoWorkspaceValidation),
    Variant("MEDIUM-5", "list-old-schema-only",
            "list_jobs scans the old schema only", ListOldSchemaOnly),
    Variant("LOW-1", "telemetry-enqueue-only",
            "only enqueue is counted; update_status never is", TelemetryEnqueueOnly),
    Variant("QC-1", "fallback-ignores-workspace",
            "the old-schema fallback returns another workspace's job",
            FallbackIgnoresWorkspace),
    Variant("QC-2", "pop-without-lease",
            "dequeue pops with no processing list or lease: a dead worker loses the job",
            PopWithoutLease),
    Variant("QC-3", "update-status-skips-running",
            "update_status of a running job writes nothing and answers ok",
            UpdateStatusSkipsRunning),
    Variant("QC-4", "update-status-assumes-written",
            "update_status answers ok when its script raised a Redis error",
            UpdateStatusAssumesWritten),
    Variant("QC-5", "update-status-any-workspace",
            "update_status finds the job by id alone: another workspace's job changes",
            UpdateStatusAnyWorkspace),
    Variant("QC-6", "update-status-copies-missing-record",
            "update_status copies a one-schema job's record into the schema it lacks",
            UpdateStatusCopiesMissingRecord),
    Variant("QC-7", "finish-any-workspace",
            "complete and fail find the job by id alone: another workspace's job finishes",
            FinishAnyWorkspace),
    Variant("QC-8", "fail-writes-completed",
            "fail writes status completed", FailWritesCompleted),
    Variant("QC-9", "finish-keeps-lease",
            "complete and fail leave the job in processing under its lease: it runs again",
            FinishKeepsLease),
    Variant("QC-10", "finished-records-expire",
            "complete and fail give the job's records a TTL the KeySchema does not declare",
            FinishedRecordsExpire),
    Variant("QC-11", "dequeue-leaves-status",
            "dequeue leases the job without setting it running", DequeueLeavesStatus),
    Variant("QC-12", "dequeue-newest",
            "dequeue takes the tail of pending (LIFO), not the oldest job", DequeueNewest),
    Variant("QC-13", "lease-in-milliseconds",
            "lease deadlines stored in milliseconds: no lease ever ends",
            LeaseInMilliseconds),
    Variant("QC-14", "lease-seconds-ignored",
            "every lease lasts 300 s whatever lease_seconds says", LeaseSecondsIgnored),
    Variant("QC-15", "requeue-ignores-now",
            "requeue_expired takes every lease, ended or not", RequeueIgnoresNow),
    Variant("QC-16", "requeue-returns-pending",
            "requeue_expired returns the whole pending list, not the ids it put back",
            RequeueReturnsPending),
    Variant("QC-17", "requeue-leaves-status",
            "requeue_expired puts the job back but leaves it running", RequeueLeavesStatus),
    Variant("QC-18", "requeue-to-head",
            "requeue_expired puts jobs back at the head of pending, not its tail",
            RequeueToHead),
    Variant("QC-19", "tenant-check-on-old-record",
            "get_job checks the old record's workspace first: new-only jobs read as None",
            TenantCheckOnOldRecord),
    Variant("QC-20", "list-jobs-twice",
            "list_jobs lists a job held in both schemas twice", ListJobsTwice),
    Variant("QC-21", "retry-overwrites-payload",
            "an enqueue retried with the same request id overwrites the payload",
            RetryOverwritesPayload),
    Variant("QC-22", "floats-rounded",
            "enqueue stores the payload's floats rounded to 6 significant digits",
            FloatsRounded),
    Variant("QC-23", "idempotency-key-expires",
            "idempotency keys get a TTL the KeySchema does not declare",
            IdempotencyKeyExpires),
    Variant("QC-24", "dotted-workspace-refused",
            "a valid workspace id with a '.' is refused with ValueError",
            DottedWorkspaceRefused),
)


VARIANTS.update(RACE_VARIANTS)  # race-only: found only by overlapping steps


def variant_spec(variant_id: str) -> str:
    """`variant:ID` as "module:factory" (the target family this package declares)."""
    variant = VARIANTS.get(variant_id)
    if variant is None:
        raise UsageError(f"unknown variant {f'variant:{variant_id}'!r}: one of "
                         + ", ".join(f"variant:{v}" for v in VARIANTS))
    return variant.spec
