"""Each issue-9 variant (QC-3 onwards) really breaks the promise of harness/target.py it names.

One test per variant, named after its defect, against a plain redis-server (faults only
where the defect needs one): the same probe runs on the reference, which keeps the promise,
then on the variant, which breaks it. These tests pass while the defects exist; they show
that what the executable spec must catch is there to catch.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry

from harness.servers.services import Services
from harness.target import (
    DEFAULT_SCHEMA,
    Job,
    JobNotFound,
    JobStatus,
    QueueTarget,
    build_target,
    encode_job,
)
from queue_impl.variants import VARIANTS

pytestmark = pytest.mark.servers

SCHEMA = DEFAULT_SCHEMA
WS, OTHER = "ws1", "ws2"
PAYLOAD = {"prompt": "summarise", "tokens": 128}
LEASE = 30.0
FAR_FUTURE = 4e9  # after every deadline in seconds (2096), before any in milliseconds
SEEDED_ID = "5eed" * 8

Probe = Callable[[QueueTarget], Any]


@pytest.fixture
def run_on(qc_client: redis.Redis, qc_registry: CollectorRegistry, qc_redis: redis.Redis,
           qc_services: Services) -> Callable[[str, Probe], Any]:
    """run_on(target, probe): probe(queue) on a fresh queue over an emptied Redis."""

    def run(target: str, probe: Probe) -> Any:
        qc_services.flush(qc_redis)
        spec = VARIANTS[target].spec if target in VARIANTS else target
        registry = qc_registry if target in VARIANTS else CollectorRegistry()
        return probe(build_target(spec, qc_client, registry))

    return run


def statuses(client: redis.Redis, job_id: str, workspace_id: str = WS) -> list[str | None]:
    """The status of the job's old record, then of its new record (None: no such record)."""
    return [client.hget(SCHEMA.old_job_key(job_id), "status"),
            client.hget(SCHEMA.new_job_key(workspace_id, job_id), "status")]


def attempt(call: Callable[..., Any], *args: Any) -> str:
    """"ok", or the name of the refusal the contract allows (JobNotFound, ValueError)."""
    try:
        call(*args)
    except (JobNotFound, ValueError) as exc:
        return type(exc).__name__
    return "ok"


def seed(client: redis.Redis, schema: str) -> str:
    """A queued job another writer left in one schema ("old" or "new"), as the harness seeds."""
    job = Job(SEEDED_ID, WS, "seed-1", {"n": 0}, JobStatus.QUEUED)
    key = SCHEMA.old_job_key(job.job_id) if schema == "old" else SCHEMA.new_job_key(WS, job.job_id)
    client.hset(key, mapping=encode_job(job))
    client.rpush(SCHEMA.queue_key, job.job_id)
    return job.job_id


def leased(queue: QueueTarget, request_id: str = "req-1") -> str:
    job_id = queue.enqueue(WS, PAYLOAD, request_id)
    assert queue.dequeue(LEASE).job_id == job_id
    return job_id


@contextlib.contextmanager
def redis_unreachable(services: Services) -> Iterator[None]:
    """Toxiproxy refuses the queue's connections: every round trip raises ConnectionError."""
    services.control.set_enabled(services.proxy_name, False)
    try:
        yield
    finally:
        services.control.set_enabled(services.proxy_name, True)


# --- update_status -------------------------------------------------------------------------

def test_update_status_of_a_running_job_answers_ok_and_writes_nothing(run_on, qc_redis):
    def probe(queue):
        job_id = leased(queue)
        return attempt(queue.update_status, WS, job_id, "failed"), statuses(qc_redis, job_id)

    assert run_on("reference", probe) == ("ok", ["failed", "failed"])
    assert run_on("QC-3", probe) == ("ok", ["running", "running"])


def test_update_status_answers_ok_when_its_write_raised_a_redis_error(run_on, qc_redis,
                                                                      qc_services):
    def probe(queue):
        job_id = queue.enqueue(WS, PAYLOAD, "req-1")
        with redis_unreachable(qc_services):
            try:
                queue.update_status(WS, job_id, "failed")
                answer = "ok"
            except redis.ConnectionError:
                answer = "unknown"
        return answer, statuses(qc_redis, job_id)

    assert run_on("reference", probe) == ("unknown", ["queued", "queued"])
    assert run_on("QC-4", probe) == ("ok", ["queued", "queued"])


