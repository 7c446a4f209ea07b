"""Scenarios: a finding written down as a few steps and one fault, replayed on any target.

A scenario names its finding, severity and the invariant it breaks, lists the operations,
and says where its fault lands: not "round trip 2", which only fits one queue, but "the
round trip that touches the old job record" (FaultAt). The runner does a dry run to learn
which round trips of the faulted step touch that key, then replays the scenario once per
such round trip with the fault armed there, judging every invariant after every step.

A user adds a scenario by writing one of these definitions (see scenarios/review.py).
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.driver import DRIVER_POLICY, Driver, Lease, Request, explain
from harness.faults import Fault, FaultKind, faulted_step_of, kinds_for_database
from harness.invariants import INVARIANTS, Severity, Violation
from harness.op_deadline import DEFAULT_OP_TIMEOUT, OperationHung
from harness.redis_client import ClientPolicy
from harness.servers.services import Services
from harness.snapshot import Snapshot
from harness.target import KeyKind, KeySchema, MetricNames, load_factory
from harness.undeclared import undeclared_keys

NOT_CHECKED = "not checked"

# --- where a fault lands -------------------------------------------------------------------


@dataclass(frozen=True)
class FaultAt:
    """`kind` on each round trip of a step that touches a `touching` key (every one if None);
    `then` arms a second fault on the round trip right after it (the cleanup path)."""

    kind: FaultKind
    touching: KeyKind | None = None
    then: FaultKind | None = None

    def describe(self) -> str:
        where = f"the round trip touching {self.touching}" if self.touching else "each round trip"
        then = f", then {self.then} on the next one (the cleanup)" if self.then else ""
        return f"{self.kind} on {where}{then}"

    def plans(self, trips: Sequence[Any], schema: KeySchema) -> list[tuple[Fault, ...]]:
        """One fault plan per round trip the dry run saw touching the key kind."""
        plans = []
        for trip in trips:
            kinds = {schema.parse(key).kind for key in trip.keys}
            if self.touching is None or self.touching in kinds:
                plan = [Fault(self.kind, trip.number)]
                if self.then is not None:
                    plan.append(Fault(self.then, trip.number + 1))
                plans.append(tuple(plan))
        return plans


# --- steps ---------------------------------------------------------------------------------


@dataclass
class Context:
    """What steps share while a scenario runs: named requests, seeded jobs, the last lease,
    and what a step did outside the target (a failover) for the trace to say."""

    requests: dict[str, Request] = field(default_factory=dict)  # seeded jobs too, by label
    lease: Lease | None = None
    nemesis: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One operation of a scenario; at most one step of a scenario carries a fault."""

    fault: FaultAt | None = field(default=None, kw_only=True)

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Enqueue(Step):
    request: str = "r1"
    workspace: Any = "ws-a"
    n: int = 1

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        request = ctx.requests.setdefault(
            self.request, Request(self.workspace, self.request, {"n": self.n}))
        driver.enqueue(request, faults)


@dataclass(frozen=True)
class Retry(Step):
    """The caller retries the named request with the same request id and payload; on
    another logical client (`client` 1 is B) when the retry comes from another process."""

    request: str = "r1"
    client: int = 0

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        driver.enqueue(ctx.requests[self.request], faults, client=self.client)


@dataclass(frozen=True)
class UpdateStatus(Step):
    request: str = "r1"
    status: str = "running"

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        driver.update_status(ctx.requests[self.request], self.status, faults)


@dataclass(frozen=True)
class GetJob(Step):
    """Read a job (a request's or a seeded one) as `workspace` (default: its own)."""

    job: str = "r1"
    workspace: str | None = None

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        request = ctx.requests[self.job]
        driver.get_job(self.workspace or request.workspace_id, driver.job_id(request), faults)


@dataclass(frozen=True)
class ListJobs(Step):
    workspace: str = "ws-a"

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        driver.list_jobs(self.workspace, faults)


@dataclass(frozen=True)
class Dequeue(Step):
    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        ctx.lease = driver.dequeue(faults) or ctx.lease


@dataclass(frozen=True)
class Finish(Step):
    """Complete (or fail) the job the last Dequeue leased."""

    succeeded: bool = True

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        if ctx.lease is not None:
            driver.finish(ctx.lease, self.succeeded, faults)


@dataclass(frozen=True)
class WorkersDie(Step):
    """Every lease expires, as if every worker died: requeue_expired runs."""

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        driver.every_worker_dies()


@dataclass(frozen=True)
class Heal(Step):
    """The network heals; every enqueue that has not ended OK is retried."""

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        driver.heal_and_retry()


