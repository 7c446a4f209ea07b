"""A Driver heals the network only when one of its clients armed a fault since the last heal:
it starts on a reset Toxiproxy and only its own faults add toxics, so a heal after a
fault-free program (most of the fault sweep's, and the machine's fault-free examples) is a
control call for nothing. Counted on the real Toxiproxy's control calls."""

from __future__ import annotations

import pytest

from harness.driver import Driver, Request
from harness.faults import Fault, FaultKind

pytestmark = pytest.mark.servers


@pytest.fixture
def resets(qc_services, monkeypatch):
    """The POST /reset calls made to the real Toxiproxy, counted."""
    made: list[str] = []
    control = qc_services.control
    original = control._call

    def counted(method, path, *args, **kwargs):
        if path == "/reset":
            made.append(path)
        return original(method, path, *args, **kwargs)

    monkeypatch.setattr(control, "_call", counted)
    return made


def test_a_driver_that_armed_no_fault_does_not_heal(qc_services, resets):
    driver = Driver(qc_services, "reference")
    driver.enqueue(Request("ws-a", "req-1", {"n": 1}))
    driver.heal_and_retry()
    driver.close()
    assert resets == ["/reset"]  # the one that starts the Driver


def test_a_driver_that_armed_a_fault_heals_once(qc_services, resets):
    driver = Driver(qc_services, "reference")
    driver.enqueue(Request("ws-a", "req-1", {"n": 1}), [Fault(FaultKind.REPLY_LOST, 1)])
    driver.heal_and_retry()
    driver.close()
    assert resets == ["/reset", "/reset"]
