"""The client side of a run: one target behind a faultable client, its history and its checker.

The state machine and the scenarios both drive a target through a Driver, so an operation
is run, faulted, recorded and judged the same way whichever of them asked for it.
A Driver starts from a clean slate: every toxic removed, Redis emptied, a fresh registry.
"""

from __future__ import annotations

import contextlib
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import redis

from harness import calls
from harness.calls import Call
from harness.checker import Checker
from harness.errors import InfrastructureError
from harness.faults import Fault
from harness.history import History, Operation, OpKind, Outcome, classify, refusal_of
from harness.injector import FaultInjector, RoundTrip, injected_client
from harness.invariants import Violation
from harness.op_deadline import DEFAULT_OP_TIMEOUT, HUNG, OpDeadline, OperationHung
from harness.redis_client import ClientPolicy
from harness.registries import RegistryFamily
from harness.scheduler import CLIENT_NAMES, Interleaving, Scheduler, StepHung
from harness.servers.processes import raise_if_interrupted
from harness.servers.services import Services
from harness.settle import HARNESS_CLIENT_NAME, foreign_clients, settle
from harness.snapshot import Snapshot, take_snapshot
from harness.spec import SpecJudge
from harness.spec.contract import DualWriteContract
from harness.target import FAR_FUTURE, Job, JobStatus, QueueTarget, build_target, encode_job

LEASE_SECONDS = 30.0
DRIVER_POLICY = ClientPolicy(socket_timeout=1.0, connect_timeout=1.0)  # a stall waits STALL_WAIT


@dataclass(frozen=True, eq=False)
class Request:
    """One client request: a retry repeats all three values."""

    workspace_id: Any  # Any: bad inputs are requests too
    client_request_id: str
    payload: dict[str, Any]

    @property
    def key(self) -> tuple[Any, str]:
        return (self.workspace_id, self.client_request_id)

    def __repr__(self) -> str:
        return f"Request({self.workspace_id!r}, {self.client_request_id!r})"


@dataclass(frozen=True)
class Lease:
    workspace_id: str
    job_id: str


def ghost_job_id(request: Request) -> str:
    """A well-formed job id that no job has: what a caller holds when its enqueue failed."""
    return uuid.uuid5(uuid.NAMESPACE_URL,
                      f"{request.workspace_id}/{request.client_request_id}").hex


@dataclass
class LogicalClient:
    """One caller of the queue: its own target, client and fault injector (and proxy)."""

    name: str
    injector: FaultInjector
    client: redis.Redis
    target: QueueTarget


@dataclass
class Attempt:
    """What one call of the target did: its answer or error, and its round trips."""

    value: Any = None
    outcome: Outcome = Outcome.OK
    crashed: bool = False
    error: str | None = None
    refusal: str | None = None
    hung: OperationHung | None = None
    trips: list[RoundTrip] = field(default_factory=list)
    fired: bool = False  # some planned fault was armed
    fault: str | None = None  # the faults as they happened (describe_faults)
    where: str = ""  # a crash: the innermost frames of its traceback


@dataclass
class OverlappingStep:
    """Operations run at once on several clients: the ops, and how their round trips ran."""

    ops: list[Operation]
    interleaving: Interleaving
    trips: list[list[RoundTrip]]


