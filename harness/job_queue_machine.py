"""The Hypothesis state machine over the generic job-queue contract, on a library's adapter.

The fixed scenarios (harness.job_queue_run) replay a documented issue; this machine looks
for undocumented ones. Its rules are the contract's operations: enqueue (a fresh job id, or
now and then one already used whose job has ended), take, finish and fail (of the job
taken last, or of another), recover (the library's clock advanced by a drawn amount, past
its timeouts or not). Each may carry one fault, of a kind drawn for the example (swarm
testing), on one of the round trips that kind of operation made earlier in the example
(harness.fault_planning over what the runner recorded).

Every step runs and is judged by the runner's own `JobQueueRun.step`: the same recording,
observation and spec as a fixed scenario's. A problem the spec reports fails the example
with an exception named after its invariant (Hypothesis tells the bugs apart and shrinks
each), whose message names the invariant and carries the trace. A harness error (a server
that stopped answering) stops the run with no verdict; an operation that hangs ends it with
`liveness`, unshrunk (every replay would wait the limit again). Each example is a fresh
`JobQueueRun`: every toxic removed, Redis's database emptied, a fresh adapter.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import HealthCheck, Phase
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from harness.errors import QueueChaosError
from harness.fault_planning import RoundTripsSeen, fault_plans
from harness.faults import Fault, FaultKind, kinds_for_database
from harness.generation import weighted
from harness.history import Outcome
from harness.job_queue_run import (
    JOB_QUEUE_FAULT_KINDS,
    LAST_TAKEN,
    RUN_POLICY,
    JobQueueRun,
    JobStep,
)
from harness.job_queue_target import JobQueueFactory
from harness.machine import (
    HUNG_REPORT,
    SHRINK_BUDGET,
    HarnessAbort,
    MachineResult,
    exception_texts,
    how_shrinking_ended,
    run_state_machine_test,
)
from harness.op_deadline import DEFAULT_OP_TIMEOUT
from harness.servers.services import Services
from harness.spec.engine import Problem
from harness.spec.job_queue import JOB_QUEUE_INVARIANTS, JobOp, JobState

DEFAULT_STEPS = 15  # steps per example: room for enqueue, a faulted take, recover twice
DEFAULT_EXAMPLES = 100  # about 6 s on rq, 14 s on dramatiq (two cores), shrinking apart
JOBS_DRAWN = 16  # a used job id is drawn as one of 16 places, mapped onto the ids used
# How far one recovery moves the library's clock on (it never goes back): not at all,
# under rq's one minute between intermediate-queue passes, past it and past dramatiq's
# heartbeat timeout (60 s), past rq's job timeout and every registry's expiry.
RECOVERY_ADVANCES = (0.0, 30.0, 120.0, 3600.0)
NEVER_ENQUEUED = "job-0"  # what a worker ends when it names a job nobody enqueued


class JobQueueViolated(AssertionError):
    """Base of the per-invariant failures of the job-queue contract."""


VIOLATION_TYPES: dict[str, type[JobQueueViolated]] = {
    name: type(f"JobQueue{''.join(p.title() for p in name.split('_'))}Violated",
               (JobQueueViolated,), {"invariant": name, "__module__": __name__})
    for name in JOB_QUEUE_INVARIANTS
}


class ExampleHung(BaseException):  # not an Exception: Hypothesis does not shrink it
    """An operation did not return within the limit: the run ends there, with liveness."""


@dataclass
class JobQueueMachineSetup:
    """What every example needs: the servers, the adapter and its options, the knobs."""

    services: Services
    factory: JobQueueFactory
    name: str  # the target as the user named it ("rq", "module:factory")
    options: Mapping[str, Any] = field(default_factory=dict)  # the adapter's options
    fault_kinds: tuple[FaultKind, ...] = JOB_QUEUE_FAULT_KINDS
    op_timeout: float = DEFAULT_OP_TIMEOUT
    shrink_budget: float | None = SHRINK_BUDGET  # seconds of shrinking (None: Hypothesis's)
    on_first_failure: Callable[[str], None] | None = None  # before shrinking starts
    harness_error: QueueChaosError | None = None  # set when a run meets one: no verdict
    hung: str = ""  # the trace of an operation that hung: the run's verdict
    counts: Counter[str] = field(default_factory=Counter)  # examples and steps run
    first_failure: str = ""  # the first failing example, explained
    first_failed: str = ""  # the invariant it broke
    first_failing_example: int = 0  # its number among the examples run (1 = the first)


@dataclass
class JobQueueMachineResult(MachineResult):
    """A run of the machine; `first_failing_example` says how soon it found its bug."""

    first_failing_example: int = 0


@contextlib.contextmanager
def _aborting(setup: JobQueueMachineSetup) -> Iterator[None]:
    """Harness errors end the run at once instead of being shrunk as if they were bugs."""
    if setup.harness_error is not None:
        raise HarnessAbort(setup.harness_error)
    try:
        yield
    except QueueChaosError as exc:
        setup.harness_error = exc
        raise HarnessAbort(exc) from exc


class JobQueueMachineBase(RuleBasedStateMachine):
    """One fresh run of the adapter per example; one rule per operation of the contract."""

    setup: JobQueueMachineSetup  # set on the class job_queue_machine_class() makes

    def __init__(self) -> None:
        super().__init__()
        setup = self.setup
        with _aborting(setup):
            self.queue_run = JobQueueRun(setup.services, setup.factory, setup.options, setup.name,
                                   setup.op_timeout)
        self.seen = RoundTripsSeen()  # what each operation kind sent in this example
        self.fault_kinds: tuple[FaultKind, ...] = setup.fault_kinds
        self.job_ids: list[str] = []  # every id enqueued so far, in order
        self.clock = 0.0  # the library's clock at the last recovery, from the run's start
        setup.counts["examples"] += 1

    def faults(self, data: st.DataObject, kind: JobOp) -> tuple[Fault, ...]:
        """At most one fault, on a round trip this kind of operation made in the example;
        one operation in three carries one (fault_plans alone: two in three), so that a
        fault's damage meets the clean recoveries that would repair or reveal it."""
        if not self.fault_kinds:
            return ()
        plans = fault_plans(self.fault_kinds, self.seen, str(kind), cleanup=False)
        return data.draw(weighted((1, st.just(())), (1, plans)), label="faults")

    def used_id(self, index: int | None) -> str | None:
        """None, or the `index`-th place among the ids enqueued (and one never enqueued)."""
        if index is None:
            return None
        ids = [*self.job_ids, NEVER_ENQUEUED]
        return ids[index % len(ids)]

    def ended_ids(self) -> list[str]:
        """The ids enqueued whose job the library's keys show in no queue and no worker's
        hands. The spec follows one held copy per job id (harness.spec.job_queue.Job): a
        second copy taken while the first is held is beyond it, so the machine never
        makes one."""
        in_play = (JobState.QUEUED, JobState.TAKEN)
        return [j for j in dict.fromkeys(self.job_ids) if self.queue_run.seen.get(j) not in in_play]

    def step(self, step: JobStep, faults: tuple[Fault, ...]) -> None:
        """Run and judge one step with the runner's own code; fail the example on a problem."""
        self.setup.counts["steps"] += 1
        before = len(self.queue_run.history)
        with _aborting(self.setup):
            problems = self.queue_run.step(step, faults)
            if problems:  # no verdict on a queue whose servers died under it
                self.setup.services.check_alive()
        if len(self.queue_run.history) > before:
            self.seen.record(str(step.kind), self.queue_run.trips,
                             answered=self.queue_run.history.ops[-1].outcome is Outcome.OK)
        if self.queue_run.hung:
            self.setup.hung = self.explain(problems)
            raise ExampleHung(self.setup.hung)
        if problems:
            self.violated(problems)

    def explain(self, problems: list[Problem]) -> str:
        target = self.queue_run.target
        described = getattr(target, "describe", lambda: target.library)()
        head = (f"on {self.setup.name} ({described})   promises: {target.promises.describe()}"
                f"   client: {RUN_POLICY.describe()}")
        return f"{head}\n{self.queue_run.explain(problems)}"

    def violated(self, problems: list[Problem]) -> None:
        """Raise the most severe invariant broken, its message the whole trace."""
        worst = min(problems, key=lambda p: (JOB_QUEUE_INVARIANTS[p.invariant].severity.rank,
                                             p.invariant)).invariant
        text = f"{worst} violated {self.explain(problems)}"
        if not self.setup.first_failure:
            self.setup.first_failure, self.setup.first_failed = text, worst
            self.setup.first_failing_example = self.setup.counts["examples"]
            if self.setup.on_first_failure is not None:
                self.setup.on_first_failure(text)
        raise VIOLATION_TYPES[worst](text)

    def teardown(self) -> None:
        self.queue_run.close()


