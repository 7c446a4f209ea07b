"""A short concurrent run of a job-queue library: producers and workers at once, a fixed
schedule of network trouble, then the library's recovery, judged on the final state.

The state machine (harness.job_queue_machine) runs one operation at a time; production runs
many. Here producer threads enqueue fresh job ids and worker threads take and finish (or
fail) what they get, each thread its own adapter on its own client through the proxy,
while a fixed schedule puts a toxic on the whole proxy for a moment (every connection
meets it: whichever round trip is in flight). Then the toxics go, the library's recovery
runs with its clock moved past every timeout, a fresh worker drains the queue, and the
final keys are judged against the promises, in the spec's invariants:

  no_lost_jobs       an acknowledged job is queued, taken, done or failed; absent only
                     where the library forgets finished jobs
  no_unrun_failures  a failed job was handed to some worker by an ok take
  done_stays_done    a job whose finish answered ok is not failed (no worker failed it)

Not judged here: at-least-once's promise to requeue (not fail) a received job whose worker
died, duplicate deliveries, and what an unknown outcome did: the state machine judges
those, one operation at a time.

`queue-chaos nightly --target rq` (harness.nightly.job_queue_night) runs the same workload
for a budget, under a seeded schedule of fault windows in place of the fixed one.

The overlapping history is not stepped through the spec's engine (its orders would be
too many to judge): this judges what the history's outcomes and the final keys settle.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from harness.errors import InfrastructureError
from harness.faults import FaultKind, toxics_for
from harness.history import History, Operation, Outcome, classify
from harness.job_queue_run import RUN_POLICY
from harness.job_queue_target import JobQueueFactory, JobQueueTarget, check_job_queue
from harness.redis_client import build_client
from harness.servers.services import Services
from harness.spec.engine import Problem
from harness.spec.job_queue import JobOp, JobState, Promises


@dataclass(frozen=True)
class ToxicWindow:
    """`kind` on the whole proxy from `start` for `seconds` (from the run's start)."""

    start: float
    seconds: float
    kind: FaultKind


# Each kind the sweep throws, but `reset` (it needs connections opened after the toxic).
SCHEDULE = (ToxicWindow(0.3, 0.15, FaultKind.REPLY_LOST),
            ToxicWindow(0.8, 0.15, FaultKind.REQUEST_LOST),
            ToxicWindow(1.3, 0.15, FaultKind.STALL),
            ToxicWindow(1.8, 0.15, FaultKind.REPLY_LOST))
# What judge_final judges, and why the others are left to the state machine, which steps
# one operation at a time through the spec (`queue-chaos machine --target ...`).
JUDGED = ("no_lost_jobs", "no_unrun_failures", "done_stays_done")
NOT_JUDGED = {
    "no_duplicate_delivery": "needs the job's state at each take: the overlapping history "
                             "has too many orders to step through",
    "idempotent_enqueue": "the workload enqueues fresh ids only",
    "all_or_nothing": "what an unknown outcome did is not settled by the final keys alone",
    "acknowledged_effects": "needs the state before and after each operation",
    "liveness": "no operation time limit here: a call ends at the client's socket timeout",
}
RECOVERY_PASSES = (3600.0, 7200.0)  # rq's intermediate queue needs two, a minute apart
DRAIN_LIMIT = 1000  # takes of the final drain at most


@dataclass
class ConcurrentResult:
    target: str
    problems: list[Problem] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)  # "enqueue ok": 57, ...
    final: Mapping[str, JobState] = field(default_factory=dict)
    seconds: float = 0.0
    history: History = field(default_factory=History)  # every operation, to trace a problem

    @property
    def holds(self) -> bool:
        return not self.problems


