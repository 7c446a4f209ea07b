""""Give me a Redis behind a Toxiproxy proxy": one context manager, three backends.

The target under test talks to Redis through the proxy (`Services.proxy`); the checker
reads Redis over a direct connection (`Services.redis`), which no fault ever touches.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import redis

from harness.errors import InfrastructureError, ToxiproxyError, UsageError
from harness.servers.binaries import find_binary
from harness.servers.config import ENV, ServicesConfig
from harness.servers.ports import LOOPBACK, free_port
from harness.servers.processes import ManagedProcess, PortTaken, terminate_on_signals
from harness.toxiproxy import ToxiproxyControl
from harness.workdirs import make_workdir

TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
REDIS_IMAGE = "redis:7"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class Services:
    """Endpoints of one Redis and one Toxiproxy proxy in front of it."""

    backend: str
    redis: Endpoint  # direct: the checker's path, never faulted
    proxy: Endpoint  # through Toxiproxy: the target's path
    control: ToxiproxyControl
    proxy_name: str
    may_flush: bool  # True only for a Redis the harness started, or with explicit permission
    processes: list[ManagedProcess] = field(default_factory=list)
    database: int = 0  # the one database every client of ours selects, and the one we empty
    # Someone else's Redis: say what the first flush empties (None: one we started).
    warn: Callable[[str], None] | None = None
    _client_proxies: dict[int, tuple[Endpoint, str]] = field(default_factory=dict)

    @property
    def separate_proxies(self) -> bool:
        """Each logical client may get a proxy of its own: only where the harness runs
        Toxiproxy itself, so that a proxy it adds is reachable on loopback."""
        return self.backend == "local"

    def client_proxy(self, index: int) -> tuple[Endpoint, str]:
        """(endpoint, proxy name) logical client `index` talks through. Client 0 uses
        `proxy`; with separate_proxies every other one gets its own, to the same upstream,
        so a fault armed for one client never touches another's traffic."""
        if index == 0 or not self.separate_proxies:
            return self.proxy, self.proxy_name
        if index not in self._client_proxies:
            upstream = (self.control.get_proxy(self.proxy_name) or {}).get(
                "upstream", str(self.redis))
            name = f"{self.proxy_name}-client-{index}"
            for attempt in range(1, PORT_ATTEMPTS + 1):
                endpoint = Endpoint(LOOPBACK, free_port())
                try:
                    self.control.create_proxy(name, str(endpoint), str(upstream))
                except ToxiproxyError:  # another process took the port meanwhile
                    if attempt == PORT_ATTEMPTS:
                        raise
                    continue
                self._client_proxies[index] = (endpoint, name)
                break
        return self._client_proxies[index]

    def direct_client(self, **kwargs: object) -> redis.Redis:
        """A client for the checker: no proxy, no retries, decoded strings."""
        options: dict[str, object] = {"socket_timeout": 5, "db": self.database,
                                      **kwargs}  # callers may override
        return redis.Redis(
            host=self.redis.host,
            port=self.redis.port,
            decode_responses=True,
            retry=None,
            **options,  # type: ignore[arg-type]
        )

    def flush(self, client: redis.Redis | None = None) -> None:
        """Empty our database between examples (FLUSHDB: never another database), but only in
        a Redis we may empty; before the first flush of someone else's, say what goes."""
        if not self.may_flush:
            raise refusal(self.redis)
        if client is None:  # a client of its own, closed again (not left to the collector)
            with contextlib.closing(self.direct_client()) as own:
                self.flush(own)
            return
        if self.warn is not None:
            keys = client.dbsize()
            if keys:
                self.warn(f"queue-chaos: warning: emptying database {self.database} of Redis "
                          f"at {self.redis}: {keys} keys (--allow-flush)")
            self.warn = None
        client.flushdb()

    def check_alive(self) -> None:
        """Raise InfrastructureError unless both servers answer (called before any verdict)."""
        for process in self.processes:
            if not process.alive():
                raise InfrastructureError(
                    f"{process.name} (pid {process.pid}) exited "
                    f"with code {process.popen.returncode}"
                )
        self.control.version()
        try:
            with contextlib.closing(self.direct_client(socket_timeout=2)) as client:
                client.ping()
        except redis.RedisError as exc:
            raise InfrastructureError(f"Redis at {self.redis} stopped answering: {exc}") from exc

    def versions(self) -> dict[str, str]:
        with contextlib.closing(self.direct_client()) as client:
            info = client.info("server")
        return {"redis": str(info.get("redis_version")), "redis_server": server_name(info),
                "toxiproxy": self.control.version()}


def server_name(info: dict[str, object]) -> str:
    """Which server answers, from INFO server: "redis 7.0.15", "valkey 9.0.0" (Valkey also
    reports a redis_version, the Redis it is compatible with: 7.2.4)."""
    name = str(info.get("server_name") or "redis")
    return f"{name} {info.get(f'{name}_version') or info.get('redis_version')}"


