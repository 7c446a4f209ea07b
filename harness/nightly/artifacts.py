"""From a NightlyResult to the files a run leaves: journal.json first, then from it report.html,
junit.xml and metrics.prom (and an optional Pushgateway push).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import platform
from collections import Counter
from pathlib import Path
from typing import Any

from harness import __version__
from harness.invariants import INVARIANTS, Violation
from harness.nightly.nemesis import AppliedWindow
from harness.nightly.run import HISTORY_FILE, HYPOTHESIS_DB, TIMESERIES_FILE, NightlyResult
from harness.overlap import overlapping
from harness.report import journal as journal_module
from harness.report.html import write_html
from harness.report.junit import JUnitCase, write_junit
from harness.report.trace import minimal_traces
from harness.target import resolve_target

JUNIT_FILE = "junit.xml"
METRICS_FILE = "metrics.prom"
HTML_FILE = "report.html"
SUITE = "queue-chaos nightly"
NO_VERDICT = ("No verdict on the queue: Redis or Toxiproxy failed during the run. "
              "Nothing in this report says the queue lost anything.")


def target_version(spec: str) -> str:
    """The factory module's __version__, else a digest of its source (tells two builds apart)."""
    module_name = resolve_target(spec).partition(":")[0]
    try:
        module = importlib.import_module(module_name)
    except Exception:  # noqa: BLE001 - a version is informative only
        return "unknown"
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return "unknown"
    return f"{module_name} sha256:{hashlib.sha256(source.encode()).hexdigest()[:12]}"


