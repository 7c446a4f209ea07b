"""A job-queue library's night: the concurrent run of harness.job_queue_nightly for a budget,
under fault windows drawn from the seed, with progress, and the facts a report needs.

The windows are the dual-write nightly's (harness.nightly.schedule, played on the proxy by
harness.nightly.nemesis): the same seed and budget give the same windows, so `--seed`
replays a night's faults (thread interleavings differ). The workload is run_concurrent's,
its producers going on until the budget is spent; then the nemesis stops, the network heals,
the library's recovery runs past every timeout, a fresh worker drains the queue, and the
final keys are judged (harness.job_queue_nightly.judge_final).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import ExitCode, UsageError
from harness.history import History
from harness.job_queue_nightly import ConcurrentResult, run_concurrent
from harness.job_queue_run import RUN_POLICY
from harness.job_queue_target import JobQueueFactory, check_job_queue
from harness.nightly.budget import format_duration
from harness.nightly.nemesis import AppliedWindow, Nemesis
from harness.nightly.progress import ProgressSink, Tick
from harness.nightly.run import EXIT_INTERRUPTED, interrupter
from harness.nightly.schedule import Schedule, draw_schedule
from harness.redis_client import build_client
from harness.servers.services import Services
from harness.spec.job_queue import Promises

HISTORY_FILE = "history.jsonl"
TICK = 0.5  # seconds between progress updates
PACE = 0.02  # seconds between a producer's enqueues


@dataclass(frozen=True)
class JobQueueNightOptions:
    budget: float
    target: str  # "rq", or module:factory
    seed: int
    options: Mapping[str, Any] = field(default_factory=dict)  # the adapter's, --option
    producers: int = 3
    workers: int = 3
    nemesis: bool = True
    redis_server: str | None = None  # the --redis-server the run was given: a replay needs it

    def schedule(self) -> Schedule:
        """The night's windows: a function of the seed and the budget alone."""
        if not self.nemesis:
            return Schedule(self.seed, self.budget, ())
        return draw_schedule(self.seed, self.budget)

    def replay_command(self) -> str:
        command = (f"queue-chaos nightly --seed {self.seed} --target {self.target} "
                   f"--budget {format_duration(self.budget)}")
        command += "".join(f" --option {k}={str(v).lower() if isinstance(v, bool) else v}"
                           for k, v in self.options.items())
        if (self.producers, self.workers) != (3, 3):
            command += f" --producers {self.producers} --workers {self.workers}"
        if not self.nemesis:
            command += " --no-nemesis"
        if self.redis_server:
            command += f" --redis-server {self.redis_server}"
        return command


@dataclass(frozen=True)
class Adapter:
    """What the adapter says of itself before the run: its library and its promises."""

    library: str
    promises: Promises


@dataclass
class JobQueueNight:
    """A night as it ended: judged (`concurrent`), or with the reason it has no verdict."""

    options: JobQueueNightOptions
    out: Path
    backend: str
    started_at: datetime
    adapter: Adapter | None = None
    schedule: Schedule | None = None
    applied: list[AppliedWindow] = field(default_factory=list)
    concurrent: ConcurrentResult | None = None
    history: History | None = None  # what ran, kept when a failure ends the run before judging
    versions: dict[str, str] = field(default_factory=dict)
    infrastructure: str | None = None  # the servers or Toxiproxy failed: no verdict
    interrupt_code: int | None = None  # a signal ended the run first (130, 143): no verdict
    finished_at: datetime | None = None
    workload_seconds: float = 0.0  # until the budget was spent and the nemesis stopped
    total_seconds: float = 0.0  # with the heal, the recovery, the drain and the judging

    @property
    def interrupted_by(self) -> str | None:
        return None if self.interrupt_code is None else interrupter(self.interrupt_code)

    @property
    def status(self) -> str:
        if self.infrastructure:
            return "infrastructure"
        if self.interrupt_code is not None or self.concurrent is None:
            return "interrupted"
        return "holds" if self.concurrent.holds else "violated"

    @property
    def exit_code(self) -> int:
        codes = {"holds": ExitCode.HOLDS, "violated": ExitCode.VIOLATION,
                 "infrastructure": ExitCode.INFRASTRUCTURE}
        return codes.get(self.status, self.interrupt_code or EXIT_INTERRUPTED)


def describe_adapter(services: Services, factory: JobQueueFactory, name: str,
                     options: Mapping[str, Any]) -> Adapter:
    """The adapter made once, unprepared (no round trip): options it refuses are a
    UsageError before anything is written."""
    client = build_client(services.proxy.host, services.proxy.port, RUN_POLICY,
                          db=services.database, decode_responses=False)
    try:
        try:
            made = factory(client, **options)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{name} does not take the options {dict(options)}: {exc}") from exc
        target = check_job_queue(made, name)
        return Adapter(target.library, target.promises)
    finally:
        client.close()


def run_night(night: JobQueueNight, services: Services, factory: JobQueueFactory,
              progress: ProgressSink) -> JobQueueNight:
    """Run the workload for the budget under the night's windows, then judge; fills `night`
    as it goes (a failure part-way leaves what happened before it)."""
    options = night.options
    night.schedule = options.schedule()
    night.versions = services.versions()
    began = time.monotonic()

    def play(history: History) -> None:
        night.history = history
        stop = threading.Event()
        nemesis = Nemesis(services.control, services.proxy_name, night.schedule, history.now,
                          stop)
        night.applied = nemesis.applied
        nemesis.start()
        try:
            while history.now() < options.budget and not nemesis.failed.is_set():
                progress.update(_tick(history, nemesis, options.budget))
                time.sleep(min(TICK, max(0.0, options.budget - history.now())))
        finally:
            stop.set()
            nemesis.join(10)
            nemesis.heal()
            night.workload_seconds = history.now()
        if nemesis.error is not None:
            raise nemesis.error
        progress.message(f"nightly: budget spent after {len(history):,} operations and "
                         f"{len(nemesis.applied)} fault windows; healed, now the library's "
                         "recovery, a drain and the judging")

    night.concurrent = run_concurrent(
        services, factory, options.target, options=options.options,
        producers=options.producers, workers=options.workers, jobs=None, pace=PACE,
        play=play, history_file=night.out / HISTORY_FILE)
    night.total_seconds = time.monotonic() - began
    return night


def _tick(history: History, nemesis: Nemesis, budget: float) -> Tick:
    elapsed = history.now()
    return Tick(elapsed=elapsed, budget=budget, ops=len(history),
                ops_per_second=len(history) / elapsed if elapsed >= 1 else 0.0,
                faults=len(nemesis.applied),
                active_fault=nemesis.active.label if nemesis.active else None,
                violations=0)  # judged on the final keys, after the drain
