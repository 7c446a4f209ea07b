"""A queue that does not behave the same way twice on the same program (in the state
machine only: the queues a scenario builds are the reference's).

The reference queue until its first complete, which raises KeyError (outside the contract);
from then on complete works and every dequeue raises a ConnectionError, so a replay of the
program that found the KeyError takes another path. With QC_KILL_PID set, the first of
those dequeues also kills that process (a server dying just as the replay goes astray).
"""

import os
import signal

import redis
from marked_queue import called_by_the_machine

from harness.target import load_factory

REFERENCE = load_factory("reference")
COMPLETED: list[str] = []  # module state: it outlives each example's queue


class UnsteadyQueue:
    def __init__(self, inner):
        self._inner = inner
        self.key_schema = inner.key_schema

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def dequeue(self, lease_seconds):
        if COMPLETED:
            victim = os.environ.pop("QC_KILL_PID", None)
            if victim:
                os.kill(int(victim), signal.SIGKILL)
            raise redis.ConnectionError("this queue no longer leases anything")
        return self._inner.dequeue(lease_seconds)

    def complete(self, workspace_id, job_id):
        if COMPLETED:
            return self._inner.complete(workspace_id, job_id)
        COMPLETED.append(job_id)
        raise KeyError(job_id)


def make_queue(client, registry):
    reference = REFERENCE(client, registry)
    return UnsteadyQueue(reference) if called_by_the_machine() else reference
