"""The true state of a queue in Redis, read over a direct connection the faults never touch.

A snapshot holds every key of a `KeySchema`'s namespaces, sorted by what it is. It is read
with SCAN (never KEYS) and a non-transactional pipeline, so a step of the state machine
costs a couple of round trips however many keys there are. It is not atomic: take it when
nothing else writes (after a step, or after a run has drained).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import redis

from harness.target import DEFAULT_SCHEMA, TERMINAL_STATUSES, KeyKind, KeySchema, readable_record

Record = dict[str, str]

SCAN_COUNT = 1000  # keys per SCAN call: a gate-sized state comes back in one round trip

# The Redis type each kind of key must have, and the command that reads it.
EXPECTED_TYPES = {
    KeyKind.OLD_JOB: "hash",
    KeyKind.NEW_JOB: "hash",
    KeyKind.QUEUE: "list",
    KeyKind.PROCESSING: "list",
    KeyKind.LEASES: "zset",
    KeyKind.IDEMPOTENCY: "string",
}


@dataclass(frozen=True)
class Snapshot:
    """Everything in our namespaces at one moment, by kind; helpers answer per-job questions."""

    old_jobs: dict[str, Record] = field(default_factory=dict)
    new_jobs: dict[tuple[str, str], Record] = field(default_factory=dict)  # (ws, job id)
    queue: list[str] = field(default_factory=list)
    processing: list[str] = field(default_factory=list)
    leases: dict[str, float] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], str] = field(default_factory=dict)  # (ws, rid) -> job
    malformed: dict[str, str] = field(default_factory=dict)  # key -> why it is malformed
    ttls: dict[str, float] = field(default_factory=dict)  # key -> seconds left, keys with a TTL
    schema: KeySchema = field(default=DEFAULT_SCHEMA, compare=False, repr=False)

    # --- per job ------------------------------------------------------------------------
    @cached_property
    def _new_by_job(self) -> dict[str, dict[str, Record]]:
        index: dict[str, dict[str, Record]] = {}
        for (workspace_id, job_id), record in sorted(self.new_jobs.items()):
            index.setdefault(job_id, {})[workspace_id] = record
        return index

    def new_records_of(self, job_id: str) -> dict[str, Record]:
        """Every new-schema record of this id, by the workspace its key names."""
        return self._new_by_job.get(job_id, {})

    def records_of(self, job_id: str) -> tuple[Record | None, Record | None]:
        """(old, new) records of a job. With new records in several workspaces (a tenant
        bug), the one in the old record's workspace, else the first by workspace name."""
        old = self.old_jobs.get(job_id)
        news = self.new_records_of(job_id)
        if not news:
            return old, None
        home = old.get("workspace_id") if old else None
        return old, news.get(home) if home in news else next(iter(news.values()))

    def readable_record(self, workspace_id: str, job_id: str) -> Record | None:
        """What get_job(workspace_id, job_id) should find: the new record, else the old one
        when it belongs to that workspace."""
        return readable_record(self.new_jobs, self.old_jobs, workspace_id, job_id)

    def job_ids(self) -> list[str]:
        """Every id with a record in either schema, sorted."""
        return sorted(set(self.old_jobs) | set(self._new_by_job))

    def status_of(self, job_id: str) -> str | None:
        """The status a reader sees: the new record's, else the old record's."""
        old, new = self.records_of(job_id)
        for record in (new, old):
            if record is not None and "status" in record:
                return record["status"]
        return None

    def all_records_of(self, job_id: str) -> list[Record]:
        """Every record of the job: the old one first, then new ones by workspace."""
        old = self.old_jobs.get(job_id)
        return ([old] if old is not None else []) + list(self.new_records_of(job_id).values())

    def has_record(self, job_id: str) -> bool:
        return job_id in self.old_jobs or job_id in self._new_by_job

    def statuses_of(self, job_id: str) -> set[str]:
        """The status of every record of the job (several when the schemas disagree)."""
        return {r["status"] for r in self.all_records_of(job_id) if "status" in r}

    def is_terminal(self, job_id: str) -> bool:
        return any(status in TERMINAL_STATUSES for status in self.statuses_of(job_id))

    def workspace_jobs(self, workspace_id: str) -> set[str]:
        """Ids whose new key is in the workspace or whose old record says it is."""
        ids = {job_id for (ws, job_id) in self.new_jobs if ws == workspace_id}
        ids.update(j for j, r in self.old_jobs.items() if r.get("workspace_id") == workspace_id)
        return ids

    # --- lists --------------------------------------------------------------------------
    @cached_property
    def listed(self) -> frozenset[str]:
        """Ids in the pending or processing list."""
        return frozenset(self.queue) | frozenset(self.processing)

    # --- keys ---------------------------------------------------------------------------
    def contents(self) -> dict[str, Any]:
        """Key name -> value, for every key this snapshot holds (empty lists do not exist)."""
        s = self.schema
        out: dict[str, Any] = {s.old_job_key(j): r for j, r in self.old_jobs.items()}
        out.update({s.new_job_key(ws, j): r for (ws, j), r in self.new_jobs.items()})
        out.update({s.idempotency_key(ws, rid): j for (ws, rid), j in self.idempotency.items()})
        singles = ((s.queue_key, self.queue), (s.processing_key, self.processing),
                   (s.lease_key, self.leases))
        out.update({key: value for key, value in singles if value})
        out.update({key: ("malformed", why) for key, why in self.malformed.items()})
        return out

    def keys(self) -> set[str]:
        """The names of every key in our namespaces."""
        return set(self.contents())

    def changed_keys(self, before: Snapshot) -> list[str]:
        """Keys added, removed or changed since `before`, sorted."""
        now, then = self.contents(), before.contents()
        return sorted(k for k in now.keys() | then.keys() if now.get(k) != then.get(k))


