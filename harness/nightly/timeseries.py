"""Throughput and latency of a run, one row per second, streamed to a JSONL file.

Operations are counted in the second they complete. Only the current second keeps its
latencies (to take exact percentiles); a closed second becomes one small row on disk, so
memory does not grow with the budget. Whole-run percentiles come from a fixed log-spaced
histogram for the same reason.
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.history import Outcome

# Whole-run latency histogram: 10 buckets per decade from 10 us to 100 s.
_PER_DECADE = 10
_LOW = 1e-5
_BUCKETS = 7 * _PER_DECADE + 1


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class LogHistogram:
    counts: list[int] = field(default_factory=lambda: [0] * _BUCKETS)
    total: int = 0

    def add(self, seconds: float) -> None:
        index = 0 if seconds <= _LOW else int(math.log10(seconds / _LOW) * _PER_DECADE) + 1
        self.counts[min(index, _BUCKETS - 1)] += 1
        self.total += 1

    def quantile(self, q: float) -> float:
        """Upper edge of the bucket holding the q-th percentile (an overestimate by <26%)."""
        if not self.total:
            return 0.0
        rank = max(1, math.ceil(q / 100 * self.total))
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return _LOW * 10 ** (index / _PER_DECADE)
        return _LOW * 10 ** ((_BUCKETS - 1) / _PER_DECADE)


def _row(second: int, outcomes: Counter[str], latencies: list[float]) -> dict[str, Any]:
    latencies.sort()
    ms = [round(percentile(latencies, q) * 1000, 3) for q in (50, 95, 99)]
    return {
        "t": second,
        "ops": len(latencies),
        **{str(o): outcomes.get(str(o), 0) for o in Outcome},
        "p50_ms": ms[0],
        "p95_ms": ms[1],
        "p99_ms": ms[2],
        "max_ms": round(latencies[-1] * 1000, 3),
    }


class TimeSeries:
    """Thread-safe per-second aggregation of completed operations."""

    def __init__(self, sink: IO[str] | None = None) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._second: int | None = None
        self._outcomes: Counter[str] = Counter()
        self._latencies: list[float] = []
        self.by_kind: Counter[tuple[str, str]] = Counter()  # (kind, outcome) -> count
        self.crashed = 0
        self.total = 0
        self.histogram = LogHistogram()
        self.last_row: dict[str, Any] | None = None

    @classmethod
    def to_file(cls, path: Path) -> TimeSeries:
        return cls(path.open("w", encoding="utf-8"))

    def record(
        self, completed_at: float, kind: str, outcome: str, latency: float, crashed: bool
    ) -> None:
        second = int(completed_at)
        with self._lock:
            if self._second is not None and second > self._second:
                self._flush()
            if self._second is None or second > self._second:
                self._second = second
            self._outcomes[outcome] += 1
            self._latencies.append(latency)
            self.by_kind[(kind, outcome)] += 1
            self.crashed += crashed
            self.total += 1
            self.histogram.add(latency)

    def _flush(self) -> None:
        if self._second is None or not self._latencies:
            return
        row = _row(self._second, self._outcomes, self._latencies)
        self.last_row = row
        if self._sink is not None:
            self._sink.write(json.dumps(row) + "\n")
            self._sink.flush()
        self._outcomes = Counter()
        self._latencies = []

    def close(self) -> None:
        with self._lock:
            self._flush()
            if self._sink is not None:
                self._sink.close()
                self._sink = None

    def latency_summary_ms(self) -> dict[str, float]:
        return {
            f"p{q}": round(self.histogram.quantile(q) * 1000, 3) for q in (50, 95, 99)
        }
