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


def alternating(first: Callable[[], object], second: Callable[[], object], iterations: int,
                blocks: int = 5) -> tuple[list[float], list[float]]:
    """Per-call times of two calls measured in turns (`blocks` of each), so that a machine
    that slows down for a while slows both alike: their ratio is what one run can tell."""
    block = max(1, iterations // blocks)
    a: list[float] = []
    b: list[float] = []
    while len(a) < iterations:
        a += per_call_ms(first, block)
        b += per_call_ms(second, block)
    return a, b


def timing_row(label: str, samples: list[float], width: int = 48) -> str:
    return f"  {label:<{width}} median {median(samples):7.3f} ms   p90 {p90(samples):7.3f} ms"


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1]
