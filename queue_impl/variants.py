"""Single-defect variants of the reference queue: each carries exactly ONE Phase 1 defect.

Phase 1 has all its defects at once, so a scenario against it cannot say which defect broke
which invariant. Each variant here is the reference with one method (or hook) replaced by the
defective code, so the harness can be shown to catch each defect on its own, and to tell them
apart. Where a defect is literally Phase 1 code, the variant runs the same function
(queue_impl.phase1), not a copy. Two variants carry defects the review missed (QC-*).

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
  MEDIUM-2, MEDIUM-3, MEDIUM-5, LOW-1, QC-1 change no round trip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import redis
from prometheus_client import CollectorRegistry

from harness.target import Job, JobNotFound, TargetFactory, decode_job
from queue_impl.phase1 import (
    claim_request_id_first,
    delete_records_separately,
    set_status_separately,
    write_job_separately,
)
from queue_impl.pipeline_fix import IdempotencyCheckedFirst
from queue_impl.records import existing_records, write_records
from queue_impl.reference import ReferenceQueue, lua_prelude


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


class PopWithoutLease(ReferenceQueue):
    """QC-2: dequeue pops the job outright: no processing list, no lease, so requeue_expired
    has nothing to bring back and a worker that dies loses the job."""

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        self._dequeue = self._script(lua_prelude(self.key_schema) + POP_WITHOUT_LEASE)


@dataclass(frozen=True)
class Variant:
    id: str  # the review's finding id, or QC-n for one the review missed
    name: str
    defect: str
    factory: TargetFactory

    @property
    def spec(self) -> str:
        """The "module:factory" string the harness loads it by."""
        return f"{__name__}:make_{self.name.replace('-', '_')}"


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

VARIANTS: dict[str, Variant] = {
    variant.id: variant
    for variant in (
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
    )
}
