"""Targets built with registries of their own are judged as one: the family sums them."""

import pytest
from prometheus_client import CollectorRegistry, Counter

from harness.checker import Checker
from harness.registries import RegistryFamily
from harness.target import DEFAULT_SCHEMA, MetricNames


def _dual_writes(registry: CollectorRegistry) -> Counter:
    """What a target does at construction: register its counters in the registry it gets."""
    return Counter(MetricNames.DUAL_WRITES, "dual writes", ["operation", "outcome"],
                   registry=registry)


def test_one_registry_cannot_take_two_targets_counters():
    registry = CollectorRegistry()
    _dual_writes(registry)
    with pytest.raises(ValueError, match="Duplicated"):
        _dual_writes(registry)


def test_the_merged_registry_sums_every_targets_samples():
    family = RegistryFamily()
    first, second = _dual_writes(family.new_registry()), _dual_writes(family.new_registry())
    first.labels("enqueue", "success").inc(2)
    second.labels("enqueue", "success").inc(3)
    second.labels("enqueue", "failure").inc()
    merged = family.merged
    assert merged.get_sample_value(f"{MetricNames.DUAL_WRITES}_total",
                                   {"operation": "enqueue", "outcome": "success"}) == 5
    assert merged.get_sample_value(f"{MetricNames.DUAL_WRITES}_total",
                                   {"operation": "enqueue", "outcome": "failure"}) == 1


def test_a_registry_handed_out_later_is_still_counted():
    family = RegistryFamily()
    merged = family.merged
    _dual_writes(family.new_registry()).labels("enqueue", "success").inc()
    assert merged.get_sample_value(f"{MetricNames.DUAL_WRITES}_total",
                                   {"operation": "enqueue", "outcome": "success"}) == 1


def test_the_checker_sees_the_targets_telemetry_through_the_merged_registry():
    family = RegistryFamily()
    _dual_writes(family.new_registry())
    _dual_writes(family.new_registry())
    assert Checker(DEFAULT_SCHEMA, family.merged).telemetry_checked


def test_a_family_of_silent_targets_reports_no_telemetry():
    family = RegistryFamily()
    family.new_registry()
    assert not Checker(DEFAULT_SCHEMA, family.merged).telemetry_checked
