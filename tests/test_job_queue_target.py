"""An adapter meets the generic job-queue target protocol, promises included, or is refused."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.job_queue_target import check_job_queue
from harness.spec.job_queue import Delivery, JobState, Promises


class Complete:
    promises = Promises(Delivery.AT_LEAST_ONCE, idempotent_enqueue=True)
    library = "fake 1.0"

    def prepare(self) -> None: ...
    def enqueue(self, job_id: str) -> None: ...
    def take(self) -> str | None: return None
    def finish(self, job_id: str) -> None: ...
    def fail(self, job_id: str) -> None: ...
    def recover(self, now: float) -> None: ...
    def observe(self, reader) -> dict[str, JobState]: return {}
    def close(self) -> None: ...


class NoPromises(Complete):
    promises = None  # type: ignore[assignment]


def test_an_adapter_with_every_operation_and_its_promises_is_accepted():
    target = Complete()
    assert check_job_queue(target, "fake") is target


def test_an_adapter_that_declares_no_promises_is_refused():
    with pytest.raises(UsageError, match="missing promises"):
        check_job_queue(NoPromises(), "fake")


def test_an_object_missing_an_operation_is_refused():
    with pytest.raises(UsageError, match=r"fake .*missing prepare, enqueue, take"):
        check_job_queue(object(), "fake")
