"""The run's own telemetry, for alerting: metrics.prom and an optional Pushgateway push.

Names (all prefixed queue_chaos_nightly_):
  operations_total{kind,outcome}          operations the workload completed
  operation_latency_seconds{kind}         histogram of their latencies (through the proxy)
  fault_windows_total{kind}               nemesis windows applied, per kind (a pair counts
  fault_seconds_total{kind}               for both of its kinds), and how long they lasted
  violations{invariant,severity}          violations found per invariant (0 when it held)
  jobs{category}                          Jepsen total-queue figures (attempted, lost, ...)
  verdict{status}                         1 for the run's verdict, 0 for the others
  duration_seconds, budget_seconds, seed, last_run_timestamp_seconds

This registry is the harness's, never the target's: the target's counters are judged by
the telemetry invariant, these are what the harness saw.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, write_to_textfile
from prometheus_client.exposition import pushadd_to_gateway

from harness.invariants import INVARIANTS

PREFIX = "queue_chaos_nightly"
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
VERDICTS = ("holds", "violated", "infrastructure", "interrupted")
PUSH_JOB = "queue_chaos_nightly"


class RunMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.operations = Counter(f"{PREFIX}_operations", "Operations completed by the workload",
                                  ["kind", "outcome"], registry=r)
        self.latency = Histogram(f"{PREFIX}_operation_latency_seconds",
                                 "Latency of workload operations through the proxy", ["kind"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.fault_windows = Counter(f"{PREFIX}_fault_windows", "Nemesis windows applied",
                                     ["kind"], registry=r)
        self.fault_seconds = Counter(f"{PREFIX}_fault_seconds", "Seconds under each fault kind",
                                     ["kind"], registry=r)
        self.violations = Gauge(f"{PREFIX}_violations", "Violations found per invariant",
                                ["invariant", "severity"], registry=r)
        self.jobs = Gauge(f"{PREFIX}_jobs", "Jepsen total-queue figures of the run",
                          ["category"], registry=r)
        self.verdict = Gauge(f"{PREFIX}_verdict", "1 for the verdict of the run", ["status"],
                             registry=r)
        self.duration = Gauge(f"{PREFIX}_duration_seconds", "Wall time of the workload",
                              registry=r)
        self.budget = Gauge(f"{PREFIX}_budget_seconds", "Budget the run was given", registry=r)
        self.seed = Gauge(f"{PREFIX}_seed", "Seed of the nemesis schedule", registry=r)
        self.finished = Gauge(f"{PREFIX}_last_run_timestamp_seconds",
                              "When the run finished (epoch seconds)", registry=r)

    def observe_operation(self, kind: str, outcome: str, latency: float) -> None:
        self.operations.labels(kind, outcome).inc()
        self.latency.labels(kind).observe(latency)

    def observe_window(self, kinds: list[str], seconds: float) -> None:
        for kind in kinds:
            self.fault_windows.labels(kind).inc()
            self.fault_seconds.labels(kind).inc(seconds)

    def set_outcome(
        self,
        verdict: str,
        *,
        violations_per_invariant: Mapping[str, int],
        jobs: Mapping[str, int],
        duration: float,
        budget: float,
        seed: int,
    ) -> None:
        for name, invariant in INVARIANTS.items():
            count = violations_per_invariant.get(name, 0)
            self.violations.labels(name, str(invariant.severity)).set(count)
        for category, value in jobs.items():
            self.jobs.labels(category).set(value)
        for status in VERDICTS:
            self.verdict.labels(status).set(1 if status == verdict else 0)
        self.duration.set(duration)
        self.budget.set(budget)
        self.seed.set(seed)
        self.finished.set(time.time())

    def write(self, path: Path) -> None:
        write_to_textfile(str(path), self.registry)

    def push(self, gateway: str, target: str, timeout: float = 10.0) -> None:
        """pushadd: replaces only these metric names in the group job/target."""
        pushadd_to_gateway(gateway, job=PUSH_JOB, registry=self.registry,
                           grouping_key={"target": target}, timeout=timeout)
