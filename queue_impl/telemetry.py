"""Queue telemetry in the names harness.target.MetricNames declares, so the checker can read it.

Counting contract (the telemetry invariant relies on it): a call of a write operation that got
past input validation counts once, outcome=success if it returned normally and outcome=failure
if it raised a redis error; a ValueError or JobNotFound counts neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from prometheus_client import CollectorRegistry, Counter

from harness.target import MetricNames


class QueueMetrics:
    """The four counters of MetricNames, registered into one (per-run) registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.dual_writes = Counter(
            MetricNames.DUAL_WRITES,
            "Dual-write operations (old and new schema) by operation and outcome",
            ["operation", "outcome"],
            registry=registry,
        )
        self.fallback_reads = Counter(
            MetricNames.FALLBACK_READS,
            "get_job answered from the old schema because the new record was missing",
            registry=registry,
        )
        self.cleanup_failures = Counter(
            MetricNames.CLEANUP_FAILURES,
            "Compensating deletes after a failed write that themselves failed",
            registry=registry,
        )
        self.divergence = Counter(
            MetricNames.DIVERGENCE,
            "Reads that found the old and new records of a job disagreeing",
            registry=registry,
        )


def record_dual_write_attempt(metrics: QueueMetrics, operation: str, success: bool) -> None:
    """Count one dual-write call (the name the Phase 1 review refers to)."""
    outcome = "success" if success else "failure"
    metrics.dual_writes.labels(operation=operation, outcome=outcome).inc()


@contextmanager
def counted_dual_write(metrics: QueueMetrics, operation: str) -> Iterator[None]:
    """Count the block per the contract: success if it ends, failure on a redis error only."""
    try:
        yield
    except redis.RedisError:
        record_dual_write_attempt(metrics, operation, success=False)
        raise
    record_dual_write_attempt(metrics, operation, success=True)
