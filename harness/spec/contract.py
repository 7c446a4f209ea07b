"""The dual-write contract of harness/target.py as code: what each operation does and answers.

`DualWriteContract` is a `Model` (harness.spec.engine): for a state and a completed
operation it gives the states the contract allows next, each with the problems the
operation's outcome shows. The rules, word for word those of `QueueTarget`'s docstrings:

  ok       the operation took effect exactly as promised, and answered as promised;
  unknown  (a Redis error, a crash) it took effect entirely or not at all: both branches;
  fail     ValueError / redis DataError: nothing was written, and the input must be one the
           contract calls bad (or unsure); JobNotFound: nothing was written, and the job
           must not be readable in that workspace.

An input the contract calls bad that was not refused, and an operation that crashed, are
named by the checker (input_validation, contract); what they wrote the contract does not
say, so the next observation is taken as it is (a `None` state: anything may follow).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.history import Operation, OpKind, Outcome, Refusal, to_jsonable
from harness.inputs import Validity, classify_input
from harness.model import outcome_of
from harness.snapshot import Snapshot
from harness.spec.engine import Branch, Problem
from harness.spec.observe import adopt, compare
from harness.spec.state import (
    ANY,
    Deadline,
    QueueState,
    Record,
    canonical_payload,
    is_placeholder,
)
from harness.target import JobStatus, KeySchema

SLACK = 1.0  # seconds either side of a lease deadline: the target reads its own clock
MAX_OPEN_LEASES = 3  # leases whose expiry a clock reading leaves open: 2**3 branches at most
MAX_OFF_THE_HEAD = 8  # pending jobs an unknown dequeue may have taken instead of the oldest

State = QueueState | None  # None: the contract does not say what follows (anything may)


class _NewJob:
    def __repr__(self) -> str:
        return "a new job id"


NEW_JOB = _NewJob()  # the answer of an enqueue that makes a job: an id nobody has


@dataclass(frozen=True)
class Effect:
    """One way an operation takes effect: the state after it, and the answer it promises."""

    state: State
    answer: Any = None
    job_id: str | None = None  # the job it is about, when there is one


class DualWriteContract:
    """The Model of the dual-write queue contract (harness.target.QueueTarget)."""

    def __init__(self, schema: KeySchema, wall: Callable[[float], float]) -> None:
        self.schema = schema
        self.wall = wall  # history time (monotonic seconds) -> epoch seconds
        self.context = ""  # "after #3 update_status(...) -> ok": set by the judge per op

    # --- Model ----------------------------------------------------------------------------
    def key(self, state: State) -> Hashable:
        return None if state is None else state.key()

    def adopt(self, branch: Branch[State], observation: Snapshot) -> QueueState:
        return adopt(observation)

    def observe(self, branch: Branch[State], observation: Snapshot) -> list[Branch[State]]:
        if branch.state is None:
            return [Branch(adopt(observation), branch.problems, branch.choices, branch.suspect)]
        return [Branch(state, branch.problems + tuple(problems), branch.choices, branch.suspect)
                for state, problems in
                compare(branch.state, observation, self.schema, self.context)]

    def successors(self, branch: Branch[State], op: Operation) -> list[Branch[State]]:
        state = branch.state
        if state is None:
            return [branch]
        kind, outcome = OpKind(op.kind), outcome_of(op)
        validity, _ = classify_input(op, self.schema)
        if kind is OpKind.SEED:
            return [Branch(self._seed(state, op), branch.problems, branch.choices,
                           branch.suspect)]
        if op.crashed or (validity is Validity.INVALID and outcome is not Outcome.FAIL):
            return [Branch(None, branch.problems, branch.choices, branch.suspect)]
        if validity is Validity.INVALID:
            return [branch]
        refusal, effects = self.effects(kind, state, op, validity)
        if outcome is Outcome.UNKNOWN:
            never = Branch(state, branch.problems, (*branch.choices, f"#{op.index} never happened"),
                           branch.suspect)
            if refusal is not None:
                return [never]
            return [never, *(Branch(e.state, branch.problems,
                                    (*branch.choices, f"#{op.index} took effect"), branch.suspect)
                             for e in effects),
                    *self._off_the_head(branch, state, op, kind)]
        if outcome is Outcome.FAIL:
            return [branch.with_problems(self._judge_refusal(op, validity, refusal, state))]
        if refusal is not None:
            return [branch.with_problems([self._missed_refusal(op, state)])]
        return [nxt for effect in effects for nxt in self._answered(branch, state, effect, op)]

    # --- effects --------------------------------------------------------------------------
    def effects(self, kind: OpKind, state: QueueState, op: Operation,
                 validity: Validity) -> tuple[Refusal | None, list[Effect]]:
        """(the refusal the contract demands instead, or None; the ways it takes effect).

        The one place an operation's promise is written: a queue that promises something
        else subclasses the contract and overrides this for the operations that differ.
        """
        args = op.args
        if kind is OpKind.ENQUEUE:
            return None, [self._enqueue(state, op, validity)]
        if kind in (OpKind.GET_JOB, OpKind.LIST_JOBS):
            return None, [Effect(state)]
        if kind in (OpKind.UPDATE_STATUS, OpKind.COMPLETE, OpKind.FAIL):
            keys = state.readable_keys(args["workspace_id"], args["job_id"])
            if not keys:
                return Refusal.NOT_FOUND, []
            nxt = state.copy()
            if kind is OpKind.UPDATE_STATUS:
                nxt.set_status(keys, str(args["status"]))
            else:
                done = JobStatus.COMPLETED if kind is OpKind.COMPLETE else JobStatus.FAILED
                nxt.set_status(keys, done.value)
                nxt.processing = _without_one(nxt.processing, args["job_id"])
                nxt.leases.pop(args["job_id"], None)
            return None, [Effect(nxt, None, args["job_id"])]
        if kind is OpKind.DEQUEUE:
            if not state.pending:
                return None, [Effect(state, None)]
            return None, [self._lease(state, state.pending[0], op)]
        if kind is OpKind.REQUEUE_EXPIRED:
            return None, self._requeue(state, op)
        raise ValueError(f"the contract has no operation {kind}")

    def _off_the_head(self, branch: Branch[State], state: QueueState, op: Operation,
                      kind: OpKind) -> list[Branch[State]]:
        """An unknown dequeue may have leased another pending job than the oldest: a branch
        per such job (a few at most), each suspect of breaking queue_order."""
        if kind is not OpKind.DEQUEUE or len(state.pending) < 2:
            return []
        head = state.pending[0]
        return [Branch(self._lease(state, job_id, op).state, branch.problems,
                       (*branch.choices, f"#{op.index} leased {job_id}"),
                       (*branch.suspect, self._problem(
                           "queue_order", op, f"dequeue leased {job_id}; the contract says the "
                           f"oldest pending job, {head} (pending was {list(state.pending)})",
                           {"pending": list(state.pending), "leased": job_id})))
                for job_id in dict.fromkeys(state.pending[1:MAX_OFF_THE_HEAD + 1])
                if job_id != head]

    def _enqueue(self, state: QueueState, op: Operation, validity: Validity) -> Effect:
        ws, rid = op.args["workspace_id"], op.args["client_request_id"]
        existing = state.idempotency.get((ws, rid))
        if existing is not None:
            return Effect(state, existing, existing)
        job_id = f"?{op.index}"
        payload = (canonical_payload(op.args["payload"]) if validity is Validity.VALID
                   else ANY)
        record = {"id": job_id, "workspace_id": ws, "client_request_id": rid,
                  "payload": payload, "status": JobStatus.QUEUED.value}
        nxt = state.copy()
        nxt.old[job_id] = record
        nxt.new[(ws, job_id)] = dict(record)
        nxt.pending = (*nxt.pending, job_id)
        nxt.idempotency[(ws, rid)] = job_id
        nxt.placeholders[job_id] = (ws, rid)
        return Effect(nxt, NEW_JOB, job_id)

    def _lease(self, state: QueueState, job_id: str, op: Operation) -> Effect:
        if not state.record_keys(job_id):
            return Effect(None)  # a queue entry with no record: the contract is silent
        lease = float(op.args["lease_seconds"])
        nxt = state.copy()
        nxt.pending = _without_one(nxt.pending, job_id)
        nxt.processing = (*nxt.processing, job_id)
        nxt.leases[job_id] = Deadline(self.wall(op.invoked_at) + lease - SLACK,
                                      self.wall(op.completed_at or op.invoked_at)
                                      + lease + SLACK)
        nxt.set_status(nxt.record_keys(job_id), JobStatus.RUNNING.value)
        workspace = nxt.workspace_of(job_id)
        return Effect(nxt, nxt.readable(workspace, job_id) if workspace else None, job_id)

    def _requeue(self, state: QueueState, op: Operation) -> list[Effect]:
        now = op.args.get("now")
        if now is None:  # the target reads its clock during the call
            lo, hi = self.wall(op.invoked_at), self.wall(op.completed_at or op.invoked_at)
        else:
            lo = hi = float(now)
        sure = [j for j, d in state.leases.items() if d.hi <= lo]
        open_ = sorted(j for j, d in state.leases.items() if not d.hi <= lo and d.lo <= hi)
        if len(open_) > MAX_OPEN_LEASES:  # all or none beyond the bound (documented)
            choices: list[tuple[str, ...]] = [(), tuple(open_)]
        else:
            choices = [c for n in range(len(open_) + 1)
                       for c in itertools.combinations(open_, n)]
        effects = []
        for chosen in choices:
            expired = sorted([*sure, *chosen], key=lambda j: (state.leases[j].lo, j))
            nxt = state.copy()
            requeued = []
            for job_id in expired:
                nxt.leases.pop(job_id)
                if job_id in nxt.processing:
                    nxt.processing = _without_one(nxt.processing, job_id)
                    nxt.pending = (*nxt.pending, job_id)
                    nxt.set_status(nxt.record_keys(job_id), JobStatus.QUEUED.value)
                    requeued.append(job_id)
            effects.append(Effect(nxt, sorted(requeued)))
        return effects

    def _seed(self, state: QueueState, op: Operation) -> QueueState:
        """A job written by another writer, in one schema (or both), queued."""
        args = op.args
        job_id, ws = args["job_id"], args["workspace_id"]
        record = {"id": job_id, "workspace_id": ws,
                  "client_request_id": args.get("client_request_id", ""),
                  "payload": canonical_payload(args.get("payload", {})),
                  "status": args.get("status", JobStatus.QUEUED.value)}
        nxt = state.copy()
        if args["schemas"] in ("old", "both"):
            nxt.old[job_id] = dict(record)
        if args["schemas"] in ("new", "both"):
            nxt.new[(ws, job_id)] = dict(record)
        nxt.pending = (*nxt.pending, job_id)
        return nxt

    # --- answers --------------------------------------------------------------------------
    def _answered(self, branch: Branch[State], before: QueueState, effect: Effect,
                  op: Operation) -> list[Branch[State]]:
        """The branch after an ok operation, with what its answer breaks."""
        kind = OpKind(op.kind)
        if kind is OpKind.ENQUEUE:
            state, problems = self._enqueue_answer(before, effect, op)
            return [Branch(state, branch.problems + tuple(problems), branch.choices,
                           branch.suspect)]
        if kind is OpKind.DEQUEUE:
            return [Branch(s, branch.problems + tuple(p), branch.choices, branch.suspect)
                    for s, p in self._dequeue_answer(before, effect, op)]
        problems: list[Problem] = []
        if kind is OpKind.GET_JOB:
            record = before.readable(op.args["workspace_id"], op.args["job_id"])
            problems = self._job_answer(op, op.value, record, before)
        elif kind is OpKind.LIST_JOBS:
            problems = self._list_answer(op, before)
        elif kind is OpKind.REQUEUE_EXPIRED:
            answer = op.value
            if not isinstance(answer, list | tuple) or sorted(map(str, answer)) != effect.answer:
                due = {j: str(d) for j, d in sorted(before.leases.items())}
                problems = [self._problem(
                    "correct_answers", op,
                    f"requeue_expired answered {answer!r}; the contract says {effect.answer} "
                    f"(leases then: {due})", {"answered": _jsonable(answer),
                                              "expected": effect.answer, "leases": due})]
        return [Branch(effect.state, branch.problems + tuple(problems), branch.choices,
                       branch.suspect)]

    def _enqueue_answer(self, before: QueueState, effect: Effect,
                        op: Operation) -> tuple[State, list[Problem]]:
        value, state = op.value, effect.state
        ws, rid = op.args["workspace_id"], op.args["client_request_id"]
        bindable = (isinstance(value, str) and self.schema.valid_job_id(value)
                    and value not in before.job_ids())
        if effect.answer is NEW_JOB or is_placeholder(str(effect.answer)):
            if bindable:
                assert state is not None
                state = state.copy()
                state.rename(str(effect.job_id), value)
                return state, []
            if isinstance(value, str) and value in before.job_ids():
                owner = before.readable(ws, value)
                how = "its own earlier job" if owner else "a job of another request"
                return state, [self._problem(
                    "retry_safe_idempotency" if owner else "tenant_isolation", op,
                    f"enqueue of request {rid!r} answered {value}, {how}; the contract says "
                    f"a new job id (the request had no idempotency entry)",
                    {"answered": value, "records": before.record_keys(value)})]
            return state, [self._problem(
                "correct_answers", op, f"enqueue answered {value!r}, not a job id matching "
                f"{self.schema.job_id_pattern}", {"answered": _jsonable(value)})]
        if value != effect.answer:
            return state, [self._problem(
                "retry_safe_idempotency", op,
                f"request {rid!r} in {ws} already has job {effect.answer} (its idempotency "
                f"entry); this attempt answered {value!r}",
                {"expected": effect.answer, "answered": _jsonable(value)})]
        return state, []

    def _dequeue_answer(self, before: QueueState, effect: Effect,
                        op: Operation) -> list[tuple[State, list[Problem]]]:
        value = op.value
        if effect.job_id is None:  # pending was empty
            if value is None:
                return [(effect.state, [])]
            return [(before, [self._problem(
                "correct_answers", op, f"dequeue answered job {_job_id(value)}; the "
                "contract says None: pending was empty", {"answered": _jsonable(value)})])]
        head = effect.job_id
        if value is None:
            problem = self._problem(
                "correct_answers", op, f"dequeue answered None; the contract says it leases "
                f"{head}, the oldest of {len(before.pending)} pending jobs",
                {"pending": list(before.pending)})
            return [(effect.state, [problem]), (before, [problem])]
        taken = _job_id(value)
        if taken != head and taken in before.pending:
            other = self._lease(before, taken, op)
            problem = self._problem(
                "queue_order", op, f"dequeue leased {taken}; the contract says the oldest "
                f"pending job, {head} (pending was {list(before.pending)})",
                {"pending": list(before.pending), "leased": taken})
            return [(other.state, [problem, *self._job_answer(op, value, other.answer,
                                                              before)])]
        if taken != head:
            problem = self._problem(
                "correct_answers", op, f"dequeue answered job {taken!r}, which was not "
                f"pending; the contract says {head}", {"pending": list(before.pending)})
            return [(effect.state, [problem]), (before, [problem])]
        return [(effect.state, self._job_answer(op, value, effect.answer, before))]

    def _job_answer(self, op: Operation, value: Any, record: Record | None,
                    before: QueueState) -> list[Problem]:
        """A Job answered where the contract says `record` (None: no job)."""
        if value is None and record is None:
            return []
        if record is None:
            answered = _job_id(value)
            ws = op.args.get("workspace_id")
            owner = before.workspace_of(answered) if isinstance(answered, str) else None
            if owner is not None and owner != ws:
                return [self._problem(
                    "tenant_isolation", op, f"{op.kind} in {ws} answered job {answered} of "
                    f"workspace {owner}", {"answered": _jsonable(value)})]
            return [self._problem(
                "correct_answers", op, f"{op.kind} answered job {answered}; the contract says "
                "there is none", {"answered": _jsonable(value)})]
        if value is None:
            return [self._problem(
                "correct_answers", op, f"{op.kind} answered None; the contract says job "
                f"{record.get('id')} ({_fields(record)})", {"expected": dict(record)})]
        differing = _differing_fields(value, record)
        if differing:
            shown = ", ".join(f"{f}={a!r} (contract: {e!r})" for f, (a, e) in differing.items())
            return [self._problem(
                "correct_answers", op, f"{op.kind} answered job {record.get('id')} with "
                f"{shown}", {"fields": {f: {"answered": a, "expected": e}
                                         for f, (a, e) in differing.items()}})]
        return []

    def _list_answer(self, op: Operation, before: QueueState) -> list[Problem]:
        ws = op.args["workspace_id"]
        answer = op.value if isinstance(op.value, list | tuple) else None
        if answer is None:
            return [self._problem("correct_answers", op,
                                  f"list_jobs answered {op.value!r}, not a list",
                                  {"answered": _jsonable(op.value)})]
        expected = {j: before.readable(ws, j) for j in before.workspace_jobs(ws)}
        counts: dict[str, int] = {}
        problems: list[Problem] = []
        for job in answer:
            job_id = _job_id(job)
            counts[job_id] = counts.get(job_id, 0) + 1
            if job_id in expected:
                problems += self._job_answer(op, job, expected[job_id], before)
            else:
                problems += self._job_answer(op, job, None, before)
        twice = sorted(j for j, n in counts.items() if n > 1)
        if twice:
            problems.append(self._problem(
                "correct_answers", op, f"list_jobs({ws}) listed {twice} more than once",
                {"repeated": twice}))
        missing = sorted(set(expected) - set(counts))
        if missing:
            problems.append(self._problem(
                "list_jobs_complete", op, f"list_jobs({ws}) left out {missing} of "
                f"{len(expected)} jobs readable in {ws}", {"missing": missing}))
        return problems

    # --- refusals -------------------------------------------------------------------------
    def _judge_refusal(self, op: Operation, validity: Validity, demanded: Refusal | None,
                       state: QueueState) -> list[Problem]:
        refusal = op.refusal or _refusal_from_text(op.error)
        if refusal is Refusal.NOT_FOUND:
            if demanded is Refusal.NOT_FOUND:
                return []
            ws, job_id = op.args.get("workspace_id"), op.args.get("job_id")
            where = (f": job {job_id} is readable in {ws} ({_fields(state.readable(ws, job_id))})"
                     if job_id and state.readable(ws, job_id) else "")
            return [self._problem("correct_answers", op,
                                  f"{op.kind} raised JobNotFound{where}", {"error": op.error})]
        if validity is Validity.VALID:
            return [self._problem("input_validation", op,
                                  f"{op.kind} refused good input ({op.error})",
                                  {"error": op.error})]
        return []

    def _missed_refusal(self, op: Operation, state: QueueState) -> Problem:
        ws, job_id = op.args["workspace_id"], op.args["job_id"]
        owner = state.workspace_of(job_id)
        if owner is not None:
            return self._problem(
                "tenant_isolation", op, f"{op.kind}({ws}, {job_id}) answered ok for a job of "
                f"workspace {owner}; the contract says JobNotFound", {"owner": owner})
        return self._problem(
            "correct_answers", op, f"{op.kind}({ws}, {job_id}) answered ok; the contract says "
            "JobNotFound: no such job", {})

    def _problem(self, invariant: str, op: Operation, message: str,
                 evidence: dict[str, Any]) -> Problem:
        return Problem(invariant, f"{self.context}: {message}", evidence, (op.index,))


def _without_one(items: tuple[str, ...], job_id: str) -> tuple[str, ...]:
    if job_id not in items:
        return items
    i = items.index(job_id)
    return items[:i] + items[i + 1:]


def _job_id(value: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get("job_id")
    return getattr(value, "job_id", value)


def _differing_fields(value: Any, record: Record) -> dict[str, tuple[Any, Any]]:
    """Fields where an answered Job differs from the record the contract says it is."""
    get = value.get if isinstance(value, Mapping) else lambda name: getattr(value, name, None)
    answered = {"id": get("job_id"), "workspace_id": get("workspace_id"),
                "client_request_id": get("client_request_id"), "status": get("status")}
    payload = get("payload")
    try:
        answered["payload"] = canonical_payload(dict(payload) if payload is not None else None)
    except (TypeError, ValueError):
        answered["payload"] = repr(payload)
    out = {}
    for name, got in answered.items():
        expected = record.get(name)
        if name == "payload":
            if expected not in (ANY, got):
                out[name] = (got, expected)
        elif str(got) != str(expected):
            out[name] = (str(got), expected)
    return out


def _fields(record: Record | None) -> str:
    if record is None:
        return "none"
    shown = ("status", "workspace_id")
    return ", ".join(f"{k}={v}" for k, v in sorted(record.items()) if k in shown)


def _refusal_from_text(error: str | None) -> Refusal:
    """For histories read back from JSON written before `refusal` was recorded."""
    return Refusal.NOT_FOUND if (error or "").startswith("JobNotFound") else Refusal.BAD_INPUT


def _jsonable(value: Any) -> Any:
    return to_jsonable(value)
