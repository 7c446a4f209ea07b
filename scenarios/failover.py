"""Failover: what a queue loses when its primary fails over (harness.replication).

Opt-in, not in the gate: these scenarios need a primary and a replica, which
`queue-chaos reproduce FAILOVER-1` starts (harness.replication.replicated_services).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.driver import Driver
from harness.errors import UsageError
from harness.faults import Fault
from harness.invariants import Severity
from harness.replication import ReplicatedServices
from harness.scenario import Context, Enqueue, Retry, Scenario, Step
from harness.settle import HARNESS_CLIENT_NAME, foreign_clients


@dataclass(frozen=True)
class ReplicationStep(Step):
    """A step that acts on the replication link or the roles, not on the target."""

    def replicated(self, driver: Driver) -> ReplicatedServices:
        if not isinstance(driver.services, ReplicatedServices):
            raise UsageError(
                f"{type(self).__name__} needs a primary and a replica "
                "(harness.replication.replicated_services); 'queue-chaos reproduce' starts "
                "them for a failover scenario")
        return driver.services


@dataclass(frozen=True)
class CutLink(ReplicationStep):
    """Once the replica has everything, cut its link: the primary's next writes stay there."""

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        services = self.replicated(driver)
        services.wait_synced()
        services.cut_link()
        ctx.nemesis.append(f"replication link cut at {driver.history.now():.3f} s "
                           "(replica in sync before)")


@dataclass(frozen=True)
class LagLink(ReplicationStep):
    """Once the replica has everything, delay the replication stream by `ms`: the link stays
    up, and what the primary writes next reaches the replica only that much later."""

    ms: int = 1000

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        services = self.replicated(driver)
        services.wait_synced()
        services.lag(self.ms)
        ctx.nemesis.append(f"replication link {self.ms} ms late from "
                           f"{driver.history.now():.3f} s (replica in sync before)")


@dataclass(frozen=True)
class CaughtUp(ReplicationStep):
    """Wait until the replica has everything the primary wrote (the link must be up)."""

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        self.replicated(driver).wait_synced()


@dataclass(frozen=True)
class Failover(ReplicationStep):
    """Promote the replica and point the target at it; the checker then reads the new
    primary, and the trace names the jobs only the old primary held."""

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        services = self.replicated(driver)
        before = set(driver.snapshot.job_ids())
        record = services.failover(driver.history.now)
        _follow_the_primary(driver, services)
        only_on_old = sorted(before - set(driver.snapshot.job_ids()))
        ops = len(driver.history)
        ctx.nemesis.append(f"{record.describe()}, after {ops} operation{'s' * (ops != 1)}")
        ctx.nemesis.append(f"jobs the old primary held and the new one lacks: {only_on_old}")


def _follow_the_primary(driver: Driver, services: ReplicatedServices) -> None:
    """The checker's direct path, moved to the new primary, and the state read there."""
    driver.direct.close()
    driver.direct = services.direct_client(client_name=HARNESS_CLIENT_NAME)
    driver.foreign = foreign_clients(driver.direct)
    driver.snapshot = driver.take_snapshot()


def needs_replicas(scenario: Scenario) -> bool:
    return any(isinstance(step, ReplicationStep) for step in scenario.steps)


FAILOVER_1 = Scenario(
    id="FAILOVER-1",
    title="An acknowledged enqueue lost in a failover",
    severity=Severity.CRITICAL,
    breaks="no_lost_jobs",
    source="field: Redis replication is asynchronous; WAIT narrows the window "
           "(redis.io WAIT, shared/FIELD-NOTES.md)",
    says="the primary acknowledges an enqueue its replica never got (the link is cut); the "
         "replica is promoted and the acknowledged job is gone",
    fix="acknowledge a write only once WAIT says a replica has it (reference-wait), and "
        "fail over only to a replica that acknowledged",
    steps=(CutLink(), Enqueue("r1"), Failover()),
)

FAILOVER_2 = Scenario(
    id="FAILOVER-2",
    title="An acknowledged enqueue lost in a failover while replication lags",
    severity=Severity.CRITICAL,
    breaks="no_lost_jobs",
    source="field: replication lag is the everyday form of FAILOVER-1 (redis.io "
           "replication, WAIT; shared/FIELD-NOTES.md)",
    says="the link is up but the replication stream runs a second late; the primary "
         "acknowledges an enqueue, the replica is promoted before the stream delivers it, "
         "and the acknowledged job is gone",
    fix="acknowledge a write only once WAIT says a replica has it (reference-wait)",
    steps=(LagLink(1000), Enqueue("r1"), Failover()),
)

FAILOVER_3 = Scenario(
    id="FAILOVER-3",
    title="A replayed enqueue acknowledged from a write no replica has",
    severity=Severity.CRITICAL,
    breaks="no_lost_jobs",
    source="found by queue-chaos: a nightly with failovers and racers on reference-wait "
           "(a double submit; WAIT counts only its own connection's writes, redis.io WAIT)",
    says="the replication stream runs two seconds late; an enqueue writes the job and its "
         "WAIT times out (unknown); the request comes again from another process (its own "
         "connection), the queue finds the job and answers it (nothing written there, so "
         "WAIT returns at once: the replica has acknowledged everything that connection "
         "wrote); the failover loses the job it acknowledged",
    fix="before WAIT, write something replicated on the same connection (PUBLISH to an "
        "unused channel), so WAIT covers what the operation read (reference-wait)",
    steps=(LagLink(2000), Enqueue("r1"), Retry("r1", client=1), Failover()),
)

SCENARIOS = (FAILOVER_1, FAILOVER_2, FAILOVER_3)
