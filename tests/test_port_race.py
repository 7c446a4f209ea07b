"""A free port taken by another run before our server binds it gets the server another one."""

from __future__ import annotations

import socket

import pytest

from harness.errors import InfrastructureError
from harness.servers import services as services_module
from harness.servers.config import ServicesConfig
from harness.servers.ports import LOOPBACK
from harness.servers.services import local_services


@pytest.fixture
def taken_port():
    """A port someone else listens on, as another run's server would."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        yield sock.getsockname()[1]


def first_taken_then_free(monkeypatch, taken: int, times: int) -> None:
    real = services_module.free_port
    handed = iter([taken] * times)
    monkeypatch.setattr(services_module, "free_port", lambda: next(handed, None) or real())


@pytest.mark.parametrize("server", ["redis-server", "toxiproxy-server"])
def test_a_server_whose_port_was_taken_starts_on_another(monkeypatch, taken_port, server):
    real = services_module.free_port
    calls = iter(range(100))
    position = 0 if server == "redis-server" else 1  # the order local_services asks in
    monkeypatch.setattr(services_module, "free_port",
                        lambda: taken_port if next(calls) == position else real())
    with local_services(ServicesConfig()) as services:
        assert services.direct_client().ping()
        assert services.control.answers()
        assert taken_port not in (services.redis.port, services.proxy.port)


def test_a_port_taken_every_time_is_an_infrastructure_error_that_says_so(monkeypatch,
                                                                        taken_port):
    first_taken_then_free(monkeypatch, taken_port, times=3)
    with pytest.raises(InfrastructureError, match="could not listen"), \
            local_services(ServicesConfig()):
        pass