class Driver:
    """Runs operations on a fresh target, arms their faults, records and judges them.

    `clients` logical clients are built (A, B, C): A runs every operation that runs alone,
    and `run_overlapping` runs one operation on each of several of them at once.
    """

    def __init__(self, services: Services, target: str,
                 policy: ClientPolicy = DRIVER_POLICY, process: str = "client",
                 op_timeout: float = DEFAULT_OP_TIMEOUT, *, clients: int = 1) -> None:
        self.services = services
        self.process = process
        self.deadline = OpDeadline(op_timeout)
        services.control.reset()
        self.direct = services.direct_client(client_name=HARNESS_CLIENT_NAME)
        try:
            services.flush(self.direct)
            self.foreign = foreign_clients(self.direct)
        except redis.RedisError as exc:
            raise InfrastructureError(f"Redis at {services.redis} does not answer: {exc}") from exc
        self.registries = RegistryFamily()  # one per client's target, read summed
        self.registry = self.registries.merged
        self.clients = [self._logical_client(i, target, policy) for i in range(clients)]
        first = self.clients[0]
        self.injector, self.client, self.target = first.injector, first.client, first.target
        self.schema = self.target.key_schema
        self.history = History()
        self.checker = Checker(self.schema, self.registry)
        self.jobs: dict[tuple[Any, str], str] = {}  # (ws, request id) -> an OK enqueue's job
        self.found: list[Violation] = []
        self.snapshot: Snapshot = self.take_snapshot()
        # Every job id Redis has shown, in the order it first appeared: a stable way to name
        # "the second job" in a program (ids are random, their order of birth is not).
        self.job_order: list[str] = []
        self._note_new_jobs()
        self.checker.check_state(self.snapshot)  # the state before the first operation
        self.spec = SpecJudge(self.schema, self.history, self.snapshot,
                              contract=getattr(self.target, "spec_contract", DualWriteContract))
        self.last_round_trips: list[RoundTrip] = []  # what the last operation sent
        self._seeds = 0
        self.unsettled = 0  # faulted operations after which Redis did not settle in time

    def _logical_client(self, index: int, target: str, policy: ClientPolicy) -> LogicalClient:
        """Client `index`: its own proxy where the backend allows (Services.client_proxy).
        Each client's target has a registry of its own; the checker reads their sum."""
        endpoint, proxy_name = self.services.client_proxy(index)
        injector = FaultInjector(self.services.control, proxy_name)
        client = injected_client(endpoint.host, endpoint.port, injector, policy,
                                 db=self.services.database)
        return LogicalClient(CLIENT_NAMES[index], injector, client,
                             build_target(target, client, self.registries.new_registry()))

    def open_connections(self) -> int:
        """Connections every client of ours holds now (what Redis may still be serving)."""
        return sum(c.injector.open_connections() for c in self.clients)

    def close(self) -> None:
        self.deadline.close()
        with contextlib.suppress(InfrastructureError):
            self._heal_what_was_armed()
        for client in self.clients:
            client.client.close()
        # What the target sent last may still be on its way: let it land before the next
        # run flushes (bounded; a Redis that stopped answering is the next run's to report).
        with contextlib.suppress(redis.RedisError):
            settle(self.direct, self.open_connections, self.foreign)
        self.direct.close()

    # --- the one way an operation runs -----------------------------------------------
    def take_snapshot(self) -> Snapshot:
        try:
            return take_snapshot(self.direct, self.schema)
        except redis.RedisError as exc:
            raise InfrastructureError(f"Redis stopped answering the checker: {exc}") from exc

    def perform(self, call: Call, faults: Sequence[Fault] = (), *, client: int = 0) -> Operation:
        """Run `call` alone on one client (A unless told): invoke, arm `faults`, record
        ok/fail/unknown, snapshot, observe. Infra errors raise; so does OperationHung, once
        the hung operation is recorded and judged (liveness)."""
        process = self.process if client == 0 else f"{self.process}-{self.clients[client].name}"
        op = self.history.invoke(process, call.kind, call.args)
        attempt = self._attempt(self.clients[client], call, faults, self.deadline.call)
        self.last_round_trips = attempt.trips
        self._record(op, attempt)
        if attempt.fired and attempt.outcome is not Outcome.OK:
            self._settle()
        self._observe(op)
        self._note_crash(op, attempt)
        if attempt.hung is not None:  # the run ends here: the target is held by the hung call
            self._end_at_hang(attempt.hung, op)
        return op

    def run_overlapping(self, steps: Sequence[tuple[int, Call, Sequence[Fault]]],
                        schedule: Sequence[int]) -> OverlappingStep:
        """One call on each of several clients at once, their round trips let through in
        the order `schedule` says (harness.scheduler); then judged as one step: some order
        of the calls that real time allows must explain every answer and the state after."""
        raise_if_interrupted()
        ops = [self.history.invoke(f"{self.process}-{self.clients[i].name}", call.kind,
                                   call.args) for i, call, _ in steps]
        scheduler = Scheduler([self._position(steps, c) for c in schedule],
                              self.deadline.seconds)
        used = [self.clients[i] for i, _, _ in steps]
        for client in used:
            client.injector.before_round_trip = scheduler.turn
        try:
            interleaving = scheduler.run([
                (lambda c=self.clients[i], call=call, faults=faults:
                 self._attempt(c, call, faults, lambda fn: fn()))
                for i, call, faults in steps])
        except StepHung as stuck:
            hung = OperationHung(stuck.seconds)
            for op in ops:
                self.history.complete(op, Outcome.UNKNOWN, None, f"{HUNG}: {hung}")
            self._observe_overlapping(ops)
            self._end_at_hang(hung, ops[stuck.client])
        finally:
            scheduler.release()
            for client in used:
                client.injector.before_round_trip = None
        attempts: list[Attempt] = []
        for error, attempt in zip(interleaving.errors, interleaving.results, strict=True):
            if error is not None:
                raise error  # a harness error met on a client's thread
            attempts.append(attempt)
        overlap = " ".join(f"#{op.index}" for op in ops) + f": {interleaving.describe()}"
        for op, attempt in zip(ops, attempts, strict=True):
            op.overlap = overlap
            self._record(op, attempt)
        if any(a.fired and a.outcome is not Outcome.OK for a in attempts):
            self._settle()
        self._observe_overlapping(ops)
        for op, attempt in zip(ops, attempts, strict=True):
            self._note_crash(op, attempt)
        return OverlappingStep(ops, interleaving, [a.trips for a in attempts])

    @staticmethod
    def _position(steps: Sequence[tuple[int, Call, Sequence[Fault]]], client: int) -> int:
        """A schedule names clients; the scheduler numbers the step's calls."""
        names = [i for i, _, _ in steps]
        return names.index(client) if client in names else -1

    def _attempt(self, client: LogicalClient, call: Call, faults: Sequence[Fault],
                 through: Callable[[Callable[[], Any]], Any]) -> Attempt:
        """Call the target once with `faults` armed; every outcome kept, none raised but
        the harness's own errors."""
        attempt = Attempt()
        with client.injector.operation(faults) as run:
            try:
                attempt.value = through(lambda: call.invoke(client.target))
            except OperationHung as exc:
                attempt.outcome, attempt.error, attempt.hung = (
                    Outcome.UNKNOWN, f"{HUNG}: {exc}", exc)
            except Exception as exc:  # noqa: BLE001 - every outcome is recorded
                attempt.outcome, attempt.crashed = classify(exc)
                if attempt.crashed:
                    attempt.where = crash_site(exc)
                attempt.error = f"{type(exc).__name__}: {exc}"
                attempt.refusal = refusal_of(exc)
        attempt.trips, attempt.fired = list(run.trips), bool(run.fired)
        attempt.fault = describe_faults(faults, run.fired, run.trips)
        return attempt

    def _record(self, op: Operation, attempt: Attempt) -> None:
        op.fault = attempt.fault
        op.refusal = attempt.refusal
        self.history.complete(op, attempt.outcome, attempt.value, attempt.error,
                              attempt.crashed)
        if op.kind == OpKind.ENQUEUE and op.outcome is Outcome.OK and isinstance(op.value, str):
            self.jobs.setdefault((op.args["workspace_id"], op.args["client_request_id"]),
                                 op.value)

    def _note_crash(self, op: Operation, attempt: Attempt) -> None:
        if op.crashed:
            self.found.append(Violation("contract", f"{op.kind} raised {op.error}",
                                        {"error": op.error, "where": attempt.where},
                                        (op.index,)))

    def _end_at_hang(self, hung: OperationHung, op: Operation) -> NoReturn:
        self.found.append(hung.violation(op))
        hung.violations = self.judge()
        hung.trace = explain(hung.violations, self.history)
        raise hung

    def _settle(self) -> None:
        """A faulted request may still be on its way to Redis: wait for it (harness.settle)."""
        try:
            if not settle(self.direct, self.open_connections, self.foreign):
                self.unsettled += 1
        except redis.RedisError as exc:
            raise InfrastructureError(f"Redis stopped answering the checker: {exc}") from exc

    def _observe(self, op: Operation) -> None:
        self.snapshot = self.take_snapshot()
        self._note_new_jobs()
        self.found.extend(self.checker.observe(op, self.snapshot))
        self.found.extend(self.spec.observe(op, self.snapshot))

    def _observe_overlapping(self, ops: list[Operation]) -> None:
        self.snapshot = self.take_snapshot()
        self._note_new_jobs()
        self.found.extend(self.checker.observe_overlapping(ops, self.snapshot))
        self.found.extend(self.spec.observe_overlapping(ops, self.snapshot))

    def _note_new_jobs(self) -> None:
        known = set(self.job_order)
        self.job_order.extend(j for j in self.snapshot.job_ids() if j not in known)

    def judge(self) -> list[Violation]:
        """Every violation so far: the ones seen operation by operation, then the state's."""
        found = [*self.found, *self.checker.check_state(self.snapshot),
                 *self.checker.check_telemetry()]
        if found:
            self.services.check_alive()  # a dead server is no verdict on the queue
        unique: dict[str, Violation] = {}
        for violation in found:
            unique.setdefault(violation.describe(), violation)
        return list(unique.values())

    # --- operations of the contract ------------------------------------------------------
    def job_id(self, request: Request) -> str:
        """The job an OK enqueue of this request gave; else the one Redis names for it (an
        enqueue whose outcome was unknown may have made it); else an id that no job has."""
        known = self.jobs.get(request.key)
        if known is None and isinstance(request.workspace_id, str):
            known = self.snapshot.idempotency.get(request.key)
        return known or ghost_job_id(request)

    def enqueue(self, request: Request, faults: Sequence[Fault] = (),
                healed: bool = False, *, client: int = 0) -> Operation:
        return self.perform(calls.enqueue(request.workspace_id, request.payload,
                                          request.client_request_id, healed), faults,
                            client=client)

    def update_status(self, request: Request, status: str,
                      faults: Sequence[Fault] = ()) -> Operation:
        """Set the status of the job this request made (in its own workspace)."""
        return self.set_status(request.workspace_id, self.job_id(request), status, faults)

    def set_status(self, workspace_id: Any, job_id: Any, status: Any,
                   faults: Sequence[Fault] = ()) -> Operation:
        return self.perform(calls.update_status(workspace_id, job_id, status), faults)

    def get_job(self, workspace_id: Any, job_id: Any, faults: Sequence[Fault] = ()) -> Operation:
        return self.perform(calls.get_job(workspace_id, job_id), faults)

    def list_jobs(self, workspace_id: Any, faults: Sequence[Fault] = ()) -> Operation:
        return self.perform(calls.list_jobs(workspace_id), faults)

    def dequeue(self, faults: Sequence[Fault] = (),
                lease_seconds: Any = LEASE_SECONDS) -> Lease | None:
        return lease_of(self.perform(calls.dequeue(lease_seconds), faults))

    def finish(self, lease: Lease, succeeded: bool, faults: Sequence[Fault] = ()) -> Operation:
        return self.finish_job(lease.workspace_id, lease.job_id, succeeded, faults)

    def finish_job(self, workspace_id: Any, job_id: Any, succeeded: bool,
                   faults: Sequence[Fault] = ()) -> Operation:
        """complete (succeeded) or fail, of any job: leased or not, this workspace's or not."""
        return self.perform(calls.finish(workspace_id, job_id, succeeded), faults)

    def requeue_expired(self, now: Any, faults: Sequence[Fault] = ()) -> Operation:
        return self.perform(calls.requeue_expired(now), faults)

    def every_worker_dies(self) -> Operation:
        """Every lease expires at once: requeue_expired must put every leased job back."""
        return self.requeue_expired(FAR_FUTURE)

    # --- what is not the target --------------------------------------------------------
    def seed(self, workspace_id: str, schema: str, payload: dict[str, Any]) -> Request:
        """Write a job as another writer would (legacy: old only; Phase 2: new only), queued.

        Returns a handle to read or update it by; it is never enqueued again (its request
        id belongs to the other writer).
        """
        self._seeds += 1
        name = f"seed-{self._seeds}"
        job = Job(uuid.uuid5(uuid.NAMESPACE_URL, f"{workspace_id}/{name}").hex, workspace_id,
                  name, payload, JobStatus.QUEUED)
        key = (self.schema.old_job_key(job.job_id) if schema == "old"
               else self.schema.new_job_key(workspace_id, job.job_id))
        op = self.history.invoke("seeder", OpKind.SEED, {
            "workspace_id": workspace_id, "job_id": job.job_id, "schemas": schema,
            "status": str(job.status), "client_request_id": name, "payload": payload})
        pipe = self.direct.pipeline(transaction=True)
        pipe.hset(key, mapping=encode_job(job))
        pipe.rpush(self.schema.queue_key, job.job_id)
        pipe.execute()
        self.history.complete(op, Outcome.OK, job.job_id)
        self._observe(op)
        handle = Request(workspace_id, name, payload)
        self.jobs[handle.key] = job.job_id
        return handle

    def heal(self) -> None:
        self.injector.heal()  # a reset of the whole server: every client's proxy
        for client in self.clients:
            client.injector.armed_since_heal = False

    def _heal_what_was_armed(self) -> None:
        """Heal unless no client armed a fault since the last heal (the Driver started on a
        reset Toxiproxy, and only its own faults add toxics): one control call saved per
        program of the fault sweep and per example that drew no fault."""
        if any(c.injector.armed_since_heal for c in self.clients):
            self.heal()

    def heal_and_retry(self) -> None:
        """Heal the network, then retry every enqueue that has not ended OK yet."""
        self._heal_what_was_armed()
        for workspace_id, rid, payload in self.checker.pending_requests():
            self.enqueue(Request(workspace_id, rid, dict(payload)), (), healed=True)


