"""A library that stores binary data gets a bytes client over the same faultable connection."""

from __future__ import annotations

import contextlib

import redis

from harness.injector import RoundTripConnection, injected_client
from harness.redis_client import build_client


def test_build_client_decodes_strings_unless_asked_for_bytes():
    assert build_client("127.0.0.1", 1).connection_pool.connection_kwargs["decode_responses"]
    raw = build_client("127.0.0.1", 1, decode_responses=False,
                       connection_class=RoundTripConnection)
    assert raw.connection_pool.connection_kwargs["decode_responses"] is False
    assert raw.connection_pool.connection_class is RoundTripConnection


def test_a_bytes_injected_client_returns_bytes_and_its_round_trips_are_counted(
        qc_services, qc_injector, qc_redis):
    client = injected_client(qc_services.proxy.host, qc_services.proxy.port, qc_injector,
                             db=qc_services.database, decode_responses=False)
    try:
        with qc_injector.operation() as run:
            client.set("blob", b"\x78\x9c\x00\xff")
            value = client.get("blob")
        assert value == b"\x78\x9c\x00\xff"
        assert run.round_trips == 2
    finally:
        with contextlib.suppress(redis.RedisError):
            client.close()
