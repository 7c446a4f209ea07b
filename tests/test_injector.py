"""The injector counts round trips as the target makes them and cleans up after itself.

One round trip is one `send_packed_command`: a command, a pipeline, a MULTI/EXEC block.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.errors import ToxiproxyError, UsageError
from harness.faults import Fault, FaultKind
from harness.injector import FaultInjector, RoundTripConnection, injected_client
from harness.redis_client import ClientPolicy, build_client
from harness.servers.config import ServicesConfig
from harness.servers.processes import ManagedProcess
from harness.servers.services import Services, open_services
from harness.toxiproxy import Toxic, ToxiproxyControl

INCR_SCRIPT = "return redis.call('INCR', KEYS[1])"


def round_trips_of(qc_injector: FaultInjector, operation) -> int:
    with qc_injector.operation() as run:
        operation()
    return run.round_trips


def test_a_single_command_is_one_round_trip(qc_injector, qc_faulted_client):
    assert round_trips_of(qc_injector, lambda: qc_faulted_client.set("k", "v")) == 1


def test_a_pipeline_is_one_round_trip(qc_injector, qc_faulted_client):
    def pipeline():
        qc_faulted_client.pipeline(transaction=False).set("a", 1).set("b", 2).get("a").execute()

    assert round_trips_of(qc_injector, pipeline) == 1


def test_a_multi_exec_block_is_one_round_trip(qc_injector, qc_faulted_client):
    def transaction():
        qc_faulted_client.pipeline(transaction=True).set("a", 1).incr("a").execute()

    assert round_trips_of(qc_injector, transaction) == 1


def test_a_loaded_script_call_is_its_evalsha(qc_injector, qc_faulted_client):
    script = qc_faulted_client.register_script(INCR_SCRIPT)
    qc_faulted_client.script_load(INCR_SCRIPT)
    assert round_trips_of(qc_injector, lambda: script(keys=["n"])) == 1


def test_an_unloaded_script_call_is_evalsha_script_load_evalsha(qc_injector, qc_faulted_client,
                                                                qc_redis):
    qc_redis.script_flush()  # FLUSHALL keeps scripts: a fault at round trip 1 hits NOSCRIPT
    script = qc_faulted_client.register_script(INCR_SCRIPT)
    assert round_trips_of(qc_injector, lambda: script(keys=["n"])) == 3


def test_commands_outside_an_operation_are_not_counted(qc_injector, qc_faulted_client):
    qc_faulted_client.set("before", "v")
    with qc_injector.operation() as run:
        qc_faulted_client.set("k", "v")
    qc_faulted_client.set("after", "v")
    assert run.round_trips == 1


def test_a_retry_by_redis_py_is_a_round_trip_of_its_own(qc_services, qc_injector):
    client = injected_client(qc_services.proxy.host, qc_services.proxy.port, qc_injector,
                             ClientPolicy(retries=1))
    with contextlib.closing(client), qc_injector.operation([Fault(FaultKind.REPLY_LOST)]) as run:
        client.set("k", "v")
    assert run.round_trips == 2


def test_the_injected_client_sends_nothing_on_connect(qc_services, qc_injector, qc_redis):
    client = injected_client(qc_services.proxy.host, qc_services.proxy.port, qc_injector)
    with contextlib.closing(client):
        qc_redis.config_resetstat()
        connection = client.connection_pool.get_connection()
        connection.connect()
        assert connection.handshake_sends == 0
        assert set(qc_redis.info("commandstats")) <= {"cmdstat_config|resetstat"}


def resp3_client(services: Services, qc_injector: FaultInjector) -> redis.Redis:
    """The recipe with RESP3, redis-py 8's default: it then says HELLO 3 on every connect."""
    return build_client(services.proxy.host, services.proxy.port, ClientPolicy(),
                        connection_class=RoundTripConnection, fault_injector=qc_injector,
                        protocol=3)


def test_a_resp3_handshake_is_neither_counted_nor_faulted(qc_services, qc_injector, qc_redis):
    with contextlib.closing(resp3_client(qc_services, qc_injector)) as client:
        with qc_injector.operation([Fault(FaultKind.REPLY_LOST)]) as run, \
                pytest.raises(redis.ConnectionError):
            client.set("k", "v")  # a fresh connection: HELLO first, then SET
        assert client.connection_pool.get_connection().handshake_sends > 0
    assert run.round_trips == 1
    assert qc_redis.get("k") == "v"  # the fault hit the SET's reply, not the HELLO's


def test_a_reset_on_a_connection_that_speaks_first_is_refused_loudly(qc_services, qc_injector):
    with contextlib.closing(resp3_client(qc_services, qc_injector)) as client, \
            pytest.raises(UsageError, match="protocol=2"), \
            qc_injector.operation([Fault(FaultKind.RESET)]) as run, \
            contextlib.suppress(Exception):  # a target that swallows everything
        client.set("k", "v")
    assert run.fired == []


def test_a_toxic_is_removed_before_the_next_round_trip(qc_services, qc_injector, qc_faulted_client):
    proxy = qc_services.proxy_name
    with qc_injector.operation([Fault(FaultKind.LATENCY, 1)]):
        qc_faulted_client.set("a", "v")
        armed_for_first = qc_services.control.toxics(proxy)
        qc_faulted_client.set("b", "v")
        armed_for_second = qc_services.control.toxics(proxy)
    assert [toxic["type"] for toxic in armed_for_first] == ["latency"]
    assert armed_for_second == []