def take_snapshot(
    client: redis.Redis, schema: KeySchema = DEFAULT_SCHEMA, scan_count: int = SCAN_COUNT
) -> Snapshot:
    """Read every key of `schema` from Redis (a direct client with decode_responses=True)."""
    if not client.connection_pool.connection_kwargs.get("decode_responses"):
        raise ValueError("take_snapshot needs a client with decode_responses=True")
    patterns = schema.scan_patterns()
    # A pattern without glob characters names one key: read it, no need to scan for it.
    literal = {p for p in patterns if not any(c in p for c in "*?[")}
    keys = sorted(_scan(client, [p for p in patterns if p not in literal], scan_count) | literal)
    ours = [(key, schema.parse(key).kind) for key in keys]
    ours = [(key, kind) for key, kind in ours if kind is not KeyKind.FOREIGN]

    pipe = client.pipeline(transaction=False)
    for key, kind in ours:
        _queue_read(pipe, key, kind)
    for key, _ in ours:
        pipe.pttl(key)  # in the same round trip: a TTL is state too (a promise that expires)
    replies = pipe.execute(raise_on_error=False)
    values, pttls = replies[:len(ours)], replies[len(ours):]

    wrong_type = [key for (key, _), value in zip(ours, values, strict=True)
                  if isinstance(value, redis.ResponseError)]
    types = _types(client, wrong_type)
    ttls = {key: ms / 1000 for (key, _), ms in zip(ours, pttls, strict=True)
            if isinstance(ms, int) and ms >= 0}
    parts: dict[str, Any] = {"old_jobs": {}, "new_jobs": {}, "idempotency": {}, "malformed": {},
                             "ttls": ttls}
    for (key, kind), value in zip(ours, values, strict=True):
        if isinstance(value, redis.ResponseError):
            parts["malformed"][key] = (
                f"a {types.get(key, '?')} where a {EXPECTED_TYPES[kind]} belongs ({kind})")
        elif kind is KeyKind.MALFORMED:
            parts["malformed"][key] = f"{malformed_reason(schema, key)} (a {value})"
        else:
            _store(parts, schema, key, kind, value)
    return Snapshot(schema=schema, **parts)


def _scan(client: redis.Redis, patterns: Iterable[str], count: int) -> set[str]:
    """SCAN every pattern; the first call of each goes in one pipeline, then only the
    patterns with more to read go on."""
    found: set[str] = set()
    cursors = {pattern: 0 for pattern in patterns}
    while cursors:
        pipe = client.pipeline(transaction=False)
        for pattern, cursor in cursors.items():
            pipe.scan(cursor, match=pattern, count=count)
        replies = pipe.execute()
        next_cursors = {}
        for pattern, (cursor, keys) in zip(cursors, replies, strict=True):
            found.update(keys)
            if int(cursor):
                next_cursors[pattern] = int(cursor)
        cursors = next_cursors
    return found


def _queue_read(pipe: Any, key: str, kind: KeyKind) -> None:
    if kind in (KeyKind.OLD_JOB, KeyKind.NEW_JOB):
        pipe.hgetall(key)
    elif kind in (KeyKind.QUEUE, KeyKind.PROCESSING):
        pipe.lrange(key, 0, -1)
    elif kind is KeyKind.LEASES:
        pipe.zrange(key, 0, -1, withscores=True)
    elif kind is KeyKind.IDEMPOTENCY:
        pipe.get(key)
    else:
        pipe.type(key)


def _types(client: redis.Redis, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    return dict(zip(keys, pipe.execute(), strict=True))


def _store(parts: dict[str, Any], schema: KeySchema, key: str, kind: KeyKind, value: Any) -> None:
    """File one read value under its kind; a key gone between SCAN and read is skipped."""
    parsed = schema.parse(key)
    if not value:
        return
    if kind is KeyKind.OLD_JOB:
        parts["old_jobs"][parsed.job_id] = dict(value)
    elif kind is KeyKind.NEW_JOB:
        parts["new_jobs"][(parsed.workspace_id, parsed.job_id)] = dict(value)
    elif kind is KeyKind.IDEMPOTENCY:
        parts["idempotency"][(parsed.workspace_id, parsed.client_request_id)] = value
    elif kind is KeyKind.QUEUE:
        parts["queue"] = list(value)
    elif kind is KeyKind.PROCESSING:
        parts["processing"] = list(value)
    elif kind is KeyKind.LEASES:
        parts["leases"] = {member: float(score) for member, score in value}


def malformed_reason(schema: KeySchema, key: str) -> str:
    """Why `schema.parse` calls a key malformed, in the words of its namespace."""
    layouts = sorted(
        (
            (schema.new_job_prefix, "new job key", "{workspace_id}:{job_id}"),
            (schema.old_job_prefix, "old job key", "{job_id}"),
            (schema.idempotency_prefix, "idempotency key", "{workspace_id}:{request_id}"),
        ),
        key=lambda layout: -len(layout[0]),
    )
    for prefix, what, layout in layouts:
        if key.startswith(prefix):
            return f"{what} whose parts are not valid ids (expected {prefix}{layout})"
    return "key in our namespaces whose parts are not valid ids"


def iter_records(snapshot: Snapshot) -> Iterator[tuple[str, str, Record]]:
    """(key, job id, record) for every record of both schemas, in key order."""
    s = snapshot.schema
    rows = [(s.old_job_key(j), j, r) for j, r in snapshot.old_jobs.items()]
    rows += [(s.new_job_key(ws, j), j, r) for (ws, j), r in snapshot.new_jobs.items()]
    return iter(sorted(rows, key=lambda row: row[0]))
