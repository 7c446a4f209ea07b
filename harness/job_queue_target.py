"""The generic job-queue target: what an adapter for a third-party queue library offers.

Beside harness.target.QueueTarget (the dual-write contract), and judged by
harness.spec.job_queue. An adapter drives its library's own primitives (not its run loop)
on the client the harness builds, so every Redis round trip it makes goes through the fault
injector. The outcome rules are the history's (harness.history.classify): a redis error is
unknown, ValueError a definite failure, anything else a crash.

A factory takes (client, **options) and returns the adapter; the client is a bytes client
(`decode_responses=False`) through the proxy. Work the library does once per process (a
worker's registration, loading its Lua scripts) belongs in `prepare()`, which the runner
calls outside any operation: its round trips must not shift an operation's count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import redis

from harness.errors import UsageError
from harness.spec.job_queue import JobState, Promises


@runtime_checkable
class JobQueueTarget(Protocol):
    """One producer and one worker of a library's queue, as operations the harness times."""

    promises: Promises  # what the library promises, as configured by this adapter
    library: str  # "rq 2.12.0": the trace and the page say which version was judged

    def prepare(self) -> None:
        """Once, outside any operation: register the worker, warm up scripts."""
        ...

    def enqueue(self, job_id: str) -> None:
        """Enqueue a job under the caller's id (the library's own enqueue call)."""
        ...

    def take(self) -> str | None:
        """The worker's take primitive: the id of the job it now holds, or None."""
        ...

    def finish(self, job_id: str) -> None:
        """The worker reports the job it holds as done (the library's own call)."""
        ...

    def fail(self, job_id: str) -> None:
        """The worker reports the job it holds as failed (the library's own call)."""
        ...

    def recover(self, now: float) -> None:
        """The library's cleanup of jobs whose worker is gone, its clock reading `now`."""
        ...

    def observe(self, reader: redis.Redis) -> Mapping[str, JobState]:
        """Every job the library's keys hold, by id, read on `reader` (a direct bytes client,
        never faulted). A job whose keys put it nowhere a worker can reach is GONE."""
        ...

    def close(self) -> None:
        """Give back what prepare() took (the worker's registration, its pool settings)."""
        ...


JobQueueFactory = Callable[..., JobQueueTarget]
OPERATIONS = ("prepare", "enqueue", "take", "finish", "fail", "recover", "observe", "close")


def check_job_queue(target: Any, spec: str) -> JobQueueTarget:
    """The target itself, or a UsageError naming what it misses."""
    missing = [name for name in OPERATIONS if not callable(getattr(target, name, None))]
    if not isinstance(getattr(target, "promises", None), Promises):
        missing.append("promises (a harness.spec.job_queue.Promises)")
    if not isinstance(getattr(target, "library", None), str):
        missing.append("library (a str: the library and its version)")
    if missing:
        raise UsageError(f"{spec} does not meet the job-queue target contract: missing "
                         f"{', '.join(missing)} (see harness/job_queue_target.py)")
    return target  # type: ignore[no-any-return]
