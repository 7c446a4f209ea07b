"""An operation's time limit: a target's call that does not return in time is recorded as hung.

A socket timeout bounds each Redis round trip, not the target's own code: a queue that
sleeps, spins or waits on a lock of its own would hang the run. Python cannot stop a thread,
so each call runs on a helper thread of the calling thread; past the limit the caller stops
waiting and raises OperationHung, and the helper is left to finish (or not) on its own (a
daemon: it never keeps the process alive; a fresh helper serves the next call).

What the hung call holds (its target, its Redis client, its connection) is never used again:
the run ends at the verdict (scenarios, the state machine) or the client that hung stops
(a nightly producer or worker), and what the call may still do later is what an unknown
outcome already allows.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from harness.history import Operation
from harness.invariants import Violation

# Seconds. The longest healthy call measured (python -m benchmarks op_deadline): 0.26 s under
# the state machine's faults, 1.6 s under a nightly run's windows (a window lasts at most 3 s).
DEFAULT_OP_TIMEOUT = 10.0
LIVENESS = "liveness"

T = TypeVar("T")


HUNG = "OperationHung"  # how a hung call's error begins in the history


def is_hung(op: Operation) -> bool:
    """The operation's call did not return in time (it may still be running)."""
    return (op.error or "").startswith(HUNG)


class OperationHung(BaseException):
    """A call of the target did not return within the limit.

    Not an Exception: Hypothesis must not shrink it (each replay would wait the whole
    limit again), and no `except Exception` on the way may take it for the target's answer.
    Whoever records the operation sets what was judged then (`violations`) and `trace`:
    those violations with the history that led there.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s (the operation time limit)")
        self.seconds = seconds
        self.violations: list[Violation] = []
        self.trace = ""

    def violation(self, op: Operation) -> Violation:
        """The liveness violation this hang is, for the operation it hung in."""
        return Violation(LIVENESS, f"{op.kind} did not return within {self.seconds:g} s",
                         {"process": op.process, "args": dict(op.args),
                          "limit_seconds": self.seconds}, (op.index,))


class _Call:
    """One call handed to a helper: its result, or its exception, and its CPU time."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.cpu_seconds = 0.0

    def run(self) -> None:
        started = time.thread_time()
        try:
            self.value = self.fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller as it is
            self.error = exc
        finally:
            self.cpu_seconds = time.thread_time() - started
            self.done.set()


class _Helper(threading.Thread):
    """The thread one caller's calls run on, one at a time, until it is abandoned."""

    def __init__(self, caller: str) -> None:
        super().__init__(name=f"{caller}-call", daemon=True)
        self.inbox: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self.abandoned = False
        self.start()

    def run(self) -> None:
        while not self.abandoned:
            self.inbox.get().run()


class OpDeadline:
    """Runs calls with a time limit, each calling thread's calls on a helper of its own."""

    def __init__(self, seconds: float = DEFAULT_OP_TIMEOUT) -> None:
        self.seconds = seconds
        self._local = threading.local()
        self._helpers: list[_Helper] = []
        self._lock = threading.Lock()

    def call(self, fn: Callable[[], T]) -> T:
        """fn(), its exception re-raised here; OperationHung once the limit has passed."""
        helper: _Helper | None = getattr(self._local, "helper", None)
        if helper is None:
            helper = self._local.helper = _Helper(threading.current_thread().name)
            with self._lock:
                self._helpers.append(helper)
        call = _Call(fn)
        helper.inbox.put(call)
        if not call.done.wait(self.seconds):
            helper.abandoned = True  # it ends once (if ever) the hung call returns
            self._local.helper = None
            raise OperationHung(self.seconds)
        self._local.cpu_seconds = call.cpu_seconds
        if call.error is not None:
            raise call.error
        return call.value  # type: ignore[no-any-return]

    def close(self) -> None:
        """Let every helper end (a hung one once its call returns, if ever)."""
        with self._lock:
            helpers, self._helpers = self._helpers, []
        for helper in helpers:
            helper.abandoned = True
            helper.inbox.put(_Call(lambda: None))  # wakes an idle helper to see it
        self._local = threading.local()

    @property
    def last_cpu_seconds(self) -> float:
        """CPU time of this thread's last call that returned (spent on its helper)."""
        return float(getattr(self._local, "cpu_seconds", 0.0))
