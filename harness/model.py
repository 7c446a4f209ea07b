"""What the history says happened, folded one completed operation at a time.

The fold keeps per-request and per-job facts only, never the operations themselves, so a
long run's memory grows with the jobs it makes, not with the operations it performs
(reads, listings and worker steps add counters, not entries).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.history import Operation, OpKind, Outcome
from harness.inputs import Validity
from harness.op_deadline import is_hung
from harness.target import TERMINAL_STATUSES, Job

RequestKey = tuple[str, str]  # (workspace_id, client_request_id)


@dataclass
class RequestFacts:
    """Every attempt of one (workspace, request id): a first try, retries, healed retries."""

    workspace_id: str
    client_request_id: str
    first_op: int
    payload: Any  # what the heal rule retries with; dropped once an attempt is ok
    validity: Validity = Validity.VALID  # UNSURE if any attempt's payload was
    attempts: Counter[Outcome] = field(default_factory=Counter)
    job_ids: dict[str, int] = field(default_factory=dict)  # job id -> first ok op index
    last_healed: tuple[int, str] | None = None  # (op index, how it ended) of the last retry
    # made after every fault was removed: such a retry must eventually succeed

    @property
    def acknowledged(self) -> bool:
        return bool(self.job_ids)

    @property
    def outcome_unknown(self) -> bool:
        """No attempt ended ok and at least one may have happened."""
        return not self.job_ids and self.attempts[Outcome.UNKNOWN] > 0


@dataclass(frozen=True)
class Ack:
    """Who first got a job id back from an ok enqueue."""

    workspace_id: str
    client_request_id: str
    op: int


@dataclass
class SeedFacts:
    """A job the harness wrote as another writer would (legacy old-only, or new-only)."""

    workspace_id: str
    schemas: set[str]
    op: int
    certain: bool  # the seed op ended ok, so the job must exist


@dataclass
class HistoryModel:
    requests: dict[RequestKey, RequestFacts] = field(default_factory=dict)
    acknowledged: dict[str, Ack] = field(default_factory=dict)
    seeded: dict[str, SeedFacts] = field(default_factory=dict)
    # Workspaces in which get_job/list_jobs returned a job before any enqueue or seed said
    # whose it is (ops complete out of order in concurrent runs): judged once that is known.
    sightings: dict[str, dict[str, int]] = field(default_factory=dict)
    # Non-terminal statuses a caller set with update_status (ok or unknown), per job: a job
    # outside both lists with such a status did what it was told.
    caller_statuses: dict[str, set[str]] = field(default_factory=dict)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, outcome)
    crashed: Counter[str] = field(default_factory=Counter)  # kind -> crashed ops
    refused_valid: Counter[str] = field(default_factory=Counter)  # kind -> fail, input not bad
    hung: Counter[str] = field(default_factory=Counter)  # kind -> calls that never returned
    dequeued: int = 0

    # --- folding --------------------------------------------------------------------------
    def fold(self, op: Operation, validity: Validity) -> None:
        """Add one completed operation whose input was judged `validity`."""
        kind, outcome = OpKind(op.kind), outcome_of(op)
        self.outcomes[(kind.value, outcome.value)] += 1
        if op.crashed:
            self.crashed[kind.value] += 1
        if is_hung(op):  # still running, for all we know: it has not counted itself yet
            self.hung[kind.value] += 1
        if outcome is Outcome.FAIL and validity is not Validity.INVALID:
            self.refused_valid[kind.value] += 1
        if validity is Validity.INVALID:
            return
        if kind is OpKind.ENQUEUE:
            self._fold_enqueue(op, outcome, validity)
        elif kind is OpKind.SEED:
            self._fold_seed(op, outcome)
        elif kind is OpKind.UPDATE_STATUS and outcome is not Outcome.FAIL:
            status = str(op.args["status"])
            if status not in TERMINAL_STATUSES:
                self.caller_statuses.setdefault(op.args["job_id"], set()).add(status)
        elif kind is OpKind.DEQUEUE and outcome is Outcome.OK and op.value is not None:
            self.dequeued += 1

    def _fold_enqueue(self, op: Operation, outcome: Outcome, validity: Validity) -> None:
        key = (op.args["workspace_id"], op.args["client_request_id"])
        request = self.requests.get(key)
        if request is None:
            request = RequestFacts(*key, first_op=op.index, payload=op.args.get("payload"))
            self.requests[key] = request
        request.attempts[outcome] += 1
        if op.args.get("healed"):
            request.last_healed = (op.index, f"{outcome}: {op.error}")
        if validity is Validity.UNSURE:
            request.validity = Validity.UNSURE
        if outcome is Outcome.OK:
            job_id = str(op.value)
            request.job_ids.setdefault(job_id, op.index)
            request.payload = None
            self.acknowledged.setdefault(job_id, Ack(*key, op=op.index))
            self.sightings.pop(job_id, None)

    def _fold_seed(self, op: Operation, outcome: Outcome) -> None:
        job_id = op.args["job_id"]
        schemas = {"old", "new"} if op.args.get("schemas") == "both" else {op.args["schemas"]}
        seed = self.seeded.get(job_id)
        if seed is None:
            self.seeded[job_id] = SeedFacts(op.args["workspace_id"], schemas, op.index,
                                            outcome is Outcome.OK)
        else:
            seed.schemas |= schemas
            seed.certain = seed.certain or outcome is Outcome.OK
        self.sightings.pop(job_id, None)

    def note_sighting(self, job_id: str, workspace_id: str, op: int) -> None:
        """get_job/list_jobs in `workspace_id` returned `job_id`, whose owner is not known yet."""
        self.sightings.setdefault(job_id, {}).setdefault(workspace_id, op)

    # --- questions ------------------------------------------------------------------------
    def owners(self, job_id: str) -> set[str]:
        """The workspaces an ok enqueue or a seed put this job in."""
        owners = set()
        if job_id in self.acknowledged:
            owners.add(self.acknowledged[job_id].workspace_id)
        if job_id in self.seeded:
            owners.add(self.seeded[job_id].workspace_id)
        return owners

    def explains(self, job_id: str, record: Mapping[str, str]) -> bool:
        """An ok enqueue, a seed, or an attempted request accounts for this record."""
        if job_id in self.acknowledged or job_id in self.seeded:
            return True
        return (record.get("workspace_id", ""), record.get("client_request_id", "")) in \
            self.requests

    def created_by_target(self, job_id: str, records: list[Mapping[str, str]]) -> bool:
        """The target made this job (not a seed): an enqueue returned it, or a record of it
        carries the (workspace, request id) of an attempted enqueue."""
        if job_id in self.seeded:
            return False
        return job_id in self.acknowledged or any(
            (r.get("workspace_id", ""), r.get("client_request_id", "")) in self.requests
            for r in records)

    def unresolved_after_healing(self) -> list[RequestFacts]:
        """Valid requests retried on a healed network that still have no ok attempt."""
        return sorted((r for r in self.requests.values()
                       if r.last_healed and not r.acknowledged and r.validity is Validity.VALID),
                      key=lambda r: r.first_op)

    def pending_requests(self) -> list[RequestFacts]:
        """Requests with a valid input and no ok attempt, in the order they were first made."""
        pending = [r for r in self.requests.values()
                   if not r.acknowledged and r.validity is Validity.VALID]
        return sorted(pending, key=lambda r: r.first_op)


def outcome_of(op: Operation) -> Outcome:
    """An operation that never completed may have happened."""
    return Outcome(op.outcome) if op.outcome is not None else Outcome.UNKNOWN


def as_job(value: Any) -> Job | None:
    """A Job from an op's value, also when it was read back from history.jsonl (a dict)."""
    if value is None or isinstance(value, Job):
        return value
    if isinstance(value, Mapping) and "job_id" in value:
        return Job(**{k: value.get(k) for k in Job.__dataclass_fields__})
    raise TypeError(f"not a job: {value!r}")
