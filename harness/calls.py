"""An operation of the contract as data: what to record, and how to call it on a target.

The driver runs a Call on whichever logical client it is given: alone (one step of the
machine, a scenario) or overlapping with others under a schedule (harness.scheduler).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.history import OpKind
from harness.target import QueueTarget


@dataclass(frozen=True)
class Call:
    kind: OpKind
    args: dict[str, Any]
    invoke: Callable[[QueueTarget], Any]


def enqueue(workspace_id: Any, payload: Any, client_request_id: Any,
            healed: bool = False) -> Call:
    args: dict[str, Any] = {"workspace_id": workspace_id, "payload": payload,
                            "client_request_id": client_request_id}
    if healed:
        args["healed"] = True
    return Call(OpKind.ENQUEUE, args,
                lambda t: t.enqueue(workspace_id, payload, client_request_id))


def update_status(workspace_id: Any, job_id: Any, status: Any) -> Call:
    return Call(OpKind.UPDATE_STATUS,
                {"workspace_id": workspace_id, "job_id": job_id, "status": status},
                lambda t: t.update_status(workspace_id, job_id, status))


def get_job(workspace_id: Any, job_id: Any) -> Call:
    return Call(OpKind.GET_JOB, {"workspace_id": workspace_id, "job_id": job_id},
                lambda t: t.get_job(workspace_id, job_id))


def list_jobs(workspace_id: Any) -> Call:
    return Call(OpKind.LIST_JOBS, {"workspace_id": workspace_id},
                lambda t: t.list_jobs(workspace_id))


def dequeue(lease_seconds: Any) -> Call:
    return Call(OpKind.DEQUEUE, {"lease_seconds": lease_seconds},
                lambda t: t.dequeue(lease_seconds))


def finish(workspace_id: Any, job_id: Any, succeeded: bool) -> Call:
    """complete (succeeded) or fail."""
    if succeeded:
        return Call(OpKind.COMPLETE, {"workspace_id": workspace_id, "job_id": job_id},
                    lambda t: t.complete(workspace_id, job_id))
    return Call(OpKind.FAIL, {"workspace_id": workspace_id, "job_id": job_id},
                lambda t: t.fail(workspace_id, job_id))


def requeue_expired(now: Any) -> Call:
    return Call(OpKind.REQUEUE_EXPIRED, {"now": now}, lambda t: t.requeue_expired(now))