@dataclass(frozen=True)
class Seed(Step):
    """A job written by another writer, in one schema only: "old" (legacy) or "new"."""

    label: str = "s1"
    workspace: str = "ws-a"
    schema: str = "old"

    def perform(self, driver: Driver, ctx: Context, faults: Sequence[Fault]) -> None:
        ctx.requests[self.label] = driver.seed(self.workspace, self.schema, {"n": 0})


# --- scenarios -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A finding, replayable: what it is, what it breaks, and the steps that show it."""

    id: str
    title: str
    severity: Severity
    breaks: str  # the invariant it violates where the defect is present
    source: str  # where the finding comes from: the review's location, an incident, ...
    says: str  # what goes wrong, in the finding's words
    fix: str  # what the finding says the fix is
    steps: tuple[Step, ...] = ()
    policy: ClientPolicy = DRIVER_POLICY
    lint_rule: str | None = None  # a static finding: the linter rule that shows it

    @property
    def clients(self) -> int:
        """Logical clients the steps use (A, and B if a step runs on client 1)."""
        return 1 + max((getattr(step, "client", 0) for step in self.steps), default=0)

    def __post_init__(self) -> None:
        if self.breaks not in INVARIANTS:
            raise ValueError(f"scenario {self.id}: unknown invariant {self.breaks!r}")
        faulted_step_of(self.id, self.steps)

    @property
    def faulted_step(self) -> int | None:
        return faulted_step_of(self.id, self.steps)

    @property
    def is_static(self) -> bool:
        return self.lint_rule is not None


@dataclass
class ScenarioResult:
    scenario: Scenario
    target: str
    verdict: str  # "violated", "holds", "not applicable" or "not checked"
    violations: list[Violation] = field(default_factory=list)
    trace: str = ""
    plan: str = ""
    seconds: float = 0.0
    note: str = ""  # why the verdict is "not checked" or "not applicable"
    undeclared_keys: list[str] = field(default_factory=list)  # outside the target's schema
    hung: bool = False  # an operation hung: the run that asked for it should stop

    @property
    def violated(self) -> bool:
        return self.verdict == "violated"


def unjudged(driver: Driver) -> dict[str, str]:
    """The invariants a driver's checker could not judge on this target, each with why."""
    if driver.checker.telemetry_checked:
        return {}
    return {"telemetry_agreement": "the target registers none of "
                                   + ", ".join(MetricNames.ALL)}


def run_scenario(scenario: Scenario, services: Services, target: str,
                 op_timeout: float = DEFAULT_OP_TIMEOUT) -> ScenarioResult:
    """Replay `scenario` on `target`; violated as soon as any invariant breaks (a hung
    operation ends it at once: its liveness violation and the history so far)."""
    started = time.monotonic()
    if scenario.is_static:
        result = _run_lint(scenario, target)
    else:
        try:
            result = _run_steps(scenario, services, target, op_timeout)
        except OperationHung as hung:
            result = ScenarioResult(
                scenario, target, "violated", list(hung.violations),
                f"{scenario.id}  {scenario.title}  [{scenario.severity}]  target: {target}\n"
                f"{hung.trace}\nVIOLATED: liveness (the scenario stopped at the hang)",
                hung=True)
    result.seconds = time.monotonic() - started
    return result


def _plans(scenario: Scenario, services: Services, target: str,
           op_timeout: float) -> list[tuple[Fault, ...]]:
    """Dry-run the steps without faults to see which round trips the faulted step makes."""
    index = scenario.faulted_step
    if index is None:
        return [()]
    fault = scenario.steps[index].fault
    assert fault is not None
    driver = Driver(services, target, scenario.policy, "dry-run", op_timeout,
                    clients=scenario.clients)
    try:
        ctx = Context()
        for step in scenario.steps[: index + 1]:
            step.perform(driver, ctx, ())
        return fault.plans(driver.last_round_trips, driver.schema)
    finally:
        driver.close()


