"""A request still on its way to Redis when the client gave up lands before the state is read.

The late request is made real: an upstream latency toxic holds a SET in Toxiproxy while the
client's socket timeout expires first; Toxiproxy delivers it afterwards.
"""

from __future__ import annotations

import time

import pytest
import redis

from harness.injector import FaultInjector, injected_client
from harness.redis_client import ClientPolicy
from harness.settle import HARNESS_CLIENT_NAME, foreign_clients, settle, target_connections
from harness.toxiproxy import Toxic

HELD_MS = 300


@pytest.fixture
def late_set(qc_services):
    """A SET that times out at the client and reaches Redis HELD_MS later."""
    direct = qc_services.direct_client(client_name=HARNESS_CLIENT_NAME)
    direct.flushdb()
    foreign = foreign_clients(direct)
    injector = FaultInjector(qc_services.control, qc_services.proxy_name)
    client = injected_client(qc_services.proxy.host, qc_services.proxy.port, injector,
                             ClientPolicy(socket_timeout=0.05))
    client.ping()
    qc_services.control.add_toxic(qc_services.proxy_name, Toxic(
        "late", "latency", "upstream", attributes={"latency": HELD_MS}))
    try:
        with pytest.raises(redis.TimeoutError):
            client.set("late-key", "landed")
        yield direct, injector, foreign
    finally:
        qc_services.control.remove_toxic(qc_services.proxy_name, "late")
        client.close()
        direct.flushdb()
        direct.close()


def test_without_waiting_the_state_read_misses_a_request_that_lands_later(late_set):
    direct, _, _ = late_set
    assert direct.get("late-key") is None  # what a snapshot at once would have seen
    time.sleep(2 * HELD_MS / 1000)
    assert direct.get("late-key") == "landed"


def test_settle_waits_until_the_late_request_has_landed(late_set):
    direct, injector, foreign = late_set
    assert settle(direct, injector.open_connections, foreign)
    seen = direct.get("late-key")
    time.sleep(2 * HELD_MS / 1000)
    assert direct.get("late-key") == seen == "landed"


def test_the_harness_own_connections_and_those_open_before_are_not_the_targets(qc_services):
    direct = qc_services.direct_client(client_name=HARNESS_CLIENT_NAME)
    other = qc_services.direct_client()
    other.ping()  # another user of the same Redis, there before the target
    try:
        foreign = foreign_clients(direct)
        assert target_connections(direct, foreign) == 0
        assert settle(direct, lambda: 0, foreign, limit=0.1)
    finally:
        other.close()
        direct.close()
