"""The invariants that Redis state shows, alone or read against what the history says.

Each rule takes a snapshot and, when there is one, the fold of the history (`HistoryModel`).
Without a history a rule judges only what no correct queue can ever leave behind; with one
it also knows which jobs were acknowledged, seeded, or had their status set by a caller.
Each broken thing is reported once, by a rule that names its keys and values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from harness.invariants import INVARIANTS, Violation
from harness.model import HistoryModel, RequestKey
from harness.snapshot import Snapshot, iter_records

REQUIRED_FIELDS = ("id", "workspace_id", "status")  # what a worker needs to run a job

StateRule = Callable[[Snapshot, HistoryModel | None], list[Violation]]


def accounted(snapshot: Snapshot, job_id: str, model: HistoryModel | None) -> bool:
    """In a list, or finished, or holding a status a caller set (then no list is owed)."""
    if job_id in snapshot.listed or snapshot.is_terminal(job_id):
        return True
    asked = model.caller_statuses.get(job_id, set()) if model else set()
    return bool(asked & snapshot.statuses_of(job_id))


def record_keys(snapshot: Snapshot, job_id: str) -> list[str]:
    s = snapshot.schema
    keys = [s.old_job_key(job_id)] if job_id in snapshot.old_jobs else []
    return keys + [s.new_job_key(ws, job_id) for ws in snapshot.new_records_of(job_id)]


# --- no_orphan_keys ---------------------------------------------------------------------
def orphan_records(snapshot: Snapshot, model: HistoryModel | None) -> list[Violation]:
    found = []
    for job_id in snapshot.job_ids():
        if not accounted(snapshot, job_id, model):
            statuses = sorted(snapshot.statuses_of(job_id))
            found.append(Violation(
                "no_orphan_keys",
                f"job {job_id} is in neither list and not finished (status {statuses})",
                {"job_id": job_id, "keys": record_keys(snapshot, job_id), "statuses": statuses},
            ))
    return found


def incomplete_records(snapshot: Snapshot, _: HistoryModel | None) -> list[Violation]:
    found = []
    for key, job_id, record in iter_records(snapshot):
        missing = [f for f in REQUIRED_FIELDS if f not in record]
        if missing:
            found.append(Violation(
                "no_orphan_keys", f"job record {key} lacks fields {missing}",
                {"key": key, "record": dict(record), "missing": missing}))
        elif record["id"] != job_id:
            found.append(Violation(
                "no_orphan_keys", f"job record {key} says its id is {record['id']!r}",
                {"key": key, "record": dict(record)}))
    return found


def entries_without_record(snapshot: Snapshot, _: HistoryModel | None) -> list[Violation]:
    s = snapshot.schema
    found = []
    for job_id in sorted(snapshot.listed):
        if not snapshot.has_record(job_id):
            lists = [key for key, entries in ((s.queue_key, snapshot.queue),
                                              (s.processing_key, snapshot.processing))
                     if job_id in entries]
            found.append(Violation(
                "no_orphan_keys", f"list entry {job_id} has no job record in either schema",
                {"job_id": job_id, "lists": lists}))
    return found


def idempotency_without_job(snapshot: Snapshot, _: HistoryModel | None) -> list[Violation]:
    found = []
    for (ws, rid), job_id in sorted(snapshot.idempotency.items()):
        if not snapshot.has_record(job_id):
            key = snapshot.schema.idempotency_key(ws, rid)
            found.append(Violation(
                "no_orphan_keys", f"idempotency key {key} names job {job_id}, which has no record",
                {"key": key, "job_id": job_id}))
    return found


def leases_without_entry(snapshot: Snapshot, _: HistoryModel | None) -> list[Violation]:
    return [
        Violation("no_orphan_keys", f"lease on {job_id} but it is not in the processing list",
                  {"key": snapshot.schema.lease_key, "job_id": job_id, "deadline": deadline})
        for job_id, deadline in sorted(snapshot.leases.items())
        if job_id not in snapshot.processing
    ]


def malformed_keys(snapshot: Snapshot, _: HistoryModel | None) -> list[Violation]:
    return [Violation("no_orphan_keys", f"malformed key {key!r}: {why}", {"key": key, "why": why})
            for key, why in sorted(snapshot.malformed.items())]


# --- no_lost_jobs -----------------------------------------------------------------------
def owed_jobs(model: HistoryModel) -> dict[str, str]:
    """Job id -> workspace of every job that must exist: acknowledged, or surely seeded."""
    owed = {j: s.workspace_id for j, s in model.seeded.items() if s.certain}
    owed.update({j: a.workspace_id for j, a in model.acknowledged.items()})
    return owed


def is_lost(snapshot: Snapshot, ws: str, job_id: str, model: HistoryModel | None) -> bool:
    return snapshot.readable_record(ws, job_id) is None or not accounted(snapshot, job_id, model)


def lost_jobs(snapshot: Snapshot, model: HistoryModel | None) -> list[Violation]:
    """Every acknowledged or surely seeded job is readable in its workspace and accounted;
    every request retried after healing got an ok at last (one transient error after the
    network healed is forgiven if a later retry succeeds)."""
    if model is None:
        return []
    found = [
        Violation("no_lost_jobs",
                  f"after healing, request {r.client_request_id!r} in {r.workspace_id} was "
                  f"retried and never succeeded (last: {r.last_healed[1]})",
                  {"workspace_id": r.workspace_id, "client_request_id": r.client_request_id,
                   "attempts": {str(k): n for k, n in sorted(r.attempts.items())}},
                  (r.first_op, r.last_healed[0]))
        for r in model.unresolved_after_healing() if r.last_healed
    ]
    for job_id, ws in sorted(owed_jobs(model).items()):
        ack = model.acknowledged.get(job_id)
        why = f"acknowledged to request {ack.client_request_id!r}" if ack else "seeded"
        op = ack.op if ack else model.seeded[job_id].op
        evidence = {"job_id": job_id, "workspace_id": ws, "keys": record_keys(snapshot, job_id)}
        if snapshot.readable_record(ws, job_id) is None:
            found.append(Violation(
                "no_lost_jobs", f"job {job_id} ({why} in {ws}) has no record readable in {ws}",
                evidence, (op,)))
        elif not accounted(snapshot, job_id, model):
            statuses = sorted(snapshot.statuses_of(job_id))
            found.append(Violation(
                "no_lost_jobs",
                f"job {job_id} ({why} in {ws}) is in neither list and not finished "
                f"(status {statuses})", evidence | {"statuses": statuses}, (op,)))
    return found


# --- schema_agreement -------------------------------------------------------------------
def disagreeing_records(snapshot: Snapshot, _: HistoryModel | None) -> list[Violation]:
    s = snapshot.schema
    found = []
    for job_id, old in sorted(snapshot.old_jobs.items()):
        for ws, new in snapshot.new_records_of(job_id).items():
            fields = {f: {"old": old.get(f), "new": new.get(f)}
                      for f in sorted(old.keys() | new.keys()) if old.get(f) != new.get(f)}
            if fields:
                found.append(Violation(
                    "schema_agreement",
                    f"job {job_id}: old and new records differ on {sorted(fields)}",
                    {"job_id": job_id, "keys": [s.old_job_key(job_id), s.new_job_key(ws, job_id)],
                     "fields": fields}))
    return found


def one_sided_records(snapshot: Snapshot, model: HistoryModel | None) -> list[Violation]:
    """A job the target made lacks a schema (seeded jobs may be one-sided: their writer was)."""
    if model is None:
        return []
    found = []
    for job_id in sorted(set(snapshot.job_ids()) | set(model.acknowledged)):
        old, news = snapshot.old_jobs.get(job_id), snapshot.new_records_of(job_id)
        if (old is None) == (not news):
            continue  # both schemas, or neither (then no_lost_jobs speaks)
        if model.created_by_target(job_id, snapshot.all_records_of(job_id)):
            missing = "new" if old is not None else "old"
            found.append(Violation(
                "schema_agreement", f"job {job_id} made by the target has no {missing} record",
                {"job_id": job_id, "keys": record_keys(snapshot, job_id), "missing": missing},
                _ack_ops(model, job_id)))
    return found


# --- no_duplicates ----------------------------------------------------------------------
def duplicate_entries(snapshot: Snapshot, _: HistoryModel | None) -> list[Violation]:
    pending, processing = Counter(snapshot.queue), Counter(snapshot.processing)
    return [
        Violation("no_duplicates",
                  f"job {job_id} is listed {pending[job_id] + processing[job_id]} times",
                  {"job_id": job_id, "pending": pending[job_id],
                   "processing": processing[job_id]})
        for job_id in sorted(pending.keys() | processing.keys())
        if pending[job_id] + processing[job_id] > 1
    ]


# --- tenant_isolation -------------------------------------------------------------------
def misfiled_records(snapshot: Snapshot, _: HistoryModel | None) -> list[Violation]:
    s = snapshot.schema
    return [
        Violation("tenant_isolation",
                  f"record {s.new_job_key(ws, job_id)} belongs to workspace "
                  f"{record['workspace_id']!r}",
                  {"key": s.new_job_key(ws, job_id), "workspace_id": record["workspace_id"]})
        for (ws, job_id), record in sorted(snapshot.new_jobs.items())
        if "workspace_id" in record and record["workspace_id"] != ws
    ]


# --- retry_safe_idempotency -------------------------------------------------------------
def request_records(snapshot: Snapshot, model: HistoryModel | None) -> dict[RequestKey, set[str]]:
    """The jobs whose records carry each (workspace, request id). Seeded jobs are left out
    when the history is known: their writer never promised request-id uniqueness."""
    groups: dict[RequestKey, set[str]] = {}
    for _, job_id, record in iter_records(snapshot):
        if model is not None and job_id in model.seeded:
            continue
        ws, rid = record.get("workspace_id", ""), record.get("client_request_id", "")
        if ws and rid:
            groups.setdefault((ws, rid), set()).add(job_id)
    return groups


def extra_jobs(snapshot: Snapshot, model: HistoryModel) -> set[str]:
    """Every job of a request beyond its first: by its records in Redis, or by what its
    enqueues returned. The first is the one an enqueue returned first (else the least id)."""
    groups = request_records(snapshot, model)
    for key, request in model.requests.items():
        groups.setdefault(key, set()).update(request.job_ids)
    extra: set[str] = set()
    for key, jobs in groups.items():
        if len(jobs) < 2:
            continue
        returned = model.requests[key].job_ids if key in model.requests else {}
        first = min(returned, key=returned.__getitem__) if returned else min(jobs)
        extra |= jobs - {first}
    return extra


def jobs_per_request(snapshot: Snapshot, model: HistoryModel | None) -> list[Violation]:
    """Records of one (workspace, request id) all name one job."""
    found = []
    for (ws, rid), job_ids in sorted(request_records(snapshot, model).items()):
        if len(job_ids) > 1:
            found.append(Violation(
                "retry_safe_idempotency",
                f"request {rid!r} in {ws} has {len(job_ids)} jobs: {sorted(job_ids)}",
                {"workspace_id": ws, "client_request_id": rid, "job_ids": sorted(job_ids),
                 "keys": sorted(k for j in job_ids for k in record_keys(snapshot, j))},
                _request_ops(model, ws, rid)))
    return found


def idempotency_mismatches(snapshot: Snapshot, model: HistoryModel | None) -> list[Violation]:
    """An idempotency key names the job its request got, and that job's record agrees."""
    found = []
    for (ws, rid), job_id in sorted(snapshot.idempotency.items()):
        key = snapshot.schema.idempotency_key(ws, rid)
        request = model.requests.get((ws, rid)) if model else None
        if request is not None and request.job_ids and job_id not in request.job_ids:
            found.append(Violation(
                "retry_safe_idempotency",
                f"idempotency key {key} names {job_id} but the request got "
                f"{sorted(request.job_ids)}",
                {"key": key, "job_id": job_id, "acknowledged": sorted(request.job_ids)},
                tuple(sorted(request.job_ids.values()))))
            continue
        for record in snapshot.all_records_of(job_id):
            owner = (record.get("workspace_id"), record.get("client_request_id"))
            if None not in owner and owner != (ws, rid):
                found.append(Violation(
                    "retry_safe_idempotency",
                    f"idempotency key {key} names {job_id}, a job of request {owner[1]!r} "
                    f"in {owner[0]}",
                    {"key": key, "job_id": job_id, "record_request": list(owner)}))
                break
    return found


