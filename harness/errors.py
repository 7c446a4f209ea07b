"""Exit codes and the exception families that map onto them.

Every command of queue-chaos ends with one of four codes, so CI can tell a queue bug
from a broken machine: an infrastructure fault must never read as "invariant violated".
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    HOLDS = 0  # every invariant held
    VIOLATION = 1  # at least one (blocking) invariant was violated
    USAGE = 2  # bad arguments, bad configuration, a target that does not load
    INFRASTRUCTURE = 3  # Redis or Toxiproxy misbehaved; no verdict on the queue
    INTERNAL = 70  # a bug in queue-chaos itself (EX_SOFTWARE); no verdict on the queue


class QueueChaosError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE


class UsageError(QueueChaosError):
    """Bad input from the user: names the problem and the fix, on one line."""

    exit_code = ExitCode.USAGE


class InfrastructureError(QueueChaosError):
    """Redis, Toxiproxy or a server process failed: the run says nothing about the queue."""

    exit_code = ExitCode.INFRASTRUCTURE


class ToxiproxyError(InfrastructureError):
    """A Toxiproxy control call timed out, answered 5xx, or could not connect."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status it answered, None when there was no answer
