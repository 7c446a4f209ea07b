"""The Hypothesis state machine: a target driven through real faults, judged after every step.

Each rule calls one operation of the target through a client that goes through Toxiproxy;
a rule's `faults` plan arms real toxics before chosen round trips of that operation. After
every step the checker reads Redis over a direct connection and judges the invariants.
Each invariant raises its own exception type, so Hypothesis tells the bugs apart and
shrinks each one to its own minimal program.

Between examples: every toxic removed, Redis emptied (only a Redis we may empty), a fresh
Prometheus registry and a fresh target.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    get_state_machine_test,
    invariant,
    multiple,
    rule,
)

from harness.driver import DRIVER_POLICY, Driver, Lease, Request, explain
from harness.errors import QueueChaosError
from harness.faults import Fault, FaultKind, kinds_for_database
from harness.invariants import INVARIANTS, STATIC_INVARIANTS, Severity
from harness.op_deadline import DEFAULT_OP_TIMEOUT, OperationHung
from harness.redis_client import ClientPolicy
from harness.services import Services
from harness.target import JobStatus

WORKSPACES = ("ws-a", "ws-b", "ws-c")
BAD_WORKSPACES = ("", " ", "ws:a", "ws-a\n", "w" * 200, "wörkspace", None)
FIRST_FAULT_MAX = 4  # Phase 1's enqueue writes on round trips 1-4 (SETNX, 2 HSETs, RPUSH)


class InvariantViolated(AssertionError):
    """Base of the per-invariant failures (one subclass per invariant name)."""


VIOLATION_TYPES: dict[str, type[InvariantViolated]] = {
    name: type(f"{''.join(p.title() for p in name.split('_'))}Violated", (InvariantViolated,),
               {"invariant": name, "__module__": __name__})
    for name in INVARIANTS
}


class HarnessAbort(BaseException):  # not an Exception: Hypothesis does not shrink it
    """Stops an example at a harness error (infrastructure, usage): no verdict, no shrink.

    Hypothesis may still wrap what follows (e.g. as FlakyStrategyDefinition), so the error
    is also kept on the setup, and run_machine raises it whatever Hypothesis concluded.
    """

    def __init__(self, error: QueueChaosError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class MachineSetup:
    """What every example of the machine needs: the servers, the target, the knobs."""

    services: Services
    target: str = "reference"
    policy: ClientPolicy = DRIVER_POLICY
    fault_kinds: tuple[FaultKind, ...] = tuple(FaultKind)
    judged: frozenset[str] | None = None  # the invariants that fail an example (None: all)
    harness_error: QueueChaosError | None = None  # set when a run meets one: no verdict
    op_timeout: float = DEFAULT_OP_TIMEOUT
    hung: OperationHung | None = None  # set when an operation hung: the run's verdict
    first_failure: str = ""  # the first example an invariant failed, explained
    last_example: str = ""  # the history of the example that ended last


def fault_plans(kinds: Sequence[FaultKind]) -> st.SearchStrategy[tuple[Fault, ...]]:
    """No fault (what shrinking heads for), or a fault at one of the first round trips,
    sometimes followed by a second one a round trip or two later (the cleanup path).

    Two operations in three carry a fault. The first fault lands on round trips 1 to
    FIRST_FAULT_MAX: where a queue's separate writes are; the second reaches the cleanup.
    """
    if not kinds:
        return st.just(())
    kind = st.sampled_from(list(kinds))
    first = st.builds(Fault, kind=kind, round_trip=st.integers(1, FIRST_FAULT_MAX))

    def maybe_then(fault: Fault) -> st.SearchStrategy[tuple[Fault, ...]]:
        then = st.builds(Fault, kind=kind,
                         round_trip=st.integers(fault.round_trip + 1, fault.round_trip + 2))
        return st.one_of(st.just((fault,)), then.map(lambda second: (fault, second)))

    some = first.flatmap(maybe_then)
    return st.one_of(st.just(()), some, some)


@contextlib.contextmanager
def _aborting(setup: MachineSetup) -> Iterator[None]:
    """Harness errors end the run at once instead of being shrunk as if they were bugs."""
    if setup.harness_error is not None:
        raise HarnessAbort(setup.harness_error)  # every later example stops at once too
    try:
        yield
    except QueueChaosError as exc:
        setup.harness_error = exc
        raise HarnessAbort(exc) from exc
    except OperationHung as hung:  # not shrunk: every replay would wait the limit again
        setup.hung = hung
        raise


class MachineBase(RuleBasedStateMachine):
    """A fresh Driver per example, and one invariant method (and exception type) per invariant.

    The rules come from machine_class(), which knows which fault kinds a run allows.
    """

    setup: MachineSetup  # set on the class machine_class() makes

    def __init__(self) -> None:
        super().__init__()
        with _aborting(self.setup):
            self.driver = Driver(self.setup.services, self.setup.target, self.setup.policy,
                                 "machine", self.setup.op_timeout)
        self._requests_made = 0

    def step(self, action: Callable[[Driver], Any]) -> Any:
        """Run one driver action; harness errors abort the run instead of being shrunk."""
        with _aborting(self.setup):
            return action(self.driver)

    def new_request(self, workspace_id: Any, n: int) -> Request:
        self._requests_made += 1
        return Request(workspace_id, f"req-{self._requests_made}", {"n": n})

    @invariant()
    def invariants_hold(self) -> None:
        """Judge every invariant; the most severe one broken raises its own exception type."""
        with _aborting(self.setup):
            found = self.driver.judge()
        if self.setup.judged is not None:
            found = [v for v in found if v.invariant in self.setup.judged]
        if not found:
            return
        worst = min(found, key=lambda v: (v.severity.rank, v.invariant)).invariant
        mine = [v for v in found if v.invariant == worst]
        text = explain(mine, self.driver.history)
        self.setup.first_failure = self.setup.first_failure or text
        raise VIOLATION_TYPES[worst](text)

    def teardown(self) -> None:
        self.setup.last_example = "\n".join(op.describe() for op in self.driver.history)
        self.driver.close()


def machine_class(setup: MachineSetup) -> type[MachineBase]:
    """The state machine for one setup: its fault plans use only the kinds the setup allows."""
    plans = fault_plans(kinds_for_database(setup.fault_kinds, setup.services.database))
    workspaces = st.sampled_from(WORKSPACES)
    # About one enqueue in four gets a workspace id the contract calls bad (shrinks to good).
    any_workspace = st.sampled_from(WORKSPACES * 6 + BAD_WORKSPACES)

    class QueueMachine(MachineBase):
        requests = Bundle("requests")
        seeded = Bundle("seeded")  # jobs another writer wrote: read and updated, not enqueued
        leases = Bundle("leases")
        known_jobs = st.one_of(requests, seeded)

        @rule(target=requests, workspace_id=any_workspace, n=st.integers(0, 9), faults=plans)
        def enqueue(self, workspace_id: Any, n: int, faults: tuple[Fault, ...]) -> Request:
            request = self.new_request(workspace_id, n)
            self.step(lambda d: d.enqueue(request, faults))
            return request

        @rule(request=requests, faults=plans)
        def retry_enqueue(self, request: Request, faults: tuple[Fault, ...]) -> None:
            """The caller retries with the same request id, as a client does after an error."""
            self.step(lambda d: d.enqueue(request, faults))

        @rule(target=requests, request=requests, other=workspaces)
        def enqueue_same_request_id_in_another_workspace(self, request: Request,
                                                         other: str) -> Any:
            """Request ids are per workspace: the same id elsewhere is another job."""
            if other == request.workspace_id:
                return multiple()
            twin = Request(other, request.client_request_id, request.payload)
            self.step(lambda d: d.enqueue(twin))
            return twin

        @rule(request=known_jobs, status=st.sampled_from(list(JobStatus)), faults=plans)
        def update_status(self, request: Request, status: JobStatus,
                          faults: tuple[Fault, ...]) -> None:
            self.step(lambda d: d.update_status(request, str(status), faults))

        @rule(request=known_jobs, other=st.one_of(st.none(), workspaces))
        def get_job(self, request: Request, other: str | None) -> None:
            """Read a job from its own workspace (None) or from `other`, maybe another one."""
            self.step(lambda d: d.get_job(other or request.workspace_id, d.job_id(request)))

        @rule(workspace_id=workspaces)
        def list_jobs(self, workspace_id: str) -> None:
            self.step(lambda d: d.list_jobs(workspace_id))

        @rule(target=seeded, workspace_id=workspaces, schema=st.sampled_from(["old", "new"]),
              n=st.integers(0, 9))
        def seed_job_from_another_writer(self, workspace_id: str, schema: str,
                                         n: int) -> Request:
            """A job in one schema only: a legacy writer's (old) or a Phase-2 writer's (new)."""
            return self.step(lambda d: d.seed(workspace_id, schema, {"n": n}))

        @rule(target=leases, faults=plans)
        def dequeue(self, faults: tuple[Fault, ...]) -> Any:
            lease = self.step(lambda d: d.dequeue(faults))
            return lease if lease is not None else multiple()

        @rule(lease=consumes(leases), succeeded=st.booleans(), faults=plans)
        def finish(self, lease: Lease, succeeded: bool, faults: tuple[Fault, ...]) -> None:
            self.step(lambda d: d.finish(lease, succeeded, faults))

        @rule(event=st.sampled_from(["heal_and_retry", "every_worker_dies"]))
        def world_event(self, event: str) -> None:
            """The network heals and every unfinished enqueue is retried (it must succeed);
            or every worker dies and requeue_expired must bring each leased job back."""
            self.step(lambda d: getattr(d, event)())

    QueueMachine.setup = setup
    return QueueMachine


@dataclass
class MachineResult:
    """What one run of the machine found: violations by invariant and the printed program."""

    target: str
    profile: str
    invariants_violated: list[str] = field(default_factory=list)
    report: str = ""  # Hypothesis's output: the minimal program and our explanation
    flaky: bool = False
    hung: bool = False  # an operation hung: the run stopped there, unshrunk

    @property
    def holds(self) -> bool:
        return not self.invariants_violated


def _violated(exc: BaseException) -> list[str]:
    if isinstance(exc, InvariantViolated):
        return [type(exc).invariant]  # type: ignore[attr-defined]
    if isinstance(exc, BaseExceptionGroup):
        return sorted({name for sub in exc.exceptions for name in _violated(sub)})
    return []


@contextlib.contextmanager
def _capture_reports() -> Iterator[list[str]]:
    lines: list[str] = []
    with with_reporter(lambda text: lines.append(str(text))):
        yield lines


def run_machine(
    setup: MachineSetup, settings: Settings, seed: int | None = None,
) -> MachineResult:
    """Run the machine once under `settings`.

    A harness error met on the way (InfrastructureError, UsageError) is raised, whatever
    Hypothesis made of it: it says nothing about the queue. A run that did not replay the
    same way twice (Hypothesis's Flaky) is a verdict on the target once both servers are
    known to answer: see _nondeterministic.
    """
    setup = replace(setup, harness_error=None, hung=None, first_failure="", last_example="")
    result = MachineResult(setup.target, "custom")
    test = get_state_machine_test(machine_class(setup), settings=settings)
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    with _capture_reports() as lines:
        try:
            test()
        except BaseException as exc:
            if setup.harness_error is not None:
                raise setup.harness_error from None
            if setup.hung is not None:
                result.invariants_violated, result.hung = ["liveness"], True
                result.report = ("an operation hung (no shrinking: each replay would wait "
                                 f"the limit again); the example so far:\n{setup.hung.trace}")
                return result
            names = _violated(exc)
            if isinstance(exc, Flaky):
                return _nondeterministic(setup, exc, names, lines)
            if not names:
                raise
            result.invariants_violated = names
            lines.extend(_exception_texts(exc))
    if setup.harness_error is not None:
        raise setup.harness_error
    result.report = "\n".join(lines)
    return result


def _nondeterministic(setup: MachineSetup, flaky: Flaky, names: list[str],
                      lines: list[str]) -> MachineResult:
    """The target gave two outcomes for one program: `deterministic` is violated (with any
    invariant the first outcome broke), and the report shows both outcomes.

    Asked only once both servers answer (a dead one raises InfrastructureError here): a
    replay that differs over a healthy network comes from the target (time, randomness,
    state kept between examples), or from a machine too loaded for the faults' timing.
    """
    setup.services.check_alive()
    first = setup.first_failure or "(no invariant failed: the programs diverged)"
    report = "\n".join([
        "the same program gave two outcomes, with both servers answering:",
        "--- first run ---", first,
        "--- replay (the example that ran last) ---", setup.last_example or "(no operation)",
        "--- what Hypothesis saw ---", *_exception_texts(flaky), *lines])
    return MachineResult(setup.target, "custom", sorted({*names, "deterministic"}), report,
                         flaky=True)


# Most severe first; MEDIUM and LOW share a pass (both are cheap to find, and neither blocks
# the gate by default).
SEVERITY_PASSES = ((Severity.CRITICAL,), (Severity.HIGH,), (Severity.MEDIUM, Severity.LOW))


def run_by_severity(setup: MachineSetup, settings: Settings,
                    seed: int | None = None) -> MachineResult:
    """One run judging every invariant; if it fails, one run per severity, most severe first.

    A queue with a cheap LOW bug (say, a counter it forgets) fails every example at that
    bug and is never explored deep enough to show its CRITICAL ones: the runs per severity
    judge only their own invariants, so each finds its own minimal counterexample. A queue
    that holds needs only the first run (the others would replay the same examples).
    """
    first = run_machine(setup, settings, seed)
    if first.holds or first.hung or first.flaky:  # a hang would stop every pass at the
        return first  # same place; a target that does not replay would mislead them
    total = MachineResult(setup.target, "by severity")
    reports = []
    for severities in SEVERITY_PASSES:
        names = frozenset(n for n, inv in INVARIANTS.items()
                          if inv.severity in severities and n not in STATIC_INVARIANTS)
        result = run_machine(replace(setup, judged=names), settings, seed)
        total.invariants_violated += result.invariants_violated
        total.flaky = total.flaky or result.flaky
        if result.report:
            label = "+".join(severities)
            reports.append(f"--- {label} invariants ({', '.join(sorted(names))}) ---\n"
                           f"{result.report}")
    total.report = "\n".join(reports)
    return total


def _exception_texts(exc: BaseException) -> list[str]:
    if isinstance(exc, BaseExceptionGroup):
        return [t for sub in exc.exceptions for t in _exception_texts(sub)]
    notes = getattr(exc, "__notes__", [])
    return [f"{type(exc).__name__}: {exc}", *notes]
