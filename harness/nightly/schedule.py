"""The nemesis schedule of a nightly run, drawn from the seed alone.

A schedule is a list of fault windows over the run's budget: quiet, a window of one kind of
network trouble (or two at once), quiet again (healing), and so on. The first windows go
through every kind once, in an order drawn from the seed, so even a short run meets each of
them; later windows draw kinds, combinations and parameters at random. The same seed and
budget always give the same schedule: a night's failure replays with `--seed`.

Unlike the per-round-trip injector of the state machine, a window's toxics apply to every
connection through the proxy for the whole window.

A run on a primary with a replica (`--failover`) also draws failover windows: the
replication link lags or is cut for the window, and at its end the replica is promoted
(harness.replication). Without replicas the draws are exactly those of a plain run, so an
old seed replays the same schedule.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from harness.faults import FaultKind, toxics_for
from harness.toxiproxy import Toxic


class NemesisKind(StrEnum):
    LATENCY = "latency"  # every reply late (with jitter), within the client's timeout
    RESET_PEER = "reset_peer"  # connections reset as data flows
    TIMEOUT = "timeout"  # replies swallowed: calls stall until the socket timeout
    LIMIT_DATA = "limit_data"  # connections cut after N bytes, up or down
    SLICER = "slicer"  # requests sliced into small chunks and cut part-way
    BANDWIDTH = "bandwidth"  # replies throttled to a few KB/s
    PROXY_DOWN = "proxy_down"  # the proxy disabled: listener and connections closed
    FAILOVER = "failover"  # replication lags or is cut, then the replica is promoted


# What a run without replicas draws from (FAILOVER needs harness.replication).
NETWORK_KINDS = tuple(k for k in NemesisKind if k is not NemesisKind.FAILOVER)
# Kinds that may share a window; proxy_down leaves nothing for another kind to act on.
COMBINABLE = tuple(k for k in NETWORK_KINDS if k is not NemesisKind.PROXY_DOWN)
# Pairs that would stack two limit_data toxics on one stream: kept apart.
_CLASHING = frozenset({frozenset({NemesisKind.LIMIT_DATA, NemesisKind.SLICER})})


@dataclass(frozen=True)
class ScheduleShape:
    """The knobs of a schedule (seconds); the defaults suit runs from a few seconds to hours."""

    warmup: float = 1.0  # quiet time before the first window
    settle: float = 2.0  # quiet time between the last window and the end of the budget
    quiet: tuple[float, float] = (0.5, 2.5)  # healing between windows
    length: tuple[float, float] = (0.5, 3.0)  # one window
    combine_probability: float = 0.3  # after the first round: two kinds at once
    kinds: tuple[NemesisKind, ...] = NETWORK_KINDS  # what windows are drawn from


@dataclass(frozen=True)
class LinkTrouble:
    """What a failover window does to the replication link until the promotion."""

    cut: bool  # the link is down: nothing written in the window reaches the replica
    lag_ms: int  # otherwise the stream is this late: the window's last writes are missed

    def to_json(self) -> dict[str, Any]:
        return {"cut": self.cut, "lag_ms": self.lag_ms}


@dataclass(frozen=True)
class Window:
    """One fault window: from `start` to `end` (seconds since the run began)."""

    index: int
    start: float
    end: float
    kinds: tuple[NemesisKind, ...]
    toxics: tuple[Toxic, ...]
    link: LinkTrouble | None = None  # a failover window's trouble on the replication link

    @property
    def proxy_down(self) -> bool:
        return NemesisKind.PROXY_DOWN in self.kinds

    @property
    def fails_over(self) -> bool:
        return NemesisKind.FAILOVER in self.kinds

    @property
    def label(self) -> str:
        return "+".join(self.kinds)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict[str, Any]:
        data = {
            "index": self.index,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "kinds": [str(k) for k in self.kinds],
            "toxics": [t.as_json() for t in self.toxics],
        }
        return data | ({"link": self.link.to_json()} if self.link else {})


@dataclass(frozen=True)
class Schedule:
    seed: int
    budget: float
    windows: tuple[Window, ...]

    def kinds(self) -> set[NemesisKind]:
        return {k for w in self.windows for k in w.kinds}

    def to_json(self) -> list[dict[str, Any]]:
        return [w.to_json() for w in self.windows]


def _toxic_named(toxic: Toxic, name: str, **attributes: Any) -> Toxic:
    return dataclasses.replace(toxic, name=name, attributes={**toxic.attributes, **attributes})


def draw_toxics(kind: NemesisKind, rng: random.Random, name: str) -> list[Toxic]:
    """The toxics of one kind, parameters drawn from `rng`; faults.toxics_for where it fits."""
    if kind is NemesisKind.LATENCY:
        (base,) = toxics_for(FaultKind.LATENCY)
        latency = rng.choice((20, 40, 80, 150))  # ms, all below the client's 500 ms timeout
        return [_toxic_named(base, name, latency=latency, jitter=latency // 4)]
    if kind is NemesisKind.RESET_PEER:
        (base,) = toxics_for(FaultKind.RESET)
        return [_toxic_named(base, name, timeout=rng.choice((0, 0, 50, 200)))]
    if kind is NemesisKind.TIMEOUT:
        (base,) = toxics_for(FaultKind.STALL)
        # 0: swallow replies until the window ends; > 0: close the connection after that long.
        return [_toxic_named(base, name, timeout=rng.choice((0, 0, 200, 1000)))]
    if kind is NemesisKind.LIMIT_DATA:
        fault = rng.choice((FaultKind.REQUEST_LOST, FaultKind.REPLY_LOST, FaultKind.PARTIAL))
        cut = rng.choice((16, 64, 256, 1024))
        (base,) = toxics_for(fault, request_bytes=2 * cut)
        if fault is FaultKind.REPLY_LOST and rng.random() < 0.5:
            return [_toxic_named(base, name, bytes=cut)]  # a reply cut part-way
        return [_toxic_named(base, name)]
    if kind is NemesisKind.SLICER:
        size = rng.choice((8, 16, 64))
        slicer = Toxic(name, "slicer", "upstream", attributes={
            "average_size": size, "size_variation": size // 2, "delay": rng.choice((0, 500, 2000)),
        })
        (cut,) = toxics_for(FaultKind.PARTIAL, request_bytes=2 * rng.choice((48, 160, 600)))
        return [slicer, _toxic_named(cut, f"{name}-cut")]
    if kind is NemesisKind.BANDWIDTH:
        rate = rng.choice((1, 4, 16))  # KB/s
        return [Toxic(name, "bandwidth", "downstream", attributes={"rate": rate})]
    if kind in (NemesisKind.PROXY_DOWN, NemesisKind.FAILOVER):
        return []  # a failover's trouble is on the replication link (draw_link)
    raise ValueError(f"no toxics for {kind!r}")


LINK_LAGS_MS = (100, 400, 1500)  # how late the replication stream runs in a failover window


def draw_link(rng: random.Random) -> LinkTrouble:
    """A failover window's link: cut half the time, else late by a drawn delay."""
    cut = rng.random() < 0.5
    return LinkTrouble(cut, 0 if cut else rng.choice(LINK_LAGS_MS))


