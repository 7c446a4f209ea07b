"""A candidate state against a snapshot: bind what was open, list every difference, name it.

`compare` first settles what the state held open (the real id of a job an unknown enqueue
may have made, found by its request's idempotency entry or records; a lease deadline, read
off the lease set when it lies in the interval the call allows), then compares every key:
record fields, which records exist, pending (entries and order), processing (as a
multiset), leases and deadlines, idempotency entries, TTLs, and keys the contract does not
explain. Each difference becomes a Problem under the invariant it breaks, in words a
reviewer would use: "after #3 update_status(ws-a, X, running) -> ok: the contract says
ai:job:ws-a:X has status=running; Redis: status=queued".
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.snapshot import Snapshot
from harness.spec.engine import Problem
from harness.spec.state import (
    ANY,
    NEW,
    OLD,
    Deadline,
    QueueState,
    Record,
    contract_fields,
    is_placeholder,
)
from harness.target import JOB_FIELDS, TERMINAL_STATUSES, KeySchema

MAX_BINDINGS = 3  # candidate ids tried for one unknown enqueue's job


def adopt(snapshot: Snapshot) -> QueueState:
    """The state a snapshot shows, as the contract's state (every deadline pinned)."""
    return QueueState(
        old={j: contract_fields(r) for j, r in snapshot.old_jobs.items()},
        new={k: contract_fields(r) for k, r in snapshot.new_jobs.items()},
        pending=tuple(snapshot.queue), processing=tuple(snapshot.processing),
        leases={j: Deadline(d, d) for j, d in snapshot.leases.items()},
        idempotency=dict(snapshot.idempotency),
        known_strays=frozenset(snapshot.malformed), known_ttls=frozenset(snapshot.ttls))


def compare(state: QueueState, snapshot: Snapshot, schema: KeySchema,
            context: str) -> list[tuple[QueueState, list[Problem]]]:
    """Each way of settling `state` by the snapshot, with the problems left."""
    out = []
    for settled in _bind(state, snapshot):
        _pin(settled, snapshot)
        out.append((settled, Differences(settled, snapshot, schema, context).problems()))
    return out


def _bind(state: QueueState, snapshot: Snapshot) -> list[QueueState]:
    """Give each placeholder the real id of the job its request made, if Redis shows one."""
    states = [state.copy()]
    for placeholder, (ws, rid) in sorted(state.placeholders.items()):
        known = state.job_ids() - {placeholder}
        found = []
        named = snapshot.idempotency.get((ws, rid))
        if named is not None and named not in known:
            found.append(named)
        for job_id in snapshot.job_ids():
            if job_id not in known and job_id not in found and any(
                    (r.get("workspace_id"), r.get("client_request_id")) == (ws, rid)
                    for r in snapshot.all_records_of(job_id)):
                found.append(job_id)
        if not found:
            continue
        bound = []
        for candidate in states:
            for job_id in found[:MAX_BINDINGS]:
                renamed = candidate.copy()
                renamed.rename(placeholder, job_id)
                bound.append(renamed)
        states = bound
    return states


def _pin(state: QueueState, snapshot: Snapshot) -> None:
    for job_id, deadline in list(state.leases.items()):
        actual = snapshot.leases.get(job_id)
        if not deadline.pinned and actual is not None and deadline.admits(actual):
            state.leases[job_id] = Deadline(actual, actual)


