"""Bad input gets a clear ValueError from the reference, and nothing is written to Redis.

Phase 1 validates nothing (MEDIUM-3): its last test shows the malformed key that results.
"""

from __future__ import annotations

import pytest

from harness.target import DEFAULT_SCHEMA, MAX_PAYLOAD_BYTES, KeyKind
from queue_impl import phase1, reference

pytestmark = pytest.mark.servers

PAYLOAD = {"prompt": "summarise"}
JOB_ID = "0" * 32

BAD_WORKSPACE_IDS = {
    "empty": "",
    "none": None,
    "colon": "ws:1",
    "whitespace": " ws1",
    "inner-space": "ws 1",
    "only-space": " ",
    "200-chars": "w" * 200,
    "non-ascii": "wörkspace",
    "glob": "ws*",
    "leading-dot": ".ws",
    "int": 7,
}
BAD_REQUEST_IDS = {
    "empty": "",
    "none": None,
    "colon": "req:1",
    "newline": "req\n1",
    "200-chars": "r" * 200,
    "non-ascii": "réq",
}
BAD_PAYLOADS = {
    "object": {"x": object()},
    "set": {"x": {1, 2}},
    "not-a-dict": ["a", "b"],
    "string": '{"x": 1}',
    "none": None,
    "int-keys": {1: "a"},
    "nan": {"x": float("nan")},
    "oversized": {"x": "y" * MAX_PAYLOAD_BYTES},
}


@pytest.fixture
def queue(qc_client, qc_registry):
    return reference.make_queue(qc_client, qc_registry)


@pytest.fixture
def nothing_written(qc_redis):
    """Asserts after the test that Redis holds no key at all (the direct client may use KEYS)."""
    yield
    assert qc_redis.keys() == []


@pytest.mark.parametrize("workspace_id", BAD_WORKSPACE_IDS.values(), ids=BAD_WORKSPACE_IDS)
def test_enqueue_refuses_a_bad_workspace_id(queue, nothing_written, workspace_id):
    with pytest.raises(ValueError, match=r"^workspace_id .* is invalid: 1-64 chars"):
        queue.enqueue(workspace_id, PAYLOAD, "req-1")


@pytest.mark.parametrize("request_id", BAD_REQUEST_IDS.values(), ids=BAD_REQUEST_IDS)
def test_enqueue_refuses_a_bad_request_id(queue, nothing_written, request_id):
    with pytest.raises(ValueError, match=r"^client_request_id .* is invalid: 1-128 chars"):
        queue.enqueue("ws1", PAYLOAD, request_id)


@pytest.mark.parametrize("payload", BAD_PAYLOADS.values(), ids=BAD_PAYLOADS)
def test_enqueue_refuses_a_bad_payload(queue, nothing_written, payload):
    with pytest.raises(ValueError, match=r"^payload .*is invalid"):
        queue.enqueue("ws1", payload, "req-1")


def test_a_payload_of_exactly_the_limit_is_accepted(queue):
    padding = MAX_PAYLOAD_BYTES - len('{"x":""}')
    queue.enqueue("ws1", {"x": "y" * padding}, "req-1")


def test_error_messages_are_one_line_and_short(queue, nothing_written):
    with pytest.raises(ValueError) as caught:
        queue.enqueue("w" * 10_000, PAYLOAD, "req-1")
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


@pytest.mark.parametrize("workspace_id", BAD_WORKSPACE_IDS.values(), ids=BAD_WORKSPACE_IDS)
def test_reads_refuse_a_bad_workspace_id(queue, nothing_written, workspace_id):
    with pytest.raises(ValueError, match="workspace_id"):
        queue.get_job(workspace_id, JOB_ID)
    with pytest.raises(ValueError, match="workspace_id"):
        queue.list_jobs(workspace_id)


@pytest.mark.parametrize("job_id", ["", None, "0" * 31, "G" * 32, f"{JOB_ID}:x", "0" * 33])
def test_job_operations_refuse_a_bad_job_id(queue, nothing_written, job_id):
    for call in (queue.get_job, queue.complete, queue.fail):
        with pytest.raises(ValueError, match=r"^job_id"):
            call("ws1", job_id)
    with pytest.raises(ValueError, match=r"^job_id"):
        queue.update_status("ws1", job_id, "running")


@pytest.mark.parametrize("status", ["", "done", None, "RUNNING"])
def test_update_status_refuses_an_unknown_status(queue, qc_redis, status):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    with pytest.raises(ValueError, match=r"^status .* is invalid: one of queued, running"):
        queue.update_status("ws1", job_id, status)
    assert qc_redis.hget(DEFAULT_SCHEMA.old_job_key(job_id), "status") == "queued"


@pytest.mark.parametrize("lease_seconds",
                         [0, -1, None, "30", True, float("nan"), float("inf")])
def test_dequeue_refuses_a_bad_lease(queue, qc_redis, lease_seconds):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    with pytest.raises(ValueError, match=r"^lease_seconds"):
        queue.dequeue(lease_seconds)
    assert qc_redis.lrange(DEFAULT_SCHEMA.queue_key, 0, -1) == [job_id]


@pytest.mark.parametrize("now", ["0", True, float("nan"), float("inf"), [1.0]])
def test_requeue_expired_refuses_a_bad_now(queue, qc_redis, now):
    job_id = queue.enqueue("ws1", PAYLOAD, "req-1")
    queue.dequeue(30)
    with pytest.raises(ValueError, match=r"^now"):
        queue.requeue_expired(now)
    assert qc_redis.lrange(DEFAULT_SCHEMA.processing_key, 0, -1) == [job_id]


def test_phase1_accepts_an_empty_workspace_and_writes_a_malformed_key(qc_client, qc_registry,
                                                                       qc_redis):
    job_id = phase1.make_queue(qc_client, qc_registry).enqueue("", PAYLOAD, "req-1")
    malformed = f"{DEFAULT_SCHEMA.new_job_prefix}:{job_id}"  # MEDIUM-3: ai:job::{id}
    assert qc_redis.exists(malformed)
    assert DEFAULT_SCHEMA.parse(malformed).kind is KeyKind.MALFORMED