def _run_steps(scenario: Scenario, services: Services, target: str,
               op_timeout: float) -> ScenarioResult:
    fault = scenario.steps[scenario.faulted_step or 0].fault
    kinds = [k for k in (fault.kind, fault.then) if k is not None] if fault else []
    if len(kinds_for_database(kinds, services.database)) < len(kinds):
        return ScenarioResult(scenario, target, "not applicable",
                              trace=f"{fault.describe() if fault else ''}: a reset needs Redis "
                                    f"database 0, and this run uses {services.database}")
    plans = _plans(scenario, services, target, op_timeout)
    if not plans:
        return ScenarioResult(scenario, target, "not applicable",
                              trace=f"no round trip of {target} matches: "
                                    f"{fault.describe() if fault else ''}")
    last = ScenarioResult(scenario, target, "holds")
    for plan in plans:
        driver = Driver(services, target, scenario.policy, "scenario", op_timeout,
                        clients=scenario.clients)
        try:
            ctx = Context()
            found: dict[str, Violation] = {}  # judged after every step, kept in order
            for i, step in enumerate(scenario.steps):
                step.perform(driver, ctx, plan if i == scenario.faulted_step else ())
                for violation in driver.judge():
                    found.setdefault(violation.describe(), violation)
            violations = list(found.values())
            plan_text = ", ".join(str(f) for f in plan) or "no fault"
            note = unjudged(driver).get(scenario.breaks, "")
            verdict = "violated" if violations else NOT_CHECKED if note else "holds"
            trace = _trace(scenario, target, driver, violations, plan_text, note=note,
                           nemesis=ctx.nemesis)
            last = ScenarioResult(scenario, target, verdict, violations, trace, plan_text,
                                  note=note)
            if services.may_flush:
                last.undeclared_keys = undeclared_keys(driver.direct, driver.schema)
        finally:
            driver.close()
        if last.violated:
            return last
    return last


def _trace(scenario: Scenario, target: str, driver: Driver, violations: Sequence[Violation],
           plan: str, *, note: str = "", nemesis: Sequence[str] = ()) -> str:
    lines = [
        f"{scenario.id}  {scenario.title}  [{scenario.severity}]  breaks {scenario.breaks}",
        f"target: {target}   client: {scenario.policy.describe()}",
        f"source: {scenario.source}",
        f"finding: {scenario.says}",
    ]
    if scenario.faulted_step is not None:
        fault = scenario.steps[scenario.faulted_step].fault
        assert fault is not None
        lines.append(f"fault: {fault.describe()}; this run: {plan} "
                     f"(step {scenario.faulted_step + 1})")
    lines.append(explain(violations, driver.history) if violations
                 else "history:\n" + "\n".join(f"    {op.describe()}" for op in driver.history))
    if nemesis:
        lines.append("nemesis:")
        lines.extend(f"    {line}" for line in nemesis)
    lines.append("redis holds:")
    lines.extend(f"    {line}" for line in describe_state(driver.snapshot))
    lines.append(f"fix ({scenario.source.split(':')[0]}): {scenario.fix}")
    verdict = ("VIOLATED: " + ", ".join(sorted({v.invariant for v in violations}))
               if violations else f"NOT CHECKED: {scenario.breaks}: {note}" if note
               else "HOLDS: every invariant held")
    lines.append(verdict)
    return "\n".join(lines)


def describe_state(snapshot: Snapshot) -> list[str]:
    """What Redis holds, one key a line, in a stable order."""
    lines = [f"{snapshot.schema.old_job_key(job_id)} = {record}"
             for job_id, record in sorted(snapshot.old_jobs.items())]
    lines += [f"{snapshot.schema.new_job_key(ws, job_id)} = {record}"
              for (ws, job_id), record in sorted(snapshot.new_jobs.items())]
    lines += [f"{snapshot.schema.queue_key} = {snapshot.queue}",
              f"{snapshot.schema.processing_key} = {snapshot.processing}"]
    if snapshot.leases:
        lines.append(f"{snapshot.schema.lease_key} = {snapshot.leases}")
    lines += [f"{snapshot.schema.idempotency_key(ws, rid)} = {job_id}"
              for (ws, rid), job_id in sorted(snapshot.idempotency.items())]
    lines += [f"{key} (malformed: {why})" for key, why in sorted(snapshot.malformed.items())]
    return lines


def _run_lint(scenario: Scenario, target: str) -> ScenarioResult:
    """A static finding: run the linter rule on the target's source file."""
    factory = load_factory(target)
    module = sys.modules[factory.__module__]
    path = inspect.getsourcefile(module) or ""
    command = [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
               "--output-format", "concise", "--select", str(scenario.lint_rule), path]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    findings = [line for line in done.stdout.splitlines() if scenario.lint_rule in line]
    verdict = "violated" if findings else "holds"
    violations = [Violation(scenario.breaks, f"{scenario.lint_rule}: {line}")
                  for line in findings] if findings else []
    trace = "\n".join([
        f"{scenario.id}  {scenario.title}  [{scenario.severity}]  (static)",
        f"source: {scenario.source}",
        f"finding: {scenario.says}",
        f"$ ruff check --isolated --select {scenario.lint_rule} {path}",
        *(f"    {line}" for line in findings or ["(no findings)"]),
        f"fix: {scenario.fix}",
        f"VIOLATED: {scenario.breaks}" if findings else "HOLDS: the rule finds nothing",
    ])
    return ScenarioResult(scenario, target, verdict, violations, trace,
                          plan=f"ruff {scenario.lint_rule}")