def test_update_status_changes_another_workspaces_job(run_on, qc_redis):
    def probe(queue):
        job_id = queue.enqueue(WS, PAYLOAD, "req-1")
        return attempt(queue.update_status, OTHER, job_id, "failed"), statuses(qc_redis, job_id)

    assert run_on("reference", probe) == ("JobNotFound", ["queued", "queued"])
    assert run_on("QC-5", probe) == ("ok", ["failed", "failed"])


@pytest.mark.parametrize("schema", ["old", "new"])
def test_update_status_creates_the_record_a_one_schema_job_lacks(run_on, qc_redis, schema):
    missing = (SCHEMA.new_job_key(WS, SEEDED_ID) if schema == "old"
               else SCHEMA.old_job_key(SEEDED_ID))

    def probe(queue):
        queue.update_status(WS, seed(qc_redis, schema), "running")
        return qc_redis.exists(missing)

    assert run_on("reference", probe) == 0
    assert run_on("QC-6", probe) == 1


# --- complete and fail ---------------------------------------------------------------------

def test_complete_finishes_another_workspaces_job(run_on, qc_redis):
    def probe(queue):
        job_id = leased(queue)
        return (attempt(queue.complete, OTHER, job_id), statuses(qc_redis, job_id),
                qc_redis.lrange(SCHEMA.processing_key, 0, -1) == [job_id])

    assert run_on("reference", probe) == ("JobNotFound", ["running", "running"], True)
    assert run_on("QC-7", probe) == ("ok", ["completed", "completed"], False)


def test_fail_writes_status_completed(run_on, qc_redis):
    def probe(queue):
        job_id = leased(queue)
        queue.fail(WS, job_id)
        return statuses(qc_redis, job_id)

    assert run_on("reference", probe) == ["failed", "failed"]
    assert run_on("QC-8", probe) == ["completed", "completed"]


def test_a_completed_job_keeps_its_lease_and_is_requeued_to_run_again(run_on):
    def probe(queue):
        job_id = leased(queue)
        queue.complete(WS, job_id)
        requeued = queue.requeue_expired(now=FAR_FUTURE) == [job_id]
        return requeued, queue.get_job(WS, job_id).status

    assert run_on("reference", probe) == (False, "completed")
    assert run_on("QC-9", probe) == (True, "queued")


def test_finishing_a_job_gives_its_records_a_ttl(run_on, qc_redis):
    def probe(queue):
        job_id = leased(queue)
        queue.complete(WS, job_id)
        return [qc_redis.ttl(SCHEMA.old_job_key(job_id)) > 0,
                qc_redis.ttl(SCHEMA.new_job_key(WS, job_id)) > 0]

    assert run_on("reference", probe) == [False, False]
    assert run_on("QC-10", probe) == [True, True]


# --- dequeue and leases --------------------------------------------------------------------

def test_dequeue_leaves_the_leased_job_queued(run_on, qc_redis):
    def probe(queue):
        job_id = queue.enqueue(WS, PAYLOAD, "req-1")
        return queue.dequeue(LEASE).status, statuses(qc_redis, job_id)

    assert run_on("reference", probe) == ("running", ["running", "running"])
    assert run_on("QC-11", probe) == ("queued", ["queued", "queued"])


def test_dequeue_takes_the_newest_job_not_the_oldest(run_on):
    def probe(queue):
        oldest = queue.enqueue(WS, PAYLOAD, "req-1")
        queue.enqueue(WS, PAYLOAD, "req-2")
        return queue.dequeue(LEASE).job_id == oldest

    assert run_on("reference", probe) is True
    assert run_on("QC-12", probe) is False


def test_a_lease_in_milliseconds_never_ends(run_on, qc_redis):
    def probe(queue):
        job_id = leased(queue)
        return queue.requeue_expired(now=FAR_FUTURE), qc_redis.zscore(SCHEMA.lease_key, job_id)

    requeued, deadline = run_on("reference", probe)
    assert requeued and deadline is None
    requeued, deadline = run_on("QC-13", probe)
    assert requeued == [] and deadline > 1000 * time.time()


