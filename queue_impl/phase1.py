"""The Phase 1 dual-write queue AS REVIEWED (sprint60-phase1-review.txt), every defect kept.

Each defect carries its finding id in a comment, so the code reads next to the review. Do not
fix anything here: the scenarios reproduce the findings against this very code. The defective
bodies are module functions so that the single-defect variants (queue_impl.variants) run the
same code rather than a copy.

Round trips, numbered as the scenarios target them (one Redis command each, no pipelines):
  enqueue         1 SET idem NX EX 86400 (if taken: 2 GET idem, return that id)
                  2 HSET old record  3 HSET new record  4 RPUSH queue
                  if round trip k in 2-4 raises: k+1 DEL old record, k+2 DEL new record,
                  then re-raise (so 5 and 6 when the RPUSH fails)
  get_job         1 HGETALL new record  (if empty: 2 HGETALL old record)
  update_status   1 HSET old status  2 HSET new status
  list_jobs       SCAN old prefix (as many pages as needed), then one HGETALL per old key
  dequeue         1 LMOVE queue->processing  2 ZADD lease  3 HGETALL old record
                  (if it exists: 4 HSET old status  5 HSET new status, via update_status)
  complete, fail  1 HSET old status  2 HSET new status  3 LREM processing  4 ZREM lease
  requeue_expired 1 ZRANGEBYSCORE leases; then per expired job: LREM processing, RPUSH queue,
                  ZREM lease, HGET old workspace_id, HSET old status, HSET new status
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import redis
from prometheus_client import CollectorRegistry

from harness.target import DEFAULT_SCHEMA, Job, JobStatus, KeySchema, decode_job
from queue_impl.records import new_job, write_records
from queue_impl.telemetry import QueueMetrics

IDEMPOTENCY_TTL_SECONDS = 86400  # as reviewed; the job records have no TTL at all


# --- defective bodies, shared with queue_impl.variants --------------------------------------

def claim_request_id_first(
    client: redis.Redis, idem_key: str, job_id: str, ttl_seconds: int | None
) -> str:
    """The job id the request id names after SET NX: ours if we claimed it, else the stored one.

    CRITICAL-1: this runs BEFORE the job is written. If a write then fails, the key still
    names a job that was never written, and every retry with that request id gets it back.
    """
    if not client.set(idem_key, job_id, nx=True, ex=ttl_seconds):
        return client.get(idem_key)
    return job_id


def write_job_separately(client: redis.Redis, schema: KeySchema, job: Job) -> None:
    """HIGH-1: three round trips, no pipeline: any one can fail after the others landed."""
    write_records(client, schema, job)  # HSET old, HSET new: two round trips
    client.rpush(schema.queue_key, job.job_id)


def delete_records_separately(client: redis.Redis, schema: KeySchema, job: Job) -> None:
    """HIGH-3: the cleanup is two more round trips with no error handling and no alert:
    if either fails, records are left behind (orphans) and nobody is told."""
    client.delete(schema.old_job_key(job.job_id))
    client.delete(schema.new_job_key(job.workspace_id, job.job_id))


def set_status_separately(client: redis.Redis, record_keys: list[str], status: str) -> None:
    """HIGH-2: one HSET per schema, no error handling: a failure between them leaves the two
    records disagreeing, silently."""
    for key in record_keys:
        client.hset(key, "status", str(status))


# --- the queue ---------------------------------------------------------------------------------

class Phase1Queue:
    # Its idempotency keys live a day (as reviewed; not a finding): declared, so judged.
    key_schema: KeySchema = replace(DEFAULT_SCHEMA, idempotency_retention=IDEMPOTENCY_TTL_SECONDS)

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        self.client = client
        self.metrics = QueueMetrics(registry)

    def enqueue(
        self, workspace_id: str, payload: Mapping[str, Any], client_request_id: str
    ) -> str:
        # MEDIUM-3: no validation of workspace_id (nor of anything else): an empty
        # workspace_id builds keys like ai:job::{job_id}.
        job = new_job(workspace_id, payload, client_request_id)
        idem_key = self.key_schema.idempotency_key(workspace_id, client_request_id)
        # CRITICAL-1: the idempotency key is set before the writes below.
        claimed = claim_request_id_first(
            self.client, idem_key, job.job_id, IDEMPOTENCY_TTL_SECONDS
        )
        if claimed != job.job_id:
            return claimed
        try:
            # MEDIUM-1: telemetry imported inside the method, on every call.
            from queue_impl.telemetry import record_dual_write_attempt

            write_job_separately(self.client, self.key_schema, job)  # HIGH-1
            # LOW-1: the only telemetry of this queue. Calls that return early above (a
            # repeated request id) or whose SET NX raised are not counted either.
            record_dual_write_attempt(self.metrics, "enqueue", success=True)
            return job.job_id
        except redis.RedisError:
            # HIGH-3: if this cleanup raises, the failure below is never recorded either.
            delete_records_separately(self.client, self.key_schema, job)
            # CRITICAL-1: the idempotency key is NOT deleted: retries get a job id that
            # was never written.
            record_dual_write_attempt(self.metrics, "enqueue", success=False)
            raise

    def get_job(self, workspace_id: str, job_id: str) -> Job | None:
        record = self.client.hgetall(self.key_schema.new_job_key(workspace_id, job_id))
        if not record:
            # MEDIUM-2: silent fallback to the old schema: no log, no telemetry.
            # Found by queue-chaos, not in the review: the silent fallback also crosses
            # tenants (the old record's workspace_id is never compared with workspace_id).
            record = self.client.hgetall(self.key_schema.old_job_key(job_id))
        return decode_job(record) if record else None

    def update_status(self, workspace_id: str, job_id: str, status: str) -> None:
        # HIGH-2: two separate writes, no error handling; no validation, no existence check
        # (an unknown job gets two one-field records); LOW-1: no telemetry here.
        keys = [
            self.key_schema.old_job_key(job_id),
            self.key_schema.new_job_key(workspace_id, job_id),
        ]
        set_status_separately(self.client, keys, status)

    def list_jobs(self, workspace_id: str) -> list[Job]:
        # MEDIUM-5: scans the old schema only; jobs held only in the new schema are missed.
        jobs = []
        for key in self.client.scan_iter(match=f"{self.key_schema.old_job_prefix}*"):
            record = self.client.hgetall(key)
            if record.get("workspace_id") == workspace_id:
                jobs.append(decode_job(record))
        return jobs

    # --- workers: pre-existing code, not under review (separate round trips throughout) ------

    def dequeue(self, lease_seconds: float) -> Job | None:
        schema = self.key_schema
        job_id = self.client.lmove(schema.queue_key, schema.processing_key, "LEFT", "RIGHT")
        if job_id is None:
            return None
        self.client.zadd(schema.lease_key, {job_id: time.time() + lease_seconds})
        record = self.client.hgetall(schema.old_job_key(job_id))
        if not record:  # a queue entry without its record (HIGH-1): an id and nothing else
            return decode_job({"id": job_id})
        job = decode_job(record)
        self.update_status(job.workspace_id, job_id, JobStatus.RUNNING)  # HIGH-2 applies
        return replace(job, status=JobStatus.RUNNING.value)

    def complete(self, workspace_id: str, job_id: str) -> None:
        self._finish(workspace_id, job_id, JobStatus.COMPLETED)

    def fail(self, workspace_id: str, job_id: str) -> None:
        self._finish(workspace_id, job_id, JobStatus.FAILED)

    def _finish(self, workspace_id: str, job_id: str, status: JobStatus) -> None:
        self.update_status(workspace_id, job_id, status)
        self.client.lrem(self.key_schema.processing_key, 1, job_id)
        self.client.zrem(self.key_schema.lease_key, job_id)

    def requeue_expired(self, now: float | None = None) -> list[str]:
        schema = self.key_schema
        now = time.time() if now is None else now
        expired = self.client.zrangebyscore(schema.lease_key, "-inf", now)
        for job_id in expired:
            self.client.lrem(schema.processing_key, 1, job_id)
            self.client.rpush(schema.queue_key, job_id)
            self.client.zrem(schema.lease_key, job_id)
            workspace_id = self.client.hget(schema.old_job_key(job_id), "workspace_id")
            if workspace_id is not None:
                self.update_status(workspace_id, job_id, JobStatus.QUEUED)
        return expired


def make_queue(client: redis.Redis, registry: CollectorRegistry) -> Phase1Queue:
    return Phase1Queue(client, registry)
