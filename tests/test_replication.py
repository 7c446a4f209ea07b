"""Replication and failover on real servers: a primary, a replica reaching it through a
Toxiproxy link, and a failover that points the target at the replica."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.binaries import find_binary
from harness.config import ServicesConfig
from harness.errors import InfrastructureError
from harness.replication import ReplicatedServices, replicated_services

pytestmark = pytest.mark.servers

LOCAL = ServicesConfig(backend="local")


@pytest.fixture(scope="module")
def replicated() -> Iterator[ReplicatedServices]:
    with replicated_services(LOCAL) as services:
        yield services


@pytest.fixture
def synced(replicated: ReplicatedServices) -> ReplicatedServices:
    """The shared backend with its link whole and the replica caught up (a test before may
    have cut the link or failed over)."""
    replicated.control.reset()
    replicated.wait_synced()
    return replicated


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def client(endpoint: object) -> redis.Redis:
    host, port = str(endpoint).split(":")
    return redis.Redis(host=host, port=int(port), decode_responses=True, retry=None,
                       socket_timeout=2)


def wrapper(tmp_path: Path, replica_case: str) -> str:
    """A redis-server that runs the real one, except that a replica (`--replicaof` given)
    is changed by `replica_case`, a line of sh."""
    script = tmp_path / "redis-server"
    script.write_text(f'#!/bin/sh\ncase " $* " in *" --replicaof "*) {replica_case};; esac\n'
                      f'exec {find_binary("redis-server")} "$@"\n')
    script.chmod(0o755)
    return str(script)


# --- the backend ----------------------------------------------------------------------

def test_the_replica_reaches_its_primary_through_the_link_proxy(replicated):
    link = replicated.control.get_proxy(replicated.link_proxy_name)
    assert link is not None and link["listen"] == str(replicated.link)
    info = replicated.replication(replicated.replica)
    assert (info["role"], str(info["master_port"])) == ("slave", str(replicated.link.port))


def test_a_write_through_the_target_proxy_reaches_the_replica(synced):
    with contextlib.closing(client(synced.proxy)) as target:
        target.set("replicated-key", "1")
    synced.wait_synced()
    with contextlib.closing(client(synced.replica)) as replica:
        assert replica.get("replicated-key") == "1"


def test_a_lagging_link_holds_writes_back_until_the_lag_has_passed(synced):
    synced.lag(400)
    with contextlib.closing(client(synced.proxy)) as target, \
            contextlib.closing(client(synced.replica)) as replica:
        target.set("lagged-key", "1")
        time.sleep(0.1)
        assert replica.get("lagged-key") is None
        synced.wait_synced()
        assert replica.get("lagged-key") == "1"


def test_the_backend_leaves_no_process_and_no_folder_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with replicated_services(LOCAL) as services:
        pids = [p.pid for p in services.processes]
        folders = list(tmp_path.glob("queue-chaos-*"))
    assert len(pids) == 3 and len(folders) == 2
    assert not any(running(pid) for pid in pids)
    assert not list(tmp_path.glob("queue-chaos-*"))


# --- the failover -----------------------------------------------------------------------

def test_a_failover_points_the_target_at_the_promoted_replica_and_demotes_the_primary(synced):
    old, new = synced.redis, synced.replica
    record = synced.failover()
    assert (synced.redis, synced.replica) == (new, old)
    assert synced.control.get_proxy(synced.proxy_name)["upstream"] == str(new)
    assert synced.replication(new)["role"] == "master"
    assert synced.replication(old)["role"] == "slave"
    assert record.link_up and record.unreplicated_bytes == 0 and record.end >= record.start
    with contextlib.closing(client(synced.proxy)) as target, \
            contextlib.closing(client(new)) as promoted:
        target.set("after-failover", "1")
        assert promoted.get("after-failover") == "1"


# --- infrastructure trouble --------------------------------------------------------------

def test_a_replica_that_never_syncs_is_an_infrastructure_error(tmp_path):
    config = ServicesConfig(backend="local", redis_server=wrapper(
        tmp_path, 'set -- "$@" --masterauth not-the-password'))
    with pytest.raises(InfrastructureError, match="did not sync"), \
            replicated_services(config, sync_timeout=1.0):
        pass


