"""The contract of harness/target.py, word for word, on three correct queues unlike the reference.

The harness must never call a correct queue broken, so it is tried on correct queues that share
nothing with the reference but the contract: Redis Functions with keys of its own
(queue_impl.functions_queue), optimistic WATCH/MULTI/EXEC with no Lua and keys of its own
(queue_impl.optimistic_queue) and the external example (examples/external_queue). Each test
is one sentence of the contract, on a real Redis; jobs another writer left in one schema are
seeded with the direct client.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry

from harness.faults import Fault, FaultKind
from harness.injector import FaultInjector
from harness.target import (
    MAX_PAYLOAD_BYTES,
    Job,
    JobNotFound,
    KeySchema,
    QueueTarget,
    build_target,
    encode_job,
)

pytestmark = pytest.mark.servers

EXTERNAL_QUEUE_DIR = Path(__file__).resolve().parents[1] / "examples" / "external_queue"
QUEUES = {
    "functions": "queue_impl.functions_queue:make_queue",
    "optimistic": "queue_impl.optimistic_queue:make_queue",
    "external": "simple_queue:make_queue",
}
ONE_SCHEMA = ["old", "new"]
PAYLOAD = {"prompt": "summarise", "tokens": 128, "tags": ["a", "b"], "nested": {"x": None}}
LEASE = 30.0
FAR_FUTURE = 4e9

Build = Callable[[redis.Redis], QueueTarget]


@pytest.fixture(params=list(QUEUES.values()), ids=list(QUEUES))
def build(request, monkeypatch) -> Build:
    """Builds the queue under test on a given client."""
    monkeypatch.syspath_prepend(str(EXTERNAL_QUEUE_DIR))
    return lambda client: build_target(request.param, client, CollectorRegistry())


@pytest.fixture
def queue(build, qc_client) -> QueueTarget:
    return build(qc_client)


# --- reading Redis directly ------------------------------------------------------------------


def schema_of(queue: QueueTarget) -> KeySchema:
    return queue.key_schema


def record_key(schema: KeySchema, schema_name: str, job: Job) -> str:
    if schema_name == "old":
        return schema.old_job_key(job.job_id)
    return schema.new_job_key(job.workspace_id, job.job_id)


def other(schema_name: str) -> str:
    return "new" if schema_name == "old" else "old"


def seed(qc_redis: redis.Redis, queue: QueueTarget, *schemas: str,
         workspace_id: str = "ws1") -> Job:
    """A queued job another writer left in the given schemas, pushed to pending."""
    job = Job(uuid.uuid4().hex, workspace_id, f"req-{uuid.uuid4().hex[:8]}", {"n": 1}, "queued")
    for name in schemas:
        qc_redis.hset(record_key(schema_of(queue), name, job), mapping=encode_job(job))
    qc_redis.rpush(schema_of(queue).queue_key, job.job_id)
    return job


READ_BY_TYPE: dict[str, Callable[[redis.Redis, str], Any]] = {
    "hash": lambda r, key: r.hgetall(key),
    "list": lambda r, key: r.lrange(key, 0, -1),
    "zset": lambda r, key: r.zrange(key, 0, -1, withscores=True),
    "string": lambda r, key: r.get(key),
}


def everything(qc_redis: redis.Redis) -> dict[str, tuple[str, Any, int]]:
    """Every key's type, value and TTL: equal before and after means nothing changed.

    (Not DUMP: a hash's serialised field order changes when Redis rehashes it on a read.)
    """
    return {key: (kind, READ_BY_TYPE[kind](qc_redis, key), qc_redis.ttl(key))
            for key in qc_redis.scan_iter() for kind in [qc_redis.type(key)]}


def statuses(qc_redis: redis.Redis, queue: QueueTarget, job_id: str,
             workspace_id: str = "ws1") -> tuple[str | None, str | None]:
    schema = schema_of(queue)
    return (qc_redis.hget(schema.old_job_key(job_id), "status"),
            qc_redis.hget(schema.new_job_key(workspace_id, job_id), "status"))


def pending(qc_redis: redis.Redis, queue: QueueTarget) -> list[str]:
    return qc_redis.lrange(schema_of(queue).queue_key, 0, -1)


def processing(qc_redis: redis.Redis, queue: QueueTarget) -> list[str]:
    return qc_redis.lrange(schema_of(queue).processing_key, 0, -1)


def leases(qc_redis: redis.Redis, queue: QueueTarget) -> dict[str, float]:
    return dict(qc_redis.zrange(schema_of(queue).lease_key, 0, -1, withscores=True))


def lease(qc_redis: redis.Redis, queue: QueueTarget, job_id: str, deadline: float) -> None:
    """Lease a job directly: in processing, with that deadline, status running."""
    schema = schema_of(queue)
    qc_redis.lrem(schema.queue_key, 0, job_id)
    qc_redis.rpush(schema.processing_key, job_id)
    qc_redis.zadd(schema.lease_key, {job_id: deadline})


# --- enqueue and reads ------------------------------------------------------------------------


def test_enqueue_writes_a_queued_record_in_each_schema(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    schema = schema_of(queue)
    expected = encode_job(Job(job_id, "ws1", "req-1", PAYLOAD, "queued"))
    assert qc_redis.hgetall(schema.old_job_key(job_id)) == expected
    assert qc_redis.hgetall(schema.new_job_key("ws1", job_id)) == expected


def test_enqueue_gives_an_id_of_the_schema_pattern_at_the_tail_of_pending(queue, qc_redis):
    first = queue.enqueue("ws1", PAYLOAD, "req-1")
    second = queue.enqueue("ws1", PAYLOAD, "req-2")
    assert schema_of(queue).valid_job_id(second)
    assert pending(qc_redis, queue) == [first, second]


def test_enqueue_records_the_request_in_the_idempotency_entry(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    assert qc_redis.get(schema_of(queue).idempotency_key("ws1", "req-1")) == job_id


def test_the_same_request_again_returns_its_job_and_changes_nothing(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    before = everything(qc_redis)
    assert queue.enqueue("ws1", {"other": "payload"}, "req-1") == job_id
    assert everything(qc_redis) == before


def test_the_same_request_in_another_workspace_is_another_job(queue):
    assert queue.enqueue("ws1", PAYLOAD, "req-1") != queue.enqueue("ws2", PAYLOAD, "req-1")


def test_get_job_reads_back_what_enqueue_stored(queue):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    assert queue.get_job("ws1", job_id) == Job(job_id, "ws1", "req-1", PAYLOAD, "queued")


def test_get_job_of_another_workspace_or_an_unknown_id_is_none(queue):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    assert queue.get_job("ws2", job_id) is None
    assert queue.get_job("ws1", "0" * 32) is None


def test_get_job_answers_from_the_new_record_when_the_two_disagree(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    qc_redis.hset(schema_of(queue).old_job_key(job_id), "status", "failed")
    assert queue.get_job("ws1", job_id).status == "queued"


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_get_job_reads_a_one_schema_job_in_its_workspace_only(queue, qc_redis, schema_name):
    job = seed(qc_redis, queue, schema_name)
    assert queue.get_job("ws1", job.job_id) == job
    assert queue.get_job("ws2", job.job_id) is None


def test_list_jobs_gives_each_job_of_the_workspace_once_whichever_schema_holds_it(queue, qc_redis):
    jobs = [seed(qc_redis, queue, "old"), seed(qc_redis, queue, "new"),
            seed(qc_redis, queue, "old", "new")]
    seed(qc_redis, queue, "old", "new", workspace_id="ws2")
    by_id = sorted(queue.list_jobs("ws1"), key=lambda job: job.job_id)
    assert by_id == sorted(jobs, key=lambda job: job.job_id)


def test_list_jobs_answers_as_get_job_does(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    qc_redis.hset(schema_of(queue).old_job_key(job_id), "status", "failed")
    assert queue.list_jobs("ws1") == [queue.get_job("ws1", job_id)]


def test_reads_change_nothing(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    seed(qc_redis, queue, "old")
    seed(qc_redis, queue, "new")
    before = everything(qc_redis)
    queue.get_job("ws1", job_id)
    queue.list_jobs("ws1")
    assert everything(qc_redis) == before


# --- update_status ----------------------------------------------------------------------------


def test_update_status_sets_both_records_and_moves_nothing(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.update_status("ws1", job_id, "running")
    assert statuses(qc_redis, queue, job_id) == ("running", "running")
    assert (pending(qc_redis, queue), processing(qc_redis, queue)) == ([job_id], [])
    assert leases(qc_redis, queue) == {}


def test_setting_queued_on_a_finished_job_does_not_requeue_it(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.dequeue(LEASE)
    queue.complete("ws1", job_id)
    queue.update_status("ws1", job_id, "queued")
    assert statuses(qc_redis, queue, job_id) == ("queued", "queued")
    assert (pending(qc_redis, queue), processing(qc_redis, queue)) == ([], [])


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_update_status_of_a_one_schema_job_never_creates_the_other_record(queue, qc_redis,
                                                                          schema_name):
    job = seed(qc_redis, queue, schema_name)
    queue.update_status("ws1", job.job_id, "failed")
    assert qc_redis.hget(record_key(schema_of(queue), schema_name, job), "status") == "failed"
    assert not qc_redis.exists(record_key(schema_of(queue), other(schema_name), job))


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_update_status_from_another_workspace_is_job_not_found_and_writes_nothing(
    queue, qc_redis, schema_name
):
    job = seed(qc_redis, queue, schema_name)
    before = everything(qc_redis)
    with pytest.raises(JobNotFound):
        queue.update_status("ws2", job.job_id, "failed")
    assert everything(qc_redis) == before


# --- dequeue ----------------------------------------------------------------------------------


def test_dequeue_of_an_empty_queue_is_none(queue):
    assert queue.dequeue(LEASE) is None


def test_dequeue_takes_the_head_of_pending(queue):
    first = queue.enqueue("ws1", PAYLOAD, "req-1")
    second = queue.enqueue("ws2", PAYLOAD, "req-2")
    assert [queue.dequeue(LEASE).job_id, queue.dequeue(LEASE).job_id] == [first, second]


def test_dequeue_moves_the_job_to_processing_and_marks_its_records_running(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.dequeue(LEASE)
    assert (pending(qc_redis, queue), processing(qc_redis, queue)) == ([], [job_id])
    assert statuses(qc_redis, queue, job_id) == ("running", "running")


def test_dequeue_leases_the_job_until_the_clock_during_the_call_plus_the_lease(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    before = time.time()
    queue.dequeue(12.5)
    after = time.time()
    assert before + 12.5 - 1e-3 <= leases(qc_redis, queue)[job_id] <= after + 12.5 + 1e-3


def test_dequeue_returns_the_job_as_get_job_now_returns_it_from_the_new_record(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    qc_redis.hset(schema_of(queue).old_job_key(job_id), "payload", '{"old":true}')
    leased = queue.dequeue(LEASE)
    assert leased == queue.get_job("ws1", job_id)
    assert leased.payload == PAYLOAD


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_dequeue_leases_a_one_schema_job_and_returns_it_running(queue, qc_redis, schema_name):
    job = seed(qc_redis, queue, schema_name)
    leased = queue.dequeue(LEASE)
    assert leased == Job(job.job_id, "ws1", job.client_request_id, job.payload, "running")
    assert qc_redis.hget(record_key(schema_of(queue), schema_name, job), "status") == "running"
    assert not qc_redis.exists(record_key(schema_of(queue), other(schema_name), job))
    assert processing(qc_redis, queue) == [job.job_id]


# --- complete and fail ------------------------------------------------------------------------


@pytest.mark.parametrize(("finish", "status"), [("complete", "completed"), ("fail", "failed")])
def test_finishing_a_leased_job_releases_it_and_leaves_pending_alone(queue, qc_redis, finish,
                                                                     status):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    waiting = queue.enqueue("ws1", PAYLOAD, "req-2")
    queue.dequeue(LEASE)
    getattr(queue, finish)("ws1", job_id)
    assert statuses(qc_redis, queue, job_id) == (status, status)
    assert (pending(qc_redis, queue), processing(qc_redis, queue)) == ([waiting], [])
    assert leases(qc_redis, queue) == {}


@pytest.mark.parametrize(("finish", "status"), [("complete", "completed"), ("fail", "failed")])
def test_finishing_a_job_that_is_not_leased_finishes_it_and_keeps_its_pending_entry(
    queue, qc_redis, finish, status
):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    getattr(queue, finish)("ws1", job_id)
    assert statuses(qc_redis, queue, job_id) == (status, status)
    assert pending(qc_redis, queue) == [job_id]


def test_a_worker_whose_lease_was_requeued_still_completes_the_job(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.dequeue(LEASE)
    queue.requeue_expired(now=FAR_FUTURE)
    queue.complete("ws1", job_id)
    assert statuses(qc_redis, queue, job_id) == ("completed", "completed")
    assert pending(qc_redis, queue) == [job_id]  # it may run again: at least once


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_a_one_schema_job_runs_to_completion_in_its_one_schema(queue, qc_redis, schema_name):
    job = seed(qc_redis, queue, schema_name)
    queue.dequeue(LEASE)
    queue.complete("ws1", job.job_id)
    assert qc_redis.hget(record_key(schema_of(queue), schema_name, job), "status") == "completed"
    assert not qc_redis.exists(record_key(schema_of(queue), other(schema_name), job))
    assert (processing(qc_redis, queue), leases(qc_redis, queue)) == ([], {})


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_finishing_from_another_workspace_is_job_not_found_and_writes_nothing(queue, qc_redis,
                                                                             schema_name):
    job = seed(qc_redis, queue, schema_name)
    queue.dequeue(LEASE)
    before = everything(qc_redis)
    with pytest.raises(JobNotFound):
        queue.complete("ws2", job.job_id)
    with pytest.raises(JobNotFound):
        queue.fail("ws1", "0" * 32)
    assert everything(qc_redis) == before


# --- requeue_expired --------------------------------------------------------------------------


def test_requeue_expired_takes_every_lease_with_a_deadline_up_to_now(queue, qc_redis):
    ended, due, live = (queue.enqueue("ws1", PAYLOAD, f"req-{n}") for n in range(3))
    for job_id, deadline in ((ended, 100.0), (due, 200.0), (live, 300.0)):
        lease(qc_redis, queue, job_id, deadline)
    assert sorted(queue.requeue_expired(now=200)) == sorted([ended, due])
    assert leases(qc_redis, queue) == {live: 300.0}
    assert processing(qc_redis, queue) == [live]


def test_requeue_expired_appends_by_deadline_then_by_job_id(queue, qc_redis):
    waiting = queue.enqueue("ws1", PAYLOAD, "req-w")
    ids = [queue.enqueue("ws1", PAYLOAD, f"req-{n}") for n in range(4)]
    deadlines = dict(zip(ids, (50.0, 10.0, 50.0, 30.0), strict=True))
    for job_id, deadline in deadlines.items():
        lease(qc_redis, queue, job_id, deadline)
    queue.requeue_expired(now=60)
    in_order = sorted(ids, key=lambda job_id: (deadlines[job_id], job_id))
    assert pending(qc_redis, queue) == [waiting, *in_order]


def test_requeue_expired_marks_the_records_queued(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.dequeue(LEASE)
    queue.requeue_expired(now=FAR_FUTURE)
    assert statuses(qc_redis, queue, job_id) == ("queued", "queued")


def test_requeue_expired_before_every_deadline_changes_nothing(queue, qc_redis):
    queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.dequeue(LEASE)
    before = everything(qc_redis)
    assert queue.requeue_expired() == []
    assert queue.requeue_expired(now=time.time()) == []
    assert everything(qc_redis) == before


def test_an_ended_lease_of_a_job_not_in_processing_goes_without_requeueing(queue, qc_redis):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    qc_redis.zadd(schema_of(queue).lease_key, {job_id: 100.0})
    assert queue.requeue_expired(now=200) == []
    assert (leases(qc_redis, queue), pending(qc_redis, queue)) == ({}, [job_id])
    assert statuses(qc_redis, queue, job_id) == ("queued", "queued")


@pytest.mark.parametrize("schema_name", ONE_SCHEMA)
def test_requeue_expired_puts_a_one_schema_job_back_in_its_one_schema(queue, qc_redis,
                                                                      schema_name):
    job = seed(qc_redis, queue, schema_name)
    queue.dequeue(LEASE)
    assert queue.requeue_expired(now=FAR_FUTURE) == [job.job_id]
    assert qc_redis.hget(record_key(schema_of(queue), schema_name, job), "status") == "queued"
    assert not qc_redis.exists(record_key(schema_of(queue), other(schema_name), job))
    assert pending(qc_redis, queue) == [job.job_id]


# --- what no operation does -------------------------------------------------------------------


def test_no_key_gets_a_ttl_and_no_record_goes(queue, qc_redis):
    done, left = queue.enqueue("ws1", PAYLOAD, "req-1"), queue.enqueue("ws1", PAYLOAD, "req-2")
    queue.dequeue(LEASE)
    queue.complete("ws1", done)
    queue.dequeue(LEASE)
    queue.requeue_expired(now=FAR_FUTURE)
    queue.fail("ws1", left)
    schema = schema_of(queue)
    assert all(qc_redis.exists(schema.old_job_key(job_id), schema.new_job_key("ws1", job_id)) == 2
               for job_id in (done, left))
    assert {qc_redis.ttl(key) for key in qc_redis.scan_iter()} == {-1}


def test_the_queue_keeps_its_keys_where_its_schema_says(queue, qc_redis):
    queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.dequeue(LEASE)
    kinds = {schema_of(queue).parse(key).kind for key in qc_redis.scan_iter()}
    assert "foreign" not in kinds and "malformed" not in kinds


# --- inputs -----------------------------------------------------------------------------------

TOO_BIG = {"x": "a" * MAX_PAYLOAD_BYTES}
BAD_CALLS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "workspace empty": ("enqueue", ("", PAYLOAD, "req-1")),
    "workspace with a colon": ("list_jobs", ("ws:1",)),
    "workspace not a str": ("get_job", (7, "0" * 32)),
    "request id None": ("enqueue", ("ws1", PAYLOAD, None)),
    "request id too long": ("enqueue", ("ws1", PAYLOAD, "r" * 129)),
    "job id None": ("update_status", ("ws1", None, "running")),
    "job id upper hex": ("complete", ("ws1", "A" * 32)),
    "job id short": ("fail", ("ws1", "0" * 31)),
    "payload a list": ("enqueue", ("ws1", [1], "req-1")),
    "payload with a tuple": ("enqueue", ("ws1", {"t": (1, 2)}, "req-1")),
    "payload with an int key": ("enqueue", ("ws1", {1: "a"}, "req-1")),
    "payload with NaN": ("enqueue", ("ws1", {"x": math.nan}, "req-1")),
    "payload with infinity": ("enqueue", ("ws1", {"x": math.inf}, "req-1")),
    "payload not JSON": ("enqueue", ("ws1", {"x": object()}, "req-1")),
    "payload too big": ("enqueue", ("ws1", TOO_BIG, "req-1")),
    "status unknown": ("update_status", ("ws1", "0" * 32, "lost")),
    "status not a str": ("update_status", ("ws1", "0" * 32, 1)),
    "lease zero": ("dequeue", (0,)),
    "lease negative": ("dequeue", (-1.5,)),
    "lease infinite": ("dequeue", (math.inf,)),
    "lease NaN": ("dequeue", (math.nan,)),
    "lease a bool": ("dequeue", (True,)),
    "lease a str": ("dequeue", ("30",)),
    "now a bool": ("requeue_expired", (True,)),
    "now NaN": ("requeue_expired", (math.nan,)),
    "now infinite": ("requeue_expired", (-math.inf,)),
    "now a str": ("requeue_expired", ("4e9",)),
}


@pytest.mark.parametrize(("method", "args"), list(BAD_CALLS.values()), ids=list(BAD_CALLS))
def test_a_bad_input_raises_value_error_and_writes_nothing(queue, qc_redis, method, args):
    queue.enqueue("ws1", PAYLOAD, "req-0")
    queue.dequeue(LEASE)
    queue.enqueue("ws1", PAYLOAD, "req-2")
    before = everything(qc_redis)
    with pytest.raises(ValueError):
        getattr(queue, method)(*args)
    assert everything(qc_redis) == before


def payload_of_size(size: int) -> dict[str, str]:
    """A payload whose JSON text, as the record stores it, is `size` bytes."""
    return {"x": "a" * (size - len('{"x":""}'))}


def test_a_payload_of_the_size_limit_as_stored_is_accepted(queue):
    payload = payload_of_size(MAX_PAYLOAD_BYTES)
    assert len(encode_job(Job("", "", "", payload, ""))["payload"]) == MAX_PAYLOAD_BYTES
    assert queue.get_job("ws1", queue.enqueue("ws1", payload, "req-1")).payload == payload


def test_a_payload_one_byte_over_the_limit_is_refused(queue):
    with pytest.raises(ValueError):
        queue.enqueue("ws1", payload_of_size(MAX_PAYLOAD_BYTES + 1), "req-1")


@pytest.mark.parametrize("lease_seconds", [1, 0.25, 10**6])
def test_a_lease_of_any_finite_positive_int_or_float_is_accepted(queue, lease_seconds):
    queue.enqueue("ws1", PAYLOAD, "req-1")
    assert queue.dequeue(lease_seconds).status == "running"


@pytest.mark.parametrize("now", [None, 0, -1.5, 10**12])
def test_now_may_be_none_or_any_finite_int_or_float(queue, now):
    assert queue.requeue_expired(now) == []


# --- a reply lost on the wire -----------------------------------------------------------------


def last_round_trip(injector: FaultInjector, call: Callable[[], Any]) -> int:
    """How many round trips `call` makes without faults: its write is the last one."""
    with injector.operation() as run:
        call()
    return run.round_trips


def test_a_retry_after_a_lost_enqueue_reply_returns_the_same_job_once(
    build, qc_faulted_client, qc_injector, qc_redis
):
    queue = build(qc_faulted_client)
    write = last_round_trip(qc_injector, lambda: queue.enqueue("ws1", PAYLOAD, "req-0"))
    with qc_injector.operation([Fault(FaultKind.REPLY_LOST, write)]):
        try:  # a queue may read again and answer, or say the outcome is unknown
            answered = queue.enqueue("ws1", PAYLOAD, "req-1")
        except redis.RedisError:
            answered = None
    job_id = qc_redis.get(schema_of(queue).idempotency_key("ws1", "req-1"))
    assert job_id is not None  # the write landed although its reply was lost
    assert answered in (None, job_id)
    assert queue.enqueue("ws1", PAYLOAD, "req-1") == job_id
    assert pending(qc_redis, queue).count(job_id) == 1
    assert [job.job_id for job in queue.list_jobs("ws1")].count(job_id) == 1


def test_a_dequeue_whose_reply_was_lost_leases_one_job_and_says_unknown(
    build, qc_faulted_client, qc_injector, qc_redis
):
    queue = build(qc_faulted_client)
    queue.enqueue("ws1", PAYLOAD, "req-0")
    write = last_round_trip(qc_injector, lambda: queue.dequeue(LEASE))
    first = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.enqueue("ws1", PAYLOAD, "req-2")
    with qc_injector.operation([Fault(FaultKind.REPLY_LOST, write)]), \
            pytest.raises(redis.RedisError):
        queue.dequeue(LEASE)
    assert len(processing(qc_redis, queue)) == 2  # the first one, and `first`
    assert first in processing(qc_redis, queue)
