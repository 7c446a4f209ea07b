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
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from unittest import SkipTest

from hypothesis import Phase
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.internal.conjecture import engine as conjecture_engine
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    get_state_machine_test,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from harness import calls
from harness.calls import Call
from harness.databases import NamespacedDatabase
from harness.driver import (
    DRIVER_POLICY,
    Driver,
    Lease,
    OverlappingStep,
    Request,
    explain,
    ghost_job_id,
    lease_of,
)
from harness.errors import QueueChaosError
from harness.fault_planning import RoundTripsSeen, fault_plans
from harness.fault_sweep import sweep
from harness.faults import Fault, FaultKind, kinds_for_database
from harness.generation import (
    WORKSPACES,
    any_workspace_ids,
    bad_job_ids,
    bad_workspace_ids,
    clocks,
    job_ids,
    lease_lengths,
    payloads,
    request_ids,
    statuses,
    weighted,
    workspace_ids,
)
from harness.history import OpKind, Outcome
from harness.inputs import Validity, classify_payload
from harness.invariants import INVARIANTS, STATIC_INVARIANTS, Severity
from harness.op_deadline import DEFAULT_OP_TIMEOUT, OperationHung
from harness.redis_client import ClientPolicy
from harness.scheduler import DEFAULT_CLIENTS
from harness.servers.services import Services
from harness.snapshot import Snapshot
from harness.target import DEFAULT_SCHEMA


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


HUNG_REPORT = "an operation hung (no shrinking: each replay would wait the limit again)"
SHRINK_BUDGET = 10.0  # seconds of shrinking per run of the machine, unless told otherwise
SHRINK_STOPPED = "WARNING: Hypothesis has spent more than five minutes working to shrink"


@dataclass
class MachineSetup:
    """What every example of the machine needs: the servers, the target, the knobs."""

    services: Services
    target: str = "reference"
    policy: ClientPolicy = DRIVER_POLICY
    fault_kinds: tuple[FaultKind, ...] = tuple(FaultKind)
    judged: frozenset[str] | None = None  # the invariants that fail an example (None: all)
    harness_error: QueueChaosError | None = None  # set when a run meets one: no verdict
    counts: Counter[str] = field(default_factory=Counter)  # examples and steps run
    shrink_budget: float | None = SHRINK_BUDGET  # seconds of shrinking per run (None: 300)
    # Called with the explanation when a run finds its first failing program (before
    # Hypothesis shrinks it): a long shrink never hides that something was found.
    on_first_failure: Callable[[str], None] | None = None
    op_timeout: float = DEFAULT_OP_TIMEOUT
    # Logical clients (each its own target, connection and proxy): with 2 or 3, steps
    # that overlap operations under a drawn schedule join the sequential ones; 1: none.
    clients: int = DEFAULT_CLIENTS
    hung: OperationHung | None = None  # set when an operation hung: the run's verdict
    # run_by_severity runs the fault sweep (harness.fault_sweep) before any random search
    sweep: bool = False
    first_failure: str = ""  # the first example an invariant failed, explained
    first_failed: str = ""  # the invariant it broke
    last_example: str = ""  # the history of the example that ended last


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


@dataclass(frozen=True)
class NoSuchJob:
    """A well-formed job id that no job has (what a caller holds after a failed enqueue)."""

    job_id: str


@dataclass(frozen=True)
class BadJobId:
    """A job id the contract calls bad."""

    job_id: Any


@dataclass(frozen=True)
class JobInState:
    """The `index`-th job (in order of birth) of those Redis holds in `state` right now."""

    state: str  # pending | leased | finished | elsewhere
    index: int
    job_id: str = field(compare=False)
    workspace_id: str = field(compare=False)

    def __repr__(self) -> str:
        return f"JobInState({self.state!r}, {self.index})"


JOB_STATES = ("pending", "leased", "finished", "elsewhere")
JOBS_DRAWN = 16  # a job is drawn as one of 16 places, then mapped onto those Redis holds

# What a client of an overlapping step may run (see QueueMachine.any_overlap).
OVERLAPPING_KINDS = ("enqueue", "dequeue", "complete", "update_status", "get_job",
                     "requeue_expired")
