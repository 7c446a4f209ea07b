"""Each fault kind does what it claims, on a real Redis behind a real Toxiproxy.

The target's client goes through the proxy with retries off; `qc_redis` reads Redis
directly, where no fault reaches, to see what really happened.
"""

from __future__ import annotations

import contextlib
import errno
import time

import pytest
import redis

from harness.faults import LATENCY_JITTER_MS, LATENCY_MS, Fault, FaultKind
from harness.injector import FaultInjector, injected_client
from harness.redis_client import ClientPolicy

PIPELINE_KEYS = [f"k{i:02}" for i in range(20)]


def set_under(qc_injector: FaultInjector, client: redis.Redis, kind: FaultKind) -> Exception | None:
    """SET k v with `kind` armed before it; the error the caller sees, if any."""
    with qc_injector.operation([Fault(kind)]) as run:
        try:
            client.set("k", "v")
        except redis.RedisError as exc:
            error: Exception | None = exc
        else:
            error = None
    assert run.fired == [Fault(kind)]
    return error


def pipeline_under_partial(qc_injector: FaultInjector, client: redis.Redis, transaction: bool):
    with qc_injector.operation([Fault(FaultKind.PARTIAL)]):
        pipe = client.pipeline(transaction=transaction)
        for key in PIPELINE_KEYS:
            pipe.set(key, "v")
        with pytest.raises(redis.ConnectionError):
            pipe.execute()


def test_request_lost_fails_the_command_and_redis_never_runs_it(qc_injector, qc_faulted_client,
                                                                qc_redis):
    error = set_under(qc_injector, qc_faulted_client, FaultKind.REQUEST_LOST)
    assert isinstance(error, redis.ConnectionError)
    assert qc_redis.get("k") is None


def test_reply_lost_fails_the_command_although_redis_ran_it(qc_injector, qc_faulted_client,
                                                            qc_redis):
    error = set_under(qc_injector, qc_faulted_client, FaultKind.REPLY_LOST)
    assert isinstance(error, redis.ConnectionError)
    assert qc_redis.get("k") == "v"


def test_stall_times_out_although_redis_ran_the_command(qc_injector, qc_faulted_client, qc_redis):
    error = set_under(qc_injector, qc_faulted_client, FaultKind.STALL)
    assert isinstance(error, redis.exceptions.TimeoutError)
    assert qc_redis.get("k") == "v"


def test_a_stall_waits_the_short_stall_wait_not_the_clients_whole_socket_timeout(qc_services):
    patient = ClientPolicy(socket_timeout=30.0)
    injector = FaultInjector(qc_services.control, qc_services.proxy_name)
    client = injected_client(qc_services.proxy.host, qc_services.proxy.port, injector, patient)
    try:
        started = time.monotonic()
        error = set_under(injector, client, FaultKind.STALL)
        waited = time.monotonic() - started
        assert isinstance(error, redis.exceptions.TimeoutError)
        assert waited < patient.socket_timeout  # STALL_WAIT, not the client's 30 s
        assert client.set("after", "v")  # the next round trip has the client's timeout again
    finally:
        client.close()
        injector.heal()


def test_reset_fails_with_a_connection_reset_and_redis_never_runs_it(
    qc_injector, qc_faulted_client, qc_redis
):
    error = set_under(qc_injector, qc_faulted_client, FaultKind.RESET)
    assert isinstance(error, redis.ConnectionError)
    assert str(errno.ECONNRESET) in str(error) and "reset" in str(error).lower()
    assert qc_redis.get("k") is None


def test_partial_runs_only_the_head_of_a_plain_pipeline(qc_injector, qc_faulted_client, qc_redis):
    pipeline_under_partial(qc_injector, qc_faulted_client, transaction=False)
    written = qc_redis.exists(*PIPELINE_KEYS)
    assert 0 < written < len(PIPELINE_KEYS)


def test_partial_on_a_transaction_commits_nothing(qc_injector, qc_faulted_client, qc_redis):
    pipeline_under_partial(qc_injector, qc_faulted_client, transaction=True)
    assert qc_redis.exists(*PIPELINE_KEYS) == 0