def test_the_lease_ignores_lease_seconds(run_on):
    def probe(queue):
        leased(queue)
        ended = time.time() + LEASE + 1  # the promised deadline has passed by then
        return len(queue.requeue_expired(now=ended))

    assert run_on("reference", probe) == 1
    assert run_on("QC-14", probe) == 0


# --- requeue_expired -----------------------------------------------------------------------

def test_requeue_expired_takes_a_lease_that_has_not_ended(run_on):
    def probe(queue):
        job_id = leased(queue)
        return queue.requeue_expired(now=time.time()) == [job_id]

    assert run_on("reference", probe) is False
    assert run_on("QC-15", probe) is True


def test_requeue_expired_returns_the_pending_list_not_the_ids_it_put_back(run_on):
    def probe(queue):
        job_id = leased(queue)
        queue.enqueue(WS, PAYLOAD, "req-2")
        return sorted("put back" if returned == job_id else "never leased"
                      for returned in queue.requeue_expired(now=FAR_FUTURE))

    assert run_on("reference", probe) == ["put back"]
    assert run_on("QC-16", probe) == ["never leased", "put back"]


def test_requeue_expired_leaves_the_requeued_job_running(run_on, qc_redis):
    def probe(queue):
        job_id = leased(queue)
        queue.requeue_expired(now=FAR_FUTURE)
        return qc_redis.lrange(SCHEMA.queue_key, 0, -1) == [job_id], statuses(qc_redis, job_id)

    assert run_on("reference", probe) == (True, ["queued", "queued"])
    assert run_on("QC-17", probe) == (True, ["running", "running"])


def test_requeue_expired_puts_jobs_back_at_the_head_of_pending(run_on, qc_redis):
    def probe(queue):
        requeued = leased(queue)
        waiting = queue.enqueue(WS, PAYLOAD, "req-2")
        queue.requeue_expired(now=FAR_FUTURE)
        return qc_redis.lrange(SCHEMA.queue_key, 0, -1) == [waiting, requeued]

    assert run_on("reference", probe) is True
    assert run_on("QC-18", probe) is False


# --- reads ---------------------------------------------------------------------------------

def test_get_job_of_a_new_schema_only_job_is_none(run_on, qc_redis):
    def probe(queue):
        return queue.get_job(WS, seed(qc_redis, "new"))

    assert run_on("reference", probe).job_id == SEEDED_ID
    assert run_on("QC-19", probe) is None


def test_list_jobs_lists_a_job_twice(run_on):
    def probe(queue):
        job_id = queue.enqueue(WS, PAYLOAD, "req-1")
        return [job.job_id for job in queue.list_jobs(WS)].count(job_id)

    assert run_on("reference", probe) == 1
    assert run_on("QC-20", probe) == 2


# --- enqueue -------------------------------------------------------------------------------

def test_a_retry_with_the_same_request_id_overwrites_the_payload(run_on):
    def probe(queue):
        first = queue.enqueue(WS, {"v": 1}, "req-1")
        assert queue.enqueue(WS, {"v": 2}, "req-1") == first
        return queue.get_job(WS, first).payload

    assert run_on("reference", probe) == {"v": 1}
    assert run_on("QC-21", probe) == {"v": 2}


def test_enqueue_stores_floats_rounded(run_on):
    payload = {"price": 0.1 + 0.2, "weights": [3.141592653589793]}

    def probe(queue):
        return queue.get_job(WS, queue.enqueue(WS, payload, "req-1")).payload

    assert run_on("reference", probe) == payload
    assert run_on("QC-22", probe) == {"price": 0.3, "weights": [3.14159]}


def test_the_idempotency_key_gets_a_ttl_the_schema_does_not_declare(run_on, qc_redis):
    assert SCHEMA.idempotency_retention is None

    def probe(queue):
        queue.enqueue(WS, PAYLOAD, "req-1")
        return qc_redis.ttl(SCHEMA.idempotency_key(WS, "req-1")) > 0

    assert run_on("reference", probe) is False
    assert run_on("QC-23", probe) is True


def test_a_valid_workspace_id_with_a_dot_is_refused(run_on):
    assert SCHEMA.valid_workspace_id("team.alpha")

    def probe(queue):
        return attempt(queue.enqueue, "team.alpha", PAYLOAD, "req-1")

    assert run_on("reference", probe) == "ok"
    assert run_on("QC-24", probe) == "ValueError"