JobRef = Request | Lease | JobInState | NoSuchJob | BadJobId  # a lease names its job too


def state_of(snapshot: Snapshot, job_id: str) -> str:
    if job_id in snapshot.processing:
        return "leased"
    if job_id in snapshot.queue:
        return "pending"
    return "finished" if snapshot.is_terminal(job_id) else "elsewhere"


def jobs_in_states(otherwise: st.SearchStrategy[Any],
                   states: tuple[str, ...] = JOB_STATES) -> st.SearchStrategy[Any]:
    """A job Redis holds in one of `states`, chosen by its state first (so that every method
    meets jobs pending, leased and finished alike), else one from `otherwise`."""
    return _job_in_state(otherwise, states)


# The composites are defined once, at import: Hypothesis reads a composite's source when it
# is defined, and these strategies are built for rules and inside rules, step after step.
@st.composite
def _job_in_state(draw: st.DrawFn, otherwise: st.SearchStrategy[Any],
                  states: tuple[str, ...]) -> Any:
    driver = draw(st.runner()).driver
    by_state: dict[str, list[str]] = {}
    for job_id in driver.job_order:
        if driver.snapshot.has_record(job_id):
            by_state.setdefault(state_of(driver.snapshot, job_id), []).append(job_id)
    # Drawn in one shape whatever Redis holds (a state, a place among JOBS_DRAWN), then
    # mapped onto what it holds: a replay whose Redis differs draws the same.
    wanted = draw(st.sampled_from(states))
    index = draw(st.integers(0, JOBS_DRAWN - 1))
    held = [s for s in states if s in by_state]
    if not held:
        return draw(otherwise)
    state = wanted if wanted in by_state else held[states.index(wanted) % len(held)]
    job_id = by_state[state][index % len(by_state[state])]
    old, new = driver.snapshot.records_of(job_id)
    workspace = (old or new or {}).get("workspace_id", WORKSPACES[0])
    return JobInState(state, index % len(by_state[state]), job_id, workspace)