class _Thread:
    """One producer or worker: its own client through the proxy and its own adapter."""

    def __init__(self, services: Services, factory: JobQueueFactory,
                 options: Mapping[str, Any], name: str) -> None:
        self.client = build_client(services.proxy.host, services.proxy.port, RUN_POLICY,
                                   db=services.database, decode_responses=False)
        self.target: JobQueueTarget = check_job_queue(factory(self.client, **options), name)
        try:
            self.target.prepare()  # no toxic is armed here: the servers failed
        except redis.RedisError as exc:
            raise InfrastructureError(f"Redis through the proxy at {services.proxy} failed "
                                      f"while {name} prepared its worker: {exc}") from exc

    def call(self, history: History, process: str, kind: JobOp, args: dict[str, Any],
             action: Any) -> Operation:
        op = history.invoke(process, kind, args)  # type: ignore[arg-type]
        try:
            value = action()
        except Exception as exc:  # noqa: BLE001 - every error is an outcome to judge
            outcome, crashed = classify(exc)
            history.complete(op, outcome, error=f"{type(exc).__name__}: {exc}", crashed=crashed)
        else:
            history.complete(op, Outcome.OK, value)
        return op

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.target.close()
        with contextlib.suppress(redis.RedisError):
            self.client.close()


FaultPlayer = Callable[[History], None]
"""Plays the faults on the run's clock (history.now) and returns when producing should stop."""


def run_concurrent(services: Services, factory: JobQueueFactory, name: str, *,
                   options: Mapping[str, Any] | None = None, producers: int = 2,
                   workers: int = 2, jobs: int | None = 40, pace: float = 0.05,
                   schedule: Sequence[ToxicWindow] = SCHEDULE,
                   play: FaultPlayer | None = None,
                   history_file: Path | None = None) -> ConcurrentResult:
    """`producers` threads enqueue `jobs` fresh ids each, one every `pace` seconds, while
    `workers` threads take and finish them (every fifth one failed), under `schedule`; then
    heal, recover, drain, judge. A nightly gives `play` instead (its own faults, on the run's
    clock) and `jobs=None`: producers go on until `play` returns. A server that stopped
    answering is an InfrastructureError, never a verdict."""
    options = options or {}
    services.control.reset()
    services.flush()
    threads = [_Thread(services, factory, options, name) for _ in range(producers + workers)]
    history = History.to_file(history_file, keep=True) if history_file else History()
    stop_producing = threading.Event()
    producing = threading.Event()
    producing.set()

    def produce(index: int, thread: _Thread) -> None:
        for n in itertools.count() if jobs is None else range(jobs):
            if stop_producing.is_set():
                return
            job_id = f"p{index}-{n}"
            thread.call(history, f"producer-{index}", JobOp.ENQUEUE, {"job_id": job_id},
                        lambda j=job_id: thread.target.enqueue(j))
            time.sleep(pace)

    def work(index: int, thread: _Thread) -> None:
        idle = 0
        while producing.is_set() or idle < 3:
            op = thread.call(history, f"worker-{index}", JobOp.TAKE, {}, thread.target.take)
            job_id = op.value if op.outcome is Outcome.OK else None
            if job_id is None:
                idle += 1
                time.sleep(0.01)
                continue
            idle = 0
            kind = JobOp.FAIL if job_id.endswith(("0", "5")) else JobOp.FINISH
            end = thread.target.fail if kind is JobOp.FAIL else thread.target.finish
            thread.call(history, f"worker-{index}", kind, {"job_id": job_id},
                        lambda j=job_id, e=end: e(j))

    runners = [threading.Thread(target=produce, args=(i, t), daemon=True)
               for i, t in enumerate(threads[:producers], 1)]
    runners += [threading.Thread(target=work, args=(i, t), daemon=True)
                for i, t in enumerate(threads[producers:], 1)]
    try:
        for runner in runners:
            runner.start()
        (play or (lambda h: _play(services, schedule, h.now)))(history)
        if jobs is None:
            stop_producing.set()
        for runner in runners[:producers]:
            runner.join(60)
        producing.clear()
        for runner in runners[producers:]:
            runner.join(60)
        services.control.reset()
        final = _recover_and_drain(services, factory, options, name, history)
        services.check_alive()  # no verdict on a queue whose servers died under it
    finally:
        stop_producing.set()  # an error or a signal: no thread goes on without the run
        producing.clear()
        for runner in runners:
            runner.join(5)
        services.control.reset()
        for thread in threads:
            thread.close()
        history.close()
    return ConcurrentResult(name, judge_final(history, final, threads[0].target.promises),
                            outcome_counts(history), final, history.now(), history)


