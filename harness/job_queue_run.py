"""A fixed scenario against a generic job-queue target, on the real servers, judged by the spec.

A scenario is a list of steps (enqueue, take, finish, fail, recover) and at most one fault,
aimed not at "round trip 2" but at "the round trip that sends LMOVE": a dry run without the
fault finds its number, as harness.scenario does for the dual-write targets. The real run
records every step in a History (ok / fail / unknown), reads the library's keys after each
one (the adapter's `observe`, on a direct client the faults never touch), and steps the
generic contract (harness.spec.job_queue) on the shared engine. A correct queue holds.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import redis

from harness.errors import InfrastructureError, UsageError
from harness.faults import Fault, FaultKind, faulted_step_of
from harness.history import History, Operation, Outcome, classify
from harness.injector import FaultInjector, RoundTrip, injected_client
from harness.invariants import Severity
from harness.job_queue_target import JobQueueFactory, JobQueueTarget, check_job_queue
from harness.op_deadline import DEFAULT_OP_TIMEOUT, HUNG, OpDeadline, OperationHung
from harness.redis_client import ClientPolicy
from harness.servers.processes import raise_if_interrupted
from harness.servers.services import Services
from harness.spec.engine import Candidates, Problem
from harness.spec.job_queue import (
    JOB_QUEUE_INVARIANTS,
    JobOp,
    JobQueueContract,
    JobQueueState,
    JobState,
)
from harness.spec.judge import describe

RUN_POLICY = ClientPolicy(socket_timeout=1.0, connect_timeout=1.0)  # no retries: faults show
# The fault kinds a job-queue run throws (the sweep's and the state machine's): `latency`
# breaks no promise of this contract, and `partial` is not judged on these libraries yet.
JOB_QUEUE_FAULT_KINDS = (FaultKind.REQUEST_LOST, FaultKind.REPLY_LOST, FaultKind.STALL,
                         FaultKind.RESET)
LAST_TAKEN = None  # a finish/fail step without a job id: the job the last ok take returned


@dataclass(frozen=True)
class FaultOn:
    """`kind` armed before the round trip of a step that sends `command` (the first such)."""

    kind: FaultKind
    command: str

    def describe(self) -> str:
        return f"{self.kind} on the round trip sending {self.command}"


@dataclass(frozen=True)
class JobStep:
    """One operation: `job_id` for enqueue (finish/fail: default the last job taken);
    `at` for recover: seconds after the run's start, on the library's clock."""

    kind: JobOp
    job_id: str | None = LAST_TAKEN
    at: float = 0.0
    fault: FaultOn | None = None


@dataclass(frozen=True)
class JobQueueScenario:
    """A documented issue of a queue library, replayable on the library's adapter."""

    id: str
    title: str
    library: str  # the target name it is written for ("rq")
    breaks: str  # the invariant of harness.spec.job_queue it shows broken
    source: str  # the address
    says: str
    fix: str
    steps: tuple[JobStep, ...]
    options: Mapping[str, Any] = field(default_factory=dict)  # the adapter's options

    def __post_init__(self) -> None:
        if self.breaks not in JOB_QUEUE_INVARIANTS:
            raise ValueError(f"scenario {self.id}: unknown invariant {self.breaks!r}")
        faulted_step_of(self.id, self.steps)

    @property
    def faulted_step(self) -> int | None:
        return faulted_step_of(self.id, self.steps)

    @property
    def severity(self) -> Severity:
        return JOB_QUEUE_INVARIANTS[self.breaks].severity


@dataclass
class JobQueueResult:
    scenario: JobQueueScenario
    target: str
    verdict: str  # "violated", "holds" or "not applicable"
    problems: list[Problem] = field(default_factory=list)
    trace: str = ""
    plan: str = ""

    @property
    def violated(self) -> bool:
        return self.verdict == "violated"


