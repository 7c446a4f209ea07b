"""Every call of the workload goes through one Recorder: history, checker, time series, metrics.

The call itself runs outside any lock (threads overlap on the network, as real clients do),
with the operation time limit (harness.op_deadline); only the bookkeeping after it is
serialised. The CPU time the calling thread spends is summed as the harness's own (thread
CPU time, not wall time: waiting for the GIL while another thread works is not the harness's
cost), and the CPU time of the target's calls apart, so a benchmark can tell the two apart.
It also counts, per client, the calls that ended ok: a client with none made no progress.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from harness.history import History, Operation, OpKind, Outcome, classify
from harness.invariants import INVARIANTS, Violation
from harness.nightly.timeseries import TimeSeries
from harness.op_deadline import HUNG, LIVENESS, OpDeadline, OperationHung
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
        *,
        deadline: OpDeadline | None = None,
    ) -> None:
        self.history = history
        self.checker = checker
        self.series = series
        self.metrics = metrics
        self.fault_label = fault_label
        self.deadline = deadline or OpDeadline()
        self.violations: list[Violation] = []
        self.calls: Counter[str] = Counter()  # per process
        self.answered: Counter[str] = Counter()  # per process: calls that ended ok
        self.overhead_seconds = 0.0  # CPU of the bookkeeping, all threads
        self.target_cpu_seconds = 0.0  # CPU of the target's calls (client side), all threads
        self._lock = threading.Lock()

    def call(
        self, process: str, kind: OpKind, args: dict[str, Any], thunk: Callable[[], Any]
    ) -> Operation:
        """Run one target call and record it; never raises what the target raised. A call
        past the time limit is recorded as hung, then OperationHung is raised: the caller's
        target is held by that call and must not be used again."""
        cpu_invoke = time.thread_time()
        op = self.history.invoke(process, kind, args, fault=self.fault_label())
        t_call = time.perf_counter()
        value: Any = None
        outcome, crashed, error, hung = Outcome.OK, False, None, None
        try:
            value = self.deadline.call(thunk)
        except OperationHung as exc:
            outcome, error, hung = Outcome.UNKNOWN, f"{HUNG}: {exc}", exc
        except Exception as exc:  # noqa: BLE001 - every outcome of the target is recorded
            outcome, crashed = classify(exc)
            error = f"{type(exc).__name__}: {exc}"
        latency = time.perf_counter() - t_call
        target_cpu = 0.0 if hung else self.deadline.last_cpu_seconds
        self.history.complete(op, outcome, value, error, crashed)
        self.series.record(op.completed_at or 0.0, str(kind), str(outcome), latency, crashed)
        self.metrics.observe_operation(str(kind), str(outcome), latency)
        with self._lock:
            found = self.checker.observe(op)
            if crashed and CONTRACT in INVARIANTS:
                found.append(Violation(CONTRACT, f"{kind} raised {error}",
                                       {"error": error, "args": op.args}, (op.index,)))
            if hung is not None:
                found.append(hung.violation(op))
            self.violations.extend(found)
            self.calls[process] += 1
            self.answered[process] += outcome is Outcome.OK
            self.overhead_seconds += time.thread_time() - cpu_invoke  # the call ran elsewhere
            self.target_cpu_seconds += target_cpu
        if hung is not None:
            raise hung
        return op

    def no_progress(self, processes: Iterable[str]) -> list[Violation]:
        """Liveness: each of these clients had at least one call end ok."""
        return [Violation(LIVENESS, f"{name} made no progress: none of its {self.calls[name]} "
                                    "calls ended ok", {"process": name,
                                                       "calls": self.calls[name]})
                for name in processes if not self.answered[name]]

    def violation_count(self) -> int:
        return len(self.violations)
