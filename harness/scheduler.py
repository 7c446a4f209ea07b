"""Overlapping operations under a schedule the harness owns: races found, shrunk and replayed.

Several logical clients (each its own target, client and Toxiproxy proxy) run one operation
each, on threads. Before every Redis round trip a client's connection calls `turn()`, which
parks it until the `Scheduler` lets it go; the scheduler lets one client go at a time, and
only once every other client is parked or finished. What a client does between two round
trips is its own Python code, so at any moment at most one client is doing anything: the
same schedule gives the same interleaving, threads or not (FoundationDB's simulator, CHESS
and loom own the schedule the same way; here the schedule is Hypothesis data).

A schedule is a list of client numbers: entry d says who makes the d-th round trip of the
step. An entry naming a client that is finished (or has nothing to send) falls to the
client that went last, else the first one waiting; past the end of the list the client that
went last keeps going. So the empty schedule runs the clients one after the other (no
switch at all), and Hypothesis, which shrinks lists toward shorter and entries toward 0,
shrinks a race toward the fewest switches that still show it.

A client that neither parks nor finishes within the time limit (it waits on something only
another client would do, or hangs) ends the step: `StepHung` names it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

CLIENT_NAMES = "ABC"
MAX_CLIENTS = len(CLIENT_NAMES)
DEFAULT_CLIENTS = 2  # the state machine's: two callers at once find the races listed so far


@dataclass(frozen=True)
class Turn:
    """One round trip as the schedule placed it: whose, its number in that client's operation."""

    client: int
    number: int

    def __str__(self) -> str:
        return f"{CLIENT_NAMES[self.client]}{self.number}"


class StepHung(Exception):
    """A client let go did not reach its next round trip nor finish within the limit."""

    def __init__(self, client: int, seconds: float) -> None:
        super().__init__(f"client {CLIENT_NAMES[client]} did not reach its next round trip "
                         f"nor finish within {seconds:g} s")
        self.client = client
        self.seconds = seconds


@dataclass
class _Client:
    parked: bool = False
    finished: bool = False
    round_trips: int = 0
    result: Any = None
    error: BaseException | None = None


@dataclass
class Interleaving:
    """What a step did: the round trips in the order they ran, and each client's result."""

    turns: list[Turn] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    errors: list[BaseException | None] = field(default_factory=list)

    def describe(self) -> str:
        """"A1 B1 B2 A2: B's round trips 1-2 ran between A's 1 and 2"."""
        return describe_turns(self.turns)


def describe_turns(turns: Sequence[Turn]) -> str:
    order = " ".join(str(t) for t in turns) or "(no round trip)"
    inside = []
    for i, turn in enumerate(turns):
        if i == 0 or turns[i - 1].client == turn.client:
            continue
        # a run of another client's round trips, from here to the next switch
        j = i
        while j + 1 < len(turns) and turns[j + 1].client == turn.client:
            j += 1
        before = [t for t in turns[:i] if t.client != turn.client]
        after = [t for t in turns[j + 1:] if t.client == before[-1].client] if before else []
        if before and after:
            name = CLIENT_NAMES[turn.client]
            span = (f"round trip {turn.number}" if j == i
                    else f"round trips {turn.number}-{turns[j].number}")
            other = CLIENT_NAMES[before[-1].client]
            inside.append(f"{name}'s {span} ran between {other}'s {before[-1].number} "
                          f"and {after[0].number}")
    return f"{order}: {'; '.join(inside)}" if inside else f"{order}: no overlap"


class Scheduler:
    """Runs one call per client, letting their round trips through in the schedule's order."""

    def __init__(self, schedule: Sequence[int], timeout: float) -> None:
        self.schedule = list(schedule)
        self.timeout = timeout
        self._cond = threading.Condition()
        self._clients: list[_Client] = []
        self._running: int | None = None  # the client let go, until it parks or finishes
        self._released = False  # after the step: every client goes its own way
        self._local = threading.local()

    def turn(self) -> None:
        """Called by a client's connection before each round trip: wait to be let go.

        A thread that is not one of this step's clients passes at once.
        """
        me: int | None = getattr(self._local, "client", None)
        if me is None or self._released:
            return
        with self._cond:
            client = self._clients[me]
            client.parked = True
            if self._running == me:
                self._running = None
            self._cond.notify_all()
            while self._running != me and not self._released:
                self._cond.wait()
            client.parked = False
            client.round_trips += 1

    def run(self, calls: Sequence[Callable[[], Any]]) -> Interleaving:
        """Run every call on its own thread to its end; the order their round trips ran in."""
        self._clients = [_Client() for _ in calls]
        threads = [threading.Thread(target=self._body, args=(i, call), daemon=True,
                                    name=f"client-{CLIENT_NAMES[i]}")
                   for i, call in enumerate(calls)]
        for thread in threads:
            thread.start()
        done = Interleaving()
        last: int | None = None
        with self._cond:
            while True:
                self._wait_until_quiet(last)
                waiting = [i for i, c in enumerate(self._clients) if c.parked]
                if not waiting:
                    break
                nxt = self._pick(len(done.turns), waiting, last)
                self._running = last = nxt
                done.turns.append(Turn(nxt, self._clients[nxt].round_trips + 1))
                self._cond.notify_all()
        done.results = [c.result for c in self._clients]
        done.errors = [c.error for c in self._clients]
        return done

    def release(self) -> None:
        """Let every parked client go (a step that hung): none waits for a turn any more."""
        with self._cond:
            self._released = True
            self._cond.notify_all()

    def _wait_until_quiet(self, running: int | None) -> None:
        """Until no client runs and every one is parked or finished (the lock is held)."""
        deadline = time.monotonic() + self.timeout

        def quiet() -> bool:
            return self._running is None and all(c.parked or c.finished for c in self._clients)

        while not quiet():
            left = deadline - time.monotonic()
            if left <= 0:
                stuck = running if running is not None else next(
                    i for i, c in enumerate(self._clients) if not (c.parked or c.finished))
                raise StepHung(stuck, self.timeout)
            self._cond.wait(left)

    def _pick(self, decision: int, waiting: list[int], last: int | None) -> int:
        if decision < len(self.schedule) and self.schedule[decision] in waiting:
            return self.schedule[decision]
        return last if last in waiting else waiting[0]

    def _body(self, index: int, call: Callable[[], Any]) -> None:
        self._local.client = index
        client = self._clients[index]
        try:
            client.result = call()
        except BaseException as exc:  # noqa: BLE001 - handed back as the operation's outcome
            client.error = exc
        finally:
            with self._cond:
                client.finished = True
                if self._running == index:
                    self._running = None
                self._cond.notify_all()
