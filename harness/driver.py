"""The client side of a run: one target behind a faultable client, its history and its checker.

The state machine and the scenarios both drive a target through a Driver, so an operation
is run, faulted, recorded and judged the same way whichever of them asked for it.
A Driver starts from a clean slate: every toxic removed, Redis emptied, a fresh registry.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from prometheus_client import CollectorRegistry

from harness.checker import Checker
from harness.errors import InfrastructureError
from harness.faults import Fault
from harness.history import History, Operation, OpKind, Outcome, classify, refusal_of
from harness.injector import FaultInjector, RoundTrip, injected_client
from harness.invariants import Violation
from harness.op_deadline import DEFAULT_OP_TIMEOUT, OpDeadline, OperationHung
from harness.redis_client import ClientPolicy
from harness.services import Services
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


class Driver:
    """Runs operations on a fresh target, arms their faults, records and judges them."""

    def __init__(self, services: Services, target: str,
                 policy: ClientPolicy = DRIVER_POLICY, process: str = "client",
                 op_timeout: float = DEFAULT_OP_TIMEOUT) -> None:
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
        self.registry = CollectorRegistry()
        self.injector = FaultInjector(services.control, services.proxy_name)
        self.client = injected_client(services.proxy.host, services.proxy.port,
                                      self.injector, policy, db=services.database)
        self.target: QueueTarget = build_target(target, self.client, self.registry)
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

    def close(self) -> None:
        self.deadline.close()
        with contextlib.suppress(InfrastructureError):
            self.injector.heal()
        self.client.close()
        # What the target sent last may still be on its way: let it land before the next
        # run flushes (bounded; a Redis that stopped answering is the next run's to report).
        with contextlib.suppress(redis.RedisError):
            settle(self.direct, self.injector.open_connections, self.foreign)
        self.direct.close()

    # --- the one way an operation runs -----------------------------------------------
    def take_snapshot(self) -> Snapshot:
        try:
            return take_snapshot(self.direct, self.schema)
        except redis.RedisError as exc:
            raise InfrastructureError(f"Redis stopped answering the checker: {exc}") from exc

    def run(self, kind: OpKind, args: dict[str, Any], call: Callable[[], Any],
            faults: Sequence[Fault] = ()) -> Operation:
        """Invoke, arm `faults`, record ok/fail/unknown, snapshot, observe. Infra errors raise;
        so does OperationHung, once the hung operation is recorded and judged (liveness)."""
        op = self.history.invoke(self.process, kind, args)
        value: Any = None
        outcome, crashed, error, hung = Outcome.OK, False, None, None
        with self.injector.operation(faults) as run:
            try:
                value = self.deadline.call(call)
            except OperationHung as exc:
                outcome, error, hung = Outcome.UNKNOWN, f"OperationHung: {exc}", exc
            except Exception as exc:  # noqa: BLE001 - every outcome is recorded
                outcome, crashed = classify(exc)
                error = f"{type(exc).__name__}: {exc}"
                op.refusal = refusal_of(exc)
        self.last_round_trips = list(run.trips)
        op.fault = describe_faults(faults, run.fired, run.trips)
        if run.fired and outcome is not Outcome.OK:
            self._settle()
        self.history.complete(op, outcome, value, error, crashed)
        self._observe(op)
        if crashed:
            self.found.append(Violation("contract", f"{kind} raised {error}",
                                        {"error": error}, (op.index,)))
        if hung is not None:  # the run ends here: the target is held by the hung call
            self.found.append(hung.violation(op))
            hung.violations = self.judge()
            hung.trace = explain(hung.violations, self.history)
            raise hung
        return op

    def _settle(self) -> None:
        """A faulted request may still be on its way to Redis: wait for it (harness.settle)."""
        try:
            if not settle(self.direct, self.injector.open_connections, self.foreign):
                self.unsettled += 1
        except redis.RedisError as exc:
            raise InfrastructureError(f"Redis stopped answering the checker: {exc}") from exc

    def _observe(self, op: Operation) -> None:
        self.snapshot = self.take_snapshot()
        self._note_new_jobs()
        self.found.extend(self.checker.observe(op, self.snapshot))
        self.found.extend(self.spec.observe(op, self.snapshot))

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
                healed: bool = False) -> Operation:
        args: dict[str, Any] = {"workspace_id": request.workspace_id,
                                "payload": request.payload,
                                "client_request_id": request.client_request_id}
        if healed:
            args["healed"] = True
        op = self.run(OpKind.ENQUEUE, args, lambda: self.target.enqueue(
            request.workspace_id, request.payload, request.client_request_id), faults)
        if op.outcome is Outcome.OK and isinstance(op.value, str):
            self.jobs.setdefault(request.key, op.value)
        return op

    def update_status(self, request: Request, status: str,
                      faults: Sequence[Fault] = ()) -> Operation:
        """Set the status of the job this request made (in its own workspace)."""
        return self.set_status(request.workspace_id, self.job_id(request), status, faults)

    def set_status(self, workspace_id: Any, job_id: Any, status: Any,
                   faults: Sequence[Fault] = ()) -> Operation:
        return self.run(
            OpKind.UPDATE_STATUS,
            {"workspace_id": workspace_id, "job_id": job_id, "status": status},
            lambda: self.target.update_status(workspace_id, job_id, status), faults)

    def get_job(self, workspace_id: Any, job_id: Any, faults: Sequence[Fault] = ()) -> Operation:
        return self.run(OpKind.GET_JOB, {"workspace_id": workspace_id, "job_id": job_id},
                        lambda: self.target.get_job(workspace_id, job_id), faults)

    def list_jobs(self, workspace_id: Any, faults: Sequence[Fault] = ()) -> Operation:
        return self.run(OpKind.LIST_JOBS, {"workspace_id": workspace_id},
                        lambda: self.target.list_jobs(workspace_id), faults)

    def dequeue(self, faults: Sequence[Fault] = (),
                lease_seconds: Any = LEASE_SECONDS) -> Lease | None:
        op = self.run(OpKind.DEQUEUE, {"lease_seconds": lease_seconds},
                      lambda: self.target.dequeue(lease_seconds), faults)
        if op.outcome is Outcome.OK and isinstance(op.value, Job):
            return Lease(op.value.workspace_id, op.value.job_id)
        return None

    def finish(self, lease: Lease, succeeded: bool, faults: Sequence[Fault] = ()) -> Operation:
        return self.finish_job(lease.workspace_id, lease.job_id, succeeded, faults)

    def finish_job(self, workspace_id: Any, job_id: Any, succeeded: bool,
                   faults: Sequence[Fault] = ()) -> Operation:
        """complete (succeeded) or fail, of any job: leased or not, this workspace's or not."""
        kind, call = ((OpKind.COMPLETE, self.target.complete) if succeeded
                      else (OpKind.FAIL, self.target.fail))
        return self.run(kind, {"workspace_id": workspace_id, "job_id": job_id},
                        lambda: call(workspace_id, job_id), faults)

    def requeue_expired(self, now: Any, faults: Sequence[Fault] = ()) -> Operation:
        return self.run(OpKind.REQUEUE_EXPIRED, {"now": now},
                        lambda: self.target.requeue_expired(now), faults)

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
        self.injector.heal()

    def heal_and_retry(self) -> None:
        """Heal the network, then retry every enqueue that has not ended OK yet."""
        self.heal()
        for workspace_id, rid, payload in self.checker.pending_requests():
            self.enqueue(Request(workspace_id, rid, dict(payload)), (), healed=True)


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
