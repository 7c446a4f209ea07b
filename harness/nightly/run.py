"""One nightly run, start to verdict: workload and nemesis for the budget, then heal, drain,
judge the final state, and run the stateful machine.

The order after the budget matters: the network is healed before the drain (a retry on a
broken network proves nothing), the drain comes before the final snapshot (the checker
judges a queue at rest), and the servers are asked whether they are alive before any
verdict (a dead Redis must read as "infrastructure", never as "lost jobs").
"""

from __future__ import annotations

import contextlib
import dataclasses
import shlex
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from harness.checker import Checker
from harness.databases import parse_database
from harness.errors import ExitCode, InfrastructureError
from harness.history import History
from harness.invariants import Violation
from harness.nightly.budget import format_duration
from harness.nightly.drain import Drainer, DrainReport
from harness.nightly.machine_step import run_stateful_machine
from harness.nightly.nemesis import AppliedWindow, Nemesis
from harness.nightly.progress import ProgressSink, QuietProgress, Tick
from harness.nightly.recorder import Recorder
from harness.nightly.schedule import NemesisKind, Schedule, ScheduleShape, draw_schedule
from harness.nightly.timeseries import TimeSeries
from harness.nightly.workload import Producer, Racer, Worker, WorkloadShape
from harness.op_deadline import DEFAULT_OP_TIMEOUT, LIVENESS, OpDeadline
from harness.redis_client import ClientPolicy, build_client
from harness.registries import RegistryFamily
from harness.replication import ReplicatedServices
from harness.report.metrics import RunMetrics
from harness.servers.services import Services
from harness.snapshot import take_snapshot
from harness.target import QueueTarget, build_target

HISTORY_FILE = "history.jsonl"
TIMESERIES_FILE = "timeseries.jsonl"
HYPOTHESIS_DB = "hypothesis-db"
EXIT_INTERRUPTED = 130  # the shell's code for SIGINT, as the CLI uses for Ctrl-C


def interrupter(exit_code: int) -> str:
    """What stopped a run that ended with `exit_code`: "Ctrl-C", or the signal's name."""
    return "Ctrl-C" if exit_code == EXIT_INTERRUPTED else signal.Signals(exit_code - 128).name


ALIVE_EVERY = 1.0  # seconds between server liveness checks during the workload
JOIN_TIMEOUT = 15.0  # a thread finishes its current call (bounded by socket timeouts) first


@dataclass(frozen=True)
class NightlyOptions:
    budget: float
    target: str = "reference"
    seed: int = 0
    producers: int = 3
    workers: int = 3
    racers: int = 1  # threads making two calls at once (nightly.workload.Racer), 2 targets each
    nemesis: bool = True
    failover: bool = False  # a primary and a replica; failover windows in the schedule
    machine: bool = True
    workload: WorkloadShape = field(default_factory=WorkloadShape)
    schedule: ScheduleShape = field(default_factory=ScheduleShape)
    policy: ClientPolicy = field(default_factory=ClientPolicy)
    drain_seconds: float | None = None  # None: half the budget, 10 to 60 s
    machine_share: float = 0.2  # of the budget, for the stateful machine after the workload
    database: str | None = None  # a shared example database URL (harness.databases), besides
    # the run's own folder: the machine's failures go to both
    op_timeout: float = DEFAULT_OP_TIMEOUT  # a call that takes longer is hung (liveness)
    redis_server: str | None = None  # the --redis-server the run was given: a replay needs it

    @property
    def machine_seconds(self) -> float:
        return self.budget * self.machine_share if self.machine else 0.0

    @property
    def workload_budget(self) -> float:
        """The budget less the machine's share: the run as a whole ends near its budget."""
        return self.budget - self.machine_seconds

    @property
    def drain_limit(self) -> float:
        if self.drain_seconds is not None:
            return self.drain_seconds
        return max(10.0, min(60.0, self.budget / 2))

    def replay_command(self) -> str:
        command = (f"queue-chaos nightly --seed {self.seed} --target {self.target} "
                   f"--budget {format_duration(self.budget)}")
        if (self.producers, self.workers) != (3, 3):
            command += f" --producers {self.producers} --workers {self.workers}"
        if self.racers != 1:
            command += f" --racers {self.racers}"
        if not self.nemesis:
            command += " --no-nemesis"
        if self.failover:
            command += " --failover"
        if self.database:
            command += f" --database {parse_database(self.database).display()}"
        if self.op_timeout != DEFAULT_OP_TIMEOUT:
            command += f" --op-timeout {format_duration(self.op_timeout)}"
        if self.redis_server:  # WAIT, for one, differs between Redis 7.0 and Valkey 9
            command += f" --redis-server {shlex.quote(self.redis_server)}"
        return command

    def planned_schedule(self) -> Schedule:
        if not self.nemesis:
            return Schedule(self.seed, self.workload_budget, ())
        shape = self.schedule
        if self.failover and NemesisKind.FAILOVER not in shape.kinds:
            shape = dataclasses.replace(shape, kinds=(*shape.kinds, NemesisKind.FAILOVER))
        return draw_schedule(self.seed, self.workload_budget, shape)