def test_toxics_are_removed_at_exit_when_the_operation_raises(qc_services, qc_injector,
                                                                qc_faulted_client):
    with pytest.raises(RuntimeError, match="target bug"), \
            qc_injector.operation([Fault(FaultKind.LATENCY)]):
        qc_faulted_client.set("k", "v")
        raise RuntimeError("target bug")
    assert qc_services.control.toxics(qc_services.proxy_name) == []


def test_heal_removes_every_toxic(qc_services, qc_injector):
    qc_services.control.add_toxic(qc_services.proxy_name, Toxic("stray", "latency"))
    qc_injector.heal()
    assert qc_services.control.toxics(qc_services.proxy_name) == []


def test_a_toxic_added_again_under_its_name_replaces_the_first(qc_services, qc_injector):
    control, proxy = qc_services.control, qc_services.proxy_name
    control.add_toxic(proxy, Toxic("twice", "latency", attributes={"latency": 10}))
    control.add_toxic(proxy, Toxic("twice", "latency", attributes={"latency": 20}))
    try:
        (toxic,) = control.toxics(proxy)
        assert toxic["name"] == "twice" and toxic["attributes"]["latency"] == 20
    finally:
        qc_injector.heal()


def test_two_faults_at_one_round_trip_are_refused(qc_injector):
    plan = [Fault(FaultKind.STALL, 2), Fault(FaultKind.RESET, 2)]
    with pytest.raises(ValueError, match="round trip 2"), qc_injector.operation(plan):
        pass


def test_operations_do_not_nest(qc_injector):
    with qc_injector.operation(), pytest.raises(RuntimeError, match="already open"), \
            qc_injector.operation():
        pass


# --- a Toxiproxy that dies mid-operation (a private one: others use the session's) ---------

@pytest.fixture
def private_services() -> Iterator[Services]:
    with open_services(ServicesConfig(backend="local")) as services:
        yield services


def toxiproxy_process(services: Services) -> ManagedProcess:
    return next(p for p in services.processes if p.name == "toxiproxy-server")


def all_threads_stopped(pid: int) -> bool:
    states = [(task / "stat").read_text().rpartition(")")[2].split()[0]
              for task in Path(f"/proc/{pid}/task").iterdir()]
    return all(state in ("T", "t") for state in states)


@contextlib.contextmanager
def frozen(process: ManagedProcess) -> Iterator[None]:
    """SIGSTOP: the process holds its sockets but answers nothing (Toxiproxy issue #558)."""
    os.kill(process.pid, signal.SIGSTOP)
    try:
        while not all_threads_stopped(process.pid):  # the stop reaches each thread in turn
            time.sleep(0.005)
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


def test_a_control_failure_in_the_hook_is_raised_at_exit_even_if_swallowed(private_services):
    control = ToxiproxyControl(private_services.control.url, timeout=0.3)
    qc_injector = FaultInjector(control, private_services.proxy_name)
    client = injected_client(private_services.proxy.host, private_services.proxy.port, qc_injector)
    swallowed: list[Exception] = []
    with contextlib.closing(client), contextlib.closing(control), pytest.raises(ToxiproxyError), \
            qc_injector.operation([Fault(FaultKind.REQUEST_LOST, 2)]):
        client.set("a", "v")
        with frozen(toxiproxy_process(private_services)):
            try:
                client.set("b", "v")
            except Exception as exc:  # noqa: BLE001 - the careless target under test
                swallowed.append(exc)
    assert [type(exc) for exc in swallowed] == [ToxiproxyError]


def test_a_control_failure_at_cleanup_is_raised_at_exit(private_services):
    qc_injector = FaultInjector(private_services.control, private_services.proxy_name)
    client = injected_client(private_services.proxy.host, private_services.proxy.port, qc_injector)
    with contextlib.closing(client), pytest.raises(ToxiproxyError), \
            qc_injector.operation([Fault(FaultKind.LATENCY)]) as run:
        client.set("a", "v")
        toxiproxy_process(private_services).kill()
    assert run.fired == [Fault(FaultKind.LATENCY)]


def test_a_round_trip_sent_while_the_injector_talks_to_toxiproxy_is_not_the_operations(
        qc_injector, qc_faulted_client, monkeypatch):
    # Python may collect a redis-py pipeline at any allocation, and its __del__ sends UNWATCH
    # through our connection: here, from inside the call that removes a toxic.
    remove = qc_injector.control.remove_toxic

    def remove_while_a_pipeline_is_collected(proxy: str, name: str) -> None:
        qc_faulted_client.ping()
        remove(proxy, name)

    monkeypatch.setattr(qc_injector.control, "remove_toxic",
                        remove_while_a_pipeline_is_collected)
    with qc_injector.operation([Fault(FaultKind.LATENCY, 1)]) as run:
        qc_faulted_client.set("a", "1")
        qc_faulted_client.set("b", "2")  # removes round trip 1's toxic first
    assert run.round_trips == 2
