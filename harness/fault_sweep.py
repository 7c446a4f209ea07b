"""A fault sweep: every operation of the contract, from each state a job can be in, with one
fault on each round trip it writes on, of each kind; before any random search.

Random search draws a fault's kind, place and operation at random, so a defect that needs
one particular fault (a lost reply on the second of two status writes) waits for that draw:
tens of examples, and now and then more than a night's budget (issue 12's measurements).
A single-fault defect is found for sure by trying each single fault once, as fault-injection
testers of services do (Filibuster injects each fault at each call site in turn): the
programs here are short (a state to start from, one operation, the network healed and the
unfinished enqueues retried), every one of them is a program the state machine could
draw, and each is judged by the same spec and rules. What needs two faults, two operations
in a row on a faulted state, or operations at once is left to the random search after it.

The states to start from are the contract's, not any queue's: nothing, a queued job, a
leased one, and one written by another writer in one schema only. Each operation runs once
without faults first (a program in its own right): its round trips say where the faults go.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.driver import Driver, Request, explain
from harness.fault_planning import writes
from harness.faults import Fault, FaultKind
from harness.history import History
from harness.injector import RoundTrip
from harness.invariants import INVARIANTS, Severity, Violation
from harness.op_deadline import OperationHung
from harness.target import FAR_FUTURE, JobStatus

WORKSPACE, ELSEWHERE = "ws-a", "ws-b"
# A late reply cannot leave an operation half done or run it twice: the random search keeps it.
SWEPT_KINDS = (FaultKind.REQUEST_LOST, FaultKind.REPLY_LOST, FaultKind.STALL, FaultKind.RESET,
               FaultKind.PARTIAL)
SWEEP_FINDING = "fault sweep, program "  # how a finding's text starts
FIRST, SECOND = Request(WORKSPACE, "req-1", {"n": 1}), Request(WORKSPACE, "req-3", {"n": 3})


@dataclass(frozen=True)
class Fixture:
    """A state the contract names, built without faults; `build` returns the request that
    made the job the operations name (None: no job). `only`: the operations this state is
    for (None: all); a state of two jobs is for what their order decides."""

    name: str
    build: Callable[[Driver], Request | None]
    enqueued: bool = False  # its job came from an enqueue (which can be retried)
    leased: bool = False  # its job is leased (a lease has a deadline to meet)
    only: frozenset[str] | None = None


def _queued(driver: Driver) -> Request:
    driver.enqueue(FIRST)
    return FIRST


def _leased(driver: Driver) -> Request:
    driver.enqueue(FIRST)
    driver.dequeue()
    return FIRST


def _two_queued(driver: Driver) -> Request:
    driver.enqueue(FIRST)
    driver.enqueue(SECOND)
    return FIRST


def _leased_and_queued(driver: Driver) -> Request:
    _leased(driver)
    driver.enqueue(SECOND)
    return FIRST


NOTHING = Fixture("nothing", lambda d: None)
REQUEUES = ("requeue_expired just before the lease's deadline",
            "requeue_expired at the lease's deadline",
            "requeue_expired once every lease is over")
FIXTURES = (
    NOTHING,
    Fixture("a queued job", _queued, enqueued=True),
    Fixture("a leased job", _leased, enqueued=True, leased=True),
    Fixture("a job in the old schema only (a legacy writer's)",
            lambda d: d.seed(WORKSPACE, "old", {"n": 1})),
    Fixture("a job in the new schema only (a Phase-2 writer's)",
            lambda d: d.seed(WORKSPACE, "new", {"n": 1})),
    Fixture("two queued jobs", _two_queued, only=frozenset({"dequeue", "list_jobs"})),
    Fixture("a leased job and a queued one", _leased_and_queued, enqueued=True, leased=True,
            only=frozenset({"dequeue", "complete", "fail", *REQUEUES})),
)

Run = Callable[[Driver, str, Sequence[Fault]], Any]  # driver, the job's id, the faults


@dataclass(frozen=True)
class Operation:
    """One operation of the contract, on the fixture's job where it names one. `faulted`:
    also run with each fault (an operation that must write nothing and answer JobNotFound
    is run once, without)."""

    name: str
    run: Run
    on: Callable[[Fixture], bool] = lambda fixture: fixture is not NOTHING
    faulted: bool = True


def _anywhere(fixture: Fixture) -> bool:
    return True


def _enqueued(fixture: Fixture) -> bool:
    return fixture.enqueued


def _leased_job(fixture: Fixture) -> bool:
    return fixture.leased


def _requeue(offset: float) -> Run:
    """requeue_expired `offset` seconds from the job's lease deadline (which ends it: the
    contract's `<=`); not run if the fixture's dequeue left the job no lease (a defect the
    fixture's own step has already shown)."""
    def run(driver: Driver, job_id: str, faults: Sequence[Fault]) -> Any:
        deadline = driver.snapshot.leases.get(job_id)
        return None if deadline is None else driver.requeue_expired(deadline + offset, faults)
    return run


def _status(status: JobStatus) -> Operation:
    return Operation(f"update_status to {status}",
                     lambda d, job, f: d.set_status(WORKSPACE, job, str(status), f))


def _from_elsewhere(name: str, run: Run) -> Operation:
    """The job named from another workspace: JobNotFound, nothing written."""
    return Operation(f"{name} from another workspace", run, faulted=False)


OPERATIONS = (
    Operation("enqueue a new job", lambda d, job, f: d.enqueue(
        Request(WORKSPACE, "req-2", {"n": 2}), f), _anywhere),
    Operation("retry the job's enqueue", lambda d, job, f: d.enqueue(FIRST, f), _enqueued),
    Operation("retry the job's enqueue with another payload", lambda d, job, f: d.enqueue(
        Request(WORKSPACE, FIRST.client_request_id, {"n": 9}), f), _enqueued),
    Operation("enqueue the job's request id in another workspace", lambda d, job, f: d.enqueue(
        Request(ELSEWHERE, FIRST.client_request_id, {"n": 1}), f), _enqueued),
    *(_status(s) for s in JobStatus),
    Operation("get_job", lambda d, job, f: d.get_job(WORKSPACE, job, f)),
    Operation("list_jobs", lambda d, job, f: d.list_jobs(WORKSPACE, f), _anywhere),
    Operation("dequeue", lambda d, job, f: d.dequeue(f), _anywhere),
    Operation("complete", lambda d, job, f: d.finish_job(WORKSPACE, job, True, f)),
    Operation("fail", lambda d, job, f: d.finish_job(WORKSPACE, job, False, f)),
    Operation(REQUEUES[0], _requeue(-0.5), _leased_job),
    Operation(REQUEUES[1], _requeue(0.0), _leased_job),
    Operation(REQUEUES[2], lambda d, job, f: d.requeue_expired(FAR_FUTURE, f), _anywhere),
    _from_elsewhere("get_job", lambda d, job, f: d.get_job(ELSEWHERE, job, f)),
    _from_elsewhere("update_status", lambda d, job, f: d.set_status(
        ELSEWHERE, job, str(JobStatus.COMPLETED), f)),
    _from_elsewhere("complete", lambda d, job, f: d.finish_job(ELSEWHERE, job, True, f)),
    _from_elsewhere("fail", lambda d, job, f: d.finish_job(ELSEWHERE, job, False, f)),
)


def applies(operation: Operation, fixture: Fixture) -> bool:
    return operation.on(fixture) and (fixture.only is None or operation.name in fixture.only)


@dataclass(frozen=True)
class Program:
    """A fixture, one operation with its faults, then the network heals and every
    unfinished enqueue is retried (the machine's heal_and_retry)."""

    fixture: Fixture
    operation: Operation
    faults: tuple[Fault, ...] = ()

    def describe(self) -> str:
        faults = ", ".join(str(f) for f in self.faults) or "no fault"
        return f"from {self.fixture.name}: {self.operation.name}, {faults}"


def fault_places(trips: Sequence[RoundTrip]) -> list[int]:
    """The round trips to fault: those that may write (every one, if none does)."""
    written = [t.number for t in trips if writes(t)]
    return written or [t.number for t in trips]


@dataclass
class Ran:
    """One program's run: what was judged, and the round trips its operation made."""

    violations: list[Violation]
    history: History
    trips: list[RoundTrip]
    hung: bool = False


@dataclass
class Finding:
    number: int  # the program's place in the sweep
    program: Program
    invariants: list[str]
    text: str  # the program, the violations with their evidence, the history


@dataclass
class SweepOutcome:
    """Per severity, the first program that broke one of its invariants; and how much ran."""

    programs: int = 0
    steps: int = 0
    seconds: float = 0.0
    hung: bool = False  # an operation hung: the sweep stopped there
    found: dict[Severity, Finding] = field(default_factory=dict)

    @property
    def violated(self) -> list[str]:
        return sorted({n for finding in self.found.values() for n in finding.invariants})

    def report(self) -> str:
        findings = {id(f): f for f in self.found.values()}.values()
        return "\n".join(f.text for f in sorted(findings, key=lambda f: f.number))


def programs(kinds: Sequence[FaultKind]) -> Iterator[tuple[Program, list[RoundTrip]]]:
    """Every fault-free program first, then each faulted one. A fault-free program's list
    is filled with its round trips once it has run (the caller's job): they say where the
    faulted programs put their faults. A faulted program's list is its own."""
    swept = [k for k in kinds if k in SWEPT_KINDS]
    probes = []
    for fixture in FIXTURES:
        for operation in OPERATIONS:
            if applies(operation, fixture):
                probe = (Program(fixture, operation), [])
                probes.append(probe)
                yield probe
    for program, seen in probes:
        for place in fault_places(seen) if program.operation.faulted else ():
            for kind in swept:
                yield Program(program.fixture, program.operation, (Fault(kind, place),)), []


def run_program(driver: Driver, program: Program) -> Ran:
    """Build the fixture, run the operation, heal and retry; judge (the driver is closed)."""
    try:
        job = program.fixture.build(driver)
        job_id = driver.job_id(job) if job is not None else ""
        before = len(driver.history)
        try:
            program.operation.run(driver, job_id, program.faults)
            trips = list(driver.last_round_trips) if len(driver.history) > before else []
            driver.heal_and_retry()
        except OperationHung as hung:
            return Ran(hung.violations, driver.history, [], hung=True)
        return Ran(driver.judge(), driver.history, trips)
    finally:
        driver.close()


def sweep(make_driver: Callable[[], Driver], kinds: Sequence[FaultKind],
          judged: frozenset[str] | None = None, stop_at: frozenset[Severity] = frozenset(),
          on_first_failure: Callable[[str], None] | None = None) -> SweepOutcome:
    """Run the programs until each severity judged has a finding, or one in `stop_at` has
    (the verdict is known), or an operation hangs. After a finding, only the severities
    still without one are judged: each gets its own first program."""
    outcome = SweepOutcome()
    started = time.monotonic()
    still = set(judged if judged is not None else INVARIANTS)
    for number, (program, trips) in enumerate(programs(kinds), start=1):
        ran = run_program(make_driver(), program)
        outcome.programs, outcome.steps = number, outcome.steps + len(ran.history)
        trips.extend(ran.trips)
        # A hang ends the sweep whatever is judged: each later program could wait as long.
        mine = [v for v in ran.violations if v.invariant in still or ran.hung]
        if not mine:
            continue
        names = sorted({v.invariant for v in mine})
        finding = Finding(number, program, names, f"{SWEEP_FINDING}{number}: "
                          f"{program.describe()}\n{explain(mine, ran.history)}")
        if not outcome.found and on_first_failure is not None:
            on_first_failure(finding.text)
        severities = {INVARIANTS[n].severity for n in names}
        for severity in severities:
            outcome.found.setdefault(severity, finding)
        still -= {n for n, inv in INVARIANTS.items() if inv.severity in severities}
        outcome.hung = ran.hung
        if ran.hung or severities & stop_at or not still:
            break
    outcome.seconds = time.monotonic() - started
    return outcome
