"""What the services promise: real servers, a proxy in front, nothing left behind, loud failures.

The local backend is checked on private instances (the session-wide one stays untouched);
the compose backend is pointed at servers the test starts itself with the local backend.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from process_state import running

from harness.errors import InfrastructureError, ToxiproxyError, UsageError
from harness.servers.config import ServicesConfig
from harness.servers.ports import LOOPBACK, free_port
from harness.servers.services import Services, docker_available, open_services
from harness.toxiproxy import Toxic, ToxiproxyControl


def command_name(pid: int) -> str:
    """The program name a process shows (redis-server rewrites its argv to "NAME ADDR")."""
    first = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    return Path(first.split()[0]).name


@pytest.fixture
def private_services() -> Iterator[Services]:
    with open_services(ServicesConfig(backend="local")) as services:
        yield services


def process_named(services: Services, name: str):
    return next(p for p in services.processes if p.name == name)


# --- local backend ---------------------------------------------------------------------

def test_local_backend_runs_real_redis_and_toxiproxy_processes(private_services):
    names = {command_name(p.pid) for p in private_services.processes if running(p.pid)}
    assert names == {"redis-server", "toxiproxy-server"}


def test_local_backend_puts_the_proxy_in_front_of_its_redis(private_services):
    proxy = private_services.control.get_proxy(private_services.proxy_name)
    assert proxy is not None
    assert proxy["upstream"] == str(private_services.redis)
    assert proxy["listen"] == str(private_services.proxy)
    with contextlib.closing(redis.Redis(host=private_services.proxy.host,
                                        port=private_services.proxy.port)) as client:
        assert client.ping()


def test_local_backend_stops_both_servers_on_exit():
    with open_services(ServicesConfig(backend="local")) as services:
        pids = [p.pid for p in services.processes]
    assert pids and not any(running(pid) for pid in pids)


def test_local_backend_stops_both_servers_when_the_body_raises():
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="body failed"), \
            open_services(ServicesConfig(backend="local")) as services:
        pids.extend(p.pid for p in services.processes)
        raise RuntimeError("body failed")
    assert pids and not any(running(pid) for pid in pids)


def test_only_a_redis_the_harness_started_may_be_flushed(private_services):
    assert private_services.may_flush


def test_check_alive_passes_while_both_servers_run(private_services):
    private_services.check_alive()


def test_check_alive_fails_when_toxiproxy_stops(private_services):
    process_named(private_services, "toxiproxy-server").kill()
    with pytest.raises(InfrastructureError, match="toxiproxy-server"):
        private_services.check_alive()


def test_check_alive_fails_when_redis_stops(private_services):
    process_named(private_services, "redis-server").kill()
    with pytest.raises(InfrastructureError, match="redis-server"):
        private_services.check_alive()


def test_control_calls_fail_with_toxiproxy_error_once_toxiproxy_stops(private_services):
    process_named(private_services, "toxiproxy-server").kill()
    with pytest.raises(ToxiproxyError, match="unreachable"):
        private_services.control.add_toxic(private_services.proxy_name, Toxic("t", "latency"))


# --- ToxiproxyControl maps every failure to ToxiproxyError --------------------------------

class _Answer(http.server.BaseHTTPRequestHandler):
    """A stand-in HTTP server answering every request with the status or delay it is given."""

    status = 500
    delay = 0.0

    def _answer(self) -> None:
        time.sleep(self.delay)
        body = b'{"error": "something broke", "status": %d}' % self.status
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer  # http.server's naming

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_answering(status: int = 500, delay: float = 0.0) -> Iterator[ToxiproxyControl]:
    handler = type("Handler", (_Answer,), {"status": status, "delay": delay})
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    control = ToxiproxyControl(f"http://{LOOPBACK}:{server.server_port}", timeout=0.2)
    try:
        yield control
    finally:
        control.close()
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_5xx_answer_is_a_toxiproxy_error():
    with http_answering(status=500) as control, \
            pytest.raises(ToxiproxyError, match="answered 500: something broke"):
        control.add_toxic("redis", Toxic("t", "latency"))


def test_a_503_on_remove_is_a_toxiproxy_error():
    with http_answering(status=503) as control, pytest.raises(ToxiproxyError, match="503"):
        control.remove_toxic("redis", "t")


def test_a_slow_answer_is_a_toxiproxy_error():
    with http_answering(status=200, delay=1.0) as control, \
            pytest.raises(ToxiproxyError, match="timed out"):
        control.reset()


def test_a_refused_connection_is_a_toxiproxy_error():
    control = ToxiproxyControl(f"http://{LOOPBACK}:{free_port()}", timeout=0.5)
    with contextlib.closing(control), pytest.raises(ToxiproxyError, match="unreachable"):
        control.toxics("redis")


# --- compose backend, pointed at servers we run ourselves --------------------------------

def compose_config(services: Services, **overrides: object) -> ServicesConfig:
    values: dict[str, object] = {
        "backend": "compose",
        "redis_url": f"redis://{services.redis}/0",
        "toxiproxy_url": services.control.url,
        "proxy_listen": f"{LOOPBACK}:{free_port()}",
        "proxy_upstream": str(services.redis),
        "proxy_name": "compose-check",
        "allow_flush": True,
    }
    values.update(overrides)
    return ServicesConfig(**values)  # type: ignore[arg-type]


def test_compose_backend_reaches_redis_through_its_proxy(private_services):
    with open_services(compose_config(private_services)) as services:
        assert services.backend == "compose"
        with contextlib.closing(redis.Redis(host=services.proxy.host, port=services.proxy.port,
                                            decode_responses=True)) as client:
            client.set("k", "through-compose")
        assert private_services.direct_client().get("k") == "through-compose"


def test_compose_backend_refuses_a_redis_it_may_not_empty_before_making_its_proxy(
        private_services):
    with pytest.raises(UsageError, match="QUEUE_CHAOS_ALLOW_FLUSH"), \
            open_services(compose_config(private_services, allow_flush=False)):
        pass
    assert private_services.control.get_proxy("compose-check") is None


def test_compose_backend_keeps_a_proxy_that_listens_on_every_interface(private_services):
    listen = f"0.0.0.0:{free_port()}"  # docker-compose.yml's shape; Toxiproxy says [::]:PORT
    control = private_services.control
    control.create_proxy("compose-check", listen, str(private_services.redis))
    control.add_toxic("compose-check", Toxic("marker", "latency"))
    with open_services(compose_config(private_services, proxy_listen=listen)):
        assert [t["name"] for t in control.toxics("compose-check")] == ["marker"]


def test_compose_backend_points_at_a_closed_redis_port_with_the_fix():
    config = ServicesConfig(backend="compose", redis_url=f"redis://{LOOPBACK}:{free_port()}/0")
    with pytest.raises(InfrastructureError) as caught, open_services(config):
        pass
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot reach Redis" in message and "docker compose up -d" in message
    assert "QUEUE_CHAOS_REDIS_URL" in message


def test_compose_backend_points_at_a_closed_toxiproxy_port_with_the_fix(private_services):
    config = compose_config(private_services, toxiproxy_url=f"http://{LOOPBACK}:{free_port()}")
    with pytest.raises(InfrastructureError) as caught, open_services(config):
        pass
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot reach Toxiproxy" in message and "QUEUE_CHAOS_TOXIPROXY_URL" in message


def test_compose_proxy_on_a_port_in_use_names_the_port_and_the_fix(private_services):
    taken = private_services.redis.port  # Redis listens there already
    config = compose_config(private_services, proxy_listen=f"{LOOPBACK}:{taken}")
    with pytest.raises(UsageError) as caught, open_services(config):
        pass
    message = str(caught.value)
    assert "\n" not in message
    assert f"{LOOPBACK}:{taken}" in message and "already in use" in message
    assert "QUEUE_CHAOS_PROXY_LISTEN" in message


# --- containers backend: runs only where a Docker engine answers ---------------------------

DOCKER_OK, DOCKER_REASON = docker_available()


@pytest.mark.containers
@pytest.mark.skipif(not DOCKER_OK, reason=f"containers backend: {DOCKER_REASON}")
def test_containers_backend_gives_redis_behind_toxiproxy():
    with open_services(ServicesConfig(backend="containers")) as services:
        services.check_alive()
        with contextlib.closing(redis.Redis(host=services.proxy.host,
                                            port=services.proxy.port)) as client:
            assert client.ping()


@pytest.mark.skipif(DOCKER_OK, reason="a Docker engine answers here")
def test_containers_backend_without_docker_says_so_and_names_the_local_backend():
    with pytest.raises(InfrastructureError, match=r"no Docker engine.*--backend local"), \
            open_services(ServicesConfig(backend="containers")):
        pass
