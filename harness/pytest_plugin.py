"""pytest plugin (entry point `pytest11`): the harness as fixtures that clean up after themselves.

  qc_services   session-wide real Redis behind a real Toxiproxy (backend from QUEUE_CHAOS_*)
  qc_redis      a direct client to that Redis, emptied and with every toxic removed, per test
  qc_registry   a fresh Prometheus registry per test
  qc_client     a client through the proxy, retry policy explicit (ClientPolicy())
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import redis
from prometheus_client import CollectorRegistry

from harness.config import ServicesConfig
from harness.redis_client import ClientPolicy, build_client
from harness.services import Services, open_services


@pytest.fixture(scope="session")
def qc_services() -> Iterator[Services]:
    with open_services(ServicesConfig.from_env()) as services:
        yield services


@pytest.fixture
def qc_redis(qc_services: Services) -> Iterator[redis.Redis]:
    qc_services.control.reset()
    client = qc_services.direct_client()
    qc_services.flush(client)
    yield client
    client.close()


@pytest.fixture
def qc_registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def qc_client(qc_services: Services, qc_redis: redis.Redis) -> Iterator[redis.Redis]:
    client = build_client(qc_services.proxy.host, qc_services.proxy.port, ClientPolicy())
    yield client
    with contextlib.suppress(redis.RedisError):
        client.close()
