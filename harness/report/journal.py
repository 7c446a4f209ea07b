"""journal.json: everything a nightly run found, in one versioned, documented JSON document.

The journal is the source of every other artefact: report.html is rendered from it (and can
be re-rendered later with `queue-chaos report DIR`), junit.xml and metrics.prom are written
from the same facts. Machines read it to alert; people read the HTML.

Schema version 1 (JOURNAL_SCHEMA below is the JSON Schema; fields marked * always present):

  schema_version*  1
  kind*            "queue-chaos-nightly"
  tool*            {name, version}
  run*             {target, target_factory, seed, budget_seconds, producers, workers, nemesis,
                    lease_seconds, op_timeout_seconds (a call longer than this is hung),
                    client_policy, backend, started_at, finished_at (ISO 8601
                    UTC), workload_seconds, drain_seconds, total_seconds, phase_seconds
                    ({setup, workload, stop, drain, judge, machine}: where the time went),
                    interrupted, replay_command, failover (a primary with a replica and
                    failover windows; added later, not required)}
  versions*        {redis, redis_server, toxiproxy, python, queue_chaos, target} (strings;
                    "unknown" when a server could not be asked; redis is the Redis version
                    the server speaks, redis_server its own name and version: "valkey 9.1.2")
  verdict*         {status: holds | violated | infrastructure | interrupted, exit_code,
                    headline (one sentence), reason (null or why there is no verdict)}
  invariants*      [{name, severity, promise, status: holds | violated | not_judged,
                     violations (count), sources (where it was judged: "workload",
                     "stateful machine"), note (why the workload could not judge it, or "")}]
  violations*      [{id, invariant, severity, message, evidence, operations (history
                     indexes), trace (operations from history.jsonl, see below), replay,
                     race (the named operations that overlapped in time, or []; added
                     later, not required), failover (null, or the first failover after
                     the named operations completed: a failovers entry with seconds_after
                     and says; added later, not required)}]
                   at most MAX_DETAILED of them; violations_by_invariant has the full counts
  violations_by_invariant*  {invariant: count}
  notes*           what the checker did not check in this run, and why (strings)
  summary*         Jepsen total-queue figures: {attempted, acknowledged, unknown, lost,
                    duplicated, recovered, unexpected, ...} (integers; empty when not judged)
  summary_ids*     the ids behind them, at most 50 each: {lost_ids, duplicated_ids, ...}
  operations*      {total, crashed, ops_per_second, latency_ms {p50, p95, p99},
                    by_kind {kind: {ok, fail, unknown}}, harness_overhead_us_per_op,
                    worker_deaths}
  faults*          {nemesis (bool), planned (count), applied [{index, kinds, toxics, start,
                    end, applied_start, applied_end, link ({cut, lag_ms}: a failover window's
                    replication link), failover (the promotion that closed it: {start, end,
                    what, primary_offset, replica_offset, unreplicated_bytes, link_up})}],
                    by_kind {kind: {windows, seconds}}, failovers (those promotions; link,
                    failover and failovers added later, not required)}
  drain*           {requeued, retried_requests, unresolved_requests, finished, emptied,
                    timed_out, seconds} or {} when the run never reached it
  stateful_machine*  {status: passed | failed | not_run | error, detail, invariants_violated,
                      seconds, database, shared_database (the --database URL, a password
                      hidden, or null; added later, not required)}
  infrastructure*  {error: null or the message}
  files*           {history, timeseries, junit, metrics, html, hypothesis_db}: names
                    relative to the journal's directory

A trace entry is an operation as history.jsonl holds it: {index, process, kind, args,
invoked_at, completed_at, fault (the nemesis window it ran under, e.g.
"nemesis:latency"), outcome (ok | fail | unknown), value, error, crashed}.

Compatibility: a reader accepts any journal whose schema_version it knows; fields are only
ever added within a version, so readers must ignore fields they do not know.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.errors import UsageError

SCHEMA_VERSION = 1
KIND = "queue-chaos-nightly"
MAX_DETAILED = 200  # violations written in full (with traces); counts cover the rest
VERDICTS = ("holds", "violated", "infrastructure", "interrupted")
FILE_NAME = "journal.json"

_STR = {"type": "string"}
_INT = {"type": "integer", "minimum": 0}
_NUM = {"type": "number"}
_BOOL = {"type": "boolean"}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


_FAILOVER = _object({"start": _NUM, "end": _NUM, "what": _STR, "primary_offset": _INT,
                     "replica_offset": _INT, "unreplicated_bytes": _INT, "link_up": _BOOL})
_RUN_FIELDS = (  # failover was added later: not required
    "target", "target_factory", "seed", "budget_seconds", "producers", "workers", "nemesis",
    "lease_seconds", "op_timeout_seconds", "client_policy", "backend", "started_at",
    "finished_at", "workload_seconds", "drain_seconds", "total_seconds", "phase_seconds",
    "interrupted", "replay_command")



def head_properties(kind: str) -> dict[str, Any]:
    """What every journal of this version starts with; `kind` says which run wrote it."""
    return {"schema_version": {"const": SCHEMA_VERSION}, "kind": {"const": kind},
            "tool": _object({"name": _STR, "version": _STR})}


# The parts a job-queue night's journal (harness.report.job_queue_journal) has too.
VERDICT_SCHEMA = _object({
    "status": {"enum": list(VERDICTS)}, "exit_code": {"type": "integer"},
    "headline": _STR, "reason": {"type": ["string", "null"]},
})
INVARIANTS_SCHEMA = {"type": "array", "items": _object({
    "name": _STR, "severity": _STR, "promise": _STR,
    "status": {"enum": ["holds", "violated", "not_judged"]},
    "violations": _INT, "sources": {"type": "array", "items": _STR}, "note": _STR,
})}
OPERATIONS_SCHEMA = _object({
    "total": _INT, "crashed": _INT, "ops_per_second": _NUM,
    "latency_ms": _object({"p50": _NUM, "p95": _NUM, "p99": _NUM}),
    "by_kind": {"type": "object", "additionalProperties": {
        "type": "object", "additionalProperties": _INT}},
}, ["total", "crashed", "ops_per_second", "latency_ms", "by_kind"])
WINDOW_SCHEMA = _object({
    "index": _INT, "kinds": {"type": "array", "items": _STR},
    "toxics": {"type": "array"}, "start": _NUM, "end": _NUM,
    "applied_start": _NUM, "applied_end": _NUM,
})
FAULTS_SCHEMA = _object({
    "nemesis": _BOOL, "planned": _INT,
    "applied": {"type": "array", "items": WINDOW_SCHEMA},
    "by_kind": {"type": "object", "additionalProperties": _object(
        {"windows": _INT, "seconds": _NUM})},
})

JOURNAL_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "queue-chaos nightly journal",
    **_object({
        **head_properties(KIND),
        "run": _object({
            "target": _STR, "target_factory": _STR, "seed": {"type": "integer"},
            "budget_seconds": _NUM, "producers": _INT, "workers": _INT, "nemesis": _BOOL,
            "lease_seconds": _NUM, "op_timeout_seconds": _NUM, "client_policy": _STR,
            "backend": _STR,
            "started_at": _STR, "finished_at": _STR, "workload_seconds": _NUM,
            "drain_seconds": _NUM, "total_seconds": _NUM,
            "phase_seconds": {"type": "object", "additionalProperties": _NUM},
            "interrupted": _BOOL,
            "replay_command": _STR,
            "failover": _BOOL,
        }, [*_RUN_FIELDS]),
        "versions": _object({k: _STR for k in
                             ("redis", "redis_server", "toxiproxy", "python", "queue_chaos",
                              "target")},  # redis_server was added later: not required
                            ["redis", "toxiproxy", "python", "queue_chaos", "target"]),
        "verdict": VERDICT_SCHEMA,
        "invariants": INVARIANTS_SCHEMA,
        "violations": {"type": "array", "maxItems": MAX_DETAILED, "items": _object({
            "id": _INT, "invariant": _STR, "severity": _STR, "message": _STR,
            "evidence": {"type": "object"}, "operations": {"type": "array", "items": _INT},
            "trace": {"type": "array", "items": {"type": "object"}}, "replay": _STR,
            "race": {"type": "array", "items": {"type": "object"}},
            "failover": {"type": ["object", "null"]},
        }, ["id", "invariant", "severity", "message", "evidence", "operations", "trace",
            "replay"])},
        "violations_by_invariant": {"type": "object", "additionalProperties": _INT},
        "notes": {"type": "array", "items": _STR},
        "summary": {"type": "object", "additionalProperties": {"type": "integer"}},
        "summary_ids": {"type": "object", "additionalProperties": {"type": "array"}},
        "operations": _object({
            **OPERATIONS_SCHEMA["properties"],
            "harness_overhead_us_per_op": _NUM, "worker_deaths": _INT,
        }),
        "faults": _object({
            **FAULTS_SCHEMA["properties"],
            "applied": {"type": "array", "items": _object({
                **WINDOW_SCHEMA["properties"],
                "link": _object({"cut": _BOOL, "lag_ms": _INT}),
                "failover": _FAILOVER,
            }, WINDOW_SCHEMA["required"])},
            "failovers": {"type": "array", "items": _FAILOVER},
        }, FAULTS_SCHEMA["required"]),
        "drain": {"type": "object"},
        "stateful_machine": _object({
            "status": {"enum": ["passed", "failed", "not_run", "error"]}, "detail": _STR,
            "invariants_violated": {"type": "array", "items": _STR},
            "seconds": _NUM, "database": {"type": ["string", "null"]},
            "shared_database": {"type": ["string", "null"]},
        }, ["status", "detail", "invariants_violated", "seconds", "database"]),
        "infrastructure": _object({"error": {"type": ["string", "null"]}}),
        "files": _object({k: _STR for k in
                          ("history", "timeseries", "junit", "metrics", "html",
                           "hypothesis_db")}),
    }),
}


def write_journal(directory: Path, journal: dict[str, Any]) -> Path:
    """Write atomically: a reader (or a crash) never sees half a journal."""
    path = directory / FILE_NAME
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(journal, indent=2, sort_keys=False, default=str) + "\n",
                       encoding="utf-8")
    os.replace(partial, path)
    return path


def read_journal(directory: Path, kinds: tuple[str, ...] = (KIND,)) -> dict[str, Any]:
    """The journal of a run directory, of one of `kinds`; a UsageError when there is none
    or it is unknown."""
    path = directory / FILE_NAME
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no {FILE_NAME} in {directory}: give the directory of a nightly "
                         "run (e.g. reports/latest)") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(journal, dict) or journal.get("kind") not in kinds:
        raise UsageError(f"{path} is not a queue-chaos nightly journal")
    version = journal.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UsageError(f"{path} has schema_version {version!r}; this queue-chaos reads "
                         f"version {SCHEMA_VERSION}")
    return journal