def draw_schedule(seed: int, budget: float, shape: ScheduleShape | None = None) -> Schedule:
    """The fault windows of a run of `budget` seconds; a function of (seed, budget, shape) only."""
    shape = shape or ScheduleShape()
    rng = random.Random(seed)
    first_round = list(shape.kinds)
    rng.shuffle(first_round)
    warmup = min(shape.warmup, budget * 0.1)
    last_end = budget - min(shape.settle, budget * 0.15)
    windows: list[Window] = []
    t = warmup
    while True:
        length = rng.uniform(*shape.length)
        if t + min(length, shape.length[0]) > last_end:
            break
        end = min(t + length, last_end)
        if first_round:
            kinds: tuple[NemesisKind, ...] = (first_round.pop(0),)
        elif rng.random() < shape.combine_probability and len(_combinable(shape)) >= 2:
            kinds = _draw_pair(rng, _combinable(shape))
        else:
            kinds = (rng.choice(list(shape.kinds)),)
        index = len(windows)
        toxics = [
            toxic
            for kind in kinds
            for toxic in draw_toxics(kind, rng, f"nemesis-{index}-{kind}")
        ]
        link = draw_link(rng) if NemesisKind.FAILOVER in kinds else None
        windows.append(Window(index, round(t, 3), round(end, 3), kinds, tuple(toxics), link))
        t = end + rng.uniform(*shape.quiet)
    return Schedule(seed, budget, tuple(windows))


def _combinable(shape: ScheduleShape) -> tuple[NemesisKind, ...]:
    """The shape's kinds that may share a window (a failover goes with any network kind)."""
    return tuple(k for k in (*COMBINABLE, NemesisKind.FAILOVER) if k in shape.kinds)


def _draw_pair(rng: random.Random, combinable: tuple[NemesisKind, ...]) -> tuple[NemesisKind, ...]:
    while True:
        pair = tuple(sorted(rng.sample(combinable, 2)))
        if frozenset(pair) not in _CLASHING:
            return pair
