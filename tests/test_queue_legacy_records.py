"""The reference with jobs another writer left in ONE schema: old only (legacy) or new only
(a Phase 2 writer). Every operation must work on them, never create the missing record, and
keep them inside their workspace.
"""

from __future__ import annotations

import uuid

import pytest

from harness.target import DEFAULT_SCHEMA, Job, JobNotFound, MetricNames, encode_job
from queue_impl import reference

pytestmark = pytest.mark.servers

SCHEMA = DEFAULT_SCHEMA
ONE_SCHEMA = ["old", "new"]


def key_of(schema_name: str, job: Job) -> str:
    if schema_name == "old":
        return SCHEMA.old_job_key(job.job_id)
    return SCHEMA.new_job_key(job.workspace_id, job.job_id)


def other(schema_name: str) -> str:
    return "new" if schema_name == "old" else "old"


def seed(qc_redis, *schemas: str, workspace_id: str = "ws1") -> Job:
    """A queued job written by another writer into the given schemas, and pushed."""
    job = Job(uuid.uuid4().hex, workspace_id, "req-legacy", {"n": 1}, "queued")
    for name in schemas:
        qc_redis.hset(key_of(name, job), mapping=encode_job(job))
    qc_redis.rpush(SCHEMA.queue_key, job.job_id)
    return job


@pytest.fixture
def queue(qc_client, qc_registry):
    return reference.make_queue(qc_client, qc_registry)


def fallback_reads(registry) -> float:
    return registry.get_sample_value(f"{MetricNames.FALLBACK_READS}_total")


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_get_job_reads_a_one_schema_job(queue, qc_redis, schema_name):
    job = seed(qc_redis, schema_name)
    assert queue.get_job("ws1", job.job_id) == job


def test_get_job_counts_a_read_from_the_old_schema_as_a_fallback(queue, qc_redis, qc_registry):
    queue.get_job("ws1", seed(qc_redis, "old").job_id)
    queue.get_job("ws1", seed(qc_redis, "new").job_id)
    assert fallback_reads(qc_registry) == 1


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_another_workspace_cannot_read_a_one_schema_job(queue, qc_redis, qc_registry,
                                                        schema_name):
    job = seed(qc_redis, schema_name)
    assert queue.get_job("ws2", job.job_id) is None
    assert queue.list_jobs("ws2") == []
    assert fallback_reads(qc_registry) == 0


def test_list_jobs_finds_jobs_in_either_schema_once(queue, qc_redis):
    jobs = [seed(qc_redis, "old"), seed(qc_redis, "new"), seed(qc_redis, "old", "new")]
    assert sorted(queue.list_jobs("ws1"), key=lambda job: job.job_id) == sorted(
        jobs, key=lambda job: job.job_id
    )


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_update_status_changes_only_the_record_that_exists(queue, qc_redis, schema_name):
    job = seed(qc_redis, schema_name)
    queue.update_status("ws1", job.job_id, "failed")
    assert qc_redis.hget(key_of(schema_name, job), "status") == "failed"
    assert not qc_redis.exists(key_of(other(schema_name), job))


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_update_status_from_another_workspace_is_job_not_found(queue, qc_redis, schema_name):
    job = seed(qc_redis, schema_name)
    with pytest.raises(JobNotFound):
        queue.update_status("ws2", job.job_id, "failed")
    assert qc_redis.hget(key_of(schema_name, job), "status") == "queued"


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_a_worker_runs_a_one_schema_job_to_completion(queue, qc_redis, schema_name):
    job = seed(qc_redis, schema_name)
    assert queue.dequeue(30).status == "running"
    queue.complete("ws1", job.job_id)
    assert qc_redis.hget(key_of(schema_name, job), "status") == "completed"
    assert not qc_redis.exists(key_of(other(schema_name), job))
    assert qc_redis.lrange(SCHEMA.processing_key, 0, -1) == []


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_an_expired_lease_on_a_one_schema_job_is_requeued(queue, qc_redis, schema_name):
    job = seed(qc_redis, schema_name)
    queue.dequeue(30)
    assert queue.requeue_expired(now=4e9) == [job.job_id]
    assert qc_redis.hget(key_of(schema_name, job), "status") == "queued"
    assert not qc_redis.exists(key_of(other(schema_name), job))


def test_a_worker_from_another_workspace_cannot_complete_the_job(queue, qc_redis):
    job = seed(qc_redis, "new")
    queue.dequeue(30)
    with pytest.raises(JobNotFound):
        queue.complete("ws2", job.job_id)
    assert qc_redis.lrange(SCHEMA.processing_key, 0, -1) == [job.job_id]


def test_dequeue_drops_a_queue_entry_that_has_no_record(queue, qc_redis):
    qc_redis.rpush(SCHEMA.queue_key, "f" * 32)
    job = seed(qc_redis, "old", "new")
    assert queue.dequeue(30).job_id == job.job_id
    assert qc_redis.lrange(SCHEMA.processing_key, 0, -1) == [job.job_id]