def test_latency_delays_the_reply_and_the_command_succeeds(qc_injector, qc_faulted_client,
                                                           qc_redis):
    with qc_injector.operation([Fault(FaultKind.LATENCY)]) as run:
        started = time.monotonic()
        assert qc_faulted_client.set("k", "v") is True
        elapsed = time.monotonic() - started
    assert run.fired == [Fault(FaultKind.LATENCY)]
    assert qc_redis.get("k") == "v"
    # A lower bound, which Toxiproxy guarantees (latency - jitter), not a flaky upper bound.
    assert elapsed >= (LATENCY_MS - LATENCY_JITTER_MS) / 1000


def test_a_fault_at_round_trip_2_hits_only_the_second_command(qc_injector, qc_faulted_client,
                                                              qc_redis):
    failed = []
    with qc_injector.operation([Fault(FaultKind.REQUEST_LOST, 2)]) as run:
        for key in ("a", "b", "c"):
            try:
                qc_faulted_client.set(key, "v")
            except redis.ConnectionError:
                failed.append(key)
    assert failed == ["b"]
    assert run.round_trips == 3
    assert [qc_redis.exists(key) for key in ("a", "b", "c")] == [1, 0, 1]


def write_two_then_clean_up(client: redis.Redis) -> None:
    """A write of a and b that deletes a when b fails: the cleanup path a second fault can hit."""
    try:
        client.set("a", "v")
        client.set("b", "v")
    except redis.ConnectionError:
        with contextlib.suppress(redis.ConnectionError):
            client.delete("a")


def test_the_cleanup_runs_after_a_single_fault(qc_injector, qc_faulted_client, qc_redis):
    with qc_injector.operation([Fault(FaultKind.REQUEST_LOST, 2)]) as run:
        write_two_then_clean_up(qc_faulted_client)
    assert run.round_trips == 3
    assert qc_redis.exists("a", "b") == 0


def test_a_second_fault_hits_the_cleanup_path(qc_injector, qc_faulted_client, qc_redis):
    plan = [Fault(FaultKind.REQUEST_LOST, 2), Fault(FaultKind.REQUEST_LOST, 3)]
    with qc_injector.operation(plan) as run:
        write_two_then_clean_up(qc_faulted_client)
    assert run.fired == plan
    assert qc_redis.get("a") == "v"
    assert not qc_redis.exists("b")


def test_a_fault_beyond_the_last_round_trip_does_not_fire(qc_injector, qc_faulted_client, qc_redis):
    late = Fault(FaultKind.REPLY_LOST, 5)
    with qc_injector.operation([late]) as run:
        assert qc_faulted_client.set("k", "v") is True
    assert run.round_trips == 1
    assert run.fired == []
    assert run.not_fired == [late]


@pytest.mark.parametrize("kind", list(FaultKind))
def test_no_toxic_remains_after_an_operation(kind, qc_injector, qc_faulted_client, qc_services):
    with qc_injector.operation([Fault(kind)]), contextlib.suppress(redis.RedisError):
        qc_faulted_client.set("k", "v")
    assert qc_services.control.toxics(qc_services.proxy_name) == []


def rpush_under_reply_lost(qc_services, qc_injector: FaultInjector, policy: ClientPolicy) -> None:
    client = injected_client(qc_services.proxy.host, qc_services.proxy.port, qc_injector, policy)
    try:
        with qc_injector.operation([Fault(FaultKind.REPLY_LOST)]), \
                contextlib.suppress(redis.ConnectionError):
            client.rpush("q", "x")
    finally:
        client.close()


def test_redis_py_default_retries_run_a_command_with_a_lost_reply_twice(
    qc_services, qc_injector, qc_redis
):
    rpush_under_reply_lost(qc_services, qc_injector, ClientPolicy.redis_py_default())
    assert qc_redis.lrange("q", 0, -1) == ["x", "x"]


def test_without_retries_a_command_with_a_lost_reply_runs_once(qc_services, qc_injector, qc_redis):
    rpush_under_reply_lost(qc_services, qc_injector, ClientPolicy())
    assert qc_redis.lrange("q", 0, -1) == ["x"]
