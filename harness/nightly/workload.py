"""The concurrent workload: producers and workers as threads, each with a target of its own.

Producers enqueue fresh requests (and retry the same request after an error, as a careful
client would), read jobs (now and then from the wrong workspace, which must find nothing),
update statuses and list a workspace. Listing reads every job a queue holds (the contract has
no pagination), so it is paced (at most once per `list_interval` per producer) and lists a
workspace that never gets more than `listed_jobs` jobs: its cost and the size of its answer
in history.jsonl stay bounded however long the run.

Workers lease jobs, complete or fail them, sometimes die with a job leased, and now and then
requeue expired leases. A worker that cannot finish a job within half its lease gives it
up, so no live worker ever finishes a job whose lease another worker's requeue took back.

A racer makes two calls at once, each on a target of its own, started together: one
request submitted by two producers (a double click), two workers dequeuing at the same
moment, a worker completing a job while a reaper runs requeue_expired at that job's lease
deadline. Without a racer no two of these ever overlap (producers use request ids of their
own; workers finish within half a lease). At night the interleaving is the network's, not
a schedule's: the state machine's overlapping steps are where a race is replayed exactly.

Every call goes through the Recorder; none of them raises.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.history import OpKind, Outcome
from harness.nightly.recorder import Recorder
from harness.op_deadline import OperationHung
from harness.target import Job, JobStatus, QueueTarget

WORKSPACES = ("ws-alpha", "ws-beta", "ws-gamma")
LISTED_WORKSPACE = "ws-listed"  # small on purpose: the workspace list_jobs reads


@dataclass(frozen=True)
class WorkloadShape:
    """Mix and pace of the workload; the defaults keep the queue short and every path busy."""

    enqueue_retries: int = 3  # extra attempts of one request after an unknown outcome
    retry_pause: float = 0.05
    lease_seconds: float = 5.0
    die_probability: float = 0.03  # a worker abandons its lease
    fail_probability: float = 0.15  # a worker fails the job instead of completing it
    requeue_probability: float = 0.05  # per worker step
    idle_pause: float = 0.02  # a worker that found the queue empty
    remembered_jobs: int = 64  # per producer, for reads and status updates
    list_interval: float = 2.0  # seconds between two list_jobs of one producer
    listed_jobs: int = 50  # per producer, enqueued into LISTED_WORKSPACE (then no more)
    race_pause: float = 0.05  # seconds between two races of one racer


class Client(threading.Thread):
    """A producer or a worker: its own target and random stream, stepping until told to stop.

    An exception out of a step is a harness bug: the thread keeps it and stops the run. A
    call that hung (recorded as such) stops this client only: the hung call holds its target.
    """

    role = "client"

    def __init__(self, index: int, target: QueueTarget, *, recorder: Recorder, seed: int,
                 stop: threading.Event, shape: WorkloadShape) -> None:
        super().__init__(name=f"{self.role}-{index}", daemon=True)
        self.index = index
        self.target = target
        self.recorder = recorder
        self.rng = random.Random(f"{seed}/{self.role}/{index}")
        self.stop = stop
        self.shape = shape
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.step()
        except OperationHung:
            return
        except Exception as exc:  # noqa: BLE001 - a harness bug: the run stops and says so
            self.error = exc
            self.stop.set()

    def step(self) -> None:
        raise NotImplementedError


class Producer(Client):
    role = "producer"

    def __init__(
        self,
        index: int,
        target: QueueTarget,
        *,
        recorder: Recorder,
        seed: int,
        stop: threading.Event,
        shape: WorkloadShape,
        workspaces: tuple[str, ...] = WORKSPACES,
    ) -> None:
        super().__init__(index, target, recorder=recorder, seed=seed, stop=stop, shape=shape)
        self.workspaces = workspaces
        self.known: deque[tuple[str, str]] = deque(maxlen=shape.remembered_jobs)
        self.requests = 0
        self.listed = 0  # jobs this producer enqueued into LISTED_WORKSPACE
        self.next_list = 0.0  # time.monotonic() from which it may list again

    def step(self) -> None:
        draw = self.rng.random()
        if draw < 0.55 or not self.known:
            self.enqueue()
        elif draw < 0.80:
            self.get_job()
        elif draw < 0.95 or time.monotonic() < self.next_list:
            self.update_status()
        else:
            self.list_jobs()

    def enqueue(self) -> None:
        self.requests += 1
        workspace = self.rng.choice(self.workspaces)
        if self.listed < self.shape.listed_jobs and self.rng.random() < 0.1:
            workspace = LISTED_WORKSPACE
            self.listed += 1
        request_id = f"p{self.index}-r{self.requests}"
        payload = {"producer": self.index, "n": self.requests}
        args = {"workspace_id": workspace, "payload": payload, "client_request_id": request_id}
        for attempt in range(1 + self.shape.enqueue_retries):
            if attempt:
                time.sleep(self.shape.retry_pause)
            op = self.recorder.call(
                self.name, OpKind.ENQUEUE, args,
                lambda: self.target.enqueue(workspace, payload, request_id),
            )
            if op.outcome is Outcome.OK:
                self.known.append((workspace, op.value))
                return
            if op.outcome is Outcome.FAIL or self.stop.is_set():
                return  # refused (nothing written), or the run is over: the final retry owns it

    def get_job(self) -> None:
        workspace, job_id = self.rng.choice(self.known)
        if self.rng.random() < 0.1:  # another workspace's job: must read as None
            workspace = self.rng.choice([w for w in self.workspaces if w != workspace])
        self.recorder.call(
            self.name, OpKind.GET_JOB, {"workspace_id": workspace, "job_id": job_id},
            lambda: self.target.get_job(workspace, job_id),
        )

    def update_status(self) -> None:
        workspace, job_id = self.rng.choice(self.known)
        status = str(self.rng.choice(list(JobStatus)))
        self.recorder.call(
            self.name, OpKind.UPDATE_STATUS,
            {"workspace_id": workspace, "job_id": job_id, "status": status},
            lambda: self.target.update_status(workspace, job_id, status),
        )

    def list_jobs(self) -> None:
        self.next_list = time.monotonic() + self.shape.list_interval
        workspace = LISTED_WORKSPACE
        self.recorder.call(
            self.name, OpKind.LIST_JOBS, {"workspace_id": workspace},
            lambda: self.target.list_jobs(workspace),
        )


class Worker(Client):
    role = "worker"

    def __init__(self, index: int, target: QueueTarget, *, recorder: Recorder, seed: int,
                 stop: threading.Event, shape: WorkloadShape) -> None:
        super().__init__(index, target, recorder=recorder, seed=seed, stop=stop, shape=shape)
        self.deaths = 0

    def step(self) -> None:
        if self.rng.random() < self.shape.requeue_probability:
            self.recorder.call(self.name, OpKind.REQUEUE_EXPIRED, {"now": None},
                               self.target.requeue_expired)
            return
        job = lease_one(self.recorder, self.name, self.target, self.shape.lease_seconds)
        if job is None:
            self.stop.wait(self.shape.idle_pause)
            return
        leased_at, job = job
        if self.rng.random() < self.shape.die_probability:
            self.deaths += 1  # walks away: the lease expires and requeue_expired takes it back
            return
        succeeded = self.rng.random() >= self.shape.fail_probability
        give_up_at = leased_at + self.shape.lease_seconds / 2
        finish(self.recorder, self.name, self.target, job, succeeded=succeeded,
               give_up_at=give_up_at, stop=self.stop)


def lease_one(
    recorder: Recorder, process: str, target: QueueTarget, lease_seconds: float
) -> tuple[float, Job] | None:
    """(when the lease was asked for, the job), or None when nothing was leased for sure."""
    leased_at = time.monotonic()
    op = recorder.call(process, OpKind.DEQUEUE, {"lease_seconds": lease_seconds},
                       lambda: target.dequeue(lease_seconds))
    if op.outcome is Outcome.OK and isinstance(op.value, Job):
        return leased_at, op.value
    return None


def finish(
    recorder: Recorder,
    process: str,
    target: QueueTarget,
    job: Job,
    *,
    succeeded: bool,
    give_up_at: float,
    stop: threading.Event | None = None,
    pause: float = 0.02,
) -> bool:
    """Complete (or fail) a leased job, retrying an unknown outcome until `give_up_at` (or
    the run stops: the drain's requeue then takes the job back)."""
    kind, call = (OpKind.COMPLETE, target.complete) if succeeded else (OpKind.FAIL, target.fail)
    args: dict[str, Any] = {"workspace_id": job.workspace_id, "job_id": job.job_id}
    while True:
        op = recorder.call(process, kind, args, lambda: call(job.workspace_id, job.job_id))
        if op.outcome is not Outcome.UNKNOWN:
            return op.outcome is Outcome.OK
        if time.monotonic() + pause >= give_up_at:
            return False
        if stop is None:
            time.sleep(pause)
        elif stop.wait(pause):
            return False


RACES = ("double_submit", "two_workers", "finish_while_requeue")


class Racer(Client):
    """Two calls at once, each on its own target, released together (see the module)."""

    role = "racer"

    def __init__(self, index: int, targets: tuple[QueueTarget, QueueTarget], *,
                 recorder: Recorder, seed: int, stop: threading.Event,
                 shape: WorkloadShape) -> None:
        super().__init__(index, targets[0], recorder=recorder, seed=seed, stop=stop,
                         shape=shape)
        self.twin = targets[1]
        self.races = 0

    def step(self) -> None:
        self.races += 1
        getattr(self, self.rng.choice(RACES))()
        self.stop.wait(self.shape.race_pause)

    def at_once(self, first: Callable[[], Any], second: Callable[[], Any]) -> None:
        """Run both calls on two threads that start together; wait for both."""
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(call: Callable[[], Any]) -> None:
            try:
                barrier.wait()
                call()
            except OperationHung:
                pass  # recorded; the thread is free, the hung call's target is not reused
            except BaseException as exc:  # noqa: BLE001 - a harness bug: Client.run raises it
                errors.append(exc)

        other = threading.Thread(target=run, args=(second,), daemon=True,
                                 name=f"{self.name}-twin")
        other.start()
        run(first)
        other.join()
        if errors:
            raise errors[0]

    def double_submit(self) -> None:
        workspace = self.rng.choice(WORKSPACES)
        request_id = f"race{self.index}-r{self.races}"
        payload = {"racer": self.index, "n": self.races}
        args = {"workspace_id": workspace, "payload": payload, "client_request_id": request_id}

        def submit(name: str, target: QueueTarget) -> Callable[[], Any]:
            return lambda: self.recorder.call(
                name, OpKind.ENQUEUE, args,
                lambda: target.enqueue(workspace, payload, request_id))

        self.at_once(submit(self.name, self.target), submit(f"{self.name}-twin", self.twin))

    def two_workers(self) -> None:
        leased: list[Job] = []

        def work(name: str, target: QueueTarget) -> Callable[[], Any]:
            def run() -> None:
                got = lease_one(self.recorder, name, target, self.shape.lease_seconds)
                if got is not None:
                    leased.append(got[1])
            return run

        self.at_once(work(self.name, self.target), work(f"{self.name}-twin", self.twin))
        for job in leased:  # done with them: no lease left to expire
            finish(self.recorder, self.name, self.target, job, succeeded=True,
                   give_up_at=time.monotonic() + self.shape.lease_seconds / 2, stop=self.stop)

    def finish_while_requeue(self) -> None:
        lease = self.shape.lease_seconds
        asked = time.time()
        got = lease_one(self.recorder, self.name, self.target, lease)
        if got is None:
            return
        job, deadline = got[1], asked + lease + 1.0  # at or past the job's lease deadline
        give_up_at = got[0] + lease / 2
        self.at_once(
            lambda: finish(self.recorder, self.name, self.target, job, succeeded=True,
                           give_up_at=give_up_at, stop=self.stop),
            lambda: self.recorder.call(f"{self.name}-twin", OpKind.REQUEUE_EXPIRED,
                                       {"now": deadline},
                                       lambda: self.twin.requeue_expired(deadline)))
