"""Which operation inputs the contract calls bad, judged by the target's own KeySchema.

Three answers, because the harness must never call a correct queue broken: VALID (a correct
queue must accept it), INVALID (it must refuse it with ValueError and write nothing) and
UNSURE (reasonable queues differ: a payload at the size limit under one JSON encoding but
not another). Nothing is demanded of an UNSURE input. A payload JSON would not give back
unchanged (NaN, non-string keys, tuples, a Mapping that is no dict) is INVALID: the
contract admits "a dict that JSON gives back unchanged".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from harness.history import Operation, OpKind
from harness.target import MAX_PAYLOAD_BYTES, JobStatus, KeySchema

STATUSES = frozenset(status.value for status in JobStatus)

# Which argument each operation takes, and the KeySchema check that judges it.
ID_ARGS: dict[OpKind, tuple[str, ...]] = {
    OpKind.ENQUEUE: ("workspace_id", "client_request_id"),
    OpKind.GET_JOB: ("workspace_id", "job_id"),
    OpKind.UPDATE_STATUS: ("workspace_id", "job_id"),
    OpKind.LIST_JOBS: ("workspace_id",),
    OpKind.COMPLETE: ("workspace_id", "job_id"),
    OpKind.FAIL: ("workspace_id", "job_id"),
}


class Validity(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNSURE = "unsure"


def classify_input(op: Operation, schema: KeySchema) -> tuple[Validity, str]:
    """(validity, why) of an operation's input; kinds without ids to judge are VALID."""
    checks = {
        "workspace_id": schema.valid_workspace_id,
        "client_request_id": schema.valid_request_id,
        "job_id": schema.valid_job_id,
    }
    for name in ID_ARGS.get(OpKind(op.kind), ()):
        value = op.args.get(name)
        if not checks[name](value):
            return Validity.INVALID, f"{name} {value!r} is not valid"
    if op.kind == OpKind.UPDATE_STATUS:
        status = op.args.get("status")
        if not isinstance(status, str) or status not in STATUSES:
            return Validity.INVALID, f"status {status!r} is not a JobStatus"
    if op.kind == OpKind.ENQUEUE:
        return classify_payload(op.args.get("payload"))
    if op.kind == OpKind.DEQUEUE:
        lease = op.args.get("lease_seconds")
        if not _finite_number(lease) or not lease > 0:
            return Validity.INVALID, f"lease_seconds {lease!r} is not a finite number > 0"
    if op.kind == OpKind.REQUEUE_EXPIRED:
        now = op.args.get("now")
        if now is not None and not _finite_number(now):
            return Validity.INVALID, f"now {now!r} is neither None nor a finite number"
    return Validity.VALID, ""


def _finite_number(value: Any) -> bool:
    """An int or float that is not a bool, nan or infinite (lease lengths, clocks)."""
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value))


def classify_payload(payload: Any) -> tuple[Validity, str]:
    """A payload is VALID when every plausible JSON encoding fits MAX_PAYLOAD_BYTES strictly,
    INVALID when no encoding exists or even the tightest one is over the limit, counted in
    characters (compact, unescaped); UNSURE in between."""
    if not isinstance(payload, Mapping):
        return Validity.INVALID, f"payload is a {type(payload).__name__}, not a dict"
    if not isinstance(payload, dict):
        return Validity.INVALID, f"payload is a {type(payload).__name__}, a Mapping but no dict"
    try:
        loosest = json.dumps(payload, default=_refuse)
    except (TypeError, ValueError, RecursionError) as exc:
        return Validity.INVALID, f"payload is not JSON-serialisable ({exc})"
    try:
        # Characters, not bytes: a queue may measure either, and characters are fewer.
        tightest = json.dumps(payload, allow_nan=False, ensure_ascii=False,
                              separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        return Validity.INVALID, f"payload is not strict JSON ({exc})"
    if not _round_trips(payload):
        return Validity.INVALID, "payload would not come back unchanged from JSON"
    if len(tightest) > MAX_PAYLOAD_BYTES:
        return Validity.INVALID, f"payload is {len(tightest)} bytes > {MAX_PAYLOAD_BYTES}"
    if len(loosest.encode()) >= MAX_PAYLOAD_BYTES:  # ASCII-escaped: as many bytes as chars
        return Validity.UNSURE, f"payload is at the {MAX_PAYLOAD_BYTES}-byte limit"
    return Validity.VALID, ""


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


def _round_trips(value: Any) -> bool:
    """Only str keys and lists: tuples and other keys change on the way through JSON."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _round_trips(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_round_trips(v) for v in value)
    return not isinstance(value, tuple)
