"""The reference queue, acknowledging a write only once a replica has it (WAIT 1 <timeout>).

Redis replicates asynchronously, so the plain reference acknowledges an enqueue its replica
may never get: fail over to that replica and the job is gone (FAILOVER-1). This variant
sends `WAIT 1 <timeout>` after every write operation and, when no replica acknowledged in
time, raises NotReplicated (a Redis error: the outcome is unknown to the caller, as the
contract says). The write may still be on the primary; it is just not promised.

WAIT narrows the window, it does not close it (Redis's docs): a failover can still promote
a replica that missed the write, e.g. when another replica acknowledged it. With one
replica, promoted only by us, what this queue acknowledged is on the replica.

WAIT counts the writes of its own connection, so an answer drawn from another
connection's write is not covered by it: a replayed enqueue (the same request id) finds the
job another call wrote and answers with it, having written nothing itself, and its WAIT
returns at once even when no replica has that job. A nightly with failovers and racers
found that (a double submit: the first call's WAIT timed out, its twin was acknowledged,
the failover lost the job; FAILOVER-3 replays it). So before WAIT every operation
publishes to a channel nobody listens to: PUBLISH is replicated, so this connection's
offset then covers everything the primary held when the operation read it.
`WaitsForItsOwnWritesQueue` keeps the defect, for FAILOVER-3 to catch.

The harness drives a target one call at a time, and redis-py's pool hands back the
connection released last, so the PUBLISH and the WAIT go on the connection that wrote; a
caller sharing one client between threads would need a connection per call for the same
promise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from prometheus_client import CollectorRegistry

from queue_impl.reference import ReferenceQueue

REPLICAS = 1
WAIT_MS = 250  # below the harness's 1 s socket timeout: WAIT blocks on the server this long
BARRIER = "queue-chaos:replication-barrier"  # PUBLISHed to before WAIT; nobody subscribes


class NotReplicated(redis.exceptions.RedisError):
    """No replica acknowledged the write in time: it may be lost in a failover."""


class WaitingReferenceQueue(ReferenceQueue):
    replicas: int = REPLICAS
    wait_ms: int = WAIT_MS
    barrier: bool = True  # move this connection's offset past what it read (see above)

    @contextmanager
    def _counted(self, operation: str) -> Iterator[None]:
        """The reference's write, then WAIT inside the same count (a write no replica has
        counts as a failure, as its caller sees one)."""
        with super()._counted(operation):
            yield
            if self.barrier:
                self.client.publish(BARRIER, operation)
            acknowledged = self.client.wait(self.replicas, self.wait_ms)
            if acknowledged < self.replicas:
                raise NotReplicated(
                    f"{operation}: WAIT {self.replicas} {self.wait_ms}: {acknowledged} "
                    f"replicas acknowledged the write within {self.wait_ms} ms")


class WaitsForItsOwnWritesQueue(WaitingReferenceQueue):
    """The defect FAILOVER-3 catches: WAIT alone, which a replayed enqueue passes at once."""

    barrier = False


def make_queue(client: redis.Redis, registry: CollectorRegistry) -> WaitingReferenceQueue:
    return WaitingReferenceQueue(client, registry)


def make_own_writes_queue(client: redis.Redis,
                          registry: CollectorRegistry) -> WaitsForItsOwnWritesQueue:
    return WaitsForItsOwnWritesQueue(client, registry)
