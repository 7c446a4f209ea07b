"""From a job-queue library's night to the files it leaves: journal.json first, then from it
report.html and junit.xml, by the dual-write nightly's writers (harness.report.html,
harness.nightly.artifacts.junit_cases, harness.report.junit), and timeseries.jsonl for the
page's pictures.
"""

from __future__ import annotations

import platform
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from harness import __version__
from harness.history import History, Outcome
from harness.job_queue_nightly import JUDGED, NOT_JUDGED
from harness.nightly.artifacts import (
    HTML_FILE,
    JUNIT_FILE,
    NO_VERDICT,
    SUITE,
    fault_windows,
    junit_cases,
)
from harness.nightly.job_queue_night import HISTORY_FILE, JobQueueNight
from harness.nightly.run import TIMESERIES_FILE
from harness.nightly.timeseries import TimeSeries
from harness.report import journal as journal_module
from harness.report.html import write_html
from harness.report.job_queue_journal import KIND
from harness.report.junit import write_junit
from harness.report.trace import MAX_TRACE
from harness.spec.job_queue import JOB_QUEUE_INVARIANTS, JobOp, JobState

SOURCE = "nightly"  # where the judged invariants were judged, as the page says


def _iso(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


def _headline(night: JobQueueNight, counts: Counter[str], operations: int) -> str:
    if night.status == "infrastructure":
        return NO_VERDICT
    if night.status == "interrupted":
        return (f"Interrupted after {night.workload_seconds:.0f} s of "
                f"{night.options.budget:g} s: no verdict (the queue was not drained).")
    windows = len(night.applied)
    if counts:
        found = ", ".join(f"{name} ({n})" for name, n in counts.most_common())
        total = sum(counts.values())
        return f"{total} job{'s' if total != 1 else ''} broke a promise: {found}."
    return (f"Every promise judged held over {operations:,} operations and {windows} fault "
            f"window{'' if windows == 1 else 's'}.")


def _reason(night: JobQueueNight) -> str | None:
    if night.infrastructure:
        return night.infrastructure
    if night.status == "interrupted":
        return f"stopped by {night.interrupted_by or 'a signal'} before the judging"
    return None


def _invariant_rows(night: JobQueueNight, counts: Counter[str]) -> list[dict[str, Any]]:
    judged = night.concurrent is not None and not night.infrastructure
    rows = []
    for name, invariant in JOB_QUEUE_INVARIANTS.items():
        by_night = judged and name in JUDGED
        status = "violated" if counts[name] else "holds" if by_night else "not_judged"
        note = (f"not judged by the nightly: {NOT_JUDGED[name]}; `queue-chaos machine "
                f"--target {night.options.target}` judges it" if name in NOT_JUDGED else "")
        rows.append({"name": name, "severity": str(invariant.severity),
                     "promise": invariant.promise, "status": status,
                     "violations": counts[name], "sources": [SOURCE] if by_night else [],
                     "note": note})
    return rows


def job_trace(history: History, job_id: str) -> list[dict[str, Any]]:
    """The operations on one job: its enqueue, the takes that handed it out, its ends."""
    return [op.to_json() for op in history
            if op.args.get("job_id") == job_id
            or (op.kind == JobOp.TAKE and op.value == job_id)][:MAX_TRACE]


def _violations(night: JobQueueNight) -> list[dict[str, Any]]:
    if night.concurrent is None or night.infrastructure:
        return []
    replay = night.options.replay_command()
    problems = night.concurrent.problems[: journal_module.MAX_DETAILED]
    entries = []
    for i, problem in enumerate(problems, 1):
        job_id = str(problem.evidence.get("job_id", ""))
        trace = job_trace(night.concurrent.history, job_id)
        entries.append({
            "id": i, "invariant": problem.invariant,
            "severity": str(JOB_QUEUE_INVARIANTS[problem.invariant].severity),
            "message": problem.message, "job_id": job_id,
            "evidence": dict(problem.evidence)
            | {"final_state": str(night.concurrent.final.get(job_id, "absent"))},
            "operations": list(problem.operations), "trace": trace, "race": [],
            "replay": replay,
        })
    return entries


def _enqueues(history: History) -> dict[str, int]:
    """The Jepsen-style figures of the enqueues: attempted, and each outcome."""
    outcomes = Counter(op.outcome for op in history if op.kind == JobOp.ENQUEUE)
    return {"attempted": sum(outcomes.values()), "acknowledged": outcomes[Outcome.OK],
            "unknown": outcomes[Outcome.UNKNOWN], "failed": outcomes[Outcome.FAIL]}


def _final_states(final: Mapping[str, JobState], history: History) -> dict[str, int]:
    counts = Counter(str(state) for state in final.values())
    acknowledged = {op.args["job_id"] for op in history
                    if op.kind == JobOp.ENQUEUE and op.outcome is Outcome.OK}
    counts["absent"] = len(acknowledged - final.keys())
    return {state: counts[state] for state in (*(str(s) for s in JobState), "absent")}


def _operations(night: JobQueueNight, series: TimeSeries) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = {}
    for (kind, outcome), n in sorted(series.by_kind.items()):
        by_kind.setdefault(kind, {})[outcome] = n
    seconds = night.total_seconds
    return {"total": series.total, "crashed": series.crashed,
            "ops_per_second": round(series.total / seconds, 1) if seconds else 0.0,
            "latency_ms": series.latency_summary_ms(), "by_kind": by_kind}


def write_timeseries(night: JobQueueNight) -> TimeSeries:
    """timeseries.jsonl from the history, in completion order (what the pictures plot)."""
    series = TimeSeries.to_file(night.out / TIMESERIES_FILE)
    done = [op for op in night.history or () if op.completed_at is not None]
    for op in sorted(done, key=lambda o: o.completed_at or 0.0):
        assert op.completed_at is not None and op.outcome is not None
        series.record(op.completed_at, str(op.kind), str(op.outcome),
                      op.completed_at - op.invoked_at, op.crashed)
    series.close()
    return series


def journal_of(night: JobQueueNight, series: TimeSeries) -> dict[str, Any]:
    options, concurrent = night.options, night.concurrent
    violations = _violations(night)
    counts = Counter(v["invariant"] for v in violations)
    operations = _operations(night, series)
    library = night.adapter.library if night.adapter else "unknown"
    promises = night.adapter.promises if night.adapter else None
    history = night.history or History()
    return {
        "schema_version": journal_module.SCHEMA_VERSION,
        "kind": KIND,
        "tool": {"name": "queue-chaos", "version": __version__},
        "run": {
            "target": options.target, "options": dict(options.options), "library": library,
            "seed": options.seed, "budget_seconds": options.budget,
            "producers": options.producers, "workers": options.workers,
            "nemesis": options.nemesis, "backend": night.backend,
            "started_at": _iso(night.started_at), "finished_at": _iso(night.finished_at),
            "workload_seconds": round(night.workload_seconds, 3),
            "drain_seconds": round(max(0.0, night.total_seconds - night.workload_seconds), 3),
            "total_seconds": round(night.total_seconds, 3),
            "interrupted": night.interrupted_by is not None,
            "replay_command": options.replay_command(),
        },
        "versions": {
            "redis": night.versions.get("redis", "unknown"),
            "redis_server": night.versions.get("redis_server", "unknown"),
            "toxiproxy": night.versions.get("toxiproxy", "unknown"),
            "python": platform.python_version(), "queue_chaos": __version__,
            "library": library,
        },
        "promises": asdict(promises) | {"described": promises.describe()} if promises else None,
        "verdict": {"status": night.status, "exit_code": night.exit_code,
                    "headline": _headline(night, counts, operations["total"]),
                    "reason": _reason(night)},
        "invariants": _invariant_rows(night, counts),
        "violations": violations,
        "violations_by_invariant": dict(counts),
        "summary": _enqueues(history) if concurrent else {},
        "final_states": _final_states(concurrent.final if concurrent else {}, history),
        "operations": operations,
        "faults": fault_windows(night.applied,
                                len(night.schedule.windows) if night.schedule else 0,
                                options.nemesis),
        "infrastructure": {"error": night.infrastructure},
        "files": {"history": HISTORY_FILE, "timeseries": TIMESERIES_FILE,
                  "junit": JUNIT_FILE, "html": HTML_FILE},
    }


def write_job_queue_artifacts(night: JobQueueNight) -> dict[str, Any]:
    """Every file of the night (the history is already there); returns the journal."""
    journal = journal_of(night, write_timeseries(night))
    journal_module.write_journal(night.out, journal)
    write_junit(night.out / JUNIT_FILE, SUITE, junit_cases(journal))
    write_html(night.out, journal)
    return journal
