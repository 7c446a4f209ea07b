"""The history of a run, Jepsen-style: each operation is invoked, then ok, fail or unknown.

  ok       it happened, and `value` is what it returned;
  fail     it definitely did not happen (the target raised ValueError or JobNotFound);
  unknown  it may or may not have happened (a Redis error: the caller cannot tell).

The checker treats unknown honestly: it never demands that an unknown enqueue exists and
never accepts two jobs for one request id. A history can stream to a JSONL file as it
grows, so a long run keeps no operation in memory that it does not need.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import redis

from harness.target import Job, JobNotFound


class Outcome(StrEnum):
    OK = "ok"
    FAIL = "fail"
    UNKNOWN = "unknown"


class OpKind(StrEnum):
    ENQUEUE = "enqueue"  # a first attempt or a retry: the args say which request
    GET_JOB = "get_job"
    UPDATE_STATUS = "update_status"
    LIST_JOBS = "list_jobs"
    DEQUEUE = "dequeue"
    COMPLETE = "complete"
    FAIL = "fail"
    REQUEUE_EXPIRED = "requeue_expired"
    SEED = "seed"  # the harness wrote a job the way another writer would (legacy / new-only)


@dataclass
class Operation:
    index: int
    process: str  # who ran it: "machine", "producer-2", "worker-1", "scenario"
    kind: OpKind
    args: dict[str, Any]
    invoked_at: float  # seconds since the history began
    fault: str | None = None  # the fault plan armed for this op, e.g. "reply_lost@3"
    outcome: Outcome | None = None
    value: Any = None
    error: str | None = None
    completed_at: float | None = None
    crashed: bool = False  # the target raised something outside the contract
    refusal: str | None = None  # a "fail": which refusal of the contract (see refusal_of)
    # Run overlapping with others: their indices and the order their round trips ran in,
    # "#6 #7: A1 B1 A2: B's round trip 1 ran between A's 1 and 2" (harness.scheduler).
    overlap: str | None = None

    def to_json(self) -> dict[str, Any]:
        # Built field by field: dataclasses.asdict deep-copies, the largest cost per op.
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["value"] = to_jsonable(self.value)
        return data

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        fault = f" [fault {self.fault}]" if self.fault else ""
        overlap = f" [overlapping {self.overlap}]" if self.overlap else ""
        result = self.error if self.outcome is not Outcome.OK else repr(to_jsonable(self.value))
        head = f"#{self.index} {self.process} {self.kind}({args}){fault}{overlap}"
        return f"{head} -> {self.outcome}: {result}"


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Job):
        return dataclasses.asdict(value) | {"payload": dict(value.payload)}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


class Refusal(StrEnum):
    """The definite failures of the contract: each means nothing was written."""

    BAD_INPUT = "bad_input"  # ValueError
    NOT_FOUND = "not_found"  # JobNotFound
    DATA_ERROR = "data_error"  # redis.DataError: redis-py refused an argument


def refusal_of(exc: BaseException) -> Refusal | None:
    if isinstance(exc, JobNotFound):
        return Refusal.NOT_FOUND
    if isinstance(exc, redis.DataError):
        return Refusal.DATA_ERROR
    if isinstance(exc, ValueError):
        return Refusal.BAD_INPUT
    return None


def classify(exc: BaseException) -> tuple[Outcome, bool]:
    """(outcome, crashed) for an exception a target raised."""
    if refusal_of(exc) is not None:
        return Outcome.FAIL, False
    if isinstance(exc, redis.RedisError):
        return Outcome.UNKNOWN, False
    return Outcome.UNKNOWN, True


@dataclass
class History:
    """Operations in invocation order; thread-safe; optionally streamed to JSONL."""

    sink: IO[str] | None = None
    keep: bool = True  # False: stream only, hold nothing (long nightly runs)
    ops: list[Operation] = field(default_factory=list)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _t0: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._wall_origin = time.time() - self.now()

    def wall(self, t: float) -> float:
        """Epoch seconds of a history time (what a target's own clock read then)."""
        return self._wall_origin + t

    @classmethod
    def to_file(cls, path: Path, keep: bool = False) -> History:
        return cls(sink=path.open("w", encoding="utf-8"), keep=keep)

    def now(self) -> float:
        return time.monotonic() - self._t0

    def invoke(
        self, process: str, kind: OpKind, args: dict[str, Any], fault: str | None = None
    ) -> Operation:
        with self._lock:
            op = Operation(self._next, process, kind, dict(args), self.now(), fault)
            self._next += 1
            if self.keep:
                self.ops.append(op)
        return op

    def complete(
        self, op: Operation, outcome: Outcome, value: Any = None, error: str | None = None,
        crashed: bool = False,
    ) -> Operation:
        op.outcome, op.value, op.error, op.crashed = outcome, value, error, crashed
        op.completed_at = self.now()
        if self.sink is not None:
            line = json.dumps(op.to_json(), sort_keys=True, default=str)
            with self._lock:
                self.sink.write(line + "\n")
        return op

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()

    def __iter__(self) -> Iterator[Operation]:
        return iter(list(self.ops))

    def __len__(self) -> int:
        return self._next


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
