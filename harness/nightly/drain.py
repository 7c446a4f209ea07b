"""After the budget, on a healed network: take back every lease, retry every open request,
and work the queue empty, so the final state can be judged as a whole.

Each step is bounded (attempts and a deadline): a broken queue may never drain (an entry
whose record is gone can fail forever), and the report then says what was left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.history import OpKind, Outcome
from harness.nightly.recorder import Recorder
from harness.nightly.workload import finish
from harness.op_deadline import OperationHung
from harness.target import FAR_FUTURE, Job, QueueTarget

PROCESS = "drain"


@dataclass
class DrainReport:
    requeued: int = 0  # jobs requeue_expired took back
    retried_requests: int = 0  # enqueues without an OK attempt, retried after healing
    unresolved_requests: list[dict[str, Any]] = field(default_factory=list)
    finished: int = 0  # jobs the drain completed
    emptied: bool = False  # the last dequeue found nothing
    timed_out: bool = False
    hung: bool = False  # a call hung: the drain stopped there
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "requeued": self.requeued,
            "retried_requests": self.retried_requests,
            "unresolved_requests": self.unresolved_requests,
            "finished": self.finished,
            "emptied": self.emptied,
            "timed_out": self.timed_out,
            "hung": self.hung,
            "seconds": round(self.seconds, 3),
        }


class Drainer:
    def __init__(
        self,
        recorder: Recorder,
        target: QueueTarget,
        *,
        pending_requests: Callable[[], Iterable[tuple[str, str, Any]]],
        deadline: float,
        lease_seconds: float,
        attempts: int = 5,
    ) -> None:
        self.recorder = recorder
        self.target = target
        self.pending_requests = pending_requests
        self.deadline = deadline  # time.monotonic()
        self.lease_seconds = lease_seconds
        self.attempts = attempts
        self.report = DrainReport()

    def run(self) -> DrainReport:
        started = time.monotonic()
        try:
            self.requeue_all()
            self.retry_requests()
            self.work_queue_empty()
        except OperationHung:  # recorded (liveness); the drain's target is held by the call
            self.report.hung = True
        self.report.timed_out = not self.report.emptied and self._late()
        self.report.seconds = time.monotonic() - started
        return self.report

    def _late(self) -> bool:
        return time.monotonic() >= self.deadline

    def _until_ok(self, kind: OpKind, args: dict[str, Any], thunk: Callable[[], Any]) -> Any:
        for _ in range(self.attempts):
            op = self.recorder.call(PROCESS, kind, args, thunk)
            if op.outcome is Outcome.OK:
                return op
            if op.outcome is Outcome.FAIL or self._late():
                return None
        return None

    def requeue_all(self) -> None:
        op = self._until_ok(OpKind.REQUEUE_EXPIRED, {"now": FAR_FUTURE},
                            lambda: self.target.requeue_expired(FAR_FUTURE))
        if op is not None and isinstance(op.value, list):
            self.report.requeued += len(op.value)

    def retry_requests(self) -> None:
        for workspace, request_id, payload in list(self.pending_requests()):
            self.report.retried_requests += 1
            args = {"workspace_id": workspace, "payload": payload,
                    "client_request_id": request_id, "healed": True}
            op = None if self._late() else self._until_ok(
                OpKind.ENQUEUE, args,
                lambda w=workspace, p=payload, r=request_id: self.target.enqueue(w, p, r),
            )
            if op is None:
                self.report.unresolved_requests.append(
                    {"workspace_id": workspace, "client_request_id": request_id}
                )

    def work_queue_empty(self) -> None:
        misses = 0  # dequeues in a row that neither leased a job nor found the queue empty
        while not self._late() and misses < self.attempts:
            op = self.recorder.call(PROCESS, OpKind.DEQUEUE, {"lease_seconds": self.lease_seconds},
                                    lambda: self.target.dequeue(self.lease_seconds))
            if op.outcome is Outcome.OK and op.value is None:
                self.report.emptied = True
                return
            if op.outcome is not Outcome.OK or not isinstance(op.value, Job):
                misses += 1
                continue
            misses = 0
            if finish(self.recorder, PROCESS, self.target, op.value,
                      succeeded=True, give_up_at=self.deadline):
                self.report.finished += 1
