"""A primary and a replica behind Toxiproxy: what a queue loses when its primary fails over.

Redis replicates asynchronously: the primary acknowledges a write before any replica has
it, so promoting a replica that lacks it loses an acknowledged write (FIELD-NOTES, Redis
replication). To make that happen for real, the local backend gets a second redis-server
whose `replicaof` points at a second Toxiproxy proxy (the link) in front of the primary:
replication lag and a cut link are then real toxics on that proxy, and `failover()` is
what an operator or Sentinel does: promote the replica, point the target's proxy (and the
link) at it, demote the old primary to a replica of the new one.

The checker's direct path (`Services.redis`) always names the current primary, so after a
failover the checker reads what the target now reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from harness.errors import InfrastructureError, UsageError
from harness.servers.binaries import find_binary
from harness.servers.config import ServicesConfig
from harness.servers.ports import LOOPBACK, free_port
from harness.servers.processes import ManagedProcess
from harness.servers.services import (
    Endpoint,
    Services,
    _redis_answers,
    _start_on_a_free_port,
    local_services,
    redis_argv,
)
from harness.settle import HARNESS_CLIENT_NAME
from harness.toxiproxy import Toxic
from harness.workdirs import make_workdir

LINK_PROXY = "replication"  # the Toxiproxy proxy the replica reaches its primary through
LAG_TOXIC = "replication-lag"
LAG_TAIL_TOXIC = "replication-lag-tail"  # a pass-through behind the lag (see lag())
FREEZE_TOXIC = "failover-freeze"  # timeout toxics that hold both proxies still in a failover
SYNC_PROBE = "queue-chaos:sync-probe"  # a channel nobody subscribes to
WAIT_STEP_MS = 200  # one WAIT of wait_synced, well below the client's 2 s socket timeout
SYNC_TIMEOUT = 10.0  # seconds for a replica to be online and have every write
# A full sync sends the snapshot at once: Redis's default waits 5 s for more replicas.
REPLICATION_OPTIONS = ("--repl-diskless-sync-delay", "0")


@dataclass(frozen=True)
class FailoverRecord:
    """One failover as a fault window: when it began and ended (on the caller's clock), what
    it did, and how far the promoted replica was behind (bytes of replication stream it
    never received: writes the old primary acknowledged that the new one lacks)."""

    start: float
    end: float
    what: str
    primary_offset: int  # the old primary's replication offset when the failover began
    replica_offset: int  # how far the promoted replica had got
    link_up: bool  # the replica's link to the primary was up when it was promoted

    @property
    def unreplicated_bytes(self) -> int:
        return max(0, self.primary_offset - self.replica_offset)

    def to_json(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "what": self.what,
                "primary_offset": self.primary_offset, "replica_offset": self.replica_offset,
                "unreplicated_bytes": self.unreplicated_bytes, "link_up": self.link_up}

    def describe(self) -> str:
        link = "up" if self.link_up else "down"
        return (f"{self.what} at {self.start:.3f}-{self.end:.3f} s: link {link}, replica at "
                f"offset {self.replica_offset} of the primary's {self.primary_offset} "
                f"({self.unreplicated_bytes} bytes never replicated)")


@dataclass(kw_only=True)
class ReplicatedServices(Services):
    """Services whose Redis is a primary with one replica, and the nemesis that fails it
    over. `redis` is the current primary, `replica` the current replica."""

    replica: Endpoint
    link: Endpoint  # the link proxy's listen address: every replica's `replicaof`
    link_proxy_name: str = LINK_PROXY
    servers: dict[Endpoint, ManagedProcess] = field(default_factory=dict)  # for logs
    failovers: list[FailoverRecord] = field(default_factory=list)

    def _client(self, endpoint: Endpoint, **options: Any) -> redis.Redis:
        """The harness's own connection to one server (named, so settle never waits on it)."""
        return redis.Redis(host=endpoint.host, port=endpoint.port, socket_timeout=2,
                           socket_connect_timeout=2, retry=None, decode_responses=True,
                           client_name=HARNESS_CLIENT_NAME, **options)

    def _command(self, endpoint: Endpoint, *args: str | int) -> Any:
        """One command to one server; a server that does not answer is infrastructure."""
        try:
            with contextlib.closing(self._client(endpoint)) as client:
                return client.execute_command(*args)
        except redis.RedisError as exc:
            raise InfrastructureError(
                f"Redis at {endpoint} ({' '.join(map(str, args[:2]))}): {exc}") from exc

    def replication(self, endpoint: Endpoint) -> dict[str, Any]:
        """INFO replication of one server."""
        try:
            with contextlib.closing(self._client(endpoint)) as client:
                return dict(client.info("replication"))
        except redis.RedisError as exc:
            raise InfrastructureError(f"Redis at {endpoint} (INFO replication): {exc}") from exc

    def _offsets(self) -> tuple[int, int, bool]:
        """(primary offset, replica offset, replica's link up), as the replica says."""
        primary, replica = self.replication(self.redis), self.replication(self.replica)
        return (int(primary["master_repl_offset"]), int(replica.get("slave_repl_offset", 0)),
                replica.get("master_link_status") == "up")

    def wait_synced(self, timeout: float = SYNC_TIMEOUT) -> None:
        """Until the primary knows a replica has everything written so far; one that does
        not get there in time is infrastructure, not a verdict.

        The replica's own "link up" is not enough: after a full sync the primary lists it
        online but streams nothing until its next acknowledgement (up to a second later),
        and an acknowledgement sent before it went online may already cover older writes.
        So once it is online, a PUBLISH (no key, no subscriber) moves the stream on, and
        WAIT on that connection, repeated without writing again, counts the replicas that
        got that far."""
        deadline = time.monotonic() + timeout
        while not self._replica_online():
            if time.monotonic() >= deadline:
                raise self._not_synced(timeout)
            time.sleep(0.02)
        try:
            with contextlib.closing(self._client(self.redis,
                                                 single_connection_client=True)) as client:
                client.publish(SYNC_PROBE, "1")
                while client.wait(1, WAIT_STEP_MS) < 1:
                    if time.monotonic() >= deadline:
                        raise self._not_synced(timeout)
        except redis.RedisError as exc:
            raise InfrastructureError(f"Redis at {self.redis} (WAIT): {exc}") from exc

    def _replica_online(self) -> bool:
        """The primary lists a replica as online (its full sync, if any, is over)."""
        return any(isinstance(entry, dict) and entry.get("state") == "online"
                   for name, entry in self.replication(self.redis).items()
                   if name.startswith("slave"))

    def _not_synced(self, timeout: float) -> InfrastructureError:
        primary, replica, up = self._offsets()
        process = self.servers.get(self.replica)
        log = process.log_tail(2) if process is not None else ""
        return InfrastructureError(
            f"the replica at {self.replica} did not sync with the primary at {self.redis} "
            f"within {timeout:g} s (link {'up' if up else 'down'}, offset {replica} of "
            f"{primary}){': ' + log if log else ''}")

    # --- the nemesis -----------------------------------------------------------------------
    def lag(self, ms: int) -> None:
        """Delay the replication stream (primary to replica) by `ms` milliseconds.

        A pass-through toxic goes behind the lag: adding a toxic interrupts the last one of
        the chain, and an interrupted latency toxic sends what it holds at once; with the
        tail last, the failover's freeze leaves the lagging data where it is."""
        for toxic in (Toxic(LAG_TOXIC, "latency", stream="downstream", attributes={"latency": ms}),
                      Toxic(LAG_TAIL_TOXIC, "latency", stream="downstream",
                            attributes={"latency": 0})):
            self.control.add_toxic(self.link_proxy_name, toxic)

    def cut_link(self) -> None:
        """Cut the replication link: the proxy's listener and connections close, so the
        replica gets nothing more until `restore_link` (or a Toxiproxy reset)."""
        self.control.set_enabled(self.link_proxy_name, False)

    def restore_link(self) -> None:
        self._thaw(self.link_proxy_name)
        self.control.set_enabled(self.link_proxy_name, True)

    def failover(self, clock: Callable[[], float] = time.monotonic) -> FailoverRecord:
        """Promote the replica (REPLICAOF NO ONE), point the target's proxies (every logical
        client's) and the link at it, and demote the old primary to its replica; recorded
        as a fault window.

        Repointing a proxy drops its connections, and a Toxiproxy toxic holding data for a
        connection that is gone (a lagging link, a latency window on the target's proxy)
        wedges Toxiproxy's control API when it is removed (toxiproxy #558, open in 2.12).
        So every proxy is frozen first (a timeout toxic at the end of each chain swallows
        what the others still pass on: the replica gets nothing more, as when a primary
        dies), and every toxic goes after the repointing, the freezes last. A failover
        thus ends whatever trouble the proxies had."""
        start = clock()
        old, new = self.redis, self.replica
        target_proxies = (self.proxy_name, *(name for _, name in self._client_proxies.values()))
        proxies = (*target_proxies, self.link_proxy_name)
        for proxy in proxies:
            self._freeze(proxy)
        primary_offset, replica_offset, link_up = self._offsets()
        self._command(new, "REPLICAOF", "NO", "ONE")
        for proxy in proxies:
            self.control.set_upstream(proxy, str(new))
        self._command(old, "REPLICAOF", self.link.host, self.link.port)
        self.redis, self.replica = new, old
        for proxy in proxies:
            self._thaw(proxy)
        record = FailoverRecord(start, clock(), f"failover: {new} promoted, {old} demoted",
                                primary_offset, replica_offset, link_up)
        self.failovers.append(record)
        return record

    def _freeze(self, proxy: str) -> None:
        for stream in ("upstream", "downstream"):
            self.control.add_toxic(proxy, Toxic(f"{FREEZE_TOXIC}-{stream}", "timeout", stream,
                                                attributes={"timeout": 0}))

    def _thaw(self, proxy: str) -> None:
        """Every toxic of `proxy`, the freezes last (until then they take what others pass)."""
        names = [t["name"] for t in self.control.toxics(proxy)]
        for name in sorted(names, key=lambda n: n.startswith(FREEZE_TOXIC)):
            self.control.remove_toxic(proxy, name)


@contextlib.contextmanager
def replicated_services(config: ServicesConfig,
                        sync_timeout: float = SYNC_TIMEOUT) -> Iterator[ReplicatedServices]:
    """The local backend plus a replica reaching the primary through the link proxy; yields
    once the replica has synced. Every process and folder it started goes on exit."""
    if config.backend != "local":
        raise UsageError(f"a replicated run starts its own primary and replica: it needs the "
                         f"local backend, not {config.backend!r} (drop --backend)")
    with local_services(config, REPLICATION_OPTIONS) as base:
        redis_bin = find_binary("redis-server", config.redis_server)
        workdir = make_workdir()
        started: list[ManagedProcess] = []
        try:
            link = Endpoint(LOOPBACK, free_port())
            base.control.create_proxy(LINK_PROXY, str(link), str(base.redis))
            replica, port = _start_on_a_free_port(
                "redis-replica", lambda port: redis_argv(
                    redis_bin, port, workdir, *REPLICATION_OPTIONS,
                    "--replicaof", link.host, str(link.port)),
                lambda port: _redis_answers(Endpoint(LOOPBACK, port)), workdir, started)
            replica_ep = Endpoint(LOOPBACK, port)
            primary = next(p for p in base.processes if p.name == "redis-server")
            services = ReplicatedServices(
                **{f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
                | {"processes": [*base.processes, replica]},
                replica=replica_ep, link=link, servers={base.redis: primary, replica_ep: replica})
            services.wait_synced(sync_timeout)
            yield services
        finally:
            for process in started:
                process.stop()
            shutil.rmtree(workdir, ignore_errors=True)