def _iso(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


def _headline(result: NightlyResult, counts: Counter[str], ops: int) -> str:
    windows = len(result.applied)
    plural = "" if windows == 1 else "s"
    if result.status == "infrastructure":
        return NO_VERDICT
    found = ", ".join(f"{name} ({n})" for name, n in counts.most_common())
    if result.status == "interrupted":
        done = f"Interrupted after {result.workload_seconds:.0f} s of {result.options.budget:g} s"
        return f"{done}: {found} so far." if counts else f"{done}; no violation so far."
    if counts:
        total = sum(counts.values())
        return (f"{total} violation{'s' if total != 1 else ''} of {len(counts)} "
                f"invariant{'s' if len(counts) != 1 else ''}: {found}.")
    lost = result.summary.get("lost", 0)
    acked = result.summary.get("acknowledged", 0)
    return (f"Every invariant judged held over {ops} operations and {windows} fault "
            f"window{plural} ({acked} jobs acknowledged, {lost} lost).")


def _reason(result: NightlyResult, observed_before_failure: int) -> str | None:
    if result.infrastructure:
        note = (f" ({observed_before_failure} violation(s) were observed before the failure; "
                "they are not reported because the failure itself can cause them: rerun)"
                if observed_before_failure else "")
        return result.infrastructure + note
    if result.interrupted:
        return f"stopped by {result.interrupted_by} before the budget was spent"
    return None


# What a concurrent workload cannot judge, and why (the stateful machine judges them).
WORKLOAD_BLIND_SPOTS = {
    "list_jobs_complete": "needs the state just before and after each list_jobs; "
                          "a concurrent run has no such snapshots",
    "input_validation": "the workload sends valid input only",
    "code_quality": "a static check of the target's source (the gate runs it)",
    "deterministic": "needs the same program run twice: the stateful machine's replays judge it",
}


def _invariant_rows(
    result: NightlyResult, counts: Counter[str]
) -> list[dict[str, Any]]:
    machine_ran = result.machine.get("status") in ("passed", "failed")
    blind = dict(WORKLOAD_BLIND_SPOTS)
    if result.judged and not result.telemetry_checked:
        blind["telemetry_agreement"] = "the target registered none of the telemetry metrics"
    rows = []
    for name, invariant in INVARIANTS.items():
        by_workload = result.judged and name not in blind
        sources = (["workload"] if by_workload else []) + (
            ["stateful machine"] if machine_ran else [])
        if counts[name]:
            status = "violated"
        elif sources and not result.infrastructure:
            status = "holds"
        else:
            status = "not_judged"
        note = f"not judged by the workload: {blind[name]}" if name in blind else ""
        rows.append({"name": name, "severity": str(invariant.severity),
                     "promise": invariant.promise, "status": status,
                     "violations": counts[name], "sources": sources, "note": note})
    return rows


def _violation_entries(result: NightlyResult, reported: list[Violation]) -> list[dict[str, Any]]:
    ordered = sorted(reported, key=lambda v: v.severity.rank)[: journal_module.MAX_DETAILED]
    traces = minimal_traces(result.out / HISTORY_FILE,
                            [(v.operations, v.evidence) for v in ordered])
    failovers = _failovers(result)
    replay = result.options.replay_command()
    return [
        {
            "id": i + 1,
            "invariant": v.invariant,
            "severity": str(v.severity),
            "message": v.message,
            "evidence": dict(v.evidence),
            "operations": list(v.operations),
            "trace": trace,
            "race": race_of(v, trace),
            "failover": failover_after(v, trace, failovers),
            "replay": replay,
        }
        for i, (v, trace) in enumerate(zip(ordered, traces, strict=True))
    ]


def failover_after(violation: Violation, trace: list[dict[str, Any]],
                   failovers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first failover that ended after every operation a violation names had completed:
    for an acknowledged job that is gone, the evidence that it was acknowledged by the old
    primary (before the failover, or while it was under way) and the replica promoted
    without it."""
    named = [op for op in trace if op["index"] in violation.operations]
    if not named or any(op.get("completed_at") is None for op in named):
        return None
    done = max(op["completed_at"] for op in named)
    later = [f for f in failovers if f["end"] >= done]
    if not later:
        return None
    first = min(later, key=lambda f: f["start"])
    when = (f"completed {first['start'] - done:.3f} s before the failover at "
            f"{first['start']:.3f} s" if done <= first["start"] else
            f"completed during the failover ({first['start']:.3f}-{first['end']:.3f} s), "
            "before the proxy was pointed at the new primary")
    return first | {
        "seconds_after": round(first["start"] - done, 3),
        "says": (f"{when}, which promoted a replica {first['unreplicated_bytes']} bytes of "
                 f"replication stream behind the old primary (link "
                 f"{'up' if first['link_up'] else 'down'}): written on the old primary, "
                 "never replicated"),
    }


def _failovers(result: NightlyResult) -> list[dict[str, Any]]:
    """The promotions that closed the run's failover windows, as the journal holds them."""
    return [w.failover.to_json() for w in result.applied if w.failover is not None]


def race_of(violation: Violation, trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operations a violation names that overlapped in time: a race, shown side by
    side ([] when they ran one after another)."""
    named = [op for op in trace if op["index"] in violation.operations]
    return overlapping(named) if len(named) > 1 else []  # type: ignore[return-value]


def _operations(result: NightlyResult) -> dict[str, Any]:
    series = result.series
    total = series.total if series else 0
    by_kind: dict[str, dict[str, int]] = {}
    if series:
        for (kind, outcome), n in sorted(series.by_kind.items()):
            by_kind.setdefault(kind, {})[outcome] = n
    seconds = result.workload_seconds + result.drain_seconds
    return {
        "total": total,
        "crashed": series.crashed if series else 0,
        "ops_per_second": round(total / seconds, 1) if seconds else 0.0,
        "latency_ms": series.latency_summary_ms() if series else {"p50": 0, "p95": 0, "p99": 0},
        "by_kind": by_kind,
        "harness_overhead_us_per_op": round(result.overhead_seconds / total * 1e6, 1)
        if total else 0.0,
        "worker_deaths": result.worker_deaths,
    }


def _faults(result: NightlyResult) -> dict[str, Any]:
    return fault_windows(result.applied, len(result.schedule.windows) if result.schedule else 0,
                         result.options.nemesis) | {"failovers": _failovers(result)}


def fault_windows(applied_windows: list[AppliedWindow], planned: int,
                  nemesis: bool) -> dict[str, Any]:
    """The journal's `faults`: the windows as applied, and windows and seconds per kind."""
    by_kind: dict[str, dict[str, float]] = {}
    applied = [w.to_json() for w in applied_windows]
    for window in applied:
        for kind in window["kinds"]:
            entry = by_kind.setdefault(kind, {"windows": 0, "seconds": 0.0})
            entry["windows"] += 1
            entry["seconds"] = round(
                entry["seconds"] + window["applied_end"] - window["applied_start"], 3)
    return {"nemesis": nemesis, "planned": planned, "applied": applied, "by_kind": by_kind}


def journal_of(result: NightlyResult) -> dict[str, Any]:
    options = result.options
    reported = [] if result.infrastructure else result.violations
    counts = Counter(v.invariant for v in reported)
    operations = _operations(result)
    machine = result.machine or {
        "status": "not_run",
        "detail": "stateful machine: not run (the workload did not finish)"
        if options.machine else "stateful machine: not run (--no-machine)",
        "invariants_violated": [], "seconds": 0.0, "database": None,
    }
    return {
        "schema_version": journal_module.SCHEMA_VERSION,
        "kind": journal_module.KIND,
        "tool": {"name": "queue-chaos", "version": __version__},
        "run": {
            "target": options.target,
            "target_factory": resolve_target(options.target),
            "seed": options.seed,
            "budget_seconds": options.budget,
            "producers": options.producers,
            "workers": options.workers,
            "nemesis": options.nemesis,
            "failover": options.failover,
            "lease_seconds": options.workload.lease_seconds,
            "op_timeout_seconds": options.op_timeout,
            "client_policy": options.policy.describe(),
            "backend": result.backend,
            "started_at": _iso(result.started_at),
            "finished_at": _iso(result.finished_at),
            "workload_seconds": round(result.workload_seconds, 3),
            "drain_seconds": round(result.drain_seconds, 3),
            "total_seconds": round(result.total_seconds, 3),
            "phase_seconds": dict(result.phase_seconds),
            "interrupted": result.interrupted,
            "replay_command": options.replay_command(),
        },
        "versions": {
            "redis": result.versions.get("redis", "unknown"),
            "redis_server": result.versions.get("redis_server", "unknown"),
            "toxiproxy": result.versions.get("toxiproxy", "unknown"),
            "python": platform.python_version(),
            "queue_chaos": __version__,
            "target": target_version(options.target),
        },
        "verdict": {
            "status": result.status,
            "exit_code": result.exit_code,
            "headline": _headline(result, counts, operations["total"]),
            "reason": _reason(result, len(result.violations)),
        },
        "invariants": _invariant_rows(result, counts),
        "violations": _violation_entries(result, reported),
        "violations_by_invariant": dict(counts),
        "notes": list(result.notes),
        "summary": {k: v for k, v in result.summary.items() if isinstance(v, int)},
        "summary_ids": {k: v for k, v in result.summary.items() if not isinstance(v, int)},
        "operations": operations,
        "faults": _faults(result),
        "drain": result.drain.to_json() if result.drain else {},
        "stateful_machine": machine,
        "infrastructure": {"error": result.infrastructure},
        "files": {
            "history": HISTORY_FILE,
            "timeseries": TIMESERIES_FILE,
            "junit": JUNIT_FILE,
            "metrics": METRICS_FILE,
            "html": HTML_FILE,
            "hypothesis_db": HYPOTHESIS_DB,
        },
    }


def junit_cases(journal: dict[str, Any]) -> list[JUnitCase]:
    """One case per invariant; a failure carries the first violations' evidence."""
    seconds = journal["run"]["total_seconds"]
    reason = journal["verdict"]["reason"] or "not judged"
    cases = []
    for row in journal["invariants"]:
        found = [v for v in journal["violations"] if v["invariant"] == row["name"]]
        details = "\n\n".join(
            f"#{v['id']} {v['message']}\nevidence: {v['evidence']}\n"
            f"operations: {v['operations']}\nreplay: {v['replay']}"
            for v in found[:5]
        )
        cases.append(JUnitCase(
            name=row["name"],
            classname=f"nightly.{journal['run']['target']}",
            passed=row["status"] != "violated",
            message=(f"{row['violations']} violation(s): {found[0]['message']}" if found
                     else reason if row["status"] == "not_judged" else ""),
            details=details,
            seconds=seconds if row is journal["invariants"][0] else 0.0,
            skipped=row["status"] == "not_judged",
        ))
    return cases


def write_artifacts(result: NightlyResult, pushgateway: str | None = None) -> list[str]:
    """Write every file of the run; returns notes for the user (e.g. a failed push)."""
    journal = journal_of(result)
    directory = result.out
    journal_module.write_journal(directory, journal)
    write_junit(directory / JUNIT_FILE, SUITE, junit_cases(journal))
    result.metrics.set_outcome(
        journal["verdict"]["status"],
        violations_per_invariant=journal["violations_by_invariant"],
        jobs=journal["summary"], duration=result.workload_seconds,
        budget=result.options.budget, seed=result.options.seed,
    )
    for window in journal["faults"]["applied"]:
        result.metrics.observe_window(window["kinds"],
                                      window["applied_end"] - window["applied_start"])
    result.metrics.write(directory / METRICS_FILE)
    write_html(directory, journal)
    notes = []
    if pushgateway:
        try:
            result.metrics.push(pushgateway, result.options.target)
            notes.append(f"metrics pushed to {pushgateway}")
        except (OSError, ValueError) as exc:  # urllib errors, bad URL: the report stands
            notes.append(f"warning: push to {pushgateway} failed: {exc}")
    return notes


def link_latest(directory: Path) -> Path:
    """Point <parent>/latest at this run (atomically: a reader never sees no link)."""
    link = directory.parent / "latest"
    temporary = directory.parent / f".latest-{directory.name}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(directory.name, target_is_directory=True)
    temporary.replace(link)
    return link
