"""Fixtures shared by the fault tests: an injector on the session's proxy and its client.

A test module loads them with `pytest_plugins = ("injection_fixtures",)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import redis

from harness.injector import FaultInjector, injected_client
from harness.services import Services


@pytest.fixture
def injector(qc_services: Services, qc_redis: redis.Redis) -> FaultInjector:
    """Depends on qc_redis so that Redis is empty and no toxic is left when a test starts."""
    return FaultInjector(qc_services.control, qc_services.proxy_name)


@pytest.fixture
def faulted_client(qc_services: Services, injector: FaultInjector) -> Iterator[redis.Redis]:
    """Through the proxy, retries off (ClientPolicy()), socket timeout 0.5 s."""
    client = injected_client(qc_services.proxy.host, qc_services.proxy.port, injector)
    yield client
    with contextlib.suppress(redis.RedisError):
        client.close()