def _ack_ops(model: HistoryModel, job_id: str) -> tuple[int, ...]:
    ack = model.acknowledged.get(job_id)
    return (ack.op,) if ack else ()


def _request_ops(model: HistoryModel | None, ws: str, rid: str) -> tuple[int, ...]:
    request = model.requests.get((ws, rid)) if model else None
    if request is None:
        return ()
    return tuple(sorted({request.first_op, *request.job_ids.values()}))


STATE_RULES: tuple[StateRule, ...] = (
    lost_jobs,
    orphan_records, incomplete_records, entries_without_record, idempotency_without_job,
    leases_without_entry, malformed_keys,
    disagreeing_records, one_sided_records,
    duplicate_entries,
    misfiled_records,
    jobs_per_request, idempotency_mismatches,
)

_ORDER = {name: i for i, name in enumerate(INVARIANTS)}


def settle(violations: Iterable[Violation]) -> list[Violation]:
    """Each broken thing once, in a stable order (invariant, message, operations)."""
    unique = {(v.invariant, v.message, v.operations): v for v in violations}
    return [unique[k] for k in sorted(unique, key=lambda k: (_ORDER.get(k[0], 99), *k[1:]))]


def judge_state(snapshot: Snapshot, model: HistoryModel | None) -> list[Violation]:
    return settle(v for rule in STATE_RULES for v in rule(snapshot, model))


def check_snapshot(snapshot: Snapshot) -> list[Violation]:
    """Judge a Redis state alone, with no history: usable on hand-made states.

    Without a history nothing is known of acknowledged enqueues (no_lost_jobs is not
    judged), of which jobs a legacy or Phase-2 writer made (one-sided records are not
    judged: only records present in both schemas must agree), or of statuses a caller set
    (so a record outside both lists must be finished). Seeded records count in the
    one-request-one-job check.
    """
    return judge_state(snapshot, None)
