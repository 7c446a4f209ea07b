"""Faults before the k-th Redis round trip of an operation, without touching the target's code.

The target gets a client whose connection class is `RoundTripConnection`. Each
`send_packed_command` is one round trip (a single command, a whole pipeline, a whole
MULTI/EXEC block). While an operation is open, the connection counts it and lets the
`FaultInjector` arm the fault planned at that count as a real Toxiproxy toxic, after the
connection is up and before the request leaves, so no fault ever lands on a connect handshake.

A ToxiproxyError met in the hook is raised there and again when the operation ends: a
target that swallows every exception cannot hide a failed injection.

A `reset` fault needs a connection that sends nothing on connect (the RST comes only on a
connection Toxiproxy accepted after the toxic existed, and the first bytes through it are
discarded). redis-py 8 speaks RESP3 by default and sends HELLO on connect: build the
client with protocol=2 (`injected_client` does), or a reset fault is refused loudly.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.connection import Connection

from harness.errors import QueueChaosError, ToxiproxyError, UsageError
from harness.faults import (
    NEEDS_FRESH_CONNECTION,
    STALL_WAIT,
    SURVIVES_REMOVAL,
    Fault,
    FaultKind,
    toxics_for,
)
from harness.redis_client import ClientPolicy, build_client
from harness.resp import keys_touched
from harness.toxiproxy import ToxiproxyControl


@dataclass(frozen=True)
class RoundTrip:
    """One round trip as sent: its number in the operation, its commands, the keys they name."""

    number: int
    commands: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


@dataclass
class OperationRun:
    """What happened to one operation's fault plan: which faults fired, how many round trips."""

    planned: tuple[Fault, ...]
    fired: list[Fault] = field(default_factory=list)  # armed before their round trip
    round_trips: int = 0
    trips: list[RoundTrip] = field(default_factory=list)  # what each round trip sent
    error: QueueChaosError | None = None  # the first harness failure, re-raised at exit

    @property
    def not_fired(self) -> list[Fault]:
        """Faults planned at a round trip the operation never reached."""
        return [fault for fault in self.planned if fault not in self.fired]


def _plan_by_round_trip(faults: Iterable[Fault]) -> dict[int, Fault]:
    plan: dict[int, Fault] = {}
    for fault in faults:
        if fault.round_trip in plan:
            raise ValueError(
                f"two faults planned at round trip {fault.round_trip}: "
                f"{plan[fault.round_trip]} and {fault}"
            )
        plan[fault.round_trip] = fault
    return plan


