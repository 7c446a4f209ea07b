"""The generic job-queue contract as a spec Model: what any Redis job queue promises its jobs.

Beside the dual-write contract (harness.spec.contract), on the same engine
(harness.spec.engine.Candidates): the state is each job's state, queued / taken / done /
failed / gone, and the operations are those every queue library has: enqueue (with the
caller's job id), take, finish, fail, and recover (the library's own cleanup, run at a time
the harness gives). An adapter (harness.job_queue_target) observes the library's keys as a
mapping job id -> state, and declares what its library promises (`Promises`).

The two delivery promises differ only on a job a worker *received* (an ok take) and then
dropped (the worker died): at_least_once gives it back to the queue, at_most_once may fail
it (it may have run, so it must not run again). Both promise delivery of a job no worker
ever received: recovery puts such a job back in the queue; failing it is a lost job in
disguise (`no_unrun_failures`). A job is `taken` only while the library's recovery can still
find it; one taken where recovery never looks is `gone`.

Outcomes, as in the dual-write contract: ok took effect as promised; unknown took effect
entirely or not at all (both branches; an unknown take may have taken any queued job, and no
worker received it); fail wrote nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from harness.history import Operation, Outcome
from harness.invariants import Invariant, Severity
from harness.spec.engine import Branch, Problem

MAX_OPEN_RECOVERIES = 3  # taken jobs recovered one by one; beyond, all or none (documented)


class JobState(StrEnum):
    QUEUED = "queued"  # a worker's take will get it
    TAKEN = "taken"  # a worker holds it, or the library's recovery will find it
    DONE = "done"
    FAILED = "failed"
    GONE = "gone"  # in no state a worker can ever reach again


class Delivery(StrEnum):
    AT_MOST_ONCE = "at_most_once"  # a received job runs at most once (it may be failed)
    AT_LEAST_ONCE = "at_least_once"  # a received job runs again if its worker drops it


@dataclass(frozen=True)
class Promises:
    """What a library promises, as its adapter declares it; the spec judges against this."""

    delivery: Delivery
    idempotent_enqueue: bool  # a second enqueue of a job id leaves the first job alone
    # A failed or abandoned job is queued again this many times, then failed (rq's
    # Retry(max)). At least once with no retries: an abandoned job is queued again always.
    retries: int = 0
    forgets_done: bool = False  # a finished job leaves no key (dramatiq deletes it on ack)
    # A failed copy stays beside the later copies of its id, each a message of its own
    # (dramatiq's dead letters): with forgets_done, a job failed, enqueued again and then
    # finished shows only the failed copy.
    failed_copies_stay: bool = False

    def describe(self) -> str:
        enqueue = "idempotent enqueue" if self.idempotent_enqueue else "non-idempotent enqueue"
        retries = f", {self.retries} retries" if self.retries else ""
        forgets = ", forgets finished jobs" if self.forgets_done else ""
        stay = ", keeps failed copies apart" if self.failed_copies_stay else ""
        return f"{self.delivery}, {enqueue}{retries}{forgets}{stay}"


class JobOp(StrEnum):
    ENQUEUE = "enqueue"  # args: job_id
    TAKE = "take"  # value: the job id taken, or None
    FINISH = "finish"  # args: job_id
    FAIL = "fail"  # args: job_id
    RECOVER = "recover"  # args: now (epoch seconds the library's clock reads)


# The invariants of this contract, apart from the dual-write ones (harness.invariants), whose
# reports list every one of theirs for every target.
JOB_QUEUE_INVARIANTS: dict[str, Invariant] = {inv.name: inv for inv in (
    Invariant("no_lost_jobs", Severity.CRITICAL,
              "an acknowledged job is always queued, taken (recoverable), done or failed"),
    Invariant("no_unrun_failures", Severity.CRITICAL,
              "a job no worker received is never failed: recovery gives it back to the queue"),
    Invariant("no_duplicate_delivery", Severity.HIGH,
              "at-most-once: a job a worker received is never handed out or queued again"),
    Invariant("done_stays_done", Severity.HIGH,
              "a job whose finish answered ok stays done: not taken, queued or failed again "
              "unless it is enqueued again"),
    Invariant("idempotent_enqueue", Severity.HIGH,
              "where promised, a second enqueue of a job id leaves the first job as it was"),
    Invariant("all_or_nothing", Severity.HIGH,
              "an operation whose outcome is unknown took effect entirely or not at all"),
    Invariant("acknowledged_effects", Severity.HIGH,
              "an operation that answered ok did what the contract says, and nothing else"),
    Invariant("liveness", Severity.HIGH,
              "every operation returns within the operation time limit"),
)}


@dataclass(frozen=True)
class Job:
    """One job id as the contract knows it. Where enqueue is not idempotent, one id may be
    queued more than once (rq pushes it twice): `queued` counts the copies a take can still
    get, `held` says where the last one taken is. Its `state` is the most reachable of the
    two, as an adapter reports a job found in several places: queued, taken, done, failed."""

    queued: int = 0  # copies in the queue
    held: JobState | None = None  # TAKEN, DONE, FAILED or GONE: the copy last taken
    acknowledged: bool = False  # some enqueue of it answered ok
    enqueued: int = 0  # enqueues that took effect: the deliveries the caller asked for
    delivered: int = 0  # ok takes that handed it to a worker
    received: bool = False  # the held copy reached a worker (an ok take)
    retried: int = 0  # times it was queued again after a failure or an abandonment
    failed_copy: bool = False  # a copy of it was failed before another was enqueued

    @property
    def state(self) -> JobState:
        if self.queued:
            return JobState.QUEUED
        return self.held or JobState.GONE


@dataclass(frozen=True)
class JobQueueState:
    """Every job the history made, by id (a sorted tuple: hashable, one key per state)."""

    jobs: tuple[tuple[str, Job], ...] = ()

    @property
    def by_id(self) -> dict[str, Job]:
        return dict(self.jobs)

    def get(self, job_id: str) -> Job | None:
        return self.by_id.get(job_id)

    def with_jobs(self, changed: Mapping[str, Job]) -> JobQueueState:
        return JobQueueState(tuple(sorted((self.by_id | dict(changed)).items())))


Observation = Mapping[str, JobState]  # what the adapter reads from the library's keys


class JobQueueContract:
    """The Model of the generic job-queue contract, for one library's `Promises`."""

    def __init__(self, promises: Promises) -> None:
        self.promises = promises
        self.context = ""  # "after #3 take() -> unknown": set by the judge per operation

    # --- Model ----------------------------------------------------------------------------
    def key(self, state: JobQueueState) -> Hashable:
        return state.jobs

    def adopt(self, branch: Branch[JobQueueState], observation: Observation) -> JobQueueState:
        known = branch.state.by_id
        seen = {job_id: _as_seen(known.get(job_id, Job()), state)
                for job_id, state in observation.items()}
        missing = {job_id: job if self._forgotten(job) else _as_seen(job, JobState.GONE)
                   for job_id, job in known.items() if job_id not in observation}
        return JobQueueState(tuple(sorted((missing | seen).items())))

    def observe(self, branch: Branch[JobQueueState],
                observation: Observation) -> list[Branch[JobQueueState]]:
        problems = tuple(self.differences(branch.state, observation))
        return [Branch(branch.state, branch.problems + problems, branch.choices, branch.suspect)]

    def successors(self, branch: Branch[JobQueueState],
                   op: Operation) -> list[Branch[JobQueueState]]:
        outcome = Outcome(op.outcome)
        if outcome is Outcome.FAIL:  # definite: nothing was written
            return [branch]
        kind, state = JobOp(op.kind), branch.state
        if outcome is Outcome.UNKNOWN:
            never = Branch(state, branch.problems, (*branch.choices, f"#{op.index} never happened"),
                           branch.suspect)
            took = [Branch(nxt, branch.problems, (*branch.choices, f"#{op.index} {why}"),
                           branch.suspect)
                    for nxt, why in self._unknown_effects(kind, state, op)]
            return [never, *took]
        return [Branch(nxt, branch.problems + tuple(problems), branch.choices, branch.suspect)
                for nxt, problems in self._ok_effects(kind, state, op)]

    # --- effects --------------------------------------------------------------------------
    def _enqueued(self, state: JobQueueState, job_id: str, acknowledged: bool) -> JobQueueState:
        existing = state.get(job_id)
        if existing is not None and self.promises.idempotent_enqueue:
            return state.with_jobs({job_id: replace(
                existing, acknowledged=existing.acknowledged or acknowledged)})
        job = existing or Job()
        return state.with_jobs({job_id: replace(
            job, queued=job.queued + 1, enqueued=job.enqueued + 1,
            acknowledged=job.acknowledged or acknowledged,
            failed_copy=job.failed_copy or job.held is JobState.FAILED)})

    def _unknown_effects(self, kind: JobOp, state: JobQueueState,
                         op: Operation) -> list[tuple[JobQueueState, str]]:
        """The ways an operation with an unknown outcome may have taken effect entirely."""
        if kind is JobOp.ENQUEUE:
            return [(self._enqueued(state, op.args["job_id"], False), "took effect")]
        if kind is JobOp.TAKE:  # any queued job, and no worker received it
            return [(state.with_jobs({j: _take(job, received=False)}), f"took {j}")
                    for j, job in state.jobs if job.queued]
        if kind in (JobOp.FINISH, JobOp.FAIL):
            return [(nxt, "took effect") for nxt in self._endings(state, kind, op.args["job_id"])]
        return [(nxt, "recovered some") for nxt in self._recoveries(state) if nxt != state]

    def _ok_effects(self, kind: JobOp, state: JobQueueState,
                    op: Operation) -> list[tuple[JobQueueState, list[Problem]]]:
        if kind is JobOp.ENQUEUE:
            return [(self._enqueued(state, op.args["job_id"], True), [])]
        if kind is JobOp.TAKE:
            return [self._taken(state, op)]
        if kind in (JobOp.FINISH, JobOp.FAIL):
            return [(nxt, []) for nxt in self._endings(state, kind, op.args["job_id"])]
        return [(nxt, []) for nxt in self._recoveries(state)]

    def _taken(self, state: JobQueueState, op: Operation) -> tuple[JobQueueState, list[Problem]]:
        """An ok take: the job it names is handed to a worker (None: nothing was queued)."""
        job_id = op.value
        if job_id is None:
            return state, []
        job = state.get(job_id)
        if job is None:
            return (state.with_jobs({job_id: _take(Job(), received=True)}),
                    [self._problem("acknowledged_effects", op,
                                   f"take handed out {job_id}, a job nobody enqueued")])
        problems = []
        again = not job.queued or job.delivered >= job.enqueued
        if again and self.promises.delivery is Delivery.AT_MOST_ONCE:
            problems.append(self._problem(
                "no_duplicate_delivery", op,
                f"take handed out {job_id} again: it was {job.state}, received by a worker "
                f"{job.delivered} time(s) for {job.enqueued} enqueue(s); the library "
                "promises at-most-once delivery",
                {"job_id": job_id, "was": str(job.state), "delivered": job.delivered,
                 "enqueued": job.enqueued}))
        return state.with_jobs({job_id: _take(job, received=True)}), problems

    def _endings(self, state: JobQueueState, kind: JobOp, job_id: str) -> list[JobQueueState]:
        """Done; or failed, unless it has a retry left: then queued again."""
        job = state.get(job_id) or Job()
        if kind is JobOp.FINISH:
            return [state.with_jobs({job_id: replace(job, held=JobState.DONE)})]
        if job.retried < self.promises.retries:
            return [state.with_jobs({job_id: self._requeued(job)})]
        return [state.with_jobs({job_id: replace(job, held=JobState.FAILED)})]

    def _recovered(self, job: Job) -> Job:
        """Where recovery promises to put a taken job whose worker is gone: back in the
        queue if no worker received it; if one did, failed under at-most-once, and under
        at-least-once queued again (while its retries last, where there are retries)."""
        if not job.received:
            return self._requeued(job)
        if self.promises.delivery is Delivery.AT_MOST_ONCE or (
                self.promises.retries and job.retried >= self.promises.retries):
            return replace(job, held=JobState.FAILED)
        return self._requeued(job)

    def _requeued(self, job: Job) -> Job:
        """The held copy back in the queue: one more delivery is then asked for (a retry
        spent, where the library counts them)."""
        retried = job.retried + (job.retried < self.promises.retries)
        return replace(job, held=None, queued=job.queued + 1, received=False, retried=retried,
                       enqueued=max(job.enqueued, job.delivered + 1))

    def _recoveries(self, state: JobQueueState) -> list[JobQueueState]:
        """A recovery may find any of the taken jobs due (the library decides when): one
        state per subset, or all-or-none past MAX_OPEN_RECOVERIES."""
        taken = [job_id for job_id, job in state.jobs if job.held is JobState.TAKEN]
        if len(taken) > MAX_OPEN_RECOVERIES:
            subsets: Iterable[tuple[str, ...]] = [(), tuple(taken)]
        else:
            subsets = (c for n in range(len(taken) + 1) for c in itertools.combinations(taken, n))
        jobs = state.by_id
        return [state.with_jobs({j: self._recovered(jobs[j]) for j in chosen})
                for chosen in subsets]

    # --- observation ----------------------------------------------------------------------
    def differences(self, state: JobQueueState, observation: Observation) -> list[Problem]:
        """Every job whose observed state is not the one this candidate state says."""
        problems = []
        known = state.by_id
        for job_id in sorted(known.keys() | observation.keys()):
            job = known.get(job_id)
            seen = observation.get(job_id, JobState.GONE)
            if job is None and job_id in observation:  # a trace of a job nobody made
                invariant = ("all_or_nothing" if seen is JobState.GONE
                             else "acknowledged_effects")
                problems.append(self._problem(
                    invariant, None, f"{job_id} is {seen}, and in no candidate state any "
                    "operation made (an operation took effect in part, or one that failed "
                    "wrote)", {"job_id": job_id, "observed": str(seen)}))
                continue
            if job is None or (job_id not in observation and self._forgotten(job)):
                continue
            if seen is JobState.FAILED and self._shows_failed_copy(job):
                continue
            if seen is not job.state:
                problems.append(self._difference(job_id, job, seen))
        return problems

    def _forgotten(self, job: Job) -> bool:
        """A done job with no key left, where the library deletes finished jobs."""
        return self.promises.forgets_done and job.state is JobState.DONE

    def _shows_failed_copy(self, job: Job) -> bool:
        """A done job whose only key is an earlier copy's, failed, where the library keeps
        failed copies apart and deletes finished ones: its done copy left nothing."""
        return (self._forgotten(job) and job.failed_copy
                and self.promises.failed_copies_stay)

    def _difference(self, job_id: str, job: Job, seen: JobState) -> Problem:
        evidence = {"job_id": job_id, "expected": str(job.state), "observed": str(seen),
                    "acknowledged": job.acknowledged, "received": job.received,
                    "delivered": job.delivered}
        says = f"{job_id} is {seen}; the contract says {job.state}"
        if seen is JobState.GONE and job.acknowledged:
            return self._problem("no_lost_jobs", None, f"{job_id} was enqueued (ok) and is in "
                                 "no state a worker can ever reach again: lost", evidence)
        if seen is JobState.GONE:
            return self._problem("all_or_nothing", None,
                                 f"{says}: the operation took effect in part", evidence)
        if seen is JobState.FAILED and not job.received:
            why = ("no worker ever received it: it never ran" if not job.delivered else
                   f"it ran {job.delivered} time(s), and the copy queued again after that "
                   "was failed before any worker received it")
            return self._problem("no_unrun_failures", None,
                                 f"{job_id} was failed, but {why} ({says})", evidence)
        ended = job.state in (JobState.FAILED, JobState.DONE)
        if seen is JobState.QUEUED and ended and self.promises.idempotent_enqueue:
            return self._problem("idempotent_enqueue", None,
                                 f"{says}: an enqueue of an existing id queued it again",
                                 evidence)
        if job.state is JobState.DONE:
            return self._problem("done_stays_done", None,
                                 f"{says}: its worker finished it (ok), and it is back in "
                                 "play", evidence)
        if self.promises.delivery is Delivery.AT_MOST_ONCE and (
                seen is JobState.QUEUED and (job.received or ended)):
            return self._problem("no_duplicate_delivery", None,
                                 f"{says}: a job a worker received is offered again, and the "
                                 "library promises at-most-once delivery", evidence)
        return self._problem("acknowledged_effects", None, says, evidence)

    def _problem(self, invariant: str, op: Operation | None, message: str,
                 evidence: dict[str, Any] | None = None) -> Problem:
        context = f" ({self.context})" if self.context else ""
        return Problem(invariant, message + context, evidence or {},
                       (op.index,) if op is not None else ())


def _take(job: Job, *, received: bool) -> Job:
    """One queued copy taken: `received` when an ok take handed it to a worker."""
    return replace(job, queued=max(job.queued - 1, 0), held=JobState.TAKEN, received=received,
                   delivered=job.delivered + received)


def _as_seen(job: Job, seen: JobState) -> Job:
    """`job` as an observation shows it (after a reported difference: judging goes on from
    what Redis holds), keeping what the observation cannot show."""
    if seen is JobState.QUEUED:
        return replace(job, queued=max(job.queued, 1))
    return replace(job, queued=0, held=seen)
