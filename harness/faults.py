"""The fault kinds, and the real Toxiproxy toxics that make each one happen.

Each kind is named by what the caller lives through, and is made by a toxic on the proxy
between the target and Redis; none is a Python exception raised in place of a network fault.

  request_lost  the command never reaches Redis; the connection closes     limit_data up, 0 B
  reply_lost    Redis executes it; the reply never arrives (ambiguous)      limit_data down, 0 B
  stall         Redis executes it; no reply: the client times out           timeout down, 0 ms
  reset         the connection is reset (RST) as the command is sent       reset_peer up
  partial       the request is cut part-way: a pipeline runs only its head  limit_data up, N B
  latency       every reply is late, but within the client's timeout       latency down
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from harness.toxiproxy import Toxic


class FaultKind(StrEnum):
    REQUEST_LOST = "request_lost"
    REPLY_LOST = "reply_lost"
    STALL = "stall"
    RESET = "reset"
    PARTIAL = "partial"
    LATENCY = "latency"


# Kinds after which a write may or may not have happened: the caller cannot tell.
AMBIGUOUS = frozenset({FaultKind.REPLY_LOST, FaultKind.STALL, FaultKind.PARTIAL})
# Kinds that need a connection opened after the toxic was added (reset_peer sets SO_LINGER
# at accept, so only such a connection gets a true RST).
NEEDS_FRESH_CONNECTION = frozenset({FaultKind.RESET})

def kinds_for_database(kinds: Iterable[FaultKind], database: int) -> tuple[FaultKind, ...]:
    """The kinds a client of Redis database `database` can take. A connection to a database
    other than 0 sends SELECT on connect, and a reset armed for a fresh connection would
    reset that SELECT, not the request: such a client takes no `reset`."""
    return tuple(k for k in kinds if database == 0 or k not in NEEDS_FRESH_CONNECTION)


# Kinds whose toxic leaves every connection through the proxy working once it is removed:
# the injector keeps them (and what is bound to one, a WATCH, stays). After the others it
# opens a fresh connection: Toxiproxy closes the connections a removed `timeout` toxic held.
SURVIVES_REMOVAL = frozenset({FaultKind.LATENCY})
# A late reply needs only to be late: every deliberate wait is machine time (measured in
# benchmarks/bench_machine.py: 40 ms and a 50 ms stall made 88 steps/s with faults, 10 ms
# and 20 ms made 138, against 220 without faults).
LATENCY_MS = 10  # well below the harness client's socket timeout
# A stalled round trip gets this socket timeout (the injector sets it for that round trip
# only): the reply never comes while the toxic is there, so waiting longer proves nothing.
STALL_WAIT = 0.02
LATENCY_JITTER_MS = 3


@dataclass(frozen=True)
class Fault:
    """`kind` armed just before the `round_trip`-th Redis round trip of one operation.

    Round trips count from 1; a pipeline or a MULTI/EXEC is one round trip. A plan may hold
    several faults, e.g. one on a write and one on the cleanup that follows its failure.
    """

    kind: FaultKind
    round_trip: int = 1

    def __post_init__(self) -> None:
        if self.round_trip < 1:
            raise ValueError(f"round_trip counts from 1, got {self.round_trip}")

    def __str__(self) -> str:
        return f"{self.kind}@{self.round_trip}"

    def __repr__(self) -> str:  # how Hypothesis prints a counterexample step
        return f"Fault.parse({str(self)!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis's pretty printer shows a dataclass field by field: the repr instead."""
        printer.text(repr(self))

    @classmethod
    def parse(cls, text: str) -> Fault:
        """"reply_lost@3" -> Fault(REPLY_LOST, 3); a bare kind means round trip 1."""
        kind, _, at = text.partition("@")
        try:
            return cls(FaultKind(kind.strip()), int(at) if at else 1)
        except ValueError as exc:
            kinds = ", ".join(k.value for k in FaultKind)
            raise ValueError(
                f"bad fault {text!r}: expected KIND[@ROUND_TRIP], KIND one of {kinds}"
            ) from exc


def toxics_for(kind: FaultKind, request_bytes: int = 0, name: str = "qc") -> list[Toxic]:
    """The toxics that make `kind` happen to the next request of `request_bytes` bytes."""
    if kind is FaultKind.REQUEST_LOST:
        return [Toxic(name, "limit_data", "upstream", attributes={"bytes": 0})]
    if kind is FaultKind.REPLY_LOST:
        return [Toxic(name, "limit_data", "downstream", attributes={"bytes": 0})]
    if kind is FaultKind.STALL:
        return [Toxic(name, "timeout", "downstream", attributes={"timeout": 0})]
    if kind is FaultKind.RESET:
        return [Toxic(name, "reset_peer", "upstream", attributes={"timeout": 0})]
    if kind is FaultKind.PARTIAL:
        cut = max(1, request_bytes // 2)
        return [Toxic(name, "limit_data", "upstream", attributes={"bytes": cut})]
    if kind is FaultKind.LATENCY:
        attrs = {"latency": LATENCY_MS, "jitter": LATENCY_JITTER_MS}
        return [Toxic(name, "latency", "downstream", attributes=attrs)]
    raise ValueError(f"no toxic for {kind!r}")


def faulted_step_of(scenario_id: str, steps: Sequence[Any]) -> int | None:
    """The index of a scenario's one step that carries a fault (None: no step does). A
    ValueError when several do: a scenario shows what one fault does."""
    faulted = [i for i, step in enumerate(steps) if step.fault is not None]
    if len(faulted) > 1:
        raise ValueError(f"scenario {scenario_id}: at most one step may carry a fault")
    return faulted[0] if faulted else None

