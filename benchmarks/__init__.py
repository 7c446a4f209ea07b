"""Benchmarks that print plain figures (speed is measured here, never asserted in tests).

Each `bench_*.py` module offers `main(argv) -> int`. `python -m benchmarks` runs them all
with their defaults; `python -m benchmarks NAME [ARGS...]` runs one (NAME without `bench_`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def per_call_ms(call: Callable[[], object], iterations: int, warmup: int = 10) -> list[float]:
    """Wall time of each of `iterations` calls, in milliseconds, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1]
