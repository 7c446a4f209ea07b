"""Where the state machine puts its faults: on the round trips each operation really makes.

A fixed "round trip 1 to 4" fits one queue. Here the machine counts, per example, how many
round trips each kind of operation made and which of them wrote, and draws the next
fault's place from those: two times in three on a round trip that wrote (a write is where
an unknown outcome hurts; the writes after the first, where a non-atomic operation stops
half done, get twice the weight), else anywhere the operation went, plus sometimes a second fault
one or two round trips later (the cleanup path, which only a failure reaches). An
operation kind not seen yet in the example gets round trips 1 to 4.

Swarm testing (Groce et al.): each example enables a subset of the fault kinds, drawn
first; a narrow example goes deeper into what it enables than an everything-at-once one.
(Hypothesis already enables a random subset of the rules per example.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as st

from harness.faults import Fault, FaultKind
from harness.generation import weighted
from harness.injector import RoundTrip

UNSEEN_ROUND_TRIPS = 4  # guessed for an operation kind the example has not run yet

READ_ONLY = frozenset({
    "GET", "MGET", "HGET", "HGETALL", "HMGET", "HEXISTS", "HLEN", "HKEYS", "HVALS", "EXISTS",
    "LRANGE", "LINDEX", "LLEN", "LPOS", "ZRANGE", "ZRANGEBYSCORE", "ZSCORE", "ZCARD",
    "ZRANK", "SMEMBERS", "SISMEMBER", "SCARD", "STRLEN", "TYPE", "TTL", "PTTL", "SCAN",
    "KEYS", "WATCH", "UNWATCH", "MULTI", "EXEC", "DISCARD", "PING", "ECHO", "TIME", "INFO",
    "DBSIZE", "SELECT", "EVAL_RO", "EVALSHA_RO", "FCALL_RO",
})


def writes(trip: RoundTrip) -> bool:
    """A round trip that may change Redis (anything not known to be read-only)."""
    return any(command.upper() not in READ_ONLY for command in trip.commands)


@dataclass
class RoundTripsSeen:
    """Per operation kind in one example: the most round trips made, and which wrote."""

    counts: dict[str, int] = field(default_factory=dict)
    writing: dict[str, set[int]] = field(default_factory=dict)

    def record(self, kind: str, trips: Iterable[RoundTrip]) -> None:
        trips = list(trips)
        self.counts[kind] = max(self.counts.get(kind, 0), len(trips))
        self.writing.setdefault(kind, set()).update(t.number for t in trips if writes(t))


def fault_plans(kinds: Sequence[FaultKind], seen: RoundTripsSeen,
                operation: str) -> st.SearchStrategy[tuple[Fault, ...]]:
    """No fault (what shrinking heads for), or one on a round trip this kind of operation
    makes, sometimes followed by a second on the cleanup. Two operations in three carry one."""
    if not kinds:
        return st.just(())
    kind = st.sampled_from(list(kinds))
    count = seen.counts.get(operation) or UNSEEN_ROUND_TRIPS
    writing = sorted(seen.writing.get(operation, ()))
    anywhere = st.integers(1, max(count, 1))
    # After the first write is where a non-atomic operation leaves half its work done.
    later = st.sampled_from(writing[1:]) if len(writing) > 1 else st.sampled_from(writing or [1])
    where = (weighted((1, st.sampled_from(writing)), (1, later), (1, anywhere)) if writing
             else anywhere)
    first = st.builds(Fault, kind=kind, round_trip=where)

    def maybe_then(fault: Fault) -> st.SearchStrategy[tuple[Fault, ...]]:
        then = st.builds(Fault, kind=kind,
                         round_trip=st.integers(fault.round_trip + 1, fault.round_trip + 2))
        return st.one_of(st.just((fault,)), then.map(lambda second: (fault, second)))

    some = first.flatmap(maybe_then)
    return weighted((1, st.just(())), (2, some))