class FaultInjector:
    """Arms planned faults on one Toxiproxy proxy, counted per operation in round trips."""

    def __init__(self, control: ToxiproxyControl, proxy_name: str) -> None:
        self.control = control
        self.proxy_name = proxy_name
        self._lock = threading.RLock()
        self._run: OperationRun | None = None
        self._plan: dict[int, Fault] = {}
        self._armed: list[str] = []  # names of the toxics this injector added and not removed
        self._breaking = False  # some armed toxic closes connections when removed
        # A toxic was added since the last heal (each is removed when its operation ends,
        # but a removal can fail): a heal with nothing armed since has nothing to undo.
        self.armed_since_heal = False
        # True while this injector talks to Toxiproxy. Python may collect a redis-py pipeline
        # then, and its __del__ sends UNWATCH through a connection of ours: that round trip
        # is not the operation's (it was counted, shifting the plan, and it re-entered the
        # disarming: "IndexError: pop from empty list" in a correct WATCH queue's run).
        self.in_control = False
        # True when the round trip about to start removed toxics that close connections: a
        # connection the pool opened before that (redis-py connects in get_connection) went
        # through them, and Toxiproxy closes such connections when a `timeout` toxic goes.
        # Not after a latency toxic: a silent reconnect would drop what the connection holds
        # (a WATCH), which no real network does without an error.
        self.healed_since_connect = False
        self._connections: weakref.WeakSet[RoundTripConnection] = weakref.WeakSet()
        # Called before each round trip of an operation, before anything is armed: the
        # scheduler of overlapping operations parks the client there (harness.scheduler).
        self.before_round_trip: Callable[[], None] | None = None

    def register(self, connection: RoundTripConnection) -> None:
        self._connections.add(connection)

    def open_connections(self) -> int:
        """How many connections through this injector hold a socket now."""
        return sum(1 for connection in list(self._connections) if connection.is_open)

    @property
    def in_operation(self) -> bool:
        return self._run is not None

    @contextlib.contextmanager
    def operation(self, faults: Sequence[Fault] = ()) -> Iterator[OperationRun]:
        """Count round trips from 1 inside; arm each fault just before its round trip.

        On exit every toxic armed here is removed. A harness failure met during the operation
        or at this cleanup (a ToxiproxyError, a refused reset) is raised here, whatever the
        body did with it; `run.fired` and `run.not_fired` tell which planned faults happened.
        """
        plan = _plan_by_round_trip(faults)
        with self._lock:
            if self._run is not None:
                raise RuntimeError("an operation is already open on this FaultInjector")
            run = OperationRun(tuple(faults))
            self._run, self._plan = run, plan
        try:
            yield run
        except Exception as exc:
            self._end(run)
            if run.error is None or run.error is exc:
                raise
            raise run.error from exc  # what the body raised stays attached
        except BaseException:  # Ctrl-C, SystemExit: clean up, but never mask them
            self._end(run)
            raise
        self._end(run)
        if run.error is not None:
            raise run.error

    def _end(self, run: OperationRun) -> None:
        with self._lock:
            self._run, self._plan = None, {}
            try:
                self._disarm()
            except ToxiproxyError as exc:
                run.error = run.error or exc

    def begin_round_trip(self, packed: Any = b"") -> Fault | None:
        """Count one round trip, remove what an earlier one armed; the fault planned here.

        `packed` is what the round trip is about to send: its commands and keys are kept
        in the run, so a scenario can aim at "the round trip that writes the queue".
        """
        with self._lock:
            run = self._open_run()
            if run.error is not None:
                raise run.error
            run.round_trips += 1
            chunks = [packed] if isinstance(packed, bytes | str) else list(packed)
            commands, keys = keys_touched(
                c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
            run.trips.append(RoundTrip(run.round_trips, commands, keys))
            self.healed_since_connect = self._breaking
            try:
                self._disarm()
            except ToxiproxyError as exc:
                run.error = exc
                raise
            return self._plan.get(run.round_trips)

    def arm(self, fault: Fault, request_bytes: int) -> None:
        """Add the toxics of `fault` for a request of `request_bytes` bytes."""
        with self._lock:
            run = self._open_run()
            name = f"qc-{fault.kind}-rt{fault.round_trip}"
            for toxic in toxics_for(fault.kind, request_bytes=request_bytes, name=name):
                self.in_control = True
                try:
                    self.control.add_toxic(self.proxy_name, toxic)
                except ToxiproxyError as exc:
                    run.error = run.error or exc
                    raise
                finally:
                    self.in_control = False
                self._armed.append(toxic.name)
                self.armed_since_heal = True
            self._breaking = self._breaking or fault.kind not in SURVIVES_REMOVAL
            run.fired.append(fault)

    def refuse(self, error: QueueChaosError) -> QueueChaosError:
        """Record a harness error met in the hook, so the operation's exit raises it too."""
        with self._lock:
            run = self._open_run()
            run.error = run.error or error
        return error

    def heal(self) -> None:
        """Remove every toxic on the server and re-enable every proxy (between examples)."""
        with self._lock:
            self.in_control = True
            try:
                self.control.reset()
            finally:
                self.in_control = False
            self._armed.clear()
            self._breaking = False
            self.armed_since_heal = False

    def _open_run(self) -> OperationRun:
        if self._run is None:
            raise RuntimeError("no operation is open on this FaultInjector")
        return self._run

    def _disarm(self) -> None:
        self.in_control = True
        try:
            while self._armed:
                self.control.remove_toxic(self.proxy_name, self._armed[0])
                self._armed.pop(0)
            self._breaking = False
        finally:
            self.in_control = False


def _packed_size(command: bytes | str | Iterable[bytes]) -> int:
    if isinstance(command, bytes | str):
        return len(command)
    return sum(len(chunk) for chunk in command)


class RoundTripConnection(Connection):
    """A redis-py connection that lets a FaultInjector arm a fault before each round trip.

    Build the client with harness.redis_client.build_client(host, port, policy,
    connection_class=RoundTripConnection, fault_injector=injector). Commands sent by the
    connect handshake (RESP3's HELLO, AUTH, SELECT, ...) are neither counted nor faulted.
    """

    def __init__(self, *args: Any, fault_injector: FaultInjector | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fault_injector = fault_injector
        if fault_injector is not None:
            fault_injector.register(self)
        self._handshaking = False
        self.handshake_sends = 0  # commands the last connect sent before the first request

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def on_connect_check_health(self, check_health: bool = True) -> None:
        self._handshaking = True
        self.handshake_sends = 0
        try:
            super().on_connect_check_health(check_health)
        finally:
            self._handshaking = False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        injector = self.fault_injector
        if self._handshaking:
            self.handshake_sends += 1
        elif injector is not None and injector.in_operation and not injector.in_control:
            self._before_round_trip(injector, command)
        super().send_packed_command(command, check_health)

    def _before_round_trip(self, injector: FaultInjector, command: Any) -> None:
        if injector.before_round_trip is not None:
            injector.before_round_trip()
        request_bytes = _packed_size(command)
        fault = injector.begin_round_trip(command)
        if injector.healed_since_connect and self._sock:
            self.disconnect()  # send over a connection opened after the network healed
        if not self._sock:
            self.connect()  # the handshake goes through before any fault is armed
        if fault is None:
            return
        if fault.kind in NEEDS_FRESH_CONNECTION:
            if self.handshake_sends:
                raise injector.refuse(UsageError(
                    f"a {fault.kind} fault needs a connection that sends nothing on connect, "
                    f"but this one sends {self.handshake_sends} command(s) (RESP3 HELLO, AUTH, "
                    "SELECT, CLIENT SETNAME): build the client with protocol=2, db 0, no name"
                ))
            # Toxiproxy sets SO_LINGER at accept: only a connection accepted after the
            # toxic exists gets a true RST, so reconnect under the armed toxic.
            self.disconnect()
            injector.arm(fault, request_bytes)
            self.connect()
        else:
            injector.arm(fault, request_bytes)
        if fault.kind is FaultKind.STALL and self._sock is not None:
            # No reply comes until the toxic goes: wait a short while, not the client's whole
            # socket timeout. redis-py drops the connection after the timeout, so the next
            # round trip has the client's own timeout again.
            self._sock.settimeout(min(self.socket_timeout or STALL_WAIT, STALL_WAIT))


def injected_client(
    host: str, port: int, injector: FaultInjector, policy: ClientPolicy | None = None,
    db: int = 0, *, decode_responses: bool = True,
) -> redis.Redis:
    """A client through the proxy whose round trips `injector` counts and faults.

    build_client speaks RESP2: a new connection sends nothing before the first request, so
    every fault kind, `reset` included, lands on the request and never on a handshake. A
    database other than 0 is selected on connect (one command): then `reset` is refused
    (faults.kinds_for_database leaves it out). `decode_responses=False`: bytes (rq).
    """
    return build_client(host, port, policy, connection_class=RoundTripConnection,
                        decode_responses=decode_responses, fault_injector=injector, db=db)