def job_queue_machine_class(setup: JobQueueMachineSetup) -> type[JobQueueMachineBase]:
    """The machine for one setup: its faults of the kinds the setup allows."""
    allowed = kinds_for_database(setup.fault_kinds, setup.services.database)
    kinds = (st.sets(st.sampled_from(list(allowed)), min_size=1) if allowed
             else st.just(frozenset()))
    some_used = weighted((3, st.none()), (1, st.integers(0, JOBS_DRAWN - 1)))

    class JobQueueMachine(JobQueueMachineBase):
        @initialize(kinds=kinds)
        def choose_faults(self, kinds: frozenset[FaultKind]) -> None:
            """Swarm testing: this example injects only these kinds of fault."""
            self.fault_kinds = tuple(k for k in self.setup.fault_kinds if k in kinds)

        @rule(again=some_used, data=st.data())
        def enqueue(self, again: int | None, data: st.DataObject) -> None:
            """A fresh job id (None), or now and then one already used whose job has no
            copy queued or taken: a producer's retry, or a job run once more."""
            ended = self.ended_ids()
            job_id = (ended[again % len(ended)] if again is not None and ended
                      else f"job-{len(self.job_ids) + 1}")
            self.job_ids.append(job_id)
            self.step(JobStep(JobOp.ENQUEUE, job_id), self.faults(data, JobOp.ENQUEUE))

        @rule(data=st.data())
        def take(self, data: st.DataObject) -> None:
            self.step(JobStep(JobOp.TAKE), self.faults(data, JobOp.TAKE))

        @rule(job=some_used, data=st.data())
        def finish(self, job: int | None, data: st.DataObject) -> None:
            """The job the worker took last (None), or another: one it does not hold."""
            job_id = self.used_id(job) or LAST_TAKEN
            self.step(JobStep(JobOp.FINISH, job_id), self.faults(data, JobOp.FINISH))

        @rule(job=some_used, data=st.data())
        def fail(self, job: int | None, data: st.DataObject) -> None:
            job_id = self.used_id(job) or LAST_TAKEN
            self.step(JobStep(JobOp.FAIL, job_id), self.faults(data, JobOp.FAIL))

        @rule(advance=st.sampled_from(RECOVERY_ADVANCES), data=st.data())
        def recover(self, advance: float, data: st.DataObject) -> None:
            """The library's cleanup, its clock moved on by `advance` seconds."""
            self.clock += advance
            self.step(JobStep(JobOp.RECOVER, at=self.clock), self.faults(data, JobOp.RECOVER))

    JobQueueMachine.setup = setup
    return JobQueueMachine


