"""One view of the telemetry of many targets, each built with a registry of its own.

A target registers its counters when it is built (queue_impl does, and so may a user's
queue), so two targets cannot share one CollectorRegistry: the second registration of a
name raises. Every thread of a nightly run, and every logical client of the state machine,
therefore builds its target with a fresh registry, and the checker reads
`RegistryFamily.merged`, whose samples are the sums over all of them: the telemetry of the
whole run, as if one target had done all the work.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


class _SummedCollector(Collector):
    def __init__(self, family: RegistryFamily) -> None:
        self._family = family

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        totals: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
        for registry in self._family.members():
            for metric in registry.collect():
                into = merged.setdefault(
                    metric.name, Metric(metric.name, metric.documentation, metric.type, metric.unit)
                )
                for sample in metric.samples:
                    key = (into.name, sample.name, tuple(sorted(sample.labels.items())))
                    if sample.name.endswith("_created"):  # a creation time: keep the earliest
                        totals[key] = min(totals.get(key, sample.value), sample.value)
                    else:
                        totals[key] = totals.get(key, 0.0) + sample.value
        for (metric_name, sample_name, labels), value in totals.items():
            merged[metric_name].add_sample(sample_name, dict(labels), value)
        yield from merged.values()


class RegistryFamily:
    """Hands out one registry per target; `merged` sums them all (read-only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: list[CollectorRegistry] = []
        self.merged = CollectorRegistry(auto_describe=False)
        self.merged.register(_SummedCollector(self))

    def new_registry(self) -> CollectorRegistry:
        registry = CollectorRegistry()
        with self._lock:
            self._members.append(registry)
        return registry

    def members(self) -> list[CollectorRegistry]:
        with self._lock:
            return list(self._members)