def _redis_answers(endpoint: Endpoint) -> bool:
    client = redis.Redis(host=endpoint.host, port=endpoint.port, socket_timeout=1,
                         socket_connect_timeout=1, retry=None)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


WILDCARD_HOSTS = ("", "0.0.0.0", "[::]", "::")


def _same_listen(reported: str, configured: str) -> bool:
    """Toxiproxy reports a listen of 0.0.0.0:P back as [::]:P: any wildcard matches another."""
    def key(address: str) -> tuple[str, str]:
        host, _, port = address.rpartition(":")
        return ("*" if host in WILDCARD_HOSTS else host, port)
    return key(reported) == key(configured)


def refusal(redis_at: Endpoint) -> UsageError:
    return UsageError(
        f"refusing to flush Redis at {redis_at}: the harness did not start it. "
        "Pass --allow-flush (QUEUE_CHAOS_ALLOW_FLUSH=1) if its database holds nothing you need"
    )


def _ensure_proxy(control: ToxiproxyControl, name: str, listen: str, upstream: str) -> bool:
    """The proxy, as configured: kept if it is there already, else created (True). A proxy
    of that name that points elsewhere is someone else's: refused, never replaced."""
    existing = control.get_proxy(name)
    if existing and existing.get("upstream") == upstream \
            and _same_listen(str(existing.get("listen")), listen):
        return False
    if existing:
        raise UsageError(
            f"Toxiproxy already has a proxy named {name!r} (listen {existing.get('listen')}, "
            f"upstream {existing.get('upstream')}), not the one asked for (listen {listen}, "
            f"upstream {upstream}): the harness leaves it alone; point --proxy-listen and "
            "--proxy-upstream at it, or remove it yourself")
    try:
        control.create_proxy(name, listen, upstream)
    except ToxiproxyError as exc:
        if "address already in use" not in str(exc):
            raise
        raise UsageError(
            f"cannot create the Redis proxy on {listen}: that port is already in use; free it "
            f"or choose another with --proxy-listen or {ENV['proxy_listen']}"
        ) from exc
    return True


def redis_argv(redis_bin: str, port: int, workdir: Path, *options: str) -> list[str]:
    """The command line of a redis-server of ours: loopback only, nothing saved to disk."""
    return [redis_bin, "--port", str(port), "--bind", LOOPBACK,
            "--save", "", "--appendonly", "no", "--dir", str(workdir),
            "--protected-mode", "yes", "--daemonize", "no", "--loglevel", "warning", *options]


@contextlib.contextmanager
def local_services(config: ServicesConfig,
                   redis_options: Sequence[str] = ()) -> Iterator[Services]:
    """Start redis-server and toxiproxy-server as our children on free loopback ports
    (`redis_options`: more redis-server flags, for a backend built on this one)."""
    redis_bin = find_binary("redis-server", config.redis_server)
    toxiproxy_bin = find_binary("toxiproxy-server", config.toxiproxy_server)
    workdir = make_workdir()  # and folders that runs killed outright left go
    processes: list[ManagedProcess] = []
    control: ToxiproxyControl | None = None
    with terminate_on_signals():
        try:
            _, redis_port = _start_on_a_free_port(
                "redis-server", lambda port: redis_argv(redis_bin, port, workdir, *redis_options),
                lambda port: _redis_answers(Endpoint(LOOPBACK, port)), workdir, processes)
            redis_ep = Endpoint(LOOPBACK, redis_port)
            _, api_port = _start_on_a_free_port("toxiproxy-server", lambda port: [
                toxiproxy_bin, "-host", LOOPBACK, "-port", str(port),
            ], _toxiproxy_answers, workdir, processes)
            control = ToxiproxyControl(f"http://{LOOPBACK}:{api_port}")
            proxy_ep = Endpoint(LOOPBACK, free_port())
            control.create_proxy(config.proxy_name, str(proxy_ep), str(redis_ep))
            yield Services("local", redis_ep, proxy_ep, control, config.proxy_name,
                           may_flush=True, processes=processes)
        finally:
            if control is not None:
                control.close()
            for process in reversed(processes):
                process.stop()
            shutil.rmtree(workdir, ignore_errors=True)


PORT_ATTEMPTS = 3


