"""rq 2.12.0 as a generic job-queue target: its own enqueue, take, finish, fail and cleanup.

Only rq's primitives run, never its work loop: `Queue.enqueue(job_id=...)`; the worker's take
is `Queue.dequeue_any` (LMOVE into the intermediate list with one queue, LPOP with several:
the `queues` option) then `prepare_execution` and `prepare_job_execution`, as
`Worker.execute_job` does before it performs; finish and fail are `handle_job_success` and
`handle_job_failure`; recovery is `StartedJobRegistry.cleanup(timestamp)` and
`IntermediateQueue.cleanup` with rq's clock set to the harness's `now`.

Four things rq does on its own client, handled in `prepare()`, outside any operation:
`Worker()` sends CLIENT SETNAME and CLIENT LIST, and raises the pool's socket_timeout to
its dequeue timeout plus 10 (about 415 s), which a stalled round trip would then wait out:
the timeout is put back and the pool's connections are dropped. rq caches the server
version (INFO) on the client at its first take: asked once here. With `unique=True`
enqueue runs a Lua script, loaded here so that its first call is one round trip, not three.

Promises: rq fails an abandoned job (AbandonedJobError) unless it has retries left, so it is
at-most-once unless `retries` > 0; enqueue is idempotent only with `unique=True`; a finished
job's hash expires after its result_ttl (500 s by default): rq forgets done jobs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import redis
import rq
import rq.intermediate_queue
import rq.scripts
from rq import Queue, Retry, SimpleWorker
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.utils import get_version

from harness.spec.job_queue import Delivery, JobState, Promises

QUEUE_NAMES = ("default", "second")  # the worker listens on the first `queues` of these


def noop() -> None:
    """The function every job names (rq stores its dotted path); the harness never runs it."""


class RqTarget:
    """One producer and one SimpleWorker of rq on the harness's bytes client."""

    def __init__(self, client: redis.Redis, *, queues: int = 1, retries: int = 0,
                 unique: bool = False) -> None:
        if not 1 <= queues <= len(QUEUE_NAMES):
            raise ValueError(f"queues: 1 or {len(QUEUE_NAMES)}, not {queues}")
        self.client = client
        self.queues = [Queue(name, connection=client) for name in QUEUE_NAMES[:queues]]
        self.queue = self.queues[0]  # every job is enqueued here
        self.retries = retries
        self.unique = unique
        self.promises = Promises(
            Delivery.AT_LEAST_ONCE if retries else Delivery.AT_MOST_ONCE,
            idempotent_enqueue=unique, retries=retries,
            forgets_done=True)  # a finished job's hash expires after result_ttl (500 s)
        self.library = f"rq {rq.__version__}"
        self.worker: SimpleWorker | None = None
        self.held: dict[str, tuple[Job, Queue]] = {}  # jobs the worker took, by id

    def describe(self) -> str:
        return (f"{self.library}, {len(self.queues)} queue(s), retries={self.retries}, "
                f"unique={self.unique}")

    # --- outside any operation -------------------------------------------------------------
    def prepare(self) -> None:
        pool = self.client.connection_pool
        timeout = pool.connection_kwargs.get("socket_timeout")
        self.worker = SimpleWorker(self.queues, connection=self.client)
        pool.connection_kwargs["socket_timeout"] = timeout  # rq raised it to ~415 s
        pool.reset()  # a connection made meanwhile keeps the raised timeout: drop them all
        get_version(self.client)  # INFO, cached on the client, before the first take
        if self.unique:  # a script's first call is EVALSHA, SCRIPT LOAD, EVALSHA: load it now
            self.client.script_load(rq.scripts.get_unique_enqueue_script(self.client).script)

    def close(self) -> None:
        self.held.clear()

    # --- operations ------------------------------------------------------------------------
    def enqueue(self, job_id: str) -> None:
        retry = Retry(max=self.retries) if self.retries else None
        with contextlib.suppress(DuplicateJobError):  # unique: the first job stays, as promised
            self.queue.enqueue(noop, job_id=job_id, retry=retry, unique=self.unique)

    def take(self) -> str | None:
        """A SimpleWorker runs one job at a time (its `execution` is the last job's): a take
        while it holds one means the job it held was dropped, as by a worker that died.
        Ending that job is then refused; recovery finds it in rq's registries."""
        worker = self._worker()
        self.held.clear()
        result = Queue.dequeue_any(worker.queues, None, connection=self.client)
        if result is None:
            return None
        job, queue = result
        worker.prepare_execution(job)
        worker.prepare_job_execution(job, remove_from_intermediate_queue=len(self.queues) == 1)
        job.started_at = rq.utils.now()
        self.held[job.id] = (job, queue)
        return str(job.id)

    def finish(self, job_id: str) -> None:
        job, queue = self._held(job_id)
        job.ended_at = rq.utils.now()
        job._result = None  # what perform_job sets before handle_job_success
        self._worker().handle_job_success(job, queue, queue.started_job_registry)
        del self.held[job_id]

    def fail(self, job_id: str) -> None:
        job, queue = self._held(job_id)
        job.ended_at = rq.utils.now()
        self._worker().handle_job_failure(job, queue, queue.started_job_registry,
                                          exc_string="failed by its worker (queue-chaos)")
        del self.held[job_id]

    def recover(self, now: float) -> None:
        """What rq's maintenance does for jobs whose worker is gone, at rq-time `now`."""
        worker = self._worker()
        with _rq_clock(now):
            for queue in self.queues:
                queue.started_job_registry.cleanup(timestamp=now)
                queue.intermediate_queue.cleanup(worker, queue)
        self.held.clear()  # the worker that held them is the one recovery declares gone

    # --- observation -----------------------------------------------------------------------
    def observe(self, reader: redis.Redis) -> Mapping[str, JobState]:
        """Each job by rq's keys, read directly (never through rq's registry calls, which
        clean up as they read)."""
        places: dict[str, set[JobState]] = {}

        def put(ids: list[Any], state: JobState) -> None:
            for raw in ids:
                job_id = _text(raw)
                places.setdefault(job_id, set()).add(state)

        for queue in self.queues:
            put(reader.lrange(queue.key, 0, -1), JobState.QUEUED)
            put(reader.zrange(f"rq:scheduled:{queue.name}", 0, -1), JobState.QUEUED)
            put(reader.lrange(queue.intermediate_queue_key, 0, -1), JobState.TAKEN)
            put([_text(e).split(":")[0] for e in reader.zrange(f"rq:wip:{queue.name}", 0, -1)],
                JobState.TAKEN)
            put(reader.zrange(f"rq:finished:{queue.name}", 0, -1), JobState.DONE)
            put(reader.zrange(f"rq:failed:{queue.name}", 0, -1), JobState.FAILED)
        for key in reader.scan_iter(match=b"rq:job:*"):
            job_id = _text(key)[len("rq:job:"):]
            if ":" not in job_id:
                places.setdefault(job_id, set())
        seen = {}
        for job_id, states in places.items():
            status = reader.hget(Job.key_for(job_id), "status")
            if status is None and states <= {JobState.DONE}:
                continue  # a finished job whose hash expired (result_ttl): forgotten
            if status is None:  # no hash: rq's take skips the id, nothing can run it
                seen[job_id] = JobState.GONE
            elif {JobState.DONE, JobState.FAILED} <= states:  # a job id run twice: its last
                seen[job_id] = JobState.DONE if status == b"finished" else JobState.FAILED
            else:  # the most reachable place: queued, taken, done, failed
                seen[job_id] = next((s for s in (JobState.QUEUED, JobState.TAKEN,
                                                 JobState.DONE, JobState.FAILED)
                                     if s in states), JobState.GONE)
        return seen

    # --- helpers ---------------------------------------------------------------------------
    def _worker(self) -> SimpleWorker:
        if self.worker is None:
            raise RuntimeError("prepare() builds the worker, outside any operation")
        return self.worker

    def _held(self, job_id: str) -> tuple[Job, Queue]:
        if job_id not in self.held:
            raise ValueError(f"the worker holds no job {job_id}")  # a definite failure
        return self.held[job_id]


@contextlib.contextmanager
def _rq_clock(now: float) -> Iterator[None]:
    """rq's intermediate-queue cleanup reads rq.utils.now (imported as `now`): the harness's
    time instead, so "seen over a minute ago" needs no minute of waiting."""
    module: Any = rq.intermediate_queue
    real = module.now
    module.now = lambda: datetime.fromtimestamp(now, tz=UTC)
    try:
        yield
    finally:
        module.now = real


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def make_rq(client: redis.Redis, **options: Any) -> RqTarget:
    """The rq target: `queues` (1: LMOVE take; 2: LPOP take), `retries`, `unique`."""
    return RqTarget(client, **options)