def from_bundles(*bundles: Bundle, otherwise: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value from one of the bundles that holds something, else one from `otherwise`.

    Hypothesis checks only a rule's own Bundle arguments for emptiness; a draw from an
    empty Bundle nested in another strategy aborts the whole example.
    """
    return _from_full_bundle(bundles, otherwise)


@st.composite
def _from_full_bundle(draw: st.DrawFn, bundles: tuple[Bundle, ...],
                      otherwise: st.SearchStrategy[Any]) -> Any:
    machine = draw(st.runner())
    full = [b for b in bundles if machine.bundle(b.name)]
    if not full:
        return draw(otherwise)
    return draw(st.sampled_from(full).flatmap(lambda bundle: bundle))


class MachineBase(RuleBasedStateMachine):
    """A fresh Driver per example, and one invariant method (and exception type) per invariant.

    The rules come from machine_class(), which knows which fault kinds a run allows.
    """

    setup: MachineSetup  # set on the class machine_class() makes

    def __init__(self) -> None:
        super().__init__()
        with _aborting(self.setup):
            self.driver = Driver(self.setup.services, self.setup.target, self.setup.policy,
                                 "machine", self.setup.op_timeout, clients=self.setup.clients)
        self._requests_made = 0
        self.seen = RoundTripsSeen()  # what each operation kind sent in this example
        self.fault_kinds: tuple[FaultKind, ...] = self.setup.fault_kinds
        self.setup.counts["examples"] += 1

    def step(self, action: Callable[[Driver], Any]) -> Any:
        """Run one driver action; harness errors abort the run instead of being shrunk."""
        self.setup.counts["steps"] += 1
        before = len(self.driver.history)
        with _aborting(self.setup):
            result = action(self.driver)
        if len(self.driver.history) > before:
            last = self.driver.history.ops[-1] if self.driver.history.ops else None
            if last is not None:
                self.seen.record(str(last.kind), self.driver.last_round_trips,
                                 answered=last.outcome is Outcome.OK)
        return result

    def overlap(self, steps: list[tuple[int, Call, tuple[Fault, ...]]],
                schedule: list[int]) -> OverlappingStep:
        """Run one call per client at once under `schedule` (harness.scheduler)."""
        self.setup.counts["steps"] += 1
        self.setup.counts["overlapping"] += 1
        with _aborting(self.setup):
            done = self.driver.run_overlapping(steps, schedule)
        for op, trips in zip(done.ops, done.trips, strict=True):
            self.seen.record(str(op.kind), trips, answered=op.outcome is Outcome.OK)
        return done

    def faults(self, data: st.DataObject, operation: OpKind) -> tuple[Fault, ...]:
        """This example's fault plan for one operation (none if it faults other kinds)."""
        if not self.fault_kinds:
            return ()
        return data.draw(fault_plans(self.fault_kinds, self.seen, str(operation)),
                         label="faults")

    def new_request(self, workspace_id: Any, payload: Any, request_id: str | None) -> Request:
        self._requests_made += 1
        return Request(workspace_id, request_id or f"req-{self._requests_made}", payload)

    def has_leases(self) -> bool:
        """Redis holds a leased job: a race at a lease's deadline has one to meet."""
        return bool(self.driver.snapshot.processing)

    def has_jobs(self) -> bool:
        """Some job was enqueued or seeded: operations on jobs have one to meet."""
        return bool(self.bundle("requests") or self.bundle("seeded"))

    def job_of(self, job: JobRef, workspace_id: str | None) -> tuple[Any, Any]:
        """(workspace, job id) an operation on `job` names: its own workspace unless told."""
        if isinstance(job, Request):
            return workspace_id or job.workspace_id, self.driver.job_id(job)
        if isinstance(job, Lease | JobInState):
            return workspace_id or job.workspace_id, job.job_id
        return workspace_id or WORKSPACES[0], job.job_id

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
        if not self.setup.first_failure:
            self.setup.first_failure, self.setup.first_failed = text, worst
            if self.setup.on_first_failure is not None:
                self.setup.on_first_failure(text)
        raise VIOLATION_TYPES[worst](text)

    def teardown(self) -> None:
        self.setup.last_example = "\n".join(op.describe() for op in self.driver.history)
        self.driver.close()


def machine_class(setup: MachineSetup) -> type[MachineBase]:
    """The state machine for one setup: its fault plans use only the kinds the setup allows."""
    schema = DEFAULT_SCHEMA  # what arguments look like; a target's own patterns may differ
    workspaces = workspace_ids(schema)
    other_workspace = weighted((3, st.none()), (1, workspaces))  # None: the job's own
    allowed = kinds_for_database(setup.fault_kinds, setup.services.database)
    kinds = (st.sets(st.sampled_from(list(allowed)), min_size=1) if allowed
             else st.just(frozenset()))

    class QueueMachine(MachineBase):
        requests = Bundle("requests")
        seeded = Bundle("seeded")  # jobs another writer wrote: read and updated, not enqueued
        leases = Bundle("leases")
        no_such_job = st.builds(NoSuchJob, job_ids(schema))
        jobs = weighted((6, from_bundles(requests, seeded, leases, otherwise=no_such_job)),
                        (6, jobs_in_states(otherwise=no_such_job)),
                        (1, no_such_job), (1, st.builds(BadJobId, bad_job_ids(schema))))
        leased = jobs_in_states(otherwise=jobs, states=("leased",))  # a job Redis leases

        @initialize(kinds=kinds)
        def choose_faults(self, kinds: frozenset[FaultKind]) -> None:
            """Swarm testing: this example injects only these kinds of fault."""
            self.fault_kinds = tuple(k for k in self.setup.fault_kinds if k in kinds)

        @rule(target=requests, workspace_id=any_workspace_ids(schema), payload=payloads(),
              request_id=request_ids(schema), data=st.data())
        def enqueue(self, workspace_id: Any, payload: Any, request_id: str | None,
                    data: st.DataObject) -> Request:
            request = self.new_request(workspace_id, payload, request_id)
            faults = self.faults(data, OpKind.ENQUEUE)
            self.step(lambda d: d.enqueue(request, faults))
            return request

        @rule(request=requests, payload=weighted((3, st.none()), (1, payloads())),
              data=st.data())
        def retry_enqueue(self, request: Request, payload: Any, data: st.DataObject) -> None:
            """The caller retries with the same request id, as a client does after an error
            (with another payload now and then: the first one stays)."""
            again = request if payload is None else replace(request, payload=payload)
            faults = self.faults(data, OpKind.ENQUEUE)
            self.step(lambda d: d.enqueue(again, faults))

        @rule(target=requests, request=requests, other=workspaces)
        def enqueue_same_request_id_in_another_workspace(self, request: Request,
                                                         other: str) -> Any:
            """Request ids are per workspace: the same id elsewhere is another job."""
            if other == request.workspace_id:
                return multiple()
            twin = Request(other, request.client_request_id, request.payload)
            self.step(lambda d: d.enqueue(twin))
            return twin

        @precondition(lambda self: self.has_jobs())
        @rule(job=jobs, workspace_id=other_workspace, status=statuses(), data=st.data())
        def update_status(self, job: JobRef, workspace_id: str | None, status: Any,
                          data: st.DataObject) -> None:
            ws, job_id = self.job_of(job, workspace_id)
            faults = self.faults(data, OpKind.UPDATE_STATUS)
            self.step(lambda d: d.set_status(ws, job_id, status, faults))

        @precondition(lambda self: self.has_jobs())
        @rule(job=jobs, workspace_id=other_workspace, data=st.data())
        def get_job(self, job: JobRef, workspace_id: str | None, data: st.DataObject) -> None:
            """Read a job from its own workspace (None) or from another one."""
            ws, job_id = self.job_of(job, workspace_id)
            faults = self.faults(data, OpKind.GET_JOB)
            self.step(lambda d: d.get_job(ws, job_id, faults))

        @rule(workspace_id=weighted((9, workspaces), (1, bad_workspace_ids(schema))),
              data=st.data())
        def list_jobs(self, workspace_id: Any, data: st.DataObject) -> None:
            faults = self.faults(data, OpKind.LIST_JOBS)
            self.step(lambda d: d.list_jobs(workspace_id, faults))

        @rule(target=seeded, workspace_id=workspaces,
              schema_name=st.sampled_from(["old", "new"]), payload=payloads().filter(
                  lambda p: classify_payload(p)[0] is Validity.VALID))
        def seed_job_from_another_writer(self, workspace_id: str, schema_name: str,
                                         payload: dict[str, Any]) -> Request:
            """A job in one schema only: a legacy writer's (old) or a Phase-2 writer's (new)."""
            return self.step(lambda d: d.seed(workspace_id, schema_name, payload))

        @rule(target=leases, lease_seconds=lease_lengths(), data=st.data())
        def dequeue(self, lease_seconds: Any, data: st.DataObject) -> Any:
            faults = self.faults(data, OpKind.DEQUEUE)
            lease = self.step(lambda d: d.dequeue(faults, lease_seconds))
            return lease if lease is not None else multiple()

        @precondition(lambda self: self.has_jobs())
        @rule(job=weighted((3, from_bundles(consumes(leases), otherwise=jobs)), (1, jobs)),
              workspace_id=other_workspace, succeeded=st.booleans(), data=st.data())
        def finish(self, job: JobRef, workspace_id: str | None, succeeded: bool,
                   data: st.DataObject) -> None:
            """complete (or fail) of a leased job, mostly by the worker holding the lease;
            else of any job: one not leased, one that does not exist, another's."""
            ws, job_id = self.job_of(job, workspace_id)
            faults = self.faults(data, OpKind.COMPLETE if succeeded else OpKind.FAIL)
            self.step(lambda d: d.finish_job(ws, job_id, succeeded, faults))

        @rule(now=st.one_of(clocks(), from_bundles(leases, otherwise=clocks())),
              offset=st.sampled_from([0.0, -0.5, 0.5]),
              data=st.data())
        def requeue_expired(self, now: Any, offset: float, data: st.DataObject) -> None:
            """requeue_expired at any time, or at a lease's own deadline (which ends it), or
            just before or after that."""
            if isinstance(now, Lease):
                now = self.driver.snapshot.leases.get(now.job_id, 0.0) + offset
            faults = self.faults(data, OpKind.REQUEUE_EXPIRED)
            self.step(lambda d: d.requeue_expired(now, faults))

        def call_of(self, kind: str, job: JobRef | None, request: Request,
                    data: st.DataObject) -> Call:
            """One call of an overlapping step; calls on a job all name the step's `job`."""
            if kind == "enqueue":
                return calls.enqueue(request.workspace_id, request.payload,
                                     request.client_request_id)
            if kind == "dequeue":
                return calls.dequeue(data.draw(lease_lengths(), label="lease_seconds"))
            if job is None:  # no job yet: a job call meets one that does not exist
                job = NoSuchJob(ghost_job_id(request))
            ws, job_id = self.job_of(job, None)
            if kind == "requeue_expired":  # at the job's lease deadline (it ends it) or after
                deadline = self.driver.snapshot.leases.get(job_id)
                return calls.requeue_expired(
                    data.draw(clocks(), label="now") if deadline is None else
                    deadline + data.draw(st.sampled_from([0.0, 0.5]), label="after_deadline"))
            if kind == "update_status":
                return calls.update_status(ws, job_id, data.draw(statuses(), label="status"))
            if kind == "get_job":
                return calls.get_job(ws, job_id)
            return calls.finish(ws, job_id, data.draw(st.booleans(), label="succeeded"))

        def overlapping(self, kinds: tuple[str, ...], job: JobRef | None,
                        data: st.DataObject) -> Any:
            """Run `kinds` on as many clients at once (each its own target and connection),
            their round trips let through in the order a drawn schedule says; calls on a
            job all name `job`, enqueues all submit one request. Some order of them must
            explain every answer and the state after. The ok dequeues' leases go on."""
            n = len(kinds)
            request = data.draw(from_bundles(self.requests, otherwise=st.builds(
                self.new_request, workspaces, payloads(), request_ids(schema))),
                label="request")
            # Faults compose with races, but mask many of them (an unknown outcome explains
            # much): half the steps have none. Where clients share a proxy, none ever do.
            faulted = self.setup.services.separate_proxies and data.draw(
                st.booleans(), label="with_faults")
            steps = []
            for i, kind in enumerate(kinds):
                call = self.call_of(kind, job, request, data)
                steps.append((i, call, self.faults(data, call.kind) if faulted else ()))
            schedule = data.draw(st.lists(st.integers(0, n - 1), max_size=4 * n),
                                 label="schedule")
            done = self.overlap(steps, schedule)
            return multiple(*(lease for op in done.ops if (lease := lease_of(op))))

        def clients(self, data: st.DataObject) -> int:
            return data.draw(st.integers(2, self.setup.clients), label="clients")

        # One rule per race (so that races are a good share of the steps, and the program
        # Hypothesis prints names the race): what production meets, then any mix.
        @precondition(lambda self: self.setup.clients > 1)
        @rule(target=leases, data=st.data())
        def double_submit(self, data: st.DataObject) -> Any:
            """One request from several producers at once (a client's double click)."""
            return self.overlapping(("enqueue",) * self.clients(data), None, data)

        @precondition(lambda self: self.setup.clients > 1)
        @rule(target=leases, data=st.data())
        def workers_race(self, data: st.DataObject) -> Any:
            """Several workers dequeue from one queue at once."""
            return self.overlapping(("dequeue",) * self.clients(data), None, data)

        @precondition(lambda self: self.setup.clients > 1 and self.has_leases())
        @rule(target=leases, job=leased, data=st.data())
        def finish_while_requeue(self, job: JobRef, data: st.DataObject) -> Any:
            """A worker completes (or fails) a job while requeue_expired runs at (or past)
            that job's lease deadline: on one or more reapers."""
            return self.overlapping(("complete",) + ("requeue_expired",) * (
                self.clients(data) - 1), job, data)

        @precondition(lambda self: self.setup.clients > 1 and self.has_leases())
        @rule(target=leases, job=leased, data=st.data())
        def reapers_race(self, job: JobRef, data: st.DataObject) -> Any:
            """Several reapers run requeue_expired at once, at (or past) a lease's deadline."""
            return self.overlapping(("requeue_expired",) * self.clients(data), job, data)

        @precondition(lambda self: self.setup.clients > 1 and self.has_jobs())
        @rule(target=leases, job=jobs, data=st.data())
        def any_overlap(self, job: JobRef, data: st.DataObject) -> Any:
            """Any operations at once, each client its own kind (calls on a job: `job`)."""
            kinds = tuple(data.draw(st.sampled_from(OVERLAPPING_KINDS), label="kind")
                          for _ in range(self.clients(data)))
            return self.overlapping(kinds, job, data)

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
    shrinking: str = ""  # "finished", or how it stopped; "" when nothing failed
    examples: int = 0  # examples run, shrinking included
    steps: int = 0  # rule steps run in them
    overlapping: int = 0  # of those, steps that ran operations at once (harness.scheduler)
    hung: bool = False  # an operation hung: the run stopped there, unshrunk
    unsearched: list[str] = field(default_factory=list)  # left out once the verdict was known
    swept: int = 0  # programs of the fault sweep run before the random search

    @property
    def holds(self) -> bool:
        return not self.invariants_violated

    def add(self, other: MachineResult) -> None:
        """Another pass's findings and counts, into this total."""
        self.invariants_violated += other.invariants_violated
        self.flaky = self.flaky or other.flaky
        if other.shrinking and self.shrinking in ("", "finished"):
            self.shrinking = other.shrinking  # a pass stopped at its budget: say so
        self.examples += other.examples
        self.swept += other.swept
        self.steps += other.steps
        self.overlapping += other.overlapping


def _violated(exc: BaseException) -> list[str]:
    if isinstance(exc, InvariantViolated):
        return [type(exc).invariant]  # type: ignore[attr-defined]
    if isinstance(exc, BaseExceptionGroup):
        return sorted({name for sub in exc.exceptions for name in _violated(sub)})
    return []


def replay_command(target: str, database: str, clients: int = DEFAULT_CLIENTS) -> str:
    """The morning's command: the night's clients, or the saved example replays as another
    program (a step drawn for one client is not the step drawn for two)."""
    return (f"queue-chaos machine --target {target} --profile repro --database {database}"
            + ("" if clients == DEFAULT_CLIENTS else f" --clients {clients}"))


def run_state_machine_test(machine: type[RuleBasedStateMachine], settings: Settings,
                           seed: int | None,
                           budget: float | None) -> tuple[list[str], BaseException | None]:
    """A state machine's Hypothesis test, its reports captured and its shrinking bounded;
    what it raised (a violation, Flaky, a harness error, Ctrl-C) is the caller's to judge.

    A seed keeps the example database: Hypothesis's @seed drops it without a word, and a
    seeded night whose failure was never saved leaves the morning nothing to replay.
    """
    test = get_state_machine_test(machine, settings=settings)
    if seed is not None:
        test = hypothesis_seed(seed)(test)
        test._hypothesis_internal_use_settings = Settings(  # type: ignore[attr-defined]
            test._hypothesis_internal_use_settings,  # type: ignore[attr-defined]
            database=settings.database)
    with capture_reports() as lines, shrink_budget(budget):
        try:
            test()
        except BaseException as exc:  # noqa: BLE001 - handed back whole, never swallowed
            return lines, exc
    return lines, None


@contextlib.contextmanager
def capture_reports() -> Iterator[list[str]]:
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
    setup = replace(setup, harness_error=None, counts=Counter(), hung=None, first_failure="",
                    first_failed="", last_example="")
    result = MachineResult(setup.target, "custom")
    lines, exc = run_state_machine_test(machine_class(setup), settings, seed,
                                        setup.shrink_budget)
    if exc is not None:
        if setup.harness_error is not None:
            raise setup.harness_error from None
        if setup.hung is not None:
            result.invariants_violated, result.hung = ["liveness"], True
            result.report = f"{HUNG_REPORT}; the example so far:\n{setup.hung.trace}"
            _count(result, setup)
            return result
        names = _violated(exc)
        if isinstance(exc, Flaky):
            return _nondeterministic(setup, exc, names, lines)
        if not names:
            raise exc
        result.invariants_violated = names
        lines.extend(exception_texts(exc))
    if setup.harness_error is not None:
        raise setup.harness_error
    if result.invariants_violated:
        result.shrinking = how_shrinking_ended(lines, settings, setup.shrink_budget)
    result.report = "\n".join(lines)
    _count(result, setup)
    return result


def _count(result: MachineResult, setup: MachineSetup) -> None:
    result.examples, result.steps = setup.counts["examples"], setup.counts["steps"]
    result.overlapping = setup.counts["overlapping"]


@contextlib.contextmanager
def shrink_budget(seconds: float | None) -> Iterator[None]:
    """Hypothesis stops shrinking after engine.MAX_SHRINKING_SECONDS (300 s; Hypothesis
    #2340: shrinking re-runs programs against real servers); a PR gate wants far less."""
    if seconds is None:
        yield
        return
    saved = conjecture_engine.MAX_SHRINKING_SECONDS
    conjecture_engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[assignment]
    try:
        yield
    finally:
        conjecture_engine.MAX_SHRINKING_SECONDS = saved


def how_shrinking_ended(lines: list[str], settings: Settings, budget: float | None) -> str:
    """"finished", or that it stopped at the budget (Hypothesis's own warning is replaced)."""
    if Phase.shrink not in settings.phases:
        return "not run (this profile does not shrink)"
    stopped = [i for i, line in enumerate(lines) if line.startswith(SHRINK_STOPPED)]
    for i in reversed(stopped):
        del lines[i]
    if not stopped:
        return "finished"
    return (f"stopped at its budget of {budget if budget is not None else 300:g} s: the "
            "program shown is the smallest found so far (a longer --shrink-budget may "
            "shrink it further; the verdict is the same)")
def _nondeterministic(setup: MachineSetup, flaky: Flaky, names: list[str],
                      lines: list[str]) -> MachineResult:
    """The target gave two outcomes for one program: `deterministic` is violated (with any
    invariant the first outcome broke), and the report shows both outcomes.

    Asked only once both servers answer (a dead one raises InfrastructureError here): a
    replay that differs over a healthy network comes from the target (time, randomness,
    state kept between examples), or from a machine too loaded for the faults' timing.
    """
    setup.services.check_alive()
    if not setup.first_failure and not names:
        # Nothing failed: Hypothesis found that the same choices drew another program
        # (the machine draws from the state Redis shows, and lease deadlines are real
        # time). That is not the target behaving two ways: no verdict, and said so.
        return MachineResult(
            setup.target, "custom", [], "no invariant failed; an example's steps were drawn "
            "differently on a replay (draws follow Redis's state and the clock), so the run "
            f"ended there, not judged further:\n{exception_texts(flaky)[0]}", flaky=True,
            examples=setup.counts["examples"], steps=setup.counts["steps"])
    first = setup.first_failure
    report = "\n".join([
        "the same program gave two outcomes, with both servers answering:",
        "--- first run ---", first,
        "--- replay (the example that ran last) ---", setup.last_example or "(no operation)",
        "--- what Hypothesis saw ---", *exception_texts(flaky), *lines])
    # The first run's invariant broke for real, whatever the replay did.
    violated = sorted({*names, setup.first_failed, "deterministic"} - {""})
    return MachineResult(setup.target, "custom", violated, report,
                         flaky=True, examples=setup.counts["examples"],
                         steps=setup.counts["steps"])


# Most severe first; MEDIUM and LOW share a pass (both are cheap to find, and neither blocks
# the gate by default).
SEVERITY_PASSES = ((Severity.CRITICAL,), (Severity.HIGH,), (Severity.MEDIUM, Severity.LOW))


def severity_passes(stop_at: frozenset[Severity]) -> tuple[tuple[Severity, ...], ...]:
    """The runs after a failure, most severe first: one per severity (MEDIUM and LOW
    together), or, when `stop_at` settles the verdict, those severities in one run and
    the others in a second."""
    if not stop_at:
        return SEVERITY_PASSES
    ranked = sorted(Severity, key=lambda s: s.rank)
    return tuple(group for group in (tuple(s for s in ranked if s in stop_at),
                                     tuple(s for s in ranked if s not in stop_at)) if group)


def _own_keys(settings: Settings, name: str) -> Settings:
    """A run per severity saves and replays under keys of its own (see NamespacedDatabase):
    it must not delete the failures the other runs saved."""
    if settings.database is None:
        return settings
    return Settings(settings, database=NamespacedDatabase(settings.database, name))


def run_by_severity(setup: MachineSetup, settings: Settings, seed: int | None = None, *,
                    stop_at: frozenset[Severity] = frozenset()) -> MachineResult:
    """One run judging every invariant; if it fails, one run per severity, most severe first.

    A queue with a cheap LOW bug (say, a counter it forgets) fails every example at that
    bug and is never explored deep enough to show its CRITICAL ones: the runs per severity
    judge only their own invariants, so each finds its own minimal counterexample. A queue
    that holds needs only the first run (the others would replay the same examples). A
    severity whose invariant the first run broke needs no run of its own: it would fail at
    the first run's example (every step before it held every invariant) and shrink it again.

    `stop_at`: severities a violation of which settles the verdict (the gate's blocking
    ones). They are searched in one run (any one of them settles it), the rest in another;
    once one is found, the runs left could only add rows, at about a clean run's cost
    each: they are left out, and every invariant that did not break is `unsearched` (it
    was judged only until the verdict was known).
    """
    swept = run_sweep(setup, stop_at) if setup.sweep else None
    if swept is not None and not swept.holds:
        first = swept  # the sweep's first programs stand for the first run's examples
    else:
        first = run_machine(setup, settings, seed)
        if swept is not None:
            first.swept, first.steps = swept.swept, first.steps + swept.steps
    if first.holds or first.hung or first.flaky:  # a hang would stop every pass at the
        return first  # same place; a target that does not replay would mislead them
    total = MachineResult(setup.target, "by severity", examples=first.examples,
                          steps=first.steps, overlapping=first.overlapping, swept=first.swept)
    first_found = {INVARIANTS[name].severity for name in first.invariants_violated}
    found = set(first_found)
    reports = []
    for severities in severity_passes(stop_at):
        names = frozenset(n for n, inv in INVARIANTS.items()
                          if inv.severity in severities and n not in STATIC_INVARIANTS)
        if first_found & set(severities):
            total.invariants_violated += [n for n in first.invariants_violated if n in names]
            continue  # its report is the first run's, added once below
        if found & stop_at:
            continue
        try:
            result = run_machine(replace(setup, judged=names, on_first_failure=None),
                                 _own_keys(settings, "+".join(severities)), seed)
        except SkipTest:  # a replay (repro) with nothing saved under this run's keys
            continue
        found |= {INVARIANTS[name].severity for name in result.invariants_violated}
        total.add(result)
        if result.report:
            reports.append(f"--- {'+'.join(severities)} invariants "
                           f"({', '.join(sorted(names))}) ---\n{result.report}")
    if found & stop_at:  # what did not break was judged only until the verdict was known
        total.unsearched = [n for n in INVARIANTS if n not in STATIC_INVARIANTS
                            and n not in total.invariants_violated]
    total.shrinking = first.shrinking if total.shrinking in ("", "finished") else total.shrinking
    reports.insert(0, "--- the first failure (every invariant judged: "
                   f"{', '.join(first.invariants_violated)}) ---\n{first.report}")
    total.report = "\n".join(reports)
    return total


def run_sweep(setup: MachineSetup, stop_at: frozenset[Severity]) -> MachineResult:
    """The fault sweep on this setup's target, as one run's result: per severity its first
    failing program (short by construction: nothing to shrink)."""
    outcome = sweep(lambda: Driver(setup.services, setup.target, setup.policy, "sweep",
                                   setup.op_timeout),
                    kinds_for_database(setup.fault_kinds, setup.services.database),
                    setup.judged, stop_at, setup.on_first_failure)
    report = outcome.report()
    if outcome.hung:
        report = f"{HUNG_REPORT}; the program so far:\n{report}"
    return MachineResult(setup.target, "fault sweep", outcome.violated, report,
                         steps=outcome.steps, hung=outcome.hung, swept=outcome.programs)


def exception_texts(exc: BaseException) -> list[str]:
    if isinstance(exc, BaseExceptionGroup):
        return [t for sub in exc.exceptions for t in exception_texts(sub)]
    notes = getattr(exc, "__notes__", [])
    return [f"{type(exc).__name__}: {exc}", *notes]