@dataclass
class NightlyResult:
    """What happened; artifacts.journal_of turns it into journal.json."""

    options: NightlyOptions
    out: Path
    backend: str
    started_at: datetime
    finished_at: datetime | None = None
    versions: dict[str, str] = field(default_factory=dict)
    schedule: Schedule | None = None
    applied: list[AppliedWindow] = field(default_factory=list)
    series: TimeSeries | None = None
    metrics: RunMetrics = field(default_factory=RunMetrics)
    violations: list[Violation] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    judged: bool = False  # the final state was read and judged
    telemetry_checked: bool = False
    notes: list[str] = field(default_factory=list)  # what the checker did not check, and why
    drain: DrainReport | None = None
    machine: dict[str, Any] = field(default_factory=dict)
    infrastructure: str | None = None
    interrupted: bool = False
    interrupt_code: int = EXIT_INTERRUPTED  # 128 + the signal that stopped the run
    workload_seconds: float = 0.0
    drain_seconds: float = 0.0
    total_seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)  # where the time went
    overhead_seconds: float = 0.0  # CPU of the harness's bookkeeping (all threads)
    target_cpu_seconds: float = 0.0  # CPU of the target's calls, client side (all threads)
    worker_deaths: int = 0

    def interrupt(self, signal_raised: KeyboardInterrupt) -> None:
        """Ctrl-C, or SIGTERM/SIGHUP (a processes.Terminated): the run stops and says which."""
        self.interrupted = True
        self.interrupt_code = getattr(signal_raised, "exit_code", EXIT_INTERRUPTED)

    @property
    def interrupted_by(self) -> str:
        return interrupter(self.interrupt_code)

    @property
    def status(self) -> str:
        if self.infrastructure:
            return "infrastructure"
        if self.interrupted:
            return "interrupted"
        return "violated" if self.violations else "holds"

    @property
    def exit_code(self) -> int:
        """ExitCode for a verdict; 130 (the shell's SIGINT code; 143 for SIGTERM) for an
        interrupted run that found nothing, since it did not hold for the whole budget."""
        status = self.status
        if status == "infrastructure":
            return ExitCode.INFRASTRUCTURE
        if self.violations:
            return ExitCode.VIOLATION
        return self.interrupt_code if status == "interrupted" else ExitCode.HOLDS


