"""Keys a target wrote outside the KeySchema it declared: invisible to every check.

The checker reads Redis through the target's KeySchema, so a key outside it (a second copy
of a job, a lock, a counter) is judged by nothing. queue-chaos does not call that a
violation (such a key may be harmless, and the harness cannot tell what it holds) but never
passes over it in silence either: the gate and `reproduce` print a warning that lists them,
and the gate's JSON and JUnit carry them. Only a Redis the harness may empty is looked at:
there, every key was written since the last flush, by the target (the harness itself writes
only keys of the schema); elsewhere other programs' keys are expected.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from harness.target import KeyKind, KeySchema

LIMIT = 50  # keys named in a report; the count is always the full one
SCAN_COUNT = 1000


def undeclared_keys(client: redis.Redis, schema: KeySchema) -> list[str]:
    """Every key in Redis that `schema` does not name (KeyKind.FOREIGN), sorted."""
    found = (str(key) for key in client.scan_iter(count=SCAN_COUNT))
    return sorted(k for k in found if schema.parse(k).kind is KeyKind.FOREIGN)


def warning(keys: Iterable[str]) -> str:
    """One line for a report; "" when there is nothing to say."""
    keys = sorted(set(keys))
    if not keys:
        return ""
    shown = ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
    return (f"warning: the target wrote {len(keys)} key(s) outside its declared KeySchema, "
            f"which no check reads: {shown} (declare them in key_schema, or stop writing "
            "them; see README, 'Putting your own queue under the harness')")
