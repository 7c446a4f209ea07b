"""dramatiq 2.2.1's RedisBroker as a generic job-queue target, on its own dispatch script.

Only dramatiq's primitives run, never its Worker threads: enqueue is `RedisBroker.enqueue`
of a Message whose `message_id` is the caller's job id (the broker adds a fresh
`redis_message_id` per send, so enqueue is not idempotent); take is `next()` on the
broker's own consumer (the `fetch` command: LPOP and SADD to this worker's acks set, in one
Lua call); finish and fail are the consumer's `ack` and `nack` (nack dead-letters the
message: the adapter drives no Retries middleware). Recovery is dramatiq's maintenance,
run by another broker (another worker process) with its chance at the maximum and
dramatiq's clock reading the harness's `now`: a worker whose heartbeat is older than the
heartbeat timeout is dead, and its acked-but-unfinished messages go back to the queue.
The harness's own worker then starts afresh, as a new broker (a new worker id).

Every operation is one EVALSHA of `dispatch.lua`: loaded in `prepare()`, with the
`maxstack` script dramatiq runs once per process, so that no operation pays the three
round trips of a script's first call. The brokers run without middleware, and the
producer's and worker's maintenance chance is 0: recovery happens when the harness says.

Promises: at-least-once (a dead worker's messages are requeued, without limit), enqueue
not idempotent, and an acked message is deleted: a finished job leaves no key. A nacked
message stays dead-lettered beside later messages of its job id: a job failed, sent again
and then finished shows only its dead letter.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import dramatiq
import dramatiq.brokers.redis as dramatiq_redis
import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message

from harness.spec.job_queue import Delivery, JobState, Promises

QUEUE = "default"
NAMESPACE = "dramatiq"


class DramatiqTarget:
    """One producer and one worker of dramatiq's RedisBroker on the harness's bytes client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.producer = self._broker(maintenance=False)
        self.worker = self._broker(maintenance=False)
        self.consumer = self.worker.consume(QUEUE, prefetch=1, timeout=50)
        self.promises = Promises(Delivery.AT_LEAST_ONCE, idempotent_enqueue=False,
                                 forgets_done=True,  # ack deletes the message
                                 failed_copies_stay=True)  # nack dead-letters this message
        self.library = f"dramatiq {dramatiq.__version__}"
        self.held: dict[str, MessageProxy] = {}  # messages the worker took, by job id

    def describe(self) -> str:
        return f"{self.library}, RedisBroker, queue {QUEUE!r}, prefetch 1"

    def _broker(self, *, maintenance: bool) -> RedisBroker:
        return RedisBroker(client=self.client, middleware=[], namespace=NAMESPACE,
                           maintenance_chance=MAINTENANCE_SCALE if maintenance else 0)

    # --- outside any operation -------------------------------------------------------------
    def prepare(self) -> None:
        for script in self.producer.scripts.values():
            self.client.script_load(script.script)
        self.producer._max_unpack_size()  # runs `maxstack` once per process (class-cached)

    def close(self) -> None:
        self.held.clear()

    # --- operations ------------------------------------------------------------------------
    def enqueue(self, job_id: str) -> None:
        message: Message[Any] = Message(queue_name=QUEUE, actor_name="noop", args=(),
                                        kwargs={}, options={}, message_id=job_id)
        self.producer.enqueue(message)

    def take(self) -> str | None:
        with _unwrapped():
            proxy = next(self.consumer)
        if proxy is None:
            return None
        self.held[proxy.message_id] = proxy
        return str(proxy.message_id)

    def finish(self, job_id: str) -> None:
        with _unwrapped():
            self.consumer.ack(self._held(job_id))

    def fail(self, job_id: str) -> None:
        with _unwrapped():
            self.consumer.nack(self._held(job_id))

    def recover(self, now: float) -> None:
        """dramatiq's maintenance, by another worker process, with its clock at `now`."""
        with _dramatiq_clock(now):
            self._broker(maintenance=True).do_qsize(QUEUE)  # any command but ack/nack
        self.worker = self._broker(maintenance=False)  # the dead worker is replaced
        self.consumer = self.worker.consume(QUEUE, prefetch=1, timeout=50)
        self.held.clear()

    # --- observation -----------------------------------------------------------------------
    def observe(self, reader: redis.Redis) -> Mapping[str, JobState]:
        """Each job by dramatiq's keys (a done job has none: ack deletes it)."""
        messages = reader.hgetall(f"{NAMESPACE}:{QUEUE}.msgs")
        dead = reader.hgetall(f"{NAMESPACE}:{QUEUE}.XQ.msgs")
        places: dict[bytes, JobState] = {}
        for redis_id in reader.lrange(f"{NAMESPACE}:{QUEUE}", 0, -1):
            places.setdefault(redis_id, JobState.QUEUED)
        for key in reader.scan_iter(match=f"{NAMESPACE}:__acks__.*.{QUEUE}".encode()):
            for redis_id in reader.smembers(key):
                places.setdefault(redis_id, JobState.TAKEN)
        seen: dict[str, JobState] = {}
        for redis_id, data in messages.items():  # a message in no list nor set: gone
            _put(seen, data, places.get(redis_id, JobState.GONE))
        for data in dead.values():
            _put(seen, data, JobState.FAILED)
        return seen

    def _held(self, job_id: str) -> MessageProxy:
        if job_id not in self.held:
            raise ValueError(f"the worker holds no job {job_id}")  # a definite failure
        return self.held.pop(job_id)


RANK = (JobState.QUEUED, JobState.TAKEN, JobState.FAILED, JobState.GONE)


def _put(seen: dict[str, JobState], data: bytes, state: JobState) -> None:
    """Several copies of one job id: the most reachable one."""
    job_id = Message.decode(data).message_id
    if job_id not in seen or RANK.index(state) < RANK.index(seen[job_id]):
        seen[job_id] = state


@contextlib.contextmanager
def _unwrapped() -> Iterator[None]:
    """dramatiq wraps a redis ConnectionError in its ConnectionClosed: the redis error again,
    so the history records it as what it is (an unknown outcome, not a crash)."""
    try:
        yield
    except ConnectionClosed as exc:
        cause = exc.__cause__ or exc.__context__
        raise redis.ConnectionError(f"dramatiq ConnectionClosed: {cause or exc}") from exc


@contextlib.contextmanager
def _dramatiq_clock(now: float) -> Iterator[None]:
    """The broker stamps each command with dramatiq.brokers.redis.current_millis: the
    harness's time instead, so "no heartbeat for a minute" needs no minute of waiting."""
    module: Any = dramatiq_redis
    real = module.current_millis
    module.current_millis = lambda: int(now * 1000)
    try:
        yield
    finally:
        module.current_millis = real


def make_dramatiq(client: redis.Redis, **options: Any) -> DramatiqTarget:
    """The dramatiq target (no options yet)."""
    return DramatiqTarget(client, **options)
