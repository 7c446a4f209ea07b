"""Race-only variants: each is correct when its calls run one at a time, faults and all, and
breaks only when two calls overlap. Each splits one atomic step of the reference into a read
and a write in separate round trips, as hand-written queues often do ("check, then act"):

  RACE-1  enqueue          1 GET idem (if set: return it)
                           2 EVALSHA: the reference's script without its own idempotency
                             check: two producers with one request id both pass step 1
  RACE-2  dequeue          1 LINDEX pending 0 (none: return None)
                           2 EVALSHA: lease that job (LREM it from pending, whatever LREM
                             answers): two workers that read the same head both lease it
  RACE-3  requeue_expired  1 ZRANGEBYSCORE leases -inf now
                           2 EVALSHA: put each id read back on pending, status queued
                             (without asking whether it is still leased): a job completed
                             in between runs again, and two reapers push it twice

Every other method is the reference's. The state machine with one client passes each;
its overlapping steps must kill each, with the schedule that shows it. (The gate's FIELD-2
scenario also fails RACE-1 for a second reason: redis-py's default retries re-send its
script after a lost reply, and that script no longer checks the key itself.)
"""

from __future__ import annotations

from typing import Any

from harness.target import Job
from queue_impl.reference import DEQUEUE, ENQUEUE, REQUEUE_EXPIRED
from queue_impl.variant_base import ScriptVariant, Variant, catalogue, defective

WRITE_WITHOUT_CHECK = defective(ENQUEUE, "local existing = redis.call('GET', KEYS[1])\n"
                                "if existing then return existing end\n", "")


class CheckThenActIdempotency(ScriptVariant):
    """RACE-1: the idempotency key is read in one round trip and the job written in the next:
    two producers submitting one request at once both find no key and make two jobs."""

    script = ("_enqueue", WRITE_WITHOUT_CHECK)

    def _enqueue_job(self, job: Job) -> str:
        existing = self.client.get(self._idempotency_key(job.workspace_id,
                                                         job.client_request_id))
        if existing is not None:
            return str(existing)
        return super()._enqueue_job(job)


# ARGV: the lease deadline, then the job read at the head of pending.
LEASE_THE_JOB_READ = defective(defective(DEQUEUE, """\
while true do
  local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not id then return false end
""", """\
do
  local id = ARGV[2]
  redis.call('LREM', KEYS[1], 1, id)
  redis.call('RPUSH', KEYS[2], id)
"""), "  redis.call('LREM', KEYS[2], -1, id)\nend",
    "  redis.call('LREM', KEYS[2], -1, id)\n  return 'dropped'\nend")


class LeaseByReadThenWrite(ScriptVariant):
    """RACE-2: dequeue reads the head of pending, then leases that job in a second round
    trip: two workers that read the same head both lease it and both run it."""

    script = ("_dequeue", LEASE_THE_JOB_READ)

    def _lease(self, deadline: float) -> Any:
        schema = self.key_schema
        while True:
            head = self.client.lindex(schema.queue_key, 0)
            if head is None:
                return None
            reply = self._dequeue(keys=[schema.queue_key, schema.processing_key,
                                        schema.lease_key], args=[deadline, head])
            if reply != "dropped":  # an entry with no record is dropped: read the next
                return reply


PUT_BACK_THE_IDS_READ = defective(defective(
    REQUEUE_EXPIRED,
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])) do",
    "for _, id in ipairs(ARGV) do"),
    "  if redis.call('LREM', KEYS[2], 1, id) == 1 then\n",
    "  redis.call('LREM', KEYS[2], 1, id)\n  do\n")


class RequeueReadThenPutBack(ScriptVariant):
    """RACE-3: requeue_expired reads the ended leases, then puts those jobs back in a second
    round trip without asking whether they are still leased: a job completed in between
    is queued to run again, and two reapers at once push it twice."""

    script = ("_requeue_expired", PUT_BACK_THE_IDS_READ)

    def _requeue(self, now: float) -> list[str]:
        schema = self.key_schema
        ended = self.client.zrangebyscore(schema.lease_key, "-inf", now)
        if not ended:
            return []
        return self._requeue_expired(
            keys=[schema.queue_key, schema.processing_key, schema.lease_key], args=ended)


make_check_then_act_idempotency = CheckThenActIdempotency
make_lease_by_read_then_write = LeaseByReadThenWrite
make_requeue_read_then_put_back = RequeueReadThenPutBack

RACE_VARIANTS: dict[str, Variant] = catalogue(
    Variant("RACE-1", "check-then-act-idempotency",
            "enqueue GETs the idempotency key, then writes the job in another round "
            "trip: one request submitted twice at once makes two jobs",
            CheckThenActIdempotency, __name__),
    Variant("RACE-2", "lease-by-read-then-write",
            "dequeue reads the head of pending, then leases it in another round trip: "
            "two workers lease one job", LeaseByReadThenWrite, __name__),
    Variant("RACE-3", "requeue-read-then-put-back",
            "requeue_expired reads the ended leases, then puts them back in another "
            "round trip: a job completed meanwhile is queued again",
            RequeueReadThenPutBack, __name__),
)
