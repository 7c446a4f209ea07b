"""The state the dual-write contract promises: what Redis must hold, key by key.

Everything a target's KeySchema names is here: each job's record in each schema with every
field the contract defines (which record exists is state: a job another writer left in one
schema stays in one schema), the pending list in order, the processing list, the lease
set with each deadline, and the idempotency entries. Two things the harness cannot know in
advance are held open until an observation settles them:
  - the id of a job made by an enqueue whose outcome is unknown: a placeholder `?7` (made
    by op #7) stands for it, bound to the real id when a snapshot or a retry shows it;
  - a lease's deadline: the target reads its own clock during the call, so the deadline is
    an interval [lo, hi] until the snapshot shows the number.
A state can be copied cheaply; a run holds one or two at a time.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from harness.target import JOB_FIELDS, readable_record

Record = dict[str, str]  # contract fields only; "payload" is canonical JSON text (or ANY)
ANY = "\x00any"  # a payload the contract leaves open (an input it calls unsure)
PLACEHOLDER = "?"  # job ids starting with it are not known yet

OLD, NEW = "old", "new"


def canonical_payload(value: Any) -> str:
    """One text per JSON value, so that two encodings of one payload compare equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stored_payload(text: str | None) -> str | None:
    """The canonical text of a payload as Redis holds it (None if absent; kept as is if it
    is not JSON, so that it differs from every payload)."""
    if text is None:
        return None
    try:
        return canonical_payload(json.loads(text))
    except ValueError:
        return text


def contract_fields(record: Mapping[str, str]) -> Record:
    """The contract's fields of a record read from Redis, payload made canonical."""
    out = {f: record[f] for f in JOB_FIELDS if f in record}
    if "payload" in out:
        out["payload"] = stored_payload(out["payload"]) or ""
    return out


@dataclass(frozen=True)
class Deadline:
    lo: float
    hi: float

    @property
    def pinned(self) -> bool:
        return self.lo == self.hi

    def admits(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def __str__(self) -> str:
        return f"{self.lo:.3f}" if self.pinned else f"{self.lo:.3f}..{self.hi:.3f}"


@dataclass
class QueueState:
    old: dict[str, Record] = field(default_factory=dict)  # job id -> record
    new: dict[tuple[str, str], Record] = field(default_factory=dict)  # (ws, job id) -> record
    pending: tuple[str, ...] = ()
    processing: tuple[str, ...] = ()  # a multiset: its order promises nothing
    leases: dict[str, Deadline] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], str] = field(default_factory=dict)  # (ws, rid) -> job
    placeholders: dict[str, tuple[str, str]] = field(default_factory=dict)  # ?n -> (ws, rid)
    # Keys the contract does not explain that were reported once and are now part of the
    # picture (a malformed key, a TTL): they are not reported again at every later step.
    known_strays: frozenset[str] = frozenset()
    known_ttls: frozenset[str] = frozenset()

    def copy(self) -> QueueState:
        return replace(
            self, old={k: dict(v) for k, v in self.old.items()},
            new={k: dict(v) for k, v in self.new.items()}, leases=dict(self.leases),
            idempotency=dict(self.idempotency), placeholders=dict(self.placeholders))

    def key(self) -> Hashable:
        return (
            tuple(sorted((k, tuple(sorted(r.items()))) for k, r in self.old.items())),
            tuple(sorted((k, tuple(sorted(r.items()))) for k, r in self.new.items())),
            self.pending, tuple(sorted(self.processing)),
            tuple(sorted(self.leases.items(), key=lambda kv: kv[0])),
            tuple(sorted(self.idempotency.items())), tuple(sorted(self.placeholders.items())),
            self.known_strays, self.known_ttls,
        )

    # --- jobs ---------------------------------------------------------------------------
    def job_ids(self) -> set[str]:
        return set(self.old) | {job_id for _, job_id in self.new}

    def workspace_of(self, job_id: str) -> str | None:
        """The job's own workspace: its old record's, else the one its new key names."""
        old = self.old.get(job_id)
        if old is not None and old.get("workspace_id"):
            return old["workspace_id"]
        return next((ws for ws, j in self.new if j == job_id), None)

    def record_keys(self, job_id: str) -> list[tuple[str, ...]]:
        """("old", id) and ("new", ws, id) for the job's records that exist."""
        keys: list[tuple[str, ...]] = [(OLD, job_id)] if job_id in self.old else []
        return keys + [(NEW, ws, j) for ws, j in self.new if j == job_id]

    def readable(self, workspace_id: str, job_id: str) -> Record | None:
        """What get_job(workspace_id, job_id) returns: the new record, else the old one
        when it belongs to that workspace."""
        return readable_record(self.new, self.old, workspace_id, job_id)

    def readable_keys(self, workspace_id: str, job_id: str) -> list[tuple[str, ...]]:
        """The records of the job readable in `workspace_id` (those update_status sets)."""
        keys: list[tuple[str, ...]] = []
        if (workspace_id, job_id) in self.new:
            keys.append((NEW, workspace_id, job_id))
        old = self.old.get(job_id)
        if old is not None and old.get("workspace_id") == workspace_id:
            keys.append((OLD, job_id))
        return keys

    def workspace_jobs(self, workspace_id: str) -> list[str]:
        ids = {j for ws, j in self.new if ws == workspace_id}
        ids |= {j for j, r in self.old.items() if r.get("workspace_id") == workspace_id}
        return sorted(ids)

    def record(self, key: tuple[str, ...]) -> Record:
        return self.old[key[1]] if key[0] == OLD else self.new[(key[1], key[2])]

    def set_status(self, keys: list[tuple[str, ...]], status: str) -> None:
        for key in keys:
            self.record(key)["status"] = status

    def records(self) -> Iterator[tuple[tuple[str, ...], Record]]:
        yield from (((OLD, j), r) for j, r in self.old.items())
        yield from (((NEW, ws, j), r) for (ws, j), r in self.new.items())

    # --- ids not known yet --------------------------------------------------------------
    def rename(self, placeholder: str, job_id: str) -> None:
        """Bind a placeholder to the real id everywhere it stands."""
        def swap(value: str) -> str:
            return job_id if value == placeholder else value

        if placeholder in self.old:
            self.old[job_id] = self.old.pop(placeholder)
        for ws, j in [k for k in self.new if k[1] == placeholder]:
            self.new[(ws, job_id)] = self.new.pop((ws, j))
        for _, record in self.records():
            if record.get("id") == placeholder:
                record["id"] = job_id
        self.pending = tuple(swap(j) for j in self.pending)
        self.processing = tuple(swap(j) for j in self.processing)
        if placeholder in self.leases:
            self.leases[job_id] = self.leases.pop(placeholder)
        self.idempotency = {k: swap(v) for k, v in self.idempotency.items()}
        self.placeholders.pop(placeholder, None)


def is_placeholder(job_id: str) -> bool:
    return job_id.startswith(PLACEHOLDER)
