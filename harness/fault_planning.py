"""Where the state machine puts its faults: on the round trips each operation really makes.

A fixed "round trip 1 to 4" fits one queue. Here the machine counts, per example, how many
round trips each kind of operation made and which of them wrote, and draws the next
fault's place from those: two times in three on a round trip that wrote (a write is where
an unknown outcome hurts; the writes after the first, where a non-atomic operation stops
half done, get twice the weight), else anywhere the operation went, plus sometimes a second
fault one or two round trips later (the cleanup path, which only a failure reaches).

Only an operation that answered ok shows how far the kind goes: one that a fault cut short
or that failed early (JobNotFound after its first read) made fewer round trips than the
kind does. Learning the count from those kept faults on the first round trip for the rest
of the example (measured on the HIGH-2 variant: most of the update_status faults that
fired hit its read, and it made the writes fault-free). Until a kind has answered ok, its
places are round trips 1 to 4 (or further, if it went further); the writes it was seen
to make count from any run. A kind that never wrote gets "anywhere" for every class.

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
    """Per operation kind in one example: the most round trips of a run that answered ok,
    the most of any run, and which round trips wrote."""

    counts: dict[str, int] = field(default_factory=dict)
    reached: dict[str, int] = field(default_factory=dict)
    writing: dict[str, set[int]] = field(default_factory=dict)

    def record(self, kind: str, trips: Iterable[RoundTrip], answered: bool) -> None:
        """`answered`: the operation ran to its answer (ok), so its round trips are the
        kind's whole path; else they are only how far this run got."""
        trips = list(trips)
        if answered:
            self.counts[kind] = max(self.counts.get(kind, 0), len(trips))
        self.reached[kind] = max(self.reached.get(kind, 0), len(trips))
        self.writing.setdefault(kind, set()).update(t.number for t in trips if writes(t))

    def round_trips(self, kind: str) -> int:
        """How many round trips to place this kind's faults over."""
        return self.counts.get(kind) or max(UNSEEN_ROUND_TRIPS, self.reached.get(kind, 0))


PLACES = 16  # a drawn place is one of 16, then mapped onto the round trips seen


def fault_plans(kinds: Sequence[FaultKind], seen: RoundTripsSeen, operation: str, *,
                cleanup: bool = True) -> st.SearchStrategy[tuple[Fault, ...]]:
    """No fault (what shrinking heads for), or one on a round trip this kind of operation
    makes, sometimes followed by a second on the cleanup (unless `cleanup` is False: one
    fault at most). Two operations in three carry one.

    What is drawn has the same shape whatever the example has seen (a kind, a class of
    place, a place among PLACES, maybe a second fault 1 or 2 round trips later); only
    mapping the place onto round trips reads the counts. A queue whose round trips vary
    with timing (a WATCH retry) then replays the same draws: Hypothesis does not end the
    run as "inconsistent data generation".
    """
    if not kinds:
        return st.just(())
    count = seen.round_trips(operation)
    writing = sorted(seen.writing.get(operation, ()))
    return weighted((1, st.just(())),
                    (2, _faults_placed(tuple(kinds), count, tuple(writing), cleanup)))


def _place(where: str, index: int, count: int, writing: tuple[int, ...]) -> int:
    """A drawn place mapped onto the round trips seen. After the first write is where a
    non-atomic operation leaves half its work done."""
    among = {"a write": writing, "a later write": writing[1:] or writing}.get(where) or ()
    return among[index % len(among)] if among else 1 + index % max(count, 1)


# Defined once: Hypothesis reads a composite's source when it is defined (ast.parse), and
# fault_plans is called for every step (0.6 ms a step when this was defined inside it).
@st.composite
def _faults_placed(draw: st.DrawFn, kinds: tuple[FaultKind, ...], count: int,
                   writing: tuple[int, ...], cleanup: bool) -> tuple[Fault, ...]:
    kind = draw(st.sampled_from(kinds))
    where = draw(st.sampled_from(["a write", "a later write", "anywhere"]))
    first = Fault(kind, _place(where, draw(st.integers(0, PLACES - 1)), count, writing))
    if not cleanup or not draw(st.booleans()):
        return (first,)
    return (first, Fault(kind, first.round_trip + draw(st.integers(1, 2))))
