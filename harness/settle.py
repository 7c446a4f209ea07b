"""Let a faulted request finish reaching Redis before the state is read.

When a fault cuts the client's side of a connection, Toxiproxy may still be forwarding the
rest of the request (a 64 KiB MULTI/EXEC) to Redis: the client has its error, and the
transaction runs a few milliseconds later, or is dropped when the upstream side closes. A
snapshot taken in between sees "not applied" and the write lands after it, so a correct
queue would be judged on a state that is not final. Redis runs whatever a connection
delivered before it notices the close, so once every connection of the target that Redis
still holds is one the target still holds open, nothing more is on its way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

import redis

HARNESS_CLIENT_NAME = "queue-chaos-harness"  # the name of every connection the harness reads with
SETTLE_LIMIT = 2.0  # seconds; past it the state is read anyway, and the wait is counted
_POLL = 0.002
REPLICATION_FLAGS = frozenset("SM")  # CLIENT LIST flags of a replication link


def _maybe_target(client: dict[str, str]) -> bool:
    """Neither the harness's own connection nor a replication link (flag S: a replica of
    this server; M: this server's primary), which come and go as a link is cut and healed."""
    return (client.get("name") != HARNESS_CLIENT_NAME
            and not set(client.get("flags", "")) & REPLICATION_FLAGS)


def target_connections(direct: redis.Redis, foreign: Collection[int]) -> int:
    """How many connections Redis holds that are neither the harness's nor there before."""
    return sum(1 for client in direct.client_list()
               if _maybe_target(client) and int(client["id"]) not in foreign)


def foreign_clients(direct: redis.Redis) -> frozenset[int]:
    """Connections already open before the target's first (another user of a shared Redis)."""
    return frozenset(int(client["id"]) for client in direct.client_list() if _maybe_target(client))


def settle(direct: redis.Redis, open_connections: Callable[[], int],
           foreign: Collection[int], limit: float = SETTLE_LIMIT) -> bool:
    """Wait until Redis holds no more target connections than the target has open.

    True when settled; False when `limit` passed first (the caller reads the state anyway)."""
    deadline = time.monotonic() + limit
    while target_connections(direct, foreign) > open_connections():
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)
    return True