class JobQueueRun:
    """One fresh run: clean Redis, a faultable bytes client, the target, a history, a judge."""

    def __init__(self, services: Services, factory: JobQueueFactory,
                 options: Mapping[str, Any], name: str,
                 op_timeout: float = DEFAULT_OP_TIMEOUT) -> None:
        self.services = services
        self.deadline = OpDeadline(op_timeout)
        self.hung = False  # an operation did not return: the run ends there
        services.control.reset()
        self.reader = redis.Redis(host=services.redis.host, port=services.redis.port,
                                  db=services.database, socket_timeout=5)  # bytes, direct
        try:
            services.flush()
        except redis.RedisError as exc:
            raise InfrastructureError(f"Redis at {services.redis} does not answer: {exc}") from exc
        self.injector = FaultInjector(services.control, services.proxy_name)
        self.client = injected_client(services.proxy.host, services.proxy.port, self.injector,
                                      RUN_POLICY, db=services.database, decode_responses=False)
        try:
            made = factory(self.client, **options)
        except (TypeError, ValueError) as exc:  # options it does not take, or bad values
            raise UsageError(f"{name} does not take the options {dict(options)}: {exc}") from exc
        self.target: JobQueueTarget = check_job_queue(made, name)
        try:
            self.target.prepare()  # outside any operation: its round trips are nobody's
        except redis.RedisError as exc:  # no fault is armed here: the servers failed
            raise InfrastructureError(f"Redis through the proxy at {services.proxy} failed "
                                      f"while {name} prepared its worker: {exc}") from exc
        self.contract = JobQueueContract(self.target.promises)
        self.candidates: Candidates[JobQueueState] = Candidates(self.contract, JobQueueState())
        self.history = History()
        self.started = time.time()  # the library's clock reads this plus a step's `at`
        self.last_taken: str | None = None
        self.trips: list[RoundTrip] = []  # the last step's round trips
        self.seen: Mapping[str, JobState] = {}

    def step(self, step: JobStep, faults: Sequence[Fault] = ()) -> list[Problem]:
        """Run one step with `faults`, record it, observe, judge; the problems it shows."""
        raise_if_interrupted()
        args, call = self._call(step)
        self.trips = []
        if call is None:
            return []  # finish/fail with nothing taken: no operation
        plan = ", ".join(str(f) for f in faults) or None
        op = self.history.invoke("worker", step.kind, args, plan)  # type: ignore[arg-type]
        with self.injector.operation(faults) as run:
            try:
                value = self.deadline.call(call)
            except OperationHung as hung:  # the target is held by the call: judged, then over
                self.history.complete(op, Outcome.UNKNOWN, error=f"{HUNG}: {hung}")
                self.hung = True
                self.trips = list(run.trips)
                return [*self._judge(op), Problem(
                    "liveness", f"{step.kind} did not return within {hung.seconds:g} s",
                    {"limit_seconds": hung.seconds}, (op.index,))]
            except Exception as exc:  # noqa: BLE001 - every error is an outcome to judge
                outcome, crashed = classify(exc)
                self.history.complete(op, outcome, error=f"{type(exc).__name__}: {exc}",
                                      crashed=crashed)
            else:
                self.history.complete(op, Outcome.OK, value)
                if step.kind is JobOp.TAKE and value is not None:
                    self.last_taken = value
        self.trips = list(run.trips)
        return self._judge(op)

    def _call(self, step: JobStep) -> tuple[dict[str, Any], Callable[[], Any] | None]:
        target = self.target
        if step.kind is JobOp.ENQUEUE:
            job_id = step.job_id or "job-1"
            return {"job_id": job_id}, lambda: target.enqueue(job_id)
        if step.kind is JobOp.TAKE:
            return {}, target.take
        if step.kind is JobOp.RECOVER:
            now = self.started + step.at
            return {"at": f"+{step.at:g}s", "now": round(now, 3)}, lambda: target.recover(now)
        job_id = step.job_id or self.last_taken
        if job_id is None:
            return {}, None
        method = target.finish if step.kind is JobOp.FINISH else target.fail
        return {"job_id": job_id}, lambda: method(job_id)

    def _judge(self, op: Operation) -> list[Problem]:
        self.contract.context = f"after {describe(op)}"
        try:
            self.seen = self.target.observe(self.reader)
        except redis.RedisError as exc:
            raise InfrastructureError(f"Redis at {self.services.redis} stopped answering "
                                      f"while observing: {exc}") from exc
        return self.candidates.apply(op) + self.candidates.observe(self.seen)

    def explain(self, problems: Sequence[Problem]) -> str:
        """The problems with their evidence, the history, and what the library's keys say
        now: the body of a scenario's trace and of a state machine's failure."""
        lines = []
        for problem in problems:
            severity = JOB_QUEUE_INVARIANTS[problem.invariant].severity
            ops = (f" (ops {', '.join(f'#{i}' for i in problem.operations)})"
                   if problem.operations else "")
            lines.append(f"[{severity}] {problem.invariant}: {problem.message}{ops}")
            lines.extend(f"    {k}: {v}" for k, v in problem.evidence.items())
        lines.append("history:")
        lines.extend(f"    {op.describe()}" for op in self.history)
        lines.append("the library's keys say:")
        lines.extend(f"    {job_id}: {state}" for job_id, state in sorted(self.seen.items()))
        return "\n".join(lines)

    def close(self) -> None:
        self.deadline.close()
        if self.hung:  # the hung call still holds the target and its client
            with contextlib.suppress(Exception):
                self.injector.heal()
            return
        with contextlib.suppress(Exception):
            self.target.close()
        for client in (self.client, self.reader):
            with contextlib.suppress(redis.RedisError):
                client.close()
        with contextlib.suppress(Exception):
            self.injector.heal()


