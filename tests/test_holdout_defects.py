"""Each HOLDOUT queue really carries its defect: shown directly on a real Redis (and Toxiproxy
for the faults), without the harness's judging code.

One probe per defect says, True or False, whether the defect shows; each defect's test asserts
its probe is True on its queue, and the last test asserts every probe is False on the
reference, so no probe can pass on a correct queue.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry

from harness.faults import Fault, FaultKind
from harness.injector import FaultInjector
from harness.target import DEFAULT_SCHEMA, Job, JobNotFound, MetricNames, QueueTarget, encode_job
from queue_impl import holdout_variants as holdout
from queue_impl import reference
from queue_impl.reference import ReferenceQueue

pytestmark = pytest.mark.servers

SCHEMA = DEFAULT_SCHEMA
PAYLOAD = {"prompt": "summarise", "tokens": 128}
LEASE = 30.0
FAR_FUTURE = 4e9
MANY_JOBS = 3000  # several SCAN pages of COUNT 1000


@dataclass(frozen=True)
class Lab:
    """What a probe may use besides the queue: Redis directly, the injector, the registry."""

    redis: redis.Redis
    injector: FaultInjector
    registry: CollectorRegistry


@dataclass(frozen=True)
class Faulted:
    fired: bool
    returned: bool  # False: raised a redis error


@pytest.fixture
def lab(qc_redis, qc_injector, qc_registry) -> Lab:
    return Lab(qc_redis, qc_injector, qc_registry)


def build(holdout_id: str, client: redis.Redis, lab: Lab) -> QueueTarget:
    factory_name, _defect = holdout.HOLDOUT[holdout_id]
    return getattr(holdout, factory_name)(client, lab.registry)


def under_fault(lab: Lab, fault: Fault, operation: Callable[[], Any]) -> Faulted:
    with lab.injector.operation([fault]) as run:
        try:
            operation()
        except redis.RedisError:
            return Faulted(fault in run.fired, returned=False)
    return Faulted(fault in run.fired, returned=True)


def pending(lab: Lab) -> list[str]:
    return lab.redis.lrange(SCHEMA.queue_key, 0, -1)


def processing(lab: Lab) -> list[str]:
    return lab.redis.lrange(SCHEMA.processing_key, 0, -1)


def status_in_redis(lab: Lab, job_id: str) -> str | None:
    return lab.redis.hget(SCHEMA.new_job_key("ws1", job_id), "status")


def dual_writes(lab: Lab, operation: str, outcome: str) -> float:
    labels = {"operation": operation, "outcome": outcome}
    return lab.registry.get_sample_value(f"{MetricNames.DUAL_WRITES}_total", labels) or 0.0


def leased(queue: QueueTarget) -> str:
    """A job enqueued and dequeued (a worker holds it under a LEASE-second lease)."""
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.dequeue(LEASE)
    return job_id


# --- the probes: True when the defect shows ------------------------------------------------

def leases_the_newest_job_first(queue: QueueTarget, lab: Lab) -> bool:
    queue.enqueue("ws1", PAYLOAD, "req-1")
    newest = queue.enqueue("ws1", PAYLOAD, "req-2")
    return queue.dequeue(LEASE).job_id == newest


def returns_the_job_as_it_was_before_running(queue: QueueTarget, lab: Lab) -> bool:
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    returned = queue.dequeue(LEASE)
    return returned.status == "queued" and status_in_redis(lab, job_id) == "running"


def lease_outlives_its_seconds(queue: QueueTarget, lab: Lab) -> bool:
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.dequeue(LEASE)
    after = time.time()
    deadline = lab.redis.zscore(SCHEMA.lease_key, job_id)
    return deadline > after + LEASE and queue.requeue_expired(now=after + 3600) == []


def leaves_a_leased_job_without_a_lease(queue: QueueTarget, lab: Lab) -> bool:
    job_id = leased(queue)
    no_lease = lab.redis.zscore(SCHEMA.lease_key, job_id) is None
    return no_lease and queue.requeue_expired(now=FAR_FUTURE) == [] and processing(lab) == [job_id]


def refuses_to_complete_a_job_not_leased(queue: QueueTarget, lab: Lab) -> bool:
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    try:
        queue.complete("ws1", job_id)
    except JobNotFound:
        return status_in_redis(lab, job_id) == "queued"
    return False


def loses_a_job_whose_lease_write_failed(queue: QueueTarget, lab: Lab) -> bool:
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    run = under_fault(lab, Fault(FaultKind.REQUEST_LOST, 2), lambda: queue.dequeue(LEASE))
    never_back = queue.requeue_expired(now=FAR_FUTURE) == []
    stuck = processing(lab) == [job_id] and pending(lab) == [] and queue.dequeue(LEASE) is None
    return run.fired and not run.returned and never_back and stuck


def returns_normally_from_an_unwritten_status(queue: QueueTarget, lab: Lab) -> bool:
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    run = under_fault(lab, Fault(FaultKind.REQUEST_LOST, 1),
                      lambda: queue.update_status("ws1", job_id, "completed"))
    return run.fired and run.returned and status_in_redis(lab, job_id) == "queued"


def requeues_a_job_twice_after_a_lost_reply(queue: QueueTarget, lab: Lab) -> bool:
    job_id = leased(queue)
    run = under_fault(lab, Fault(FaultKind.REPLY_LOST, 2),
                      lambda: queue.requeue_expired(now=FAR_FUTURE))
    return run.fired and run.returned and pending(lab) == [job_id, job_id]


def keeps_a_lease_that_ends_exactly_now(queue: QueueTarget, lab: Lab) -> bool:
    job_id = leased(queue)
    deadline = lab.redis.zscore(SCHEMA.lease_key, job_id)
    return queue.requeue_expired(now=deadline) == [] and processing(lab) == [job_id]


def creates_the_new_record_of_an_old_only_job(queue: QueueTarget, lab: Lab) -> bool:
    legacy = Job(uuid.uuid4().hex, "ws1", "req-legacy", {"n": 1}, "queued")
    lab.redis.hset(SCHEMA.old_job_key(legacy.job_id), mapping=encode_job(legacy))
    answered = queue.get_job("ws1", legacy.job_id) == legacy
    return answered and lab.redis.exists(SCHEMA.new_job_key("ws1", legacy.job_id)) == 1


def lists_a_dual_written_job_twice(queue: QueueTarget, lab: Lab) -> bool:
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    return [job.job_id for job in queue.list_jobs("ws1")] == [job_id, job_id]


def misses_jobs_beyond_one_scan_page(queue: QueueTarget, lab: Lab) -> bool:
    pipe = lab.redis.pipeline(transaction=False)
    for n in range(MANY_JOBS):
        job = Job(uuid.uuid4().hex, "ws1", f"req-{n}", {"n": n}, "queued")
        pipe.hset(SCHEMA.new_job_key("ws1", job.job_id), mapping=encode_job(job))
    pipe.execute()
    return len(queue.list_jobs("ws1")) < MANY_JOBS


def leases_for_a_bool(queue: QueueTarget, lab: Lab) -> bool:
    queue.enqueue("ws1", PAYLOAD, "req-1")
    try:
        job = queue.dequeue(True)
    except ValueError:
        return False
    return job is not None and lab.redis.zcard(SCHEMA.lease_key) == 1


def stores_a_payload_json_changes(queue: QueueTarget, lab: Lab) -> bool:
    given = {"pair": (1, 2)}
    try:
        job_id = queue.enqueue("ws1", given, "req-1")
    except ValueError:
        return False
    return queue.get_job("ws1", job_id).payload == {"pair": [1, 2]}


def gives_another_workspace_the_same_job(queue: QueueTarget, lab: Lab) -> bool:
    first = queue.enqueue("ws1", PAYLOAD, "req-1")
    return queue.enqueue("ws2", PAYLOAD, "req-1") == first


def requeues_a_finished_job_set_to_queued(queue: QueueTarget, lab: Lab) -> bool:
    job_id = leased(queue)
    queue.complete("ws1", job_id)
    queue.update_status("ws1", job_id, "queued")
    return pending(lab) == [job_id]


def counts_a_failed_write_as_success(queue: QueueTarget, lab: Lab) -> bool:
    run = under_fault(lab, Fault(FaultKind.REQUEST_LOST, 1),
                      lambda: queue.enqueue("ws1", PAYLOAD, "req-1"))
    counted = (dual_writes(lab, "enqueue", "success"), dual_writes(lab, "enqueue", "failure"))
    return run.fired and not run.returned and counted == (1.0, 0.0)


def another_caller_before(lab: Lab, round_trip: int, act: Callable[[], Any],
                          operation: Callable[[], Any]) -> Any:
    """Run `operation`; just before its `round_trip`-th round trip, another caller does
    `act` (directly on Redis): two calls overlapping, in the one order that shows a race."""
    seen = 0

    def before() -> None:
        nonlocal seen
        seen += 1
        if seen == round_trip:
            act()

    lab.injector.before_round_trip = before
    try:
        with lab.injector.operation([]):
            return operation()
    finally:
        lab.injector.before_round_trip = None


def answers_a_job_another_submit_beat(queue: QueueTarget, lab: Lab) -> bool:
    key = SCHEMA.idempotency_key("ws1", "req-1")
    other = uuid.uuid4().hex
    answered = another_caller_before(lab, 3, lambda: lab.redis.set(key, other),
                                     lambda: queue.enqueue("ws1", PAYLOAD, "req-1"))
    return answered != lab.redis.get(key)


def answers_none_while_jobs_are_pending(queue: QueueTarget, lab: Lab) -> bool:
    queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.enqueue("ws1", PAYLOAD, "req-2")
    taken = another_caller_before(
        lab, 2, lambda: lab.redis.lmove(SCHEMA.queue_key, SCHEMA.processing_key),
        lambda: queue.dequeue(LEASE))
    return taken is None and len(pending(lab)) == 1


# --- written after the fault sweep, never tuned on ------------------------------------------

def fails_a_job_by_deleting_it(queue: QueueTarget, lab: Lab) -> bool:
    job_id = leased(queue)
    queue.fail("ws1", job_id)
    return queue.get_job("ws1", job_id) is None


def writes_a_big_payload_to_the_new_schema_only(queue: QueueTarget, lab: Lab) -> bool:
    job_id = queue.enqueue("ws1", {"blob": "x" * 9000}, "req-1")
    new = lab.redis.exists(SCHEMA.new_job_key("ws1", job_id))
    return new == 1 and lab.redis.exists(SCHEMA.old_job_key(job_id)) == 0


def leaves_an_ended_lease_after_requeue(queue: QueueTarget, lab: Lab) -> bool:
    queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.enqueue("ws1", PAYLOAD, "req-2")
    queue.dequeue(LEASE)
    queue.dequeue(LEASE)
    return len(queue.requeue_expired(now=FAR_FUTURE)) == 1 and len(processing(lab)) == 1


def drops_a_pending_job_of_the_old_schema(queue: QueueTarget, lab: Lab) -> bool:
    legacy = Job(uuid.uuid4().hex, "ws1", "req-legacy", {"n": 1}, "queued")
    lab.redis.hset(SCHEMA.old_job_key(legacy.job_id), mapping=encode_job(legacy))
    lab.redis.rpush(SCHEMA.queue_key, legacy.job_id)
    return queue.dequeue(LEASE) is None and pending(lab) == [] and processing(lab) == []


def runs_a_completed_job_again_after_a_failed_second_write(queue: QueueTarget,
                                                           lab: Lab) -> bool:
    job_id = leased(queue)
    run = under_fault(lab, Fault(FaultKind.REQUEST_LOST, 2),
                      lambda: queue.complete("ws1", job_id))
    return (run.fired and not run.returned and status_in_redis(lab, job_id) == "completed"
            and queue.requeue_expired(now=FAR_FUTURE) == [job_id])


def lists_another_workspaces_job(queue: QueueTarget, lab: Lab) -> bool:
    queue.enqueue("ws1", PAYLOAD, "req-1")
    other = queue.enqueue("ws12", PAYLOAD, "req-1")
    return other in {job.job_id for job in queue.list_jobs("ws1")}


PROBES: dict[str, Callable[[QueueTarget, Lab], bool]] = {
    "H-1": leases_the_newest_job_first,
    "H-2": returns_the_job_as_it_was_before_running,
    "H-3": lease_outlives_its_seconds,
    "H-4": leaves_a_leased_job_without_a_lease,
    "H-5": refuses_to_complete_a_job_not_leased,
    "H-6": loses_a_job_whose_lease_write_failed,
    "H-7": returns_normally_from_an_unwritten_status,
    "H-8": requeues_a_job_twice_after_a_lost_reply,
    "H-9": keeps_a_lease_that_ends_exactly_now,
    "H-10": creates_the_new_record_of_an_old_only_job,
    "H-11": lists_a_dual_written_job_twice,
    "H-12": misses_jobs_beyond_one_scan_page,
    "H-13": leases_for_a_bool,
    "H-14": stores_a_payload_json_changes,
    "H-15": gives_another_workspace_the_same_job,
    "H-16": requeues_a_finished_job_set_to_queued,
    "H-17": counts_a_failed_write_as_success,
    "H-18": answers_a_job_another_submit_beat,
    "H-19": answers_none_while_jobs_are_pending,
    "H-20": fails_a_job_by_deleting_it,
    "H-21": writes_a_big_payload_to_the_new_schema_only,
    "H-22": leaves_an_ended_lease_after_requeue,
    "H-23": drops_a_pending_job_of_the_old_schema,
    "H-24": runs_a_completed_job_again_after_a_failed_second_write,
    "H-25": lists_another_workspaces_job,
}


# --- the list itself ----------------------------------------------------------------------

def test_every_holdout_defect_has_a_probe():
    assert set(PROBES) == set(holdout.HOLDOUT)


@pytest.mark.parametrize("holdout_id", list(holdout.HOLDOUT))
def test_every_holdout_queue_is_the_reference_documented_under_its_id(holdout_id):
    queue_class = getattr(holdout, holdout.HOLDOUT[holdout_id][0])
    assert issubclass(queue_class, ReferenceQueue) and queue_class is not ReferenceQueue
    assert queue_class.__doc__.startswith(f"{holdout_id}: ")


# --- visible without any fault ------------------------------------------------------------

def test_h1_dequeue_leases_the_newest_job_first(qc_client, lab):
    assert leases_the_newest_job_first(build("H-1", qc_client, lab), lab)


def test_h2_dequeue_returns_the_job_as_it_was_before_running(qc_client, lab):
    assert returns_the_job_as_it_was_before_running(build("H-2", qc_client, lab), lab)


def test_h3_a_lease_in_milliseconds_outlives_its_seconds(qc_client, lab):
    assert lease_outlives_its_seconds(build("H-3", qc_client, lab), lab)


def test_h4_a_misspelt_lease_key_leaves_the_leased_job_without_a_lease(qc_client, lab):
    assert leaves_a_leased_job_without_a_lease(build("H-4", qc_client, lab), lab)


def test_h5_complete_refuses_a_job_that_is_not_leased(qc_client, lab):
    assert refuses_to_complete_a_job_not_leased(build("H-5", qc_client, lab), lab)


def test_h9_requeue_keeps_a_lease_that_ends_exactly_now(qc_client, lab):
    assert keeps_a_lease_that_ends_exactly_now(build("H-9", qc_client, lab), lab)


def test_h10_get_job_creates_the_new_record_of_an_old_only_job(qc_client, lab):
    assert creates_the_new_record_of_an_old_only_job(build("H-10", qc_client, lab), lab)


def test_h11_list_jobs_lists_a_dual_written_job_twice(qc_client, lab):
    assert lists_a_dual_written_job_twice(build("H-11", qc_client, lab), lab)


def test_h12_list_jobs_misses_jobs_beyond_one_scan_page(qc_client, lab):
    assert misses_jobs_beyond_one_scan_page(build("H-12", qc_client, lab), lab)


def test_h13_dequeue_leases_for_lease_seconds_true(qc_client, lab):
    assert leases_for_a_bool(build("H-13", qc_client, lab), lab)


def test_h14_enqueue_stores_a_payload_json_does_not_give_back(qc_client, lab):
    assert stores_a_payload_json_changes(build("H-14", qc_client, lab), lab)


def test_h15_one_request_id_in_two_workspaces_gives_one_job(qc_client, lab):
    assert gives_another_workspace_the_same_job(build("H-15", qc_client, lab), lab)


def test_h16_setting_a_finished_job_to_queued_requeues_it(qc_client, lab):
    assert requeues_a_finished_job_set_to_queued(build("H-16", qc_client, lab), lab)


# --- visible only under a fault -----------------------------------------------------------

def test_h6_a_failed_lease_write_loses_the_job_in_processing(qc_faulted_client, lab):
    assert loses_a_job_whose_lease_write_failed(build("H-6", qc_faulted_client, lab), lab)


def test_h7_update_status_returns_normally_when_nothing_was_written(qc_faulted_client, lab):
    assert returns_normally_from_an_unwritten_status(build("H-7", qc_faulted_client, lab), lab)


def test_h8_a_lost_reply_makes_requeue_push_the_job_twice(qc_faulted_client, lab):
    assert requeues_a_job_twice_after_a_lost_reply(build("H-8", qc_faulted_client, lab), lab)


def test_h17_a_failed_enqueue_is_counted_as_a_success(qc_faulted_client, lab):
    assert counts_a_failed_write_as_success(build("H-17", qc_faulted_client, lab), lab)


def test_h18_an_enqueue_beaten_by_another_submit_answers_its_own_unwritten_job(
        qc_faulted_client, lab):
    assert answers_a_job_another_submit_beat(build("H-18", qc_faulted_client, lab), lab)


def test_h19_dequeue_answers_none_when_another_worker_took_the_head_it_read(
        qc_faulted_client, lab):
    assert answers_none_while_jobs_are_pending(build("H-19", qc_faulted_client, lab), lab)


# --- written after the fault sweep ---------------------------------------------------------

def test_h20_fail_deletes_the_job(qc_client, lab):
    assert fails_a_job_by_deleting_it(build("H-20", qc_client, lab), lab)


def test_h21_a_big_payload_is_written_to_the_new_schema_only(qc_client, lab):
    assert writes_a_big_payload_to_the_new_schema_only(build("H-21", qc_client, lab), lab)


def test_h22_requeue_expired_leaves_a_second_ended_lease(qc_client, lab):
    assert leaves_an_ended_lease_after_requeue(build("H-22", qc_client, lab), lab)


def test_h23_dequeue_drops_a_job_of_the_old_schema_only(qc_client, lab):
    assert drops_a_pending_job_of_the_old_schema(build("H-23", qc_client, lab), lab)


def test_h24_a_failed_second_write_of_complete_runs_the_job_again(qc_faulted_client, lab):
    assert runs_a_completed_job_again_after_a_failed_second_write(
        build("H-24", qc_faulted_client, lab), lab)


def test_h25_list_jobs_lists_a_workspace_whose_id_starts_with_the_one_asked(qc_client, lab):
    assert lists_another_workspaces_job(build("H-25", qc_client, lab), lab)


# --- and none of them on the reference ----------------------------------------------------

@pytest.mark.parametrize("holdout_id", list(PROBES))
def test_the_reference_shows_no_holdout_defect(holdout_id, qc_faulted_client, lab):
    queue = reference.make_queue(qc_faulted_client, lab.registry)
    assert not PROBES[holdout_id](queue, lab)