class NightlyRun:
    """Owns the threads, the nemesis and the files of one run; `execute()` does it all."""

    def __init__(
        self,
        options: NightlyOptions,
        services: Services,
        out: Path,
        progress: ProgressSink | None = None,
    ) -> None:
        self.options = options
        self.services = services
        self.out = out
        self.progress = progress or QuietProgress()
        self.stop = threading.Event()
        self.family = RegistryFamily()
        self.result = NightlyResult(options, out, services.backend, datetime.now(UTC))

    # --- the whole run --------------------------------------------------------------------
    def execute(self) -> NightlyResult:
        started = time.monotonic()
        result = self.result
        self.out.mkdir(parents=True, exist_ok=True)
        try:
            with self._phase("setup"):
                result.versions = self.services.versions()
                self.services.control.reset()
                self.services.flush()
                targets = self._targets(self.options.producers + self.options.workers
                                        + 2 * self.options.racers + 1)
            self._run_workload(targets)
            if not result.infrastructure:
                self._after_budget()
        except (InfrastructureError, redis.RedisError) as exc:
            result.infrastructure = self._diagnose(exc)
        except KeyboardInterrupt as exc:
            result.interrupt(exc)
        finally:
            self._close()
            result.total_seconds = time.monotonic() - started
            result.finished_at = datetime.now(UTC)
        return result

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.result.phase_seconds[name] = round(time.monotonic() - started, 3)

    def _diagnose(self, error: Exception) -> str:
        """The root cause when a server died (a dead Redis shows up as a Redis error first)."""
        try:
            self.services.check_alive()
        except InfrastructureError as dead:
            error = dead
        return f"{type(error).__name__}: {error}"

    def _targets(self, count: int) -> list[QueueTarget]:
        proxy = self.services.proxy
        return [
            build_target(self.options.target,
                         build_client(proxy.host, proxy.port, self.options.policy,
                                      db=self.services.database),
                         self.family.new_registry())
            for _ in range(count)
        ]

    def _run_workload(self, targets: list[QueueTarget]) -> None:
        options, result = self.options, self.result
        self.drain_target = targets.pop()
        self.schema = self.drain_target.key_schema
        self.checker = Checker(self.schema, self.family.merged)
        self.history = History.to_file(self.out / HISTORY_FILE, keep=False)
        result.series = TimeSeries.to_file(self.out / TIMESERIES_FILE)
        result.schedule = options.planned_schedule()
        replication = self.services if isinstance(self.services, ReplicatedServices) else None
        self.nemesis = Nemesis(self.services.control, self.services.proxy_name,
                               result.schedule, self.history.now, self.stop,
                               replication=replication)
        self.recorder = Recorder(self.history, self.checker, result.series, result.metrics,
                                 self.nemesis.active_label,
                                 deadline=OpDeadline(options.op_timeout))
        self.producers = [
            Producer(i, targets.pop(), recorder=self.recorder, seed=options.seed,
                     stop=self.stop, shape=options.workload)
            for i in range(options.producers)
        ]
        self.workers = [
            Worker(i, targets.pop(), recorder=self.recorder, seed=options.seed,
                   stop=self.stop, shape=options.workload)
            for i in range(options.workers)
        ]
        self.racers = [
            Racer(i, (targets.pop(), targets.pop()), recorder=self.recorder,
                  seed=options.seed, stop=self.stop, shape=options.workload)
            for i in range(options.racers)
        ]
        began = time.monotonic()
        for thread in (*self.producers, *self.workers, *self.racers, self.nemesis):
            thread.start()
        try:
            self._wait_budget(began)
        except KeyboardInterrupt as exc:
            result.interrupt(exc)
            self.progress.message(f"nightly: {result.interrupted_by}; stopping the workload "
                                  "and judging what ran (Ctrl-C again to skip the judging)")
        finally:
            result.phase_seconds["workload"] = round(time.monotonic() - began, 3)
            with self._phase("stop"):
                self._stop_threads()
            result.workload_seconds = time.monotonic() - began
            result.applied = list(self.nemesis.applied)
            result.overhead_seconds = self.recorder.overhead_seconds
            result.target_cpu_seconds = self.recorder.target_cpu_seconds
            result.worker_deaths = sum(w.deaths for w in self.workers)
        self._raise_thread_errors()

    def _wait_budget(self, began: float) -> None:
        deadline = began + self.options.workload_budget
        next_alive = began + ALIVE_EVERY
        while (now := time.monotonic()) < deadline:
            if self.stop.wait(min(0.25, deadline - now)):
                return  # a thread failed: _raise_thread_errors says which
            if self.nemesis.failed.is_set():
                self.result.infrastructure = self._diagnose(self.nemesis.error)
                return
            if time.monotonic() >= next_alive:
                next_alive += ALIVE_EVERY
                try:
                    self.services.check_alive()
                except InfrastructureError as exc:
                    self.result.infrastructure = self._diagnose(exc)
                    return
            self.progress.update(self._tick(began))

    def _tick(self, began: float) -> Tick:
        series = self.result.series
        assert series is not None
        last = series.last_row or {}
        return Tick(
            elapsed=time.monotonic() - began,
            budget=self.options.budget,
            ops=series.total,
            ops_per_second=float(last.get("ops", 0)),
            faults=len(self.nemesis.applied),
            active_fault=self.nemesis.active.label if self.nemesis.active else None,
            violations=self.recorder.violation_count(),
        )

    def _stop_threads(self) -> None:
        self.stop.set()
        for thread in (*self.producers, *self.workers, *self.racers, self.nemesis):
            thread.join(JOIN_TIMEOUT)

    def _raise_thread_errors(self) -> None:
        for thread in (*self.producers, *self.workers, *self.racers):
            if thread.error is not None:
                raise RuntimeError(f"{thread.name} failed: {thread.error!r}") from thread.error

    # --- after the budget -----------------------------------------------------------------
    def _after_budget(self) -> None:
        result = self.result
        self.progress.message("nightly: budget spent; healing the network, draining the "
                              "queue, judging the history and the final state")
        self.nemesis.heal()
        drain_started = time.monotonic()
        try:
            with self._phase("drain"):
                drainer = Drainer(self.recorder, self.drain_target,
                                  pending_requests=self.checker.pending_requests,
                                  deadline=time.monotonic() + self.options.drain_limit,
                                  lease_seconds=self.options.workload.lease_seconds)
                result.drain = drainer.run()
            result.drain_seconds = time.monotonic() - drain_started
            with self._phase("judge"):
                self._judge()
        except KeyboardInterrupt as exc:
            result.interrupt(exc)  # the second Ctrl-C: write what we have
            return
        if self.options.machine and not result.interrupted:
            self.progress.message("nightly: the stateful machine (Hypothesis, profile "
                                  f"nightly, {self.options.machine_seconds:.0f} s)")
            with self._phase("machine"):
                result.machine = run_stateful_machine(
                    self.options.target, self.services, self.out / HYPOTHESIS_DB,
                    seconds=self.options.machine_seconds, shared=self.options.database,
                    op_timeout=self.options.op_timeout, seed=self.options.seed)
            self._machine_violations(result.machine)

    def _judge(self) -> None:
        result = self.result
        self.services.check_alive()
        direct = self.services.direct_client()
        try:
            snapshot = take_snapshot(direct, self.schema)
            state = self.checker.check_state(snapshot)
            telemetry = self.checker.check_telemetry()
            result.summary = dict(self.checker.summary(snapshot))
        finally:
            direct.close()
        self.services.check_alive()
        result.violations = [*self.recorder.violations, *state, *telemetry,
                             *self._liveness(result.summary)]
        result.telemetry_checked = self.checker.telemetry_checked
        result.notes = list(self.checker.notes)
        result.judged = True

    def _liveness(self, summary: dict[str, Any]) -> list[Violation]:
        """Every producer and worker made progress, and the run had something to judge."""
        found = self.recorder.no_progress(c.name for c in (*self.producers, *self.workers))
        if not summary.get("attempted"):
            found.append(Violation(LIVENESS, "the run attempted no enqueue: nothing it did "
                                             "could be judged", {"attempted": 0}))
        return found

    def _machine_violations(self, machine: dict[str, Any]) -> None:
        for name in machine.get("invariants_violated", []):
            self.result.violations.append(Violation(
                name, "the stateful machine found a counterexample (its program is under "
                      "'Stateful machine'; replay and shrink it: "
                      f"{machine.get('replay', 'queue-chaos machine --profile repro')})",
                {"source": "stateful machine"},
            ))

    def _close(self) -> None:
        """Whatever point the run stopped at (a signal may land between any two lines)."""
        result = self.result
        if not hasattr(self, "history"):
            return
        if hasattr(self, "recorder"):
            self.recorder.deadline.close()
            if not result.judged:
                result.violations = list(self.recorder.violations)
        with contextlib.suppress(InfrastructureError):
            self.services.control.reset()  # nothing stays applied, whatever happened
        self.history.close()
        if result.series is not None:
            result.series.close()