def job_queue_settings(max_examples: int = DEFAULT_EXAMPLES, steps: int = DEFAULT_STEPS, *,
                       derandomize: bool = False) -> Settings:
    """Small examples on real servers, generated from the seed run_job_queue_machine gets
    (or, derandomized, the same examples every run); no database (a seed replays a run)."""
    return Settings(max_examples=max_examples, stateful_step_count=steps, deadline=None,
                    suppress_health_check=list(HealthCheck), derandomize=derandomize,
                    database=None, print_blob=True,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])


def run_job_queue_machine(setup: JobQueueMachineSetup, settings: Settings,
                          seed: int | None = None) -> JobQueueMachineResult:
    """Run the machine once. A harness error met on the way is raised, whatever Hypothesis
    made of it: it says nothing about the queue."""
    setup = replace(setup, harness_error=None, hung="", counts=Counter(), first_failure="",
                    first_failed="", first_failing_example=0)
    result = JobQueueMachineResult(setup.name, "job queue")
    lines, exc = run_state_machine_test(job_queue_machine_class(setup), settings, seed,
                                        setup.shrink_budget)
    if exc is not None:
        if setup.harness_error is not None:
            raise setup.harness_error from None
        if setup.hung:
            result.invariants_violated, result.hung = ["liveness"], True
            result.report = f"{HUNG_REPORT}:\n{setup.hung}"
        elif isinstance(exc, Flaky) and setup.first_failure:
            # The first failure was a real run the spec judged: it stands, even if a
            # replay of the same program went otherwise (timing under faults).
            result.invariants_violated, result.flaky = [setup.first_failed], True
            lines[:0] = ["a replay of the failing program went otherwise; the first "
                         "failure, as it ran:", setup.first_failure]
        elif isinstance(exc, Flaky):
            result.flaky = True
            lines.extend(exception_texts(exc))
        else:
            names = _violated(exc)
            if not names:
                raise exc
            result.invariants_violated = names
            lines.extend(exception_texts(exc))
    if result.invariants_violated and not result.hung:
        result.shrinking = how_shrinking_ended(lines, settings, setup.shrink_budget)
    if not result.hung:
        result.report = "\n".join(lines)
    result.examples, result.steps = setup.counts["examples"], setup.counts["steps"]
    result.first_failing_example = setup.first_failing_example
    return result


def _violated(exc: BaseException) -> list[str]:
    if isinstance(exc, JobQueueViolated):
        return [type(exc).invariant]  # type: ignore[attr-defined]
    if isinstance(exc, BaseExceptionGroup):
        return sorted({name for sub in exc.exceptions for name in _violated(sub)})
    return []
