"""The contract's happy paths, for every queue we ship: no faults, a real Redis.

Every queue here must pass these; the defects of Phase 1 and of the variants only show under
faults or bad input (other tests), except the one variant whose defect is the absence of a
lease (its own test at the end). Issue 9's variants whose one defect is on these happy paths
(SHOWN_ON_THE_HAPPY_PATHS) are left out: tests/test_variant_defects.py shows each of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry

from harness.target import (
    DEFAULT_SCHEMA,
    Job,
    JobNotFound,
    MetricNames,
    QueueTarget,
    build_target,
    load_factory,
)
from queue_impl import phase1
from queue_impl.variants import VARIANTS

pytestmark = pytest.mark.servers  # all but the two source checks below use a real Redis

EXTERNAL_QUEUE_DIR = Path(__file__).resolve().parents[1] / "examples" / "external_queue"
LEASELESS = VARIANTS["QC-2"].spec
# Fail status, finishing, dequeue status and order, lease deadline, requeue bound and status.
SHOWN_ON_THE_HAPPY_PATHS = frozenset({"QC-8", "QC-9", "QC-11", "QC-12", "QC-13", "QC-15",
                                      "QC-17"})
TARGETS = {
    "reference": "reference",
    "phase1": "phase1",
    "pipeline-fix": "pipeline-fix",
    "external": "simple_queue:make_queue",
    **{variant.name: variant.spec for variant in VARIANTS.values()
       if variant.id not in SHOWN_ON_THE_HAPPY_PATHS},
}
LEASING_TARGETS = {name: spec for name, spec in TARGETS.items() if spec != LEASELESS}

SCHEMA = DEFAULT_SCHEMA
PAYLOAD = {"prompt": "summarise", "tokens": 128, "tags": ["a", "b"]}
FAR_FUTURE = 4e9


PHASE1_FINDINGS = ("CRITICAL-1", "HIGH-1", "HIGH-2", "HIGH-3", "MEDIUM-1", "MEDIUM-2",
                   "MEDIUM-3", "MEDIUM-5", "LOW-1")


@pytest.mark.parametrize("finding", PHASE1_FINDINGS)
def test_phase1_marks_each_finding_in_a_comment(finding):
    source = Path(phase1.__file__).read_text()
    assert re.search(rf"#.*\b{finding}\b", source)


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=list(VARIANTS))
def test_a_variant_spec_loads_its_own_factory(variant):
    assert load_factory(variant.spec) is variant.factory


def _build(spec: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> QueueTarget:
    monkeypatch.syspath_prepend(str(EXTERNAL_QUEUE_DIR))
    return build_target(spec, client, CollectorRegistry())


@pytest.fixture(params=list(TARGETS.values()), ids=list(TARGETS))
def queue(request, qc_client, monkeypatch) -> QueueTarget:
    return _build(request.param, qc_client, monkeypatch)


@pytest.fixture(params=list(LEASING_TARGETS.values()), ids=list(LEASING_TARGETS))
def leasing_queue(request, qc_client, monkeypatch) -> QueueTarget:
    return _build(request.param, qc_client, monkeypatch)


def queued(job_id: str, workspace_id: str = "ws1", request_id: str = "req-1") -> Job:
    return Job(job_id, workspace_id, request_id, PAYLOAD, "queued")


def test_get_job_reads_back_what_enqueue_stored(queue):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    assert queue.get_job("ws1", job_id) == queued(job_id)


def test_enqueue_writes_equal_records_in_both_schemas(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    old = qc_redis.hgetall(SCHEMA.old_job_key(job_id))
    assert old == qc_redis.hgetall(SCHEMA.new_job_key("ws1", job_id))
    assert old["payload"] and old["status"] == "queued"


def test_enqueue_pushes_the_job_id_once(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    assert qc_redis.lrange(SCHEMA.queue_key, 0, -1) == [job_id]


def test_the_same_request_id_twice_gives_one_job(queue, qc_redis):
    first = queue.enqueue("ws1", PAYLOAD, "req-1")
    assert queue.enqueue("ws1", PAYLOAD, "req-1") == first
    assert qc_redis.lrange(SCHEMA.queue_key, 0, -1) == [first]


def test_the_same_request_id_in_another_workspace_is_another_job(queue):
    assert queue.enqueue("ws1", PAYLOAD, "req-1") != queue.enqueue("ws2", PAYLOAD, "req-1")


def test_get_job_of_an_unknown_job_is_none(queue):
    assert queue.get_job("ws1", "0" * 32) is None


def test_list_jobs_returns_the_workspace_jobs_only(queue):
    mine = {queue.enqueue("ws1", PAYLOAD, f"req-{n}") for n in range(2)}
    queue.enqueue("ws2", PAYLOAD, "req-9")
    assert {job.job_id for job in queue.list_jobs("ws1")} == mine


def test_update_status_changes_both_records(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.update_status("ws1", job_id, "completed")
    assert qc_redis.hget(SCHEMA.old_job_key(job_id), "status") == "completed"
    assert qc_redis.hget(SCHEMA.new_job_key("ws1", job_id), "status") == "completed"


def test_dequeue_of_an_empty_queue_is_none(queue):
    assert queue.dequeue(30) is None


def test_dequeue_takes_the_oldest_job_and_marks_it_running(queue, qc_redis):
    first = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.enqueue("ws1", PAYLOAD, "req-2")
    job = queue.dequeue(30)
    assert (job.job_id, job.status) == (first, "running")
    assert qc_redis.hget(SCHEMA.new_job_key("ws1", first), "status") == "running"
    assert qc_redis.hget(SCHEMA.old_job_key(first), "status") == "running"


def test_dequeue_holds_the_job_in_processing_under_a_lease(leasing_queue, qc_redis):
    job_id = leasing_queue.enqueue("ws1", PAYLOAD, "req-1")
    leasing_queue.dequeue(30)
    assert qc_redis.lrange(SCHEMA.queue_key, 0, -1) == []
    assert qc_redis.lrange(SCHEMA.processing_key, 0, -1) == [job_id]
    assert qc_redis.zscore(SCHEMA.lease_key, job_id) is not None


@pytest.mark.parametrize(("finish", "status"), [("complete", "completed"), ("fail", "failed")])
def test_finishing_a_job_releases_its_lease(queue, qc_redis, finish, status):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.dequeue(30)
    getattr(queue, finish)("ws1", job_id)
    assert queue.get_job("ws1", job_id).status == status
    assert qc_redis.lrange(SCHEMA.processing_key, 0, -1) == []
    assert qc_redis.zcard(SCHEMA.lease_key) == 0


def test_requeue_expired_puts_a_leased_job_back(leasing_queue, qc_redis):
    job_id = leasing_queue.enqueue("ws1", PAYLOAD, "req-1")
    leasing_queue.dequeue(30)
    assert leasing_queue.requeue_expired(now=FAR_FUTURE) == [job_id]
    assert qc_redis.lrange(SCHEMA.queue_key, 0, -1) == [job_id]
    assert qc_redis.lrange(SCHEMA.processing_key, 0, -1) == []
    assert leasing_queue.get_job("ws1", job_id).status == "queued"


def test_requeue_expired_leaves_a_live_lease_alone(leasing_queue):
    leasing_queue.enqueue("ws1", PAYLOAD, "req-1")
    leasing_queue.dequeue(30)
    assert leasing_queue.requeue_expired() == []


def test_pop_without_lease_loses_the_job_of_a_worker_that_died(qc_client, qc_redis, monkeypatch):
    queue = _build(LEASELESS, qc_client, monkeypatch)
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.dequeue(30)  # ... and the worker dies
    assert queue.requeue_expired(now=FAR_FUTURE) == []
    assert job_id not in qc_redis.lrange(SCHEMA.queue_key, 0, -1)
    assert job_id not in qc_redis.lrange(SCHEMA.processing_key, 0, -1)


# --- the reference's telemetry (the counting contract of queue_impl.telemetry) -------------

def dual_writes(registry: CollectorRegistry, operation: str, outcome: str) -> float:
    labels = {"operation": operation, "outcome": outcome}
    return registry.get_sample_value(f"{MetricNames.DUAL_WRITES}_total", labels) or 0.0


@pytest.fixture
def reference(qc_client, qc_registry) -> QueueTarget:
    return build_target("reference", qc_client, qc_registry)


def test_reference_counts_every_enqueue_call_that_returned(reference, qc_registry):
    reference.enqueue("ws1", PAYLOAD, "req-1")
    reference.enqueue("ws1", PAYLOAD, "req-1")
    assert dual_writes(qc_registry, "enqueue", "success") == 2
    assert dual_writes(qc_registry, "enqueue", "failure") == 0


def test_reference_counts_an_enqueue_that_raised_a_redis_error_as_failure(
    reference, qc_registry, qc_services
):
    qc_services.control.set_enabled(qc_services.proxy_name, False)
    try:
        with pytest.raises(redis.ConnectionError):
            reference.enqueue("ws1", PAYLOAD, "req-1")
    finally:
        qc_services.control.set_enabled(qc_services.proxy_name, True)
    assert dual_writes(qc_registry, "enqueue", "failure") == 1
    assert dual_writes(qc_registry, "enqueue", "success") == 0


def test_reference_counts_update_status_but_not_a_refused_or_unknown_job(reference, qc_registry):
    job_id = reference.enqueue("ws1", PAYLOAD, "req-1")
    reference.update_status("ws1", job_id, "running")
    with pytest.raises(JobNotFound):
        reference.update_status("ws1", "0" * 32, "running")
    with pytest.raises(ValueError):
        reference.update_status("ws1", job_id, "lost")
    assert dual_writes(qc_registry, "update_status", "success") == 1
    assert dual_writes(qc_registry, "update_status", "failure") == 0


def test_reference_reads_from_the_new_schema_without_counting_a_fallback(reference, qc_registry):
    reference.get_job("ws1", reference.enqueue("ws1", PAYLOAD, "req-1"))
    assert qc_registry.get_sample_value(f"{MetricNames.FALLBACK_READS}_total") == 0
    assert qc_registry.get_sample_value(f"{MetricNames.DIVERGENCE}_total") == 0


def test_reference_counts_records_that_disagree(reference, qc_registry, qc_redis):
    job_id = reference.enqueue("ws1", PAYLOAD, "req-1")
    qc_redis.hset(SCHEMA.old_job_key(job_id), "status", "failed")
    reference.get_job("ws1", job_id)
    assert qc_registry.get_sample_value(f"{MetricNames.DIVERGENCE}_total") == 1
