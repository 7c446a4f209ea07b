"""Input checks shared by the queues that validate: a one-line ValueError, before any Redis call.

Each message names the argument and the rule it broke, so a caller can fix the call without
reading this file. The id rules come from the KeySchema (the same rules the checker uses to
call a key malformed).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from harness.target import DEFAULT_SCHEMA, MAX_PAYLOAD_BYTES, Job, JobStatus, KeySchema, encode_job

# Human wording of the default id patterns; a custom schema's pattern is quoted as it is.
_RULES = {
    DEFAULT_SCHEMA.workspace_pattern:
        "1-64 chars of A-Z a-z 0-9 _ . -, starting with a letter or digit",
    DEFAULT_SCHEMA.request_id_pattern:
        "1-128 chars of A-Z a-z 0-9 _ . -, starting with a letter or digit",
    DEFAULT_SCHEMA.job_id_pattern: "32 lowercase hex digits (uuid4().hex)",
}


def _shown(value: object) -> str:
    """The bad value as the message shows it: repr for strings (cut short), else its type."""
    if not isinstance(value, str):
        return f"of type {type(value).__name__}"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}...' ({len(value)} chars)"


def _check_id(name: str, value: Any, valid: bool, pattern: str) -> str:
    if not valid:
        rule = _RULES.get(pattern, f"must match {pattern}")
        raise ValueError(f"{name} {_shown(value)} is invalid: {rule}")
    return value


def validate_workspace_id(value: Any, schema: KeySchema = DEFAULT_SCHEMA) -> str:
    return _check_id(
        "workspace_id", value, schema.valid_workspace_id(value), schema.workspace_pattern
    )


def validate_request_id(value: Any, schema: KeySchema = DEFAULT_SCHEMA) -> str:
    return _check_id(
        "client_request_id", value, schema.valid_request_id(value), schema.request_id_pattern
    )


def validate_job_id(value: Any, schema: KeySchema = DEFAULT_SCHEMA) -> str:
    return _check_id("job_id", value, schema.valid_job_id(value), schema.job_id_pattern)


def validate_status(value: Any) -> JobStatus:
    try:
        return JobStatus(value)
    except ValueError:
        allowed = ", ".join(status.value for status in JobStatus)
        raise ValueError(f"status {value!r} is invalid: one of {allowed}") from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def validate_payload(value: Any) -> Mapping[str, Any]:
    """A mapping that comes back unchanged from its stored JSON and fits MAX_PAYLOAD_BYTES."""
    if not isinstance(value, Mapping):
        raise ValueError(f"payload {_shown(value)} is invalid: must be a dict")
    try:
        stored = encode_job(Job("", "", "", value, ""))["payload"]
        back = json.loads(stored, parse_constant=_refuse_constant)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"payload is invalid: not JSON-serialisable ({exc})") from None
    if back != value:
        raise ValueError(
            "payload is invalid: JSON would not give it back unchanged "
            "(use str keys and lists, not other keys or tuples)"
        )
    size = len(stored.encode())
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"payload is invalid: {size} bytes as JSON, the limit is {MAX_PAYLOAD_BYTES}"
        )
    return value


def _finite_number(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value))


def validate_lease_seconds(value: Any) -> float:
    if not _finite_number(value) or not value > 0:
        raise ValueError(f"lease_seconds {value!r} is invalid: a finite number of seconds > 0")
    return float(value)


def validate_now(value: Any) -> float | None:
    """requeue_expired's `now`: None (the wall clock) or a finite number of epoch seconds."""
    if value is not None and not _finite_number(value):
        raise ValueError(f"now {value!r} is invalid: None or a finite number of epoch seconds")
    return None if value is None else float(value)