CRASH_FRAMES = 3


def crash_site(exc: BaseException) -> str:
    """Where a call crashed: its innermost frames, "file:line in function" each (a target's
    bug, or a library's under it: the evidence should say which)."""
    frames = traceback.extract_tb(exc.__traceback__)[-CRASH_FRAMES:]
    return " <- ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}"
                       for f in reversed(frames))


def lease_of(op: Operation) -> Lease | None:
    """The lease an ok dequeue took, if it took one."""
    if op.kind == OpKind.DEQUEUE and op.outcome is Outcome.OK and isinstance(op.value, Job):
        return Lease(op.value.workspace_id, op.value.job_id)
    return None


def describe_faults(planned: Sequence[Fault], fired: Sequence[Fault],
                    trips: Sequence[RoundTrip] = ()) -> str | None:
    """"reply_lost@3 on RPUSH ai:queue:pending", and which planned faults were not reached."""
    if not planned:
        return None
    sent = {trip.number: trip for trip in trips}

    def on(fault: Fault) -> str:
        trip = sent.get(fault.round_trip)
        if trip is None or not trip.commands:
            return str(fault)
        what = " ".join(c for c in trip.commands if c not in ("MULTI", "EXEC"))
        key = f" {trip.keys[0]}" if len(trip.keys) == 1 else ""
        return f"{fault} on {what}{key}"

    missed = [f for f in planned if f not in fired]
    text = ", ".join(on(f) for f in fired) or "none fired"
    if missed:
        text += f" (not reached: {', '.join(str(f) for f in missed)})"
    return text


def explain(violations: Sequence[Violation], history: History) -> str:
    """The violated invariants with their evidence, then the operations that led there."""
    lines: list[str] = []
    for violation in violations:
        lines.append(violation.describe())
        lines.extend(f"    {k}: {v}" for k, v in violation.evidence.items())
    lines.append("history:")
    lines.extend(f"    {op.describe()}" for op in history)
    return "\n".join(lines)