class Differences:
    """Every difference between a settled state and a snapshot, as Problems."""

    def __init__(self, state: QueueState, snapshot: Snapshot, schema: KeySchema,
                 context: str) -> None:
        self.state, self.snap, self.schema, self.context = state, snapshot, schema, context
        self.found: list[Problem] = []

    def problems(self) -> list[Problem]:
        self._records()
        self._pending()
        self._processing()
        self._leases()
        self._idempotency()
        self._ttls()
        self._strays()
        return self.found

    def add(self, invariant: str, says: str, holds: str, **evidence: Any) -> None:
        self.found.append(Problem(invariant, f"{self.context}: the contract says {says}; "
                                             f"Redis: {holds}", evidence))

    # --- keys and names -------------------------------------------------------------------
    def key_name(self, key: tuple[str, ...]) -> str:
        if key[0] == OLD:
            return self.schema.old_job_key(_shown(key[1]))
        return self.schema.new_job_key(key[1], _shown(key[2]))

    def redis_records(self, job_id: str) -> list[tuple[tuple[str, ...], Record]]:
        found: list[tuple[tuple[str, ...], Record]] = []
        if job_id in self.snap.old_jobs:
            found.append(((OLD, job_id), self.snap.old_jobs[job_id]))
        found += [((NEW, ws, job_id), r) for ws, r in self.snap.new_records_of(job_id).items()]
        return found

    # --- records --------------------------------------------------------------------------
    def _records(self) -> None:
        expected = dict(self.state.records())
        actual = {key: contract_fields(r) for key, r in self._snapshot_records()}
        for key, record in sorted(expected.items()):
            if key not in actual:
                self._missing_record(key)
            else:
                self._fields(key, record, actual[key])
        for key in sorted(set(actual) - set(expected)):
            self._unexpected_record(key, actual[key])

    def _snapshot_records(self) -> list[tuple[tuple[str, ...], Record]]:
        rows: list[tuple[tuple[str, ...], Record]] = [
            ((OLD, j), r) for j, r in self.snap.old_jobs.items()]
        return rows + [((NEW, ws, j), r) for (ws, j), r in self.snap.new_jobs.items()]

    def _missing_record(self, key: tuple[str, ...]) -> None:
        job_id = key[-1]
        others = [self.key_name(k) for k, _ in self.redis_records(job_id)]
        what = f"{self.key_name(key)} exists ({_describe_job(job_id)})"
        if others:
            self.add("schema_agreement", what, f"it does not; the job has {others} only",
                     key=self.key_name(key), job_id=job_id)
        else:
            self.add("no_lost_jobs", what, "no record of the job in either schema",
                     key=self.key_name(key), job_id=job_id)

    def _unexpected_record(self, key: tuple[str, ...], record: Record) -> None:
        job_id, name = key[-1], self.key_name(key)
        known = self.state.record_keys(job_id)
        owner = self.state.workspace_of(job_id)
        held = _fields_text(record)
        if key[0] == NEW and owner is not None and key[1] != owner:
            self.add("tenant_isolation", f"job {job_id} belongs to workspace {owner}",
                     f"{name} exists ({held})", key=name, job_id=job_id)
        elif known:
            self.add("schema_agreement",
                     f"job {job_id} has {[self.key_name(k) for k in known]} only (no "
                     "operation creates the record of a schema a job lacks)",
                     f"{name} exists too ({held})", key=name, job_id=job_id)
        else:
            self.add("no_orphan_keys", f"no job {job_id}", f"{name} exists ({held})",
                     key=name, job_id=job_id)

    def _fields(self, key: tuple[str, ...], expected: Record, actual: Record) -> None:
        job_id = key[-1]
        for field in JOB_FIELDS:
            want, got = expected.get(field), actual.get(field)
            if want == got or (field == "payload" and want == ANY):
                continue
            says = f"{self.key_name(key)} has {field}={_cut(want)}"
            holds = f"{field}={_cut(got)}" if got is not None else f"no {field} field"
            evidence = {"key": self.key_name(key), "field": field, "expected": want,
                        "actual": got}
            if field == "workspace_id":
                self.add("tenant_isolation", says, holds, **evidence)
            elif self._schemas_disagree(job_id, field):
                self.add("schema_agreement", says, f"{holds}, and the other record "
                         f"{self._other_value(key, field)}", **evidence)
            else:
                self.add("acknowledged_effects", says, holds, **evidence)

    def _schemas_disagree(self, job_id: str, field: str) -> bool:
        values = {contract_fields(r).get(field) for _, r in self.redis_records(job_id)}
        return len(values) > 1

    def _other_value(self, key: tuple[str, ...], field: str) -> str:
        for other, record in self.redis_records(key[-1]):
            if other != key:
                value = contract_fields(record).get(field)
                return f"{self.key_name(other)} has {field}={_cut(value)}"
        return ""

    # --- lists ----------------------------------------------------------------------------
    def _pending(self) -> None:
        want, got = list(self.state.pending), list(self.snap.queue)
        if want == got:
            return
        name = self.schema.queue_key
        missing = Counter(want) - Counter(got)
        extra = Counter(got) - Counter(want)
        evidence = {"key": name, "expected": [_shown(j) for j in want], "actual": got}
        for job_id in sorted(missing):
            if job_id in self.snap.processing and job_id not in self.state.processing:
                self.add("acknowledged_effects", f"{_describe_job(job_id)} is pending",
                         "it is in processing, leased by nobody's dequeue", **evidence)
            else:
                self.add("no_lost_jobs", f"{_describe_job(job_id)} is pending in {name}",
                         f"it is not there ({_whereabouts(self.snap, job_id)}): it will "
                         "never run", **evidence)
        for job_id in sorted(extra):
            self._extra_entry(name, job_id, evidence)
        if not missing and not extra:
            self.add("queue_order", f"{name} is {evidence['expected']} (oldest first)",
                     f"{got}", **evidence)

    def _processing(self) -> None:
        want, got = Counter(self.state.processing), Counter(self.snap.processing)
        if want == got:
            return
        name = self.schema.processing_key
        evidence = {"key": name, "expected": sorted(map(_shown, want.elements())),
                    "actual": sorted(got.elements())}
        for job_id in sorted(want - got):
            if job_id in self.snap.queue:
                self.add("acknowledged_effects", f"{_describe_job(job_id)} is leased",
                         "it is still pending", **evidence)
            else:
                self.add("no_lost_jobs", f"{_describe_job(job_id)} is leased (in {name})",
                         f"it is not there ({_whereabouts(self.snap, job_id)})", **evidence)
        for job_id in sorted(got - want):
            self._extra_entry(name, job_id, evidence)

    def _extra_entry(self, name: str, job_id: str, evidence: dict[str, Any]) -> None:
        listed = self.snap.queue.count(job_id) + self.snap.processing.count(job_id)
        if listed > 1:
            self.add("no_duplicates", f"{job_id} is listed {self._listed(job_id)} time(s)",
                     f"{listed} entries in the pending and processing lists", **evidence)
        elif not self.snap.has_record(job_id):
            self.add("no_orphan_keys", f"{name} holds no {job_id}",
                     "an entry with no job record", **evidence)
        elif self._finished(job_id) and name == self.schema.processing_key:
            self.add("acknowledged_effects", f"job {job_id} is finished and out of {name}",
                     "it is still in processing: requeue_expired will run it again",
                     **evidence)
        else:
            self.add("acknowledged_effects", f"{name} holds no {job_id} "
                     f"({self._where_expected(job_id)})", f"{job_id} is in {name}", **evidence)

    def _listed(self, job_id: str) -> int:
        return self.state.pending.count(job_id) + self.state.processing.count(job_id)

    def _finished(self, job_id: str) -> bool:
        return any(r.get("status") in TERMINAL_STATUSES for _, r in self.state.records()
                   if r.get("id") == job_id)

    def _where_expected(self, job_id: str) -> str:
        if job_id in self.state.pending:
            return "it is pending"
        if job_id in self.state.processing:
            return "it is leased"
        return "it is in neither list"

    # --- leases and idempotency -----------------------------------------------------------
    def _leases(self) -> None:
        name = self.schema.lease_key
        want, got = self.state.leases, self.snap.leases
        for job_id, deadline in sorted(want.items()):
            actual = got.get(job_id)
            if actual is None:
                self.add("lease_recovery", f"{_describe_job(job_id)} has a lease in {name} "
                         f"ending at {deadline}", "no lease: if its worker dies it never "
                         "comes back", key=name, job_id=job_id)
            elif not deadline.admits(actual):
                self.add("lease_recovery", f"the lease of {job_id} ends at {deadline} (the "
                         "call's clock plus lease_seconds)", f"it ends at {actual:.3f}",
                         key=name, job_id=job_id, expected=str(deadline), actual=actual)
        for job_id in sorted(set(got) - set(want)):
            self.add("acknowledged_effects",
                     f"{job_id} has no lease ({self._where_expected(job_id)})",
                     f"a lease ending at {got[job_id]:.3f}", key=name, job_id=job_id)

    def _idempotency(self) -> None:
        want, got = self.state.idempotency, self.snap.idempotency
        for (ws, rid), job_id in sorted(want.items()):
            name = self.schema.idempotency_key(ws, rid)
            actual = got.get((ws, rid))
            if actual is None:
                self.add("retry_safe_idempotency", f"{name} names {_shown(job_id)}",
                         "no such key: a retry of the request makes a second job", key=name)
            elif actual != job_id and not is_placeholder(job_id):
                self.add("retry_safe_idempotency", f"{name} names {job_id}",
                         f"it names {actual}", key=name, expected=job_id, actual=actual)
        for (ws, rid) in sorted(set(got) - set(want)):
            name = self.schema.idempotency_key(ws, rid)
            job_id = got[(ws, rid)]
            invariant = ("retry_safe_idempotency" if self.snap.has_record(job_id)
                         else "no_orphan_keys")
            self.add(invariant, f"no {name} (request {rid!r} made no job)",
                     f"it names {job_id}", key=name, actual=job_id)

    def _ttls(self) -> None:
        retention = self.schema.idempotency_retention
        for key, seconds in sorted(self.snap.ttls.items()):
            if key in self.state.known_ttls:
                continue
            kind = self.schema.parse(key).kind.value
            if kind == "idempotency":
                if retention is not None and 0 <= seconds <= retention:
                    continue
                declared = (f"a retention of {retention:g} s" if retention is not None
                            else "no expiry")
                self.add("retry_safe_idempotency", f"{key} lives as long as the KeySchema "
                         f"declares ({declared})", f"it expires in {seconds:.0f} s: a retry "
                         "after that makes a second job", key=key, ttl=seconds)
            else:
                self.add("no_lost_jobs", f"{key} never expires (no KeySchema declares "
                         "expiry for it)", f"it expires in {seconds:.0f} s, and what it "
                         "holds with it", key=key, ttl=seconds)

    def _strays(self) -> None:
        for key, why in sorted(self.snap.malformed.items()):
            if key not in self.state.known_strays:
                self.add("no_orphan_keys", f"no key {key!r}", why, key=key)


def _shown(job_id: str) -> str:
    return f"<job of #{job_id[1:]}>" if is_placeholder(job_id) else job_id


def _describe_job(job_id: str) -> str:
    if is_placeholder(job_id):
        return f"the job enqueue #{job_id[1:]} made (it took effect)"
    return f"job {job_id}"


def _whereabouts(snapshot: Snapshot, job_id: str) -> str:
    if job_id in snapshot.queue:
        return "it is pending"
    if job_id in snapshot.processing:
        return "it is in processing"
    status = sorted(snapshot.statuses_of(job_id))
    return f"in neither list, status {status}" if status else "no record either"


def _fields_text(record: Record) -> str:
    return ", ".join(f"{k}={_cut(v)}" for k, v in sorted(record.items())
                     if k in ("status", "workspace_id", "client_request_id"))


def _cut(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"
