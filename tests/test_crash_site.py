"""A call that raises outside the contract is a `contract` violation that says where it
crashed: the target's own bug and a library's under it read differently."""

from __future__ import annotations

from harness.driver import Driver, Request
from queue_impl.reference import ReferenceQueue


class CrashesInItsOwnCode(ReferenceQueue):
    def _enqueue_job(self, job):  # type: ignore[no-untyped-def]
        return {}["no such key"]


def test_a_crash_is_a_contract_violation_naming_the_frame_it_came_from(qc_services):
    driver = Driver(qc_services, CrashesInItsOwnCode)  # type: ignore[arg-type]
    try:
        driver.enqueue(Request("ws-a", "req-1", {"n": 1}))
        (crash,) = [v for v in driver.judge() if v.invariant == "contract"]
    finally:
        driver.close()
    assert "KeyError" in crash.message
    assert crash.evidence["where"].startswith("test_crash_site.py:")
    assert "in _enqueue_job" in crash.evidence["where"]
