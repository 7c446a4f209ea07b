"""journal.json of a job-queue library's nightly run (`queue-chaos nightly --target rq`).

Beside the dual-write nightly's journal (harness.report.journal), whose version rules it
follows (fields only added within a version; readers ignore fields they do not know) and
whose names it keeps where the fact is the same, so report.html and junit.xml are made by
the same code. Schema version 1 (JOB_QUEUE_JOURNAL_SCHEMA below; every field present):

  schema_version, kind ("queue-chaos-job-queue-nightly"), tool {name, version}
  run         {target, options (the adapter's, --option), library ("rq 2.12.0"), seed,
               budget_seconds, producers, workers, nemesis, backend, started_at, finished_at,
               workload_seconds, drain_seconds (heal, recovery, drain, judging),
               total_seconds, interrupted, replay_command}
  versions    {redis, redis_server, toxiproxy, python, queue_chaos, library}
  promises    what the adapter declares: {delivery, idempotent_enqueue, retries,
               forgets_done, failed_copies_stay, described}; null when the run never made
               the adapter
  verdict     {status: holds | violated | infrastructure | interrupted, exit_code,
               headline, reason}
  invariants  [{name, severity, promise, status: holds | violated | not_judged,
                violations, sources, note}]: every invariant of the job-queue contract
  violations  [{id, invariant, severity, message, job_id, evidence, operations, trace
                (the job's operations, as history.jsonl holds them), race, replay}]
  violations_by_invariant  {invariant: count}
  summary     {attempted, acknowledged, unknown, failed}: the enqueues, by outcome
  final_states  {queued, taken, done, failed, gone, absent}: the jobs the final keys hold,
               by state; absent: acknowledged, with no key left
  operations  {total, crashed, ops_per_second, latency_ms {p50, p95, p99},
               by_kind {kind: {ok, fail, unknown}}}
  faults      {nemesis, planned, applied [{index, kinds, toxics, start, end,
               applied_start, applied_end}], by_kind {kind: {windows, seconds}}}
  infrastructure  {error: null or the message}
  files       {history, timeseries, junit, html}
"""

from __future__ import annotations

from typing import Any

from harness.report.journal import (
    _BOOL,
    _INT,
    _NUM,
    _STR,
    FAULTS_SCHEMA,
    INVARIANTS_SCHEMA,
    OPERATIONS_SCHEMA,
    VERDICT_SCHEMA,
    _object,
    head_properties,
)

KIND = "queue-chaos-job-queue-nightly"
STATES = ("queued", "taken", "done", "failed", "gone", "absent")

_COUNTS = {"type": "object", "additionalProperties": _INT}
JOB_QUEUE_JOURNAL_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "queue-chaos job-queue nightly journal",
    **_object({
        **head_properties(KIND),
        "run": _object({
            "target": _STR, "options": {"type": "object"}, "library": _STR,
            "seed": {"type": "integer"}, "budget_seconds": _NUM, "producers": _INT,
            "workers": _INT, "nemesis": _BOOL, "backend": _STR, "started_at": _STR,
            "finished_at": _STR, "workload_seconds": _NUM, "drain_seconds": _NUM,
            "total_seconds": _NUM, "interrupted": _BOOL, "replay_command": _STR,
        }),
        "versions": _object({k: _STR for k in ("redis", "redis_server", "toxiproxy",
                                               "python", "queue_chaos", "library")}),
        "promises": {"type": ["object", "null"], "properties": {
            "delivery": {"enum": ["at_most_once", "at_least_once"]},
            "idempotent_enqueue": _BOOL, "retries": _INT, "forgets_done": _BOOL,
            "failed_copies_stay": _BOOL, "described": _STR}},
        "verdict": VERDICT_SCHEMA,
        "invariants": INVARIANTS_SCHEMA,
        "violations": {"type": "array", "items": _object({
            "id": _INT, "invariant": _STR, "severity": _STR, "message": _STR,
            "job_id": _STR, "evidence": {"type": "object"},
            "operations": {"type": "array", "items": _INT},
            "trace": {"type": "array", "items": {"type": "object"}},
            "race": {"type": "array"}, "replay": _STR,
        })},
        "violations_by_invariant": _COUNTS,
        "summary": _COUNTS,
        "final_states": _object({state: _INT for state in STATES}),
        "operations": OPERATIONS_SCHEMA,
        "faults": FAULTS_SCHEMA,
        "infrastructure": _object({"error": {"type": ["string", "null"]}}),
        "files": _object({k: _STR for k in ("history", "timeseries", "junit", "html")}),
    }),
}
