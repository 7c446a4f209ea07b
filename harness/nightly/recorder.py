"""Every call of the workload goes through one Recorder: history, checker, time series, metrics.

The call itself runs outside any lock (threads overlap on the network, as real clients do);
only the bookkeeping after it is serialised. The CPU time the calling thread spends in that
bookkeeping is summed (thread CPU time, not wall time: waiting for the GIL while another
thread works is not the harness's cost), and so is the CPU time of the target's calls, so a
benchmark can tell the harness's own cost per operation from the target's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from harness.history import History, Operation, OpKind, Outcome, classify
from harness.invariants import INVARIANTS, Violation
from harness.nightly.timeseries import TimeSeries
from harness.report.metrics import RunMetrics

CONTRACT = "contract"  # an exception outside the target contract (judged here, as the machine does)


class Observer(Protocol):
    def observe(self, op: Operation, snapshot: Any = None) -> list[Violation]: ...


class Recorder:
    def __init__(
        self,
        history: History,
        checker: Observer,
        series: TimeSeries,
        metrics: RunMetrics,
        fault_label: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.history = history
        self.checker = checker
        self.series = series
        self.metrics = metrics
        self.fault_label = fault_label
        self.violations: list[Violation] = []
        self.overhead_seconds = 0.0  # CPU of the bookkeeping, all threads
        self.target_cpu_seconds = 0.0  # CPU of the target's calls (client side), all threads
        self._lock = threading.Lock()

    def call(
        self, process: str, kind: OpKind, args: dict[str, Any], thunk: Callable[[], Any]
    ) -> Operation:
        """Run one target call and record it; never raises what the target raised."""
        cpu_invoke = time.thread_time()
        op = self.history.invoke(process, kind, args, fault=self.fault_label())
        cpu_call, t_call = time.thread_time(), time.perf_counter()
        value: Any = None
        outcome, crashed, error = Outcome.OK, False, None
        try:
            value = thunk()
        except Exception as exc:  # noqa: BLE001 - every outcome of the target is recorded
            outcome, crashed = classify(exc)
            error = f"{type(exc).__name__}: {exc}"
        cpu_done, latency = time.thread_time(), time.perf_counter() - t_call
        self.history.complete(op, outcome, value, error, crashed)
        self.series.record(op.completed_at or 0.0, str(kind), str(outcome), latency, crashed)
        self.metrics.observe_operation(str(kind), str(outcome), latency)
        with self._lock:
            found = self.checker.observe(op)
            if crashed and CONTRACT in INVARIANTS:
                found.append(Violation(CONTRACT, f"{kind} raised {error}",
                                       {"error": error, "args": op.args}, (op.index,)))
            self.violations.extend(found)
            self.overhead_seconds += (cpu_call - cpu_invoke) + (time.thread_time() - cpu_done)
            self.target_cpu_seconds += cpu_done - cpu_call
        return op

    def violation_count(self) -> int:
        return len(self.violations)
