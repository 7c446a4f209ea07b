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
from harness.faults import Fault, FaultKind
from harness.invariants import INVARIANTS, STATIC_INVARIANTS, Severity
from harness.redis_client import ClientPolicy
from harness.services import Services
from harness.target import JobStatus

WORKSPACES = ("ws-a", "ws-b", "ws-c")
BAD_WORKSPACES = ("", " ", "ws:a", "ws-a\n", "w" * 200, "wörkspace", None)
MAX_ROUND_TRIP = 6  # the Phase 1 enqueue makes six (SETNX, 2 HSETs, RPUSH, 2 cleanup DELs)


class InvariantViolated(AssertionError):
    """Base of the per-invariant failures (one subclass per invariant name)."""


VIOLATION_TYPES: dict[str, type[InvariantViolated]] = {
    name: type(f"{''.join(p.title() for p in name.split('_'))}Violated", (InvariantViolated,),
               {"invariant": name, "__module__": __name__})
    for name in INVARIANTS
}


class HarnessAbort(BaseException):  # not an Exception, so Hypothesis lets it through
    """Carries a harness error (infrastructure, usage) out of Hypothesis: no verdict, no shrink."""

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


def fault_plans(kinds: Sequence[FaultKind]) -> st.SearchStrategy[tuple[Fault, ...]]:
    """No fault (what shrinking heads for), or one or two faults at distinct round trips."""
    # Half the faults land on the first round trip: an atomic target makes only one.
    round_trips = st.one_of(st.just(1), st.integers(2, MAX_ROUND_TRIP))
    one = st.builds(Fault, kind=st.sampled_from(list(kinds)), round_trip=round_trips)
    some = st.lists(one, min_size=1, max_size=2, unique_by=lambda f: f.round_trip).map(
        lambda faults: tuple(sorted(faults, key=lambda f: f.round_trip)))
    return st.one_of(st.just(()), some)


@contextlib.contextmanager
def _aborting() -> Iterator[None]:
    """Harness errors leave Hypothesis at once instead of being shrunk as if they were bugs."""
    try:
        yield
    except QueueChaosError as exc:
        raise HarnessAbort(exc) from exc


class MachineBase(RuleBasedStateMachine):
    """A fresh Driver per example, and one invariant method (and exception type) per invariant.

    The rules come from machine_class(), which knows which fault kinds a run allows.
    """

    setup: MachineSetup  # set on the class machine_class() makes

    def __init__(self) -> None:
        super().__init__()
        with _aborting():
            self.driver = Driver(self.setup.services, self.setup.target, self.setup.policy,
                                 process="machine")
        self._requests_made = 0

    def step(self, action: Callable[[Driver], Any]) -> Any:
        """Run one driver action; harness errors abort the run instead of being shrunk."""
        with _aborting():
            return action(self.driver)

    def new_request(self, workspace_id: Any, n: int) -> Request:
        self._requests_made += 1
        return Request(workspace_id, f"req-{self._requests_made}", {"n": n})

    @invariant()
    def invariants_hold(self) -> None:
        """Judge every invariant; the most severe one broken raises its own exception type."""
        with _aborting():
            found = self.driver.judge()
        if self.setup.judged is not None:
            found = [v for v in found if v.invariant in self.setup.judged]
        if not found:
            return
        worst = min(found, key=lambda v: (v.severity.rank, v.invariant)).invariant
        mine = [v for v in found if v.invariant == worst]
        raise VIOLATION_TYPES[worst](explain(mine, self.driver.history))

    def teardown(self) -> None:
        self.driver.close()


def machine_class(setup: MachineSetup) -> type[MachineBase]:
    """The state machine for one setup: its fault plans use only the kinds the setup allows."""
    plans = fault_plans(setup.fault_kinds)
    workspaces = st.sampled_from(WORKSPACES)
    # About one enqueue in ten gets a workspace id the contract calls bad (shrinks to good).
    any_workspace = st.sampled_from(WORKSPACES * 20 + BAD_WORKSPACES)

    class QueueMachine(MachineBase):
        requests = Bundle("requests")
        leases = Bundle("leases")

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

        @rule(request=requests, status=st.sampled_from(list(JobStatus)), faults=plans)
        def update_status(self, request: Request, status: JobStatus,
                          faults: tuple[Fault, ...]) -> None:
            self.step(lambda d: d.update_status(request, str(status), faults))

        @rule(request=requests, other=workspaces)
        def get_job(self, request: Request, other: str) -> None:
            """Read a job from its own workspace or, when `other` differs, from another one."""
            self.step(lambda d: d.get_job(other, d.job_id(request)))

        @rule(workspace_id=workspaces)
        def list_jobs(self, workspace_id: str) -> None:
            self.step(lambda d: d.list_jobs(workspace_id))

        @rule(workspace_id=workspaces, schema=st.sampled_from(["old", "new"]),
              n=st.integers(0, 9))
        def seed_job_from_another_writer(self, workspace_id: str, schema: str, n: int) -> None:
            """A job in one schema only: a legacy writer's (old) or a Phase-2 writer's (new)."""
            self.step(lambda d: d.seed(workspace_id, schema, {"n": n}))

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
    """Run the machine once under `settings`; InfrastructureError propagates (exit 3)."""
    result = MachineResult(setup.target, "custom")
    test = get_state_machine_test(machine_class(setup), settings=settings)
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    with _capture_reports() as lines:
        try:
            test()
        except HarnessAbort as abort:
            raise abort.error from None
        except Flaky as exc:
            result.flaky = True
            result.invariants_violated = _violated(exc) or ["contract"]
            lines.append(f"{type(exc).__name__}: {exc}")
        except (InvariantViolated, BaseExceptionGroup) as exc:
            names = _violated(exc)
            if not names:
                raise
            result.invariants_violated = names
            lines.extend(_exception_texts(exc))
    result.report = "\n".join(lines)
    return result


def run_by_severity(setup: MachineSetup, settings: Settings,
                    seed: int | None = None) -> MachineResult:
    """One run per severity, most severe first, each judging only that severity's invariants.

    A queue with a cheap LOW bug (say, a counter it forgets) would otherwise fail every
    example at that bug and never be explored deep enough to show its CRITICAL ones.
    """
    total = MachineResult(setup.target, "by severity")
    reports = []
    for severity in Severity:
        names = frozenset(n for n, inv in INVARIANTS.items()
                          if inv.severity is severity and n not in STATIC_INVARIANTS)
        if not names:
            continue
        result = run_machine(replace(setup, judged=names), settings, seed)
        total.invariants_violated += result.invariants_violated
        total.flaky = total.flaky or result.flaky
        if result.report:
            reports.append(f"--- {severity} invariants ({', '.join(sorted(names))}) ---\n"
                           f"{result.report}")
    total.report = "\n".join(reports)
    return total


def _exception_texts(exc: BaseException) -> list[str]:
    if isinstance(exc, BaseExceptionGroup):
        return [t for sub in exc.exceptions for t in _exception_texts(sub)]
    notes = getattr(exc, "__notes__", [])
    return [f"{type(exc).__name__}: {exc}", *notes]
