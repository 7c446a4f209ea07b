"""The invariant checker: the true Redis state, read directly, judged with the history.

Operations are observed one by one as they complete (`observe`); the state is judged with
`check_state`; the target's counters with `check_telemetry`. Unknown outcomes are treated
honestly: an unknown enqueue is never demanded to exist, and two job ids for one request
are never accepted. The checker keeps per-request and per-job facts, never the operations.

When `observe` gets a snapshot, it was taken right after that operation with nothing else
running (the sequential state machine). The checker then also knows the state just before
the operation (the previous snapshot it was given) and judges what needs it: list_jobs
completeness, fallback-read accounting, and that a refused operation wrote nothing. In a
concurrent run (no snapshots) those checks are skipped and `notes` says so.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample

from harness.history import Operation, OpKind, Outcome
from harness.inputs import Validity, classify_input
from harness.invariants import Violation
from harness.model import HistoryModel, as_job, outcome_of
from harness.overlap import intersect, interval
from harness.snapshot import Snapshot
from harness.state_rules import (
    check_snapshot,
    extra_jobs,
    is_lost,
    judge_state,
    owed_jobs,
    settle,
)
from harness.target import Job, KeySchema, MetricNames

__all__ = ["Checker", "check_snapshot"]

TELEMETRY_OPERATIONS = (OpKind.ENQUEUE, OpKind.UPDATE_STATUS)
EVIDENCE_LIMIT = 50  # ids listed in a summary or a piece of evidence


class Checker:
    def __init__(self, schema: KeySchema, registry: CollectorRegistry | None = None) -> None:
        self.schema = schema
        self.registry = registry
        self.model = HistoryModel()
        self._before: Snapshot | None = None  # the state just before the next operation
        self._fallbacks = 0  # ok get_job answers from an old-only job
        self._fallback_slack = 0  # get_jobs a target may or may not count as a fallback
        self._fallbacks_judged = True  # every get_job was seen with the state around it
        self._unjudged_lists = 0  # ok list_jobs seen without a snapshot
        self.notes: list[str] = []  # what was not checked, and why (set by check_telemetry)
        self._lock = threading.Lock()  # concurrent runs may observe from several threads
        # The last ok dequeue of each job (index, invoked, completed), and when a
        # requeue_expired last gave the job back: two dequeues at once may not both lease it.
        self._last_lease: dict[str, tuple[int, tuple[float, float]]] = {}
        self._requeued_at: dict[str, float] = {}

    # --- the history --------------------------------------------------------------------
    def observe(self, op: Operation, snapshot: Snapshot | None = None) -> list[Violation]:
        """Fold one completed operation; return what it shows broken (about it alone)."""
        with self._lock:
            return self._observe(op, snapshot)

    def observe_overlapping(self, ops: list[Operation], snapshot: Snapshot) -> list[Violation]:
        """Fold operations that overlapped in time (a concurrent step): each is judged as in
        a concurrent run, without the state around it; `snapshot` is the state after all."""
        with self._lock:
            found = [v for op in ops for v in self._observe(op, None)]
            self._before = snapshot
            return found

    def _observe(self, op: Operation, snapshot: Snapshot | None) -> list[Violation]:
        before = self._before if snapshot is not None else None
        validity, why = classify_input(op, self.schema)
        found = self._judge_input(op, validity, why, before, snapshot)
        if validity is not Validity.INVALID:
            kind = OpKind(op.kind)
            if kind is OpKind.ENQUEUE:
                found += self._judge_enqueue(op)
            elif kind is OpKind.GET_JOB:
                found += self._judge_get_job(op, before or snapshot)
            elif kind is OpKind.LIST_JOBS:
                found += self._judge_list_jobs(op, before, snapshot)
            elif kind is OpKind.SEED:
                found += self._judge_sightings(op.args["job_id"], op.args["workspace_id"],
                                               op.index)
            elif kind is OpKind.DEQUEUE:
                found += self._judge_dequeue(op)
            elif kind is OpKind.REQUEUE_EXPIRED and outcome_of(op) is Outcome.OK:
                for job_id in op.value if isinstance(op.value, list) else ():
                    self._requeued_at[str(job_id)] = op.completed_at or op.invoked_at
        self.model.fold(op, validity)
        self._before = snapshot
        return settle(found)

    def _judge_input(
        self, op: Operation, validity: Validity, why: str,
        before: Snapshot | None, after: Snapshot | None,
    ) -> list[Violation]:
        outcome = outcome_of(op)
        changed = after.changed_keys(before) if before and after else []
        evidence: dict[str, Any] = {"args": _printable(op.args), "error": op.error}
        if changed:
            evidence["changed_keys"] = changed[:EVIDENCE_LIMIT]
        if validity is Validity.INVALID:
            if outcome is Outcome.OK:
                message = f"{op.kind} accepted bad input: {why}"
            elif outcome is Outcome.UNKNOWN:
                # A queue that validates first never reaches Redis, so no Redis error either.
                how = "crashed" if op.crashed else "raised a Redis error"
                message = f"{op.kind} {how} on bad input instead of ValueError: {why}"
            elif changed:
                message = f"{op.kind} refused bad input but changed {len(changed)} keys: {why}"
            else:
                return []
            return [Violation("input_validation", message, evidence, (op.index,))]
        if outcome is Outcome.FAIL and changed and op.kind != OpKind.SEED:
            return [Violation(
                "input_validation",
                f"{op.kind} failed ({op.error}) yet changed {len(changed)} keys",
                evidence, (op.index,))]
        return []

    def _judge_enqueue(self, op: Operation) -> list[Violation]:
        ws, rid = op.args["workspace_id"], op.args["client_request_id"]
        found: list[Violation] = []
        if outcome_of(op) is not Outcome.OK:
            return found
        job_id = str(op.value)
        request = self.model.requests.get((ws, rid))
        if request is not None and request.job_ids and job_id not in request.job_ids:
            earlier = sorted(request.job_ids.items())
            found.append(Violation(
                "retry_safe_idempotency",
                f"request {rid!r} in {ws} got job {job_id} after {[j for j, _ in earlier]}",
                {"workspace_id": ws, "client_request_id": rid,
                 "job_ids": [j for j, _ in earlier] + [job_id]},
                tuple(sorted({i for _, i in earlier} | {op.index}))))
        ack = self.model.acknowledged.get(job_id)
        if ack is not None and (ack.workspace_id, ack.client_request_id) != (ws, rid):
            invariant = "tenant_isolation" if ack.workspace_id != ws else "retry_safe_idempotency"
            found.append(Violation(
                invariant,
                f"request {rid!r} in {ws} got job {job_id}, already given to request "
                f"{ack.client_request_id!r} in {ack.workspace_id}",
                {"job_id": job_id, "requests": [[ack.workspace_id, ack.client_request_id],
                                                [ws, rid]]},
                (ack.op, op.index)))
        seed = self.model.seeded.get(job_id)
        if seed is not None:
            found.append(Violation(
                "tenant_isolation" if seed.workspace_id != ws else "retry_safe_idempotency",
                f"request {rid!r} in {ws} got job {job_id}, a job seeded in {seed.workspace_id}",
                {"job_id": job_id, "workspace_id": ws, "seeded_in": seed.workspace_id},
                (seed.op, op.index)))
        return found + self._judge_sightings(job_id, ws, op.index)

    def _judge_dequeue(self, op: Operation) -> list[Violation]:
        """Two ok dequeues that overlapped in time leased one job, with no requeue_expired
        giving it back in between: two workers run it at once."""
        job = as_job(op.value) if outcome_of(op) is Outcome.OK else None
        if job is None:
            return []
        earlier = self._last_lease.get(job.job_id)
        self._last_lease[job.job_id] = (op.index, interval(op))
        if earlier is None or not intersect(earlier[1], interval(op)):
            return []
        if self._requeued_at.get(job.job_id, float("-inf")) >= earlier[1][0]:
            return []
        return [Violation(
            "correct_answers",
            f"dequeues #{earlier[0]} and #{op.index} overlapped in time and both leased job "
            f"{job.job_id}: two workers run it at once",
            {"job_id": job.job_id, "dequeues": [earlier[0], op.index]},
            (earlier[0], op.index))]

    def _judge_sightings(self, job_id: str, owner: str, owner_op: int) -> list[Violation]:
        """Reads that returned this job before its owner was known (out-of-order completion)."""
        return [
            Violation("tenant_isolation", f"a read in {ws} returned job {job_id} of workspace "
                      f"{owner}", {"workspace_id": ws, "job_id": job_id, "owners": [owner]},
                      tuple(sorted({seen_at, owner_op})))
            for ws, seen_at in sorted(self.model.sightings.get(job_id, {}).items())
            if ws != owner
        ]

    def _judge_get_job(self, op: Operation, state: Snapshot | None) -> list[Violation]:
        ws, job_id = op.args["workspace_id"], op.args["job_id"]
        outcome = outcome_of(op)
        job = as_job(op.value) if outcome is Outcome.OK else None
        self._account_fallback(ws, job_id, outcome, job, state)
        return self._judge_returned_jobs(op, ws, [job] if job else [])

    def _account_fallback(
        self, ws: str, job_id: str, outcome: Outcome, job: Job | None, state: Snapshot | None
    ) -> None:
        """A get_job answered from an old record, the new one missing, is a fallback read;
        an unknown or empty answer about such a job may or may not have been counted."""
        if state is None:
            self._fallbacks_judged = False
            return
        if job_id not in state.old_jobs or (ws, job_id) in state.new_jobs:
            return
        if outcome is Outcome.OK and job is not None:
            self._fallbacks += 1
        elif outcome is not Outcome.FAIL:
            self._fallback_slack += 1

    def _judge_list_jobs(
        self, op: Operation, before: Snapshot | None, after: Snapshot | None
    ) -> list[Violation]:
        if outcome_of(op) is not Outcome.OK:
            return []
        ws = op.args["workspace_id"]
        jobs = [as_job(v) for v in op.value or []]
        found = self._judge_returned_jobs(op, ws, [j for j in jobs if j is not None])
        if after is None:
            self._unjudged_lists += 1
            return found
        # Jobs present through the whole call must be listed (a read may repair records).
        expected = after.workspace_jobs(ws)
        if before is not None:
            expected &= before.workspace_jobs(ws)
        missing = sorted(expected - {j.job_id for j in jobs if j is not None})
        if missing:
            found.append(Violation(
                "list_jobs_complete",
                f"list_jobs({ws}) missed {len(missing)} of {len(expected)} jobs: "
                f"{missing[:EVIDENCE_LIMIT]}",
                {"workspace_id": ws, "missing": missing[:EVIDENCE_LIMIT],
                 "held_in": {j: _schemas_holding(after, ws, j) for j in missing[:EVIDENCE_LIMIT]}},
                (op.index,)))
        return found

    def _judge_returned_jobs(self, op: Operation, ws: str, jobs: list[Job]) -> list[Violation]:
        """A read in `ws` returned only jobs of `ws`, by their field and by who made them."""
        found = []
        for job in sorted(jobs, key=lambda j: j.job_id):
            owners = self.model.owners(job.job_id)
            if job.workspace_id != ws or (owners and ws not in owners):
                theirs = job.workspace_id if job.workspace_id != ws else sorted(owners)[0]
                ops = tuple(sorted({op.index, *self._owner_ops(job.job_id)}))
                found.append(Violation(
                    "tenant_isolation",
                    f"{op.kind}({ws}) returned job {job.job_id} of workspace {theirs}",
                    {"workspace_id": ws, "job_id": job.job_id,
                     "job_workspace_id": job.workspace_id, "owners": sorted(owners)},
                    ops))
            elif not owners:
                self.model.note_sighting(job.job_id, ws, op.index)
        return found

    def _owner_ops(self, job_id: str) -> set[int]:
        ack, seed = self.model.acknowledged.get(job_id), self.model.seeded.get(job_id)
        return {x.op for x in (ack, seed) if x is not None}

    # --- the state ----------------------------------------------------------------------
    def check_state(self, snapshot: Snapshot) -> list[Violation]:
        """Judge the state alone and against the history; it becomes the state before the
        next observed operation."""
        with self._lock:
            self._before = snapshot
            return judge_state(snapshot, self.model)

    # --- telemetry ----------------------------------------------------------------------
    def check_telemetry(self) -> list[Violation]:
        """The target's counters against the history; nothing if it reports no telemetry."""
        self.notes = []
        families = list(self.registry.collect()) if self.registry is not None else []
        if not {family.name for family in families} & set(MetricNames.ALL):
            self.notes.append("telemetry not checked: the target registered none of "
                              f"{', '.join(MetricNames.ALL)}")
            return []
        # Read once: a registry summed over every client's costs a pass over all metrics.
        samples = [sample for family in families for sample in family.samples]
        found = []
        for kind in TELEMETRY_OPERATIONS:
            found += self._judge_dual_writes(kind, samples)
        found += self._judge_fallbacks(samples)
        return settle(found)

    @property
    def telemetry_checked(self) -> bool:
        return bool(_registered_names(self.registry) & set(MetricNames.ALL))

    def _judge_dual_writes(self, kind: OpKind, samples: list[Sample]) -> list[Violation]:
        if self.model.crashed[kind.value]:
            self.notes.append(f"{kind} counters not checked: {self.model.crashed[kind.value]} "
                              "calls crashed, so what they counted is unknown")
            return []
        ok = self.model.outcomes[(kind.value, Outcome.OK.value)]
        unknown = self.model.outcomes[(kind.value, Outcome.UNKNOWN.value)]
        # A refusal of valid-looking input (JobNotFound, or an input we are unsure of) got
        # past validation or not: it may count as either outcome, or as neither.
        slack = self.model.refused_valid[kind.value]
        success = _total(samples, MetricNames.DUAL_WRITES, operation=kind.value,
                         outcome="success")
        failure = _total(samples, MetricNames.DUAL_WRITES, operation=kind.value,
                         outcome="failure")
        hung = self.model.hung[kind.value]  # unknown, and maybe not counted yet
        if (ok <= success <= ok + slack and unknown - hung <= failure <= unknown + slack
                and success + failure <= ok + unknown + slack):
            return []
        expected = f"{ok} ok and {unknown} unknown" + (f" (+{slack} refused)" if slack else "")
        return [Violation(
            "telemetry_agreement",
            f"{MetricNames.DUAL_WRITES}{{operation={kind}}} counts success={success:g}, "
            f"failure={failure:g}; the history has {expected}",
            {"operation": kind.value, "success": success, "failure": failure,
             "ok": ok, "unknown": unknown, "refused": slack})]

    def _judge_fallbacks(self, samples: list[Sample]) -> list[Violation]:
        if not self._fallbacks_judged:
            self.notes.append("fallback reads not checked: some get_job was observed "
                              "without a snapshot")
            return []
        counted = _total(samples, MetricNames.FALLBACK_READS)
        low, high = self._fallbacks, self._fallbacks + self._fallback_slack
        if low <= counted <= high:
            return []
        expected = f"{low}" if low == high else f"{low}..{high}"
        return [Violation(
            "telemetry_agreement",
            f"{MetricNames.FALLBACK_READS} counts {counted:g}; the history has {expected} "
            "get_job answers from an old record with no new one",
            {"counted": counted, "expected_min": low, "expected_max": high})]

    # --- for the heal rule and the report -----------------------------------------------
    def pending_requests(self) -> list[tuple[str, str, dict]]:
        """(workspace, request id, payload) of valid enqueues with no ok attempt yet."""
        return [(r.workspace_id, r.client_request_id, r.payload)
                for r in self.model.pending_requests()]

    def summary(self, snapshot: Snapshot) -> dict[str, Any]:
        """Jepsen's total-queue view of the run, against the final state.

        attempted     distinct (workspace, request id) pairs enqueued with a valid input
        acknowledged  of those, the ones an attempt returned a job id for
        unknown       the ones with at least one attempt that may or may not have happened
        unresolved    of those, the ones no attempt ever acknowledged
        recovered     of the unknown ones, those whose job is in Redis at the end (a record
                      carries the request, or the job an attempt returned exists)
        lost          acknowledged or seeded jobs not readable in their workspace or not
                      accounted (pending, leased, finished, or a status a caller set)
        duplicated    jobs listed more than once, plus the extra jobs of a request that
                      has more than one (in Redis, or by what its enqueues returned)
        unexpected    jobs in Redis that no enqueue, request or seed explains
        """
        model = self.model
        present = {(r.get("workspace_id", ""), r.get("client_request_id", ""))
                   for j in snapshot.job_ids() for r in snapshot.all_records_of(j)}
        unknown = [r for r in model.requests.values() if r.attempts[Outcome.UNKNOWN]]
        recovered = sorted(
            (r.workspace_id, r.client_request_id) for r in unknown
            if (r.workspace_id, r.client_request_id) in present
            or any(snapshot.has_record(j) for j in r.job_ids))
        lost = sorted(j for j, ws in owed_jobs(model).items() if is_lost(snapshot, ws, j, model))
        listed = Counter(snapshot.queue + snapshot.processing)
        duplicated = {j for j, n in listed.items() if n > 1} | extra_jobs(snapshot, model)
        unexpected = sorted(j for j in snapshot.job_ids()
                            if not any(model.explains(j, r) for r in snapshot.all_records_of(j)))
        return {
            "attempted": len(model.requests),
            "acknowledged": sum(r.acknowledged for r in model.requests.values()),
            "unknown": len(unknown),
            "unresolved": sum(r.outcome_unknown for r in unknown),
            "recovered": len(recovered),
            "lost": len(lost),
            "duplicated": len(duplicated),
            "unexpected": len(unexpected),
            "seeded": len(model.seeded),
            "dequeued": model.dequeued,
            "lost_ids": lost[:EVIDENCE_LIMIT],
            "duplicated_ids": sorted(duplicated)[:EVIDENCE_LIMIT],
            "unexpected_ids": unexpected[:EVIDENCE_LIMIT],
            "recovered_requests": [list(r) for r in recovered[:EVIDENCE_LIMIT]],
        }


def _schemas_holding(snapshot: Snapshot, ws: str, job_id: str) -> list[str]:
    held = ["old"] if job_id in snapshot.old_jobs else []
    return held + (["new"] if (ws, job_id) in snapshot.new_jobs else [])


def _total(samples: list[Sample], metric: str, **labels: str) -> float:
    """The sum of a counter's `_total` samples whose labels include `labels` (0 if none)."""
    name = f"{metric}_total"
    return sum(sample.value for sample in samples if sample.name == name
               and all(sample.labels.get(k) == v for k, v in labels.items()))


def _registered_names(registry: CollectorRegistry | None) -> set[str]:
    if registry is None:
        return set()
    return {family.name for family in registry.collect()}


def _printable(args: dict[str, Any]) -> dict[str, Any]:
    """Op args for evidence, JSON-safe: anything odd as its repr, long values shortened."""
    out = {}
    for key, value in args.items():
        try:
            shown, text = value, json.dumps(value)
        except (TypeError, ValueError):
            shown = text = repr(value)
        out[key] = shown if len(text) <= 200 else f"{text[:200]}... ({len(text)} chars)"
    return out
