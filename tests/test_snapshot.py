"""take_snapshot reads every key of a KeySchema's namespaces, sorted by what it is."""

import dataclasses

import fakeredis
import pytest
from checker_states import WS_A, WS_B, State, jid, record, rid

from harness.snapshot import Snapshot, take_snapshot
from harness.target import DEFAULT_SCHEMA, KeySchema


def write(client, snapshot: Snapshot) -> None:
    """Put a hand-made state into Redis, key by key."""
    s = snapshot.schema
    for job_id, rec in snapshot.old_jobs.items():
        client.hset(s.old_job_key(job_id), mapping=rec)
    for (ws, job_id), rec in snapshot.new_jobs.items():
        client.hset(s.new_job_key(ws, job_id), mapping=rec)
    for (ws, request_id), job_id in snapshot.idempotency.items():
        client.set(s.idempotency_key(ws, request_id), job_id)
    if snapshot.queue:
        client.rpush(s.queue_key, *snapshot.queue)
    if snapshot.processing:
        client.rpush(s.processing_key, *snapshot.processing)
    if snapshot.leases:
        client.zadd(s.lease_key, snapshot.leases)


def sample_state() -> Snapshot:
    return (State().pending(jid(1)).pending(jid(2), WS_B).leased(jid(3), deadline=1234.5)
            .finished(jid(4)).legacy(jid(5)).build())


@pytest.fixture
def fake():
    client = fakeredis.FakeRedis(decode_responses=True)
    yield client
    client.close()


@pytest.mark.servers
def test_a_real_redis_reads_back_as_written_with_its_malformed_keys(qc_redis):
    written = sample_state()
    write(qc_redis, written)
    qc_redis.hset(f"ai:job::{jid(9)}", mapping=record(jid(9), ""))
    qc_redis.set(f"job:{jid(8)}", "not a hash")
    qc_redis.set("someone-else:key", "untouched")
    snapshot = take_snapshot(qc_redis, DEFAULT_SCHEMA)
    assert snapshot.malformed == {
        f"ai:job::{jid(9)}": "new job key whose parts are not valid ids "
                             "(expected ai:job:{workspace_id}:{job_id}) (a hash)",
        f"job:{jid(8)}": "a string where a hash belongs (old_job)",
    }
    assert snapshot == dataclasses.replace(written, malformed=snapshot.malformed)
    assert snapshot.keys() == written.keys() | set(snapshot.malformed)  # not someone-else:key


def test_every_kind_of_key_reads_back_as_written(fake):
    written = sample_state()
    write(fake, written)
    assert take_snapshot(fake, DEFAULT_SCHEMA) == written


def test_a_state_larger_than_one_scan_page_is_read_whole(fake):
    state = State()
    for n in range(1, 60):
        state.pending(jid(n))
    written = state.build()
    write(fake, written)
    assert take_snapshot(fake, DEFAULT_SCHEMA, scan_count=7) == written


def test_a_list_of_the_wrong_type_is_malformed(fake):
    fake.set("ai:queue:pending", "oops")
    snapshot = take_snapshot(fake, DEFAULT_SCHEMA)
    assert snapshot.malformed == {"ai:queue:pending": "a string where a list belongs (queue)"}
    assert snapshot.queue == []


def test_keys_of_another_schema_are_read_with_it(fake):
    schema = KeySchema(old_job_prefix="legacy:", new_job_prefix="v2:job:",
                       queue_key="v2:pending", idempotency_prefix="v2:idem:")
    fake.hset(f"legacy:{jid(1)}", mapping=record(jid(1)))
    fake.rpush("v2:pending", jid(1))
    fake.hset(f"job:{jid(2)}", mapping=record(jid(2)))  # the default schema's, not this one's
    snapshot = take_snapshot(fake, schema)
    assert (list(snapshot.old_jobs), snapshot.queue) == ([jid(1)], [jid(1)])
    assert snapshot.keys() == {f"legacy:{jid(1)}", "v2:pending"}


def test_a_client_without_decoded_responses_is_refused():
    with pytest.raises(ValueError, match="decode_responses"):
        take_snapshot(fakeredis.FakeRedis(), DEFAULT_SCHEMA)


def test_keys_name_every_key_and_changed_keys_name_the_difference():
    before = State().pending(jid(1)).build()
    after = State().pending(jid(1)).pending(jid(2)).build()
    assert before.keys() == {f"job:{jid(1)}", f"ai:job:{WS_A}:{jid(1)}",
                             f"ai:idem:{WS_A}:{rid(1)}", "ai:queue:pending"}
    assert after.changed_keys(before) == sorted(
        {f"job:{jid(2)}", f"ai:job:{WS_A}:{jid(2)}", f"ai:idem:{WS_A}:{rid(2)}",
         "ai:queue:pending"})
    assert after.changed_keys(after) == []


def test_workspace_jobs_cover_both_schemas_and_only_that_workspace():
    snapshot = (State().legacy(jid(1)).pending(jid(2), schemas="new")
                .pending(jid(3), WS_B).build())
    assert snapshot.workspace_jobs(WS_A) == {jid(1), jid(2)}
    assert snapshot.job_ids() == [jid(1), jid(2), jid(3)]


def test_a_reader_sees_the_new_status_before_the_old_one():
    snapshot = State().pending(jid(1)).build()
    snapshot.old_jobs[jid(1)]["status"] = "completed"
    assert snapshot.status_of(jid(1)) == "queued"
    assert snapshot.records_of(jid(1))[0]["status"] == "completed"
    assert snapshot.statuses_of(jid(1)) == {"queued", "completed"}