def _start_on_a_free_port(name: str, argv: Callable[[int], list[str]],
                          answers: Callable[[int], bool], workdir: Path,
                          processes: list[ManagedProcess]) -> tuple[ManagedProcess, int]:
    """Start `name` on a port the kernel called free; another process may take that port
    between the choice and the bind, so a server that finds it taken gets another one."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        process = ManagedProcess(name, argv(port), log_dir=workdir)
        processes.append(process)
        try:
            process.wait_ready(functools.partial(answers, port))
        except PortTaken:
            if attempt == PORT_ATTEMPTS:
                raise
            process.stop()
            processes.remove(process)
            continue
        return process, port
    raise AssertionError("unreachable")


def _toxiproxy_answers(port: int) -> bool:
    with contextlib.closing(ToxiproxyControl(f"http://{LOOPBACK}:{port}")) as control:
        return control.answers()


def _endpoint_from_url(url: str) -> Endpoint:
    parsed = urlparse(url)
    return Endpoint(parsed.hostname or LOOPBACK, parsed.port or 6379)


def _warn(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def compose_services(config: ServicesConfig) -> Iterator[Services]:
    """Use servers someone else runs: the docker-compose.yml services, by default.

    Every run empties its database, so without --allow-flush it is refused here, before
    anything changes. Only the database the URL names is used; it is emptied again at the
    end (our keys go), and a proxy the harness created is removed again.
    """
    redis_ep = _endpoint_from_url(config.redis_url)
    if not _redis_answers(redis_ep):
        raise InfrastructureError(
            f"cannot reach Redis at {config.redis_url}: start it ('docker compose up -d') "
            "or point --redis-url / QUEUE_CHAOS_REDIS_URL at a running Redis"
        )
    if not config.allow_flush:
        raise refusal(redis_ep)
    control = ToxiproxyControl(config.toxiproxy_url)
    created = False
    try:
        if not control.answers():
            raise InfrastructureError(
                f"cannot reach Toxiproxy at {config.toxiproxy_url}: start it ('docker compose up "
                "-d') or point --toxiproxy-url / QUEUE_CHAOS_TOXIPROXY_URL at a running server"
            )
        created = _ensure_proxy(control, config.proxy_name, config.proxy_listen,
                                config.proxy_upstream)
        host, _, port = config.proxy_listen.rpartition(":")
        listen_host = LOOPBACK if host in WILDCARD_HOSTS else host
        services = Services("compose", redis_ep, Endpoint(listen_host, int(port)), control,
                            config.proxy_name, may_flush=True, database=config.database,
                            warn=_warn)
        try:
            yield services
        finally:  # our own keys go, whatever ended the run (a dead Redis keeps them)
            with contextlib.suppress(redis.RedisError), \
                    contextlib.closing(services.direct_client()) as client:
                services.flush(client)
    finally:
        if created:
            with contextlib.suppress(ToxiproxyError):
                control.delete_proxy(config.proxy_name)
        control.close()


def docker_available() -> tuple[bool, str]:
    """Whether a Docker engine answers (the client alone is not enough)."""
    try:
        import docker  # noqa: PLC0415 - optional, comes with testcontainers

        client = docker.from_env(timeout=3)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine here"
        return False, f"no Docker engine answers ({type(exc).__name__}: {exc})"
    return True, "Docker engine answers"


@contextlib.contextmanager
def container_services(config: ServicesConfig) -> Iterator[Services]:
    """Start Redis and Toxiproxy containers with testcontainers, on a network of their own."""
    ok, reason = docker_available()
    if not ok:
        raise InfrastructureError(
            f"the containers backend needs Docker: {reason}; use --backend local instead"
        )
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415
    from testcontainers.core.network import Network  # noqa: PLC0415
    from testcontainers.core.waiting_utils import wait_for_logs  # noqa: PLC0415

    proxy_port = 26379
    with Network() as network, \
            DockerContainer(REDIS_IMAGE).with_network(network) \
            .with_network_aliases("redis").with_exposed_ports(6379) as redis_c, \
            DockerContainer(TOXIPROXY_IMAGE).with_network(network) \
            .with_exposed_ports(8474, proxy_port) as toxi_c:
        wait_for_logs(redis_c, "Ready to accept connections", timeout=30)
        redis_ep = Endpoint(redis_c.get_container_host_ip(),
                            int(redis_c.get_exposed_port(6379)))
        control = ToxiproxyControl(
            f"http://{toxi_c.get_container_host_ip()}:{toxi_c.get_exposed_port(8474)}"
        )
        try:
            _wait_until(control.answers, "the Toxiproxy container")
            control.create_proxy(config.proxy_name, f"0.0.0.0:{proxy_port}", "redis:6379")
            proxy_ep = Endpoint(toxi_c.get_container_host_ip(),
                                int(toxi_c.get_exposed_port(proxy_port)))
            yield Services("containers", redis_ep, proxy_ep, control, config.proxy_name,
                           may_flush=True)
        finally:
            control.close()


def _wait_until(probe: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.2)
    raise InfrastructureError(f"{what} did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def open_services(config: ServicesConfig | None = None) -> Iterator[Services]:
    """The servers the configuration asks for; everything we started stops on exit."""
    config = config or ServicesConfig.from_env()
    backend = {"local": local_services, "compose": compose_services,
               "containers": container_services}[config.backend]
    with backend(config) as services:
        yield services