def run_job_queue_scenario(scenario: JobQueueScenario, services: Services,
                           factory: JobQueueFactory, target: str, *, faulted: bool = True,
                           options: Mapping[str, Any] | None = None,
                           op_timeout: float = DEFAULT_OP_TIMEOUT) -> JobQueueResult:
    """Replay `scenario` on `target`; violated as soon as the spec names a problem.
    `faulted=False` plays the same steps with no fault: a correct run, which must hold.
    `options` for the adapter: the scenario's own unless given. An operation that does not
    return within `op_timeout` is a liveness violation, and the run ends there."""
    if options is not None:
        scenario = replace(scenario, options=options)
    plan: tuple[Fault, ...] = ()
    index = scenario.faulted_step if faulted else None
    if index is not None:
        found = _plan(scenario, services, factory, target, index, op_timeout=op_timeout)
        if found is None:
            fault = scenario.steps[index].fault
            return JobQueueResult(scenario, target, "not applicable",
                                  trace=f"no round trip of step {index + 1} on {target} sends "
                                        f"{fault.command if fault else '?'}")
        plan = (found,)
    run = JobQueueRun(services, factory, scenario.options, target, op_timeout)
    try:
        problems: list[Problem] = []
        for i, step in enumerate(scenario.steps):
            problems += run.step(step, plan if i == index else ())
            if run.hung:
                break
        services.check_alive()  # no verdict on a queue whose servers died under it
        verdict = "violated" if problems else "holds"
        plan_text = ", ".join(str(f) for f in plan) or "no fault"
        trace = _trace(scenario, target, run, problems, plan=plan_text, index=index)
        return JobQueueResult(scenario, target, verdict, problems, trace, plan_text)
    finally:
        run.close()


def _plan(scenario: JobQueueScenario, services: Services, factory: JobQueueFactory,
          target: str, index: int, *, op_timeout: float) -> Fault | None:
    """Dry-run the steps up to the faulted one to find the round trip its fault aims at."""
    fault = scenario.steps[index].fault
    assert fault is not None
    run = JobQueueRun(services, factory, scenario.options, target, op_timeout)
    try:
        for step in scenario.steps[: index + 1]:
            run.step(step)
            if run.hung:
                return None
        return next((Fault(fault.kind, trip.number) for trip in run.trips
                     if fault.command.upper() in trip.commands), None)
    finally:
        run.close()


def _trace(scenario: JobQueueScenario, target: str, run: JobQueueRun,
           problems: Sequence[Problem], *, plan: str, index: int | None) -> str:
    promises = run.target.promises
    lines = [
        f"{scenario.id}  {scenario.title}  [{scenario.severity}]  breaks {scenario.breaks}",
        f"target: {target} ({getattr(run.target, 'describe', lambda: run.target.library)()})"
        f"   promises: {promises.describe()}   client: {RUN_POLICY.describe()}",
        f"source: {scenario.source}",
        f"finding: {scenario.says}",
    ]
    if index is not None:
        fault = scenario.steps[index].fault
        assert fault is not None
        lines.append(f"fault: {fault.describe()}; this run: {plan} (step {index + 1})")
    lines.append(run.explain(problems))
    lines.append(f"fix ({scenario.source}): {scenario.fix}")
    lines.append("VIOLATED: " + ", ".join(sorted({p.invariant for p in problems}))
                 if problems else "HOLDS: every promise held")
    return "\n".join(lines)