def outcome_counts(history: History) -> dict[str, int]:
    """{"enqueue ok": 57, "take unknown": 3, ...}: what the run's operations answered."""
    counts: dict[str, int] = {}
    for op in history:
        key = f"{op.kind} {op.outcome}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _play(services: Services, schedule: Sequence[ToxicWindow],
          clock: Callable[[], float]) -> None:
    """Each window's toxics on the proxy, on time, then removed."""
    for i, window in enumerate(sorted(schedule, key=lambda w: w.start)):
        time.sleep(max(0.0, window.start - clock()))
        toxics = toxics_for(window.kind, name=f"window-{i}")
        for toxic in toxics:
            services.control.add_toxic(services.proxy_name, toxic)
        time.sleep(window.seconds)
        for toxic in toxics:
            services.control.remove_toxic(services.proxy_name, toxic.name)


def _recover_and_drain(services: Services, factory: JobQueueFactory,
                       options: Mapping[str, Any], name: str,
                       history: History) -> Mapping[str, JobState]:
    """The library's recovery past every timeout, a fresh worker draining what is queued
    (twice: a drained job that was requeued meanwhile), and the keys it leaves."""
    maintenance = _Thread(services, factory, options, name)
    try:
        now = time.time()
        for round_ in range(2):
            for advance in RECOVERY_PASSES:
                at = now + advance + round_ * 2 * RECOVERY_PASSES[-1]
                maintenance.call(history, "maintenance", JobOp.RECOVER, {"now": at},
                                 lambda a=at: maintenance.target.recover(a))
            for _ in range(DRAIN_LIMIT):
                op = maintenance.call(history, "maintenance", JobOp.TAKE, {},
                                      maintenance.target.take)
                if op.outcome is not Outcome.OK or op.value is None:
                    break
                maintenance.call(history, "maintenance", JobOp.FINISH, {"job_id": op.value},
                                 lambda j=op.value: maintenance.target.finish(j))
        reader = redis.Redis(host=services.redis.host, port=services.redis.port,
                             db=services.database, socket_timeout=5)
        try:
            return maintenance.target.observe(reader)
        except redis.RedisError as exc:
            raise InfrastructureError(f"Redis at {services.redis} stopped answering "
                                      f"while observing: {exc}") from exc
        finally:
            reader.close()
    finally:
        maintenance.close()


def judge_final(history: History, final: Mapping[str, JobState],
                promises: Promises) -> list[Problem]:
    """What the outcomes and the final keys settle, in the spec's invariants."""
    acknowledged, received, finished, failed_by_worker = set(), set(), set(), set()
    for op in history:
        job_id = op.args.get("job_id")
        if op.kind == JobOp.ENQUEUE and op.outcome is Outcome.OK:
            acknowledged.add(job_id)
        elif op.kind == JobOp.TAKE and op.outcome is Outcome.OK and op.value is not None:
            received.add(op.value)
        elif op.kind == JobOp.FINISH and op.outcome is Outcome.OK:
            finished.add(job_id)
        elif op.kind == JobOp.FAIL:
            failed_by_worker.add(job_id)  # any outcome: it may have taken effect
    problems = []
    for job_id in sorted(acknowledged):
        seen = final.get(job_id)
        if seen is JobState.GONE or (seen is None and not promises.forgets_done):
            problems.append(Problem("no_lost_jobs", f"{job_id} was enqueued (ok) and is "
                                    f"{seen or 'absent'} after recovery and a drain",
                                    {"job_id": job_id}))
    for job_id, seen in sorted(final.items()):
        if seen is not JobState.FAILED:
            continue
        if job_id not in received:
            problems.append(Problem("no_unrun_failures", f"{job_id} is failed, and no take "
                                    "ever handed it to a worker", {"job_id": job_id}))
        elif job_id in finished and job_id not in failed_by_worker:
            problems.append(Problem("done_stays_done", f"{job_id} finished (ok) and is "
                                    "failed, though no worker failed it", {"job_id": job_id}))
    return problems
