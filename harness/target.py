"""The target contract: what a queue under test offers, and where it keeps things in Redis.

A target is any object with the methods of `QueueTarget` and a `key_schema` attribute. It is
built by a factory, named as "module:factory", that receives the Redis client the harness
built (it goes through Toxiproxy, so faults land between the target's own round trips) and a
Prometheus registry for its telemetry. The harness never looks inside the target: it drives
the methods, records what each returned, and reads Redis directly through `key_schema`.

Errors a target may raise, and what the harness concludes from them:
  ValueError        bad input; the contract promises nothing was written ("fail").
  JobNotFound       the job does not exist for that workspace; nothing was written ("fail").
  redis.DataError   redis-py refused an argument before sending anything ("fail").
  redis.RedisError  (ConnectionError, TimeoutError, ...) the outcome is unknown: it may or
                    may not have happened ("unknown"), exactly as for a real caller.
Anything else is a crash of the target, reported as such.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable

import redis
from prometheus_client import CollectorRegistry

from harness.errors import InfrastructureError, UsageError


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})

MAX_PAYLOAD_BYTES = 64 * 1024
FAR_FUTURE = 4102444800.0  # 2100-01-01, epoch seconds: after every lease a run makes


class JobNotFound(LookupError):
    """The job does not exist in that workspace (nothing was written)."""


@dataclass(frozen=True)
class Job:
    job_id: str
    workspace_id: str
    client_request_id: str
    payload: Mapping[str, Any]
    status: str


# Fields of a job record, the same in both schemas (a flat Redis hash of strings).
JOB_FIELDS = ("id", "workspace_id", "client_request_id", "payload", "status")


def encode_job(job: Job) -> dict[str, str]:
    """A job as the hash both schemas store; one definition for every queue and the checker."""
    return {
        "id": job.job_id,
        "workspace_id": job.workspace_id,
        "client_request_id": job.client_request_id,
        "payload": json.dumps(job.payload, sort_keys=True, separators=(",", ":")),
        "status": str(job.status),
    }


def decode_job(record: Mapping[str, str]) -> Job:
    return Job(
        job_id=record.get("id", ""),
        workspace_id=record.get("workspace_id", ""),
        client_request_id=record.get("client_request_id", ""),
        payload=json.loads(record.get("payload") or "null") or {},
        status=record.get("status", ""),
    )


def readable_record(new: Mapping[tuple[str, str], Mapping[str, str]],
                    old: Mapping[str, Mapping[str, str]], workspace_id: str,
                    job_id: str) -> Any:
    """The record get_job(workspace_id, job_id) reads: the new record (keyed by workspace
    and id), else the old one (keyed by id) when it belongs to that workspace; else None."""
    record = new.get((workspace_id, job_id))
    if record is not None:
        return record
    record = old.get(job_id)
    return record if record is not None and record.get("workspace_id") == workspace_id else None


class KeyKind(StrEnum):
    OLD_JOB = "old_job"
    NEW_JOB = "new_job"
    IDEMPOTENCY = "idempotency"
    QUEUE = "queue"
    PROCESSING = "processing"
    LEASES = "leases"
    MALFORMED = "malformed"  # in our namespaces, but its parts are not valid ids
    FOREIGN = "foreign"  # not ours at all


@dataclass(frozen=True)
class ParsedKey:
    kind: KeyKind
    workspace_id: str | None = None
    job_id: str | None = None
    client_request_id: str | None = None


@dataclass(frozen=True)
class KeySchema:
    """Every key a target writes, in one place, so the checker can read Redis directly.

    old job record   {old_job_prefix}{job_id}                      hash (pre-migration layout)
    new job record   {new_job_prefix}{workspace_id}:{job_id}       hash (workspace-scoped)
    pending queue    {queue_key}                                   list of job ids
    processing       {processing_key}                              list of leased job ids
    leases           {lease_key}                                   zset job id -> deadline
    idempotency      {idempotency_prefix}{workspace_id}:{request}  string: the job id
    """

    old_job_prefix: str = "job:"
    new_job_prefix: str = "ai:job:"
    queue_key: str = "ai:queue:pending"
    processing_key: str = "ai:queue:processing"
    lease_key: str = "ai:queue:leases"
    idempotency_prefix: str = "ai:idem:"
    workspace_pattern: str = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
    request_id_pattern: str = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
    job_id_pattern: str = r"[0-9a-f]{32}"
    # Seconds an idempotency key may live (None: forever, the default). A queue that
    # expires them declares it here; the harness then accepts a TTL up to this long.
    idempotency_retention: float | None = None

    # --- building keys --------------------------------------------------------------------
    def old_job_key(self, job_id: str) -> str:
        return f"{self.old_job_prefix}{job_id}"

    def new_job_key(self, workspace_id: str, job_id: str) -> str:
        return f"{self.new_job_prefix}{workspace_id}:{job_id}"

    def idempotency_key(self, workspace_id: str, client_request_id: str) -> str:
        return f"{self.idempotency_prefix}{workspace_id}:{client_request_id}"

    def scan_patterns(self) -> tuple[str, ...]:
        """MATCH patterns that cover every key of this schema."""
        singles = (self.queue_key, self.processing_key, self.lease_key)
        prefixes = (self.old_job_prefix, self.new_job_prefix, self.idempotency_prefix)
        return (*singles, *(f"{p}*" for p in prefixes))

    # --- validating ids -------------------------------------------------------------------
    def valid_workspace_id(self, value: object) -> bool:
        return isinstance(value, str) and re.fullmatch(self.workspace_pattern, value) is not None

    def valid_request_id(self, value: object) -> bool:
        return isinstance(value, str) and re.fullmatch(self.request_id_pattern, value) is not None

    def valid_job_id(self, value: object) -> bool:
        return isinstance(value, str) and re.fullmatch(self.job_id_pattern, value) is not None

    # --- reading keys ---------------------------------------------------------------------
    def parse(self, key: str) -> ParsedKey:
        """What a key is, by name alone; keys in our namespaces with bad parts are MALFORMED."""
        singles = {
            self.queue_key: KeyKind.QUEUE,
            self.processing_key: KeyKind.PROCESSING,
            self.lease_key: KeyKind.LEASES,
        }
        if key in singles:
            return ParsedKey(singles[key])
        # The longer prefix first: the new prefix may start with the old one.
        prefixed = sorted(
            (
                (self.new_job_prefix, KeyKind.NEW_JOB),
                (self.old_job_prefix, KeyKind.OLD_JOB),
                (self.idempotency_prefix, KeyKind.IDEMPOTENCY),
            ),
            key=lambda item: -len(item[0]),
        )
        for prefix, kind in prefixed:
            if key.startswith(prefix):
                return self._parse_rest(kind, key[len(prefix):])
        return ParsedKey(KeyKind.FOREIGN)

    def _parse_rest(self, kind: KeyKind, rest: str) -> ParsedKey:
        malformed = ParsedKey(KeyKind.MALFORMED)
        if kind is KeyKind.OLD_JOB:
            return ParsedKey(kind, job_id=rest) if self.valid_job_id(rest) else malformed
        workspace_id, sep, last = rest.rpartition(":")
        if not sep or not self.valid_workspace_id(workspace_id):
            return ParsedKey(KeyKind.MALFORMED, workspace_id=workspace_id or None)
        if kind is KeyKind.NEW_JOB:
            if not self.valid_job_id(last):
                return malformed
            return ParsedKey(kind, workspace_id=workspace_id, job_id=last)
        if not self.valid_request_id(last):
            return malformed
        return ParsedKey(kind, workspace_id=workspace_id, client_request_id=last)


DEFAULT_SCHEMA = KeySchema()


class MetricNames:
    """Telemetry a target reports into the registry it is given (prometheus-client names).

    dual_writes      Counter, labels operation (enqueue | update_status | dequeue | complete |
                     fail | requeue) and outcome (success | failure): one per call of a write
                     operation that got past input validation.
    fallback_reads   Counter: get_job answered from the old schema (new record missing).
    cleanup_failures Counter: a compensating delete after a failed write itself failed.
    divergence       Counter: the queue saw old and new records disagree.

    A registry holding none of these names means the target reports no telemetry; the
    telemetry invariant is then skipped (and says so).
    """

    DUAL_WRITES = "queue_dual_write"
    FALLBACK_READS = "queue_fallback_reads"
    CLEANUP_FAILURES = "queue_cleanup_failures"
    DIVERGENCE = "queue_schema_divergence"

    ALL = (DUAL_WRITES, FALLBACK_READS, CLEANUP_FAILURES, DIVERGENCE)


@runtime_checkable
class QueueTarget(Protocol):
    """The operations a queue under test offers. All ids are strings.

    This docstring and the methods' are the contract, word for word; `harness.spec` is the
    same contract as code, and the harness judges every step against it.

    Words used below:
      readable in W   the job has a new record {new_job_prefix}W:{id}, or an old record
                      {old_job_prefix}{id} whose workspace_id is W.
      its records     the job's old record and its new record in the job's own workspace
                      (whichever of the two exist: another writer may have left one only).
      pending         the list `queue_key`; its head (left) is the oldest job, new and
                      requeued jobs go to its tail (right).
      processing      the list `processing_key`: leased jobs (its order promises nothing).
      leases          the sorted set `lease_key`: leased job id -> deadline (epoch seconds).
      idempotency     {idempotency_prefix}W:{request id} -> the job id that request got.

    What no operation does: delete a job record, create the record of a schema a job
    lacks (a job another writer left in one schema stays in one schema), change a record
    field other than `status`, or give any key of the schema a TTL (keys live until a
    person deletes them; a KeySchema may declare `idempotency_retention`, and then only
    idempotency keys expire, no sooner than that).

    Inputs the contract admits, judged by the target's KeySchema; anything else raises
    ValueError and writes nothing:
      workspace_id, client_request_id, job_id   strings matching the schema's patterns;
      payload          a dict that JSON gives back unchanged (str keys, lists, no NaN), at
                       most MAX_PAYLOAD_BYTES as JSON text;
      status           one of JobStatus's values;
      lease_seconds    a finite int or float > 0 (not a bool);
      now              None, or a finite int or float (not a bool).
    """

    key_schema: KeySchema

    def enqueue(
        self, workspace_id: str, payload: Mapping[str, Any], client_request_id: str
    ) -> str:
        """Store the job in both schemas and push it; return its job id.

        If (workspace_id, client_request_id) has an idempotency entry, return the job id it
        names and change nothing (the payload given is ignored: the first one stays).
        Otherwise, all or nothing: a new job id (matching `job_id_pattern`, used by no other
        job), an old and a new record with status queued and this payload, the id at the
        tail of pending, and the idempotency entry naming it. So retrying with the same
        (workspace_id, client_request_id) after any failure returns the same job id and
        creates nothing twice.
        """
        ...

    def get_job(self, workspace_id: str, job_id: str) -> Job | None:
        """The job, from the new schema, else the old; None when it is not readable in this
        workspace. Changes nothing."""
        ...

    def update_status(self, workspace_id: str, job_id: str, status: str) -> None:
        """Set the status in both schemas. JobNotFound if the job is not in this workspace.

        Every record of the job readable in `workspace_id` gets `status`; nothing else
        changes: no list or lease moves, and any status may follow any other, a finished
        job's included (a caller who sets queued on a finished job does not requeue it).
        """
        ...

    def list_jobs(self, workspace_id: str) -> list[Job]:
        """Every job of the workspace, whichever schema holds it.

        Each job readable in `workspace_id` once, as get_job(workspace_id, id) returns it,
        in any order. Changes nothing.
        """
        ...

    def dequeue(self, lease_seconds: float) -> Job | None:
        """Lease the oldest pending job (moved to processing, status running), or None.

        None exactly when pending is empty. Otherwise the head of pending moves to
        processing, gets a lease whose deadline is the wall clock during the call plus
        `lease_seconds`, its records get status running, and the job is returned as
        get_job in its own workspace would now return it.
        """
        ...

    def complete(self, workspace_id: str, job_id: str) -> None:
        """Finish a leased job: out of processing, status completed.

        JobNotFound if the job is not readable in `workspace_id`. Otherwise its records
        readable there get status completed, its processing entry and its lease go (if it
        has them), and pending is left as it is. A job that is not leased is finished all
        the same: a worker whose lease ended and was requeued still reports its work; a
        pending entry stays, so the job may run again (delivery is at least once).
        """
        ...

    def fail(self, workspace_id: str, job_id: str) -> None:
        """Give up on a leased job: out of processing, status failed (as complete does)."""
        ...

    def requeue_expired(self, now: float | None = None) -> list[str]:
        """Put jobs whose lease ended before `now` (epoch seconds) back on the queue.

        `now` defaults to the wall clock. Every lease with deadline <= now goes; each such
        job in processing leaves it, goes to the tail of pending (earliest deadline first,
        ties by job id) and its records get status queued. Returns the ids put back, in
        any order. Leases with a later deadline are not touched.
        """
        ...


TargetFactory = Callable[[redis.Redis, CollectorRegistry], QueueTarget]

TARGET_GROUP = "queue_chaos.targets"  # entry points: name -> module:factory
FAMILY_GROUP = "queue_chaos.target_families"  # entry points: prefix -> (ID -> module:factory)


@functools.cache
def _declared(group: str) -> tuple[EntryPoint, ...]:
    """A group's entry points, read once per process: scanning every installed package's
    metadata took 5 ms, and the machine builds a target per client per example."""
    return tuple(entry_points(group=group))


def target_aliases() -> dict[str, str]:
    """Every named target the installed packages declare (pyproject entry points)."""
    return {ep.name: ep.value for ep in _declared(TARGET_GROUP)}


def target_families() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in _declared(FAMILY_GROUP)}

CONTRACT_METHODS = (
    "enqueue", "get_job", "update_status", "list_jobs",
    "dequeue", "complete", "fail", "requeue_expired",
)


def resolve_target(spec: str) -> str:
    """A named target (reference, phase1, variant:ID, ... as installed packages declare
    them) or "module:factory", as "module:factory"."""
    prefix, sep, rest = spec.partition(":")
    family = target_families().get(prefix) if sep else None
    if family is not None:
        return str(family.load()(rest))
    aliases = target_aliases()
    resolved = aliases.get(spec, spec)
    module, sep, attr = resolved.partition(":")
    if not sep or not module or not attr:
        raise UsageError(
            f"bad target {spec!r}: give module:factory (e.g. mypkg.queue:make_queue) "
            f"or one of {', '.join(aliases)}"
        )
    return resolved


def load_factory(spec: str | TargetFactory) -> TargetFactory:
    """Import the factory a target spec names; every failure is a one-line UsageError.

    A factory given as such (the pytest plugin passes a user's callable) is used as it is.
    """
    if not isinstance(spec, str):
        if callable(spec):
            return spec
        raise UsageError(f"bad target {spec!r}: give module:factory or the factory itself")
    resolved = resolve_target(spec)
    module_name, _, attr = resolved.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise UsageError(
            f"target {spec!r}: module {module_name!r} does not import "
            f"({type(exc).__name__}: {exc}); check the name and that it is on PYTHONPATH"
        ) from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise UsageError(
            f"target {spec!r}: {module_name} has no callable {attr!r}; "
            "the factory takes (redis_client, registry) and returns the queue"
        )
    return factory


def check_contract(target: object, spec: str = "target") -> QueueTarget:
    """The target itself, or a UsageError listing what the contract misses."""
    missing = [name for name in CONTRACT_METHODS if not callable(getattr(target, name, None))]
    schema = getattr(target, "key_schema", None)
    if not isinstance(schema, KeySchema):
        missing.append("key_schema (a harness.target.KeySchema)")
    if missing:
        raise UsageError(
            f"{spec} does not meet the target contract: missing {', '.join(missing)} "
            "(see harness/target.py)"
        )
    return target  # type: ignore[return-value]


def build_target(
    spec: str | TargetFactory, client: redis.Redis, registry: CollectorRegistry
) -> QueueTarget:
    """Load the factory, call it, and check what it returns meets the contract."""
    factory = load_factory(spec)
    try:
        target = factory(client, registry)
    except redis.RedisError as exc:
        raise InfrastructureError(
            f"target {spec!r}: the factory could not reach Redis ({type(exc).__name__}: {exc})"
        ) from exc
    except Exception as exc:
        raise UsageError(
            f"target {spec!r}: the factory raised {type(exc).__name__}: {exc}"
        ) from exc
    return check_contract(target, f"target {spec!r}")
