"""The CI gate: every scenario plus the state machine under the `gate` profile, one verdict.

A row per scenario (its finding's severity) and a row per invariant of the state machine
(that invariant's severity). The gate fails when a row at a blocking severity is violated;
CRITICAL and HIGH block by default, as the review's "MUST DO (Blocks Merge)" did.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import settings as Settings

from harness import __version__
from harness.driver import Driver
from harness.errors import UsageError
from harness.files import write_whole
from harness.invariants import INVARIANTS, STATIC_INVARIANTS, Severity
from harness.machine import SHRINK_BUDGET, MachineResult, MachineSetup, run_by_severity
from harness.op_deadline import DEFAULT_OP_TIMEOUT
from harness.scenario import NOT_CHECKED, Scenario, ScenarioResult, run_scenario, unjudged
from harness.scheduler import DEFAULT_CLIENTS
from harness.servers.services import Services
from harness.target import KeySchema
from harness.textable import render_table
from harness.undeclared import LIMIT, undeclared_keys, warning

NOT_SEARCHED = "not searched"
UNSEARCHED_WHY = "held until the first blocking violation, then left out (the verdict was known)"
DEFAULT_BLOCKING = frozenset({Severity.CRITICAL, Severity.HIGH})
MACHINE_PREFIX = "STATEFUL"


@dataclass
class GateRow:
    id: str
    title: str
    severity: str
    invariant: str  # what the row is about
    result: str  # "violated", "holds", "not applicable", "not checked" or "not run" (a hang)
    violated: list[str] = field(default_factory=list)  # invariants actually violated
    blocking: bool = False
    seconds: float = 0.0
    trace: str = ""
    note: str = ""  # why a row is "not checked" (or "not applicable")


@dataclass
class GateReport:
    target: str
    rows: list[GateRow]
    blocking_severities: list[str]
    machine_report: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    undeclared_keys: list[str] = field(default_factory=list)  # see harness.undeclared
    # What the machine ran: fault-sweep programs, random examples, steps (none: no machine)
    searched: dict[str, int] = field(default_factory=dict)

    @property
    def blocked(self) -> list[GateRow]:
        return [row for row in self.rows if row.blocking]

    @property
    def server(self) -> str:
        """The Redis server the run used, by name and version ("valkey 9.1.2")."""
        return self.versions.get("redis_server", "an unknown server")

    @property
    def passed(self) -> bool:
        return not self.blocked

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "queue_chaos_version": __version__,
            "target": self.target,
            "verdict": "pass" if self.passed else "fail",
            "blocking_severities": self.blocking_severities,
            "blocked": [row.id for row in self.blocked],
            "rows": [asdict(row) for row in self.rows],
            "machine_report": self.machine_report,
            "versions": self.versions,
            "not_checked": [row.id for row in self.rows if row.result == NOT_CHECKED],
            "not_searched": [row.id for row in self.rows if row.result == NOT_SEARCHED],
            "searched": self.searched,
            "undeclared_keys": {"count": len(self.undeclared_keys),
                                "keys": self.undeclared_keys[:LIMIT]},
        }

    def write_json(self, path: Path) -> None:
        write_whole(path, (json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n").encode())


def parse_blocking(text: str) -> frozenset[Severity]:
    """"CRITICAL,HIGH" as severities; a UsageError naming the choices otherwise."""
    try:
        return frozenset(Severity(part.strip().upper()) for part in text.split(",") if part)
    except ValueError as exc:
        names = ", ".join(s.value for s in Severity)
        raise UsageError(f"bad --block-on {text!r}: a comma list of {names}") from exc


def scenario_row(scenario: Scenario, result: ScenarioResult,
                 blocking: frozenset[Severity]) -> GateRow:
    """The scenario's row, blocking at the finding's severity: when the invariant the
    finding breaks broke, or another one at a blocking severity of its own (a LOW counter
    a HIGH scenario saw wrong is a LOW finding: it blocks nothing)."""
    violated = sorted({v.invariant for v in result.violations})
    serious = any(name == scenario.breaks or INVARIANTS[name].severity in blocking
                  for name in violated)
    return GateRow(
        id=scenario.id, title=scenario.title,
        severity=str(scenario.severity), invariant=scenario.breaks,
        result=result.verdict, violated=violated,
        blocking=result.violated and scenario.severity in blocking and serious,
        seconds=round(result.seconds, 3), trace=result.trace, note=result.note,
    )


def machine_rows(result: MachineResult | None, blocking: frozenset[Severity],
                 not_judged: dict[str, str] | None = None) -> list[GateRow]:
    """A row per invariant; one the checker could not judge (`not_judged`) is "not checked",
    one left out once a blocking violation was found is "not searched", and each is "not
    run" when the machine did not run (after a hang)."""
    not_judged = not_judged or {}
    rows = []
    for name, invariant in INVARIANTS.items():
        if name in STATIC_INVARIANTS:
            continue
        violated = result is not None and name in result.invariants_violated
        verdict = ("not run" if result is None else "violated" if violated
                   else NOT_CHECKED if name in not_judged
                   else NOT_SEARCHED if name in result.unsearched else "holds")
        note = (not_judged.get(name, "") if verdict != NOT_SEARCHED else
                f"{UNSEARCHED_WHY}; --every-severity searches it")
        rows.append(GateRow(
            id=f"{MACHINE_PREFIX}/{name}", title=f"state machine: {invariant.promise}",
            severity=str(invariant.severity), invariant=name,
            result=verdict, violated=[name] if violated else [],
            blocking=violated and invariant.severity in blocking,
            note="" if violated else note,
        ))
    return rows


def _probe(services: Services, target: Any) -> tuple[KeySchema, dict[str, str]]:
    """The target's schema and what the checker cannot judge on it, from a fresh target."""
    driver = Driver(services, target)
    try:
        return driver.schema, unjudged(driver)
    finally:
        driver.close()


def run_gate(
    services: Services,
    target: Any,  # a target spec, or a factory (the pytest plugin's)
    scenarios: Iterable[Scenario],
    machine_settings: Settings | None,
    *,
    blocking: frozenset[Severity] = DEFAULT_BLOCKING,
    on_progress: Callable[[str], None] = lambda _text: None,
    shrink_budget: float | None = SHRINK_BUDGET,
    on_first_failure: Callable[[str], None] | None = None,
    op_timeout: float = DEFAULT_OP_TIMEOUT,
    clients: int = DEFAULT_CLIENTS,
    every_severity: bool = False,
    sweep: bool = True,
) -> GateReport:
    """Run every scenario, then the machine (unless `machine_settings` is None): the fault
    sweep first (harness.fault_sweep; `sweep=False` leaves it out), then random search.

    The machine stops searching once a blocking invariant broke (the verdict is known; a
    failing gate pays for one run, not one per severity), unless `every_severity`.

    An operation that hangs ends the gate at that verdict: what is left is "not run" (each
    scenario would wait the whole operation time limit again).
    """
    rows: list[GateRow] = []
    undeclared: set[str] = set()
    hung = False
    for scenario in scenarios:
        if hung:
            rows.append(GateRow(scenario.id, scenario.title, str(scenario.severity),
                                scenario.breaks, "not run"))
            continue
        on_progress(scenario.id)
        result = run_scenario(scenario, services, target, op_timeout)
        rows.append(scenario_row(scenario, result, blocking))
        undeclared.update(result.undeclared_keys)
        hung = result.hung
    machine_report, searched = "", {}
    if machine_settings is not None and hung:
        rows.extend(machine_rows(None, blocking))
    elif machine_settings is not None:
        on_progress(MACHINE_PREFIX)
        schema, not_judged = _probe(services, target)
        started = time.monotonic()
        setup = MachineSetup(services, target, shrink_budget=shrink_budget,
                             on_first_failure=on_first_failure, op_timeout=op_timeout,
                             clients=clients, sweep=sweep)
        result = run_by_severity(setup, machine_settings,
                                 stop_at=frozenset() if every_severity else blocking)
        elapsed = round(time.monotonic() - started, 3)
        for row in machine_rows(result, blocking, not_judged):
            row.seconds = elapsed
            rows.append(row)
        machine_report = result.report
        searched = {"sweep_programs": result.swept, "examples": result.examples,
                    "steps": result.steps}
        if result.shrinking:
            machine_report = f"shrinking: {result.shrinking}\n{machine_report}"
        if services.may_flush:  # what the last example left: a target's usual keys are there
            with contextlib.closing(services.direct_client()) as client:
                undeclared.update(undeclared_keys(client, schema))
    return GateReport(str(target), rows, sorted(str(s) for s in blocking), machine_report,
                      services.versions(), sorted(undeclared), searched)


def _result_text(row: GateRow) -> str:
    """VIOLATED, and which other invariants broke ("only ..." when the row's did not)."""
    others = [v for v in row.violated if v != row.invariant]
    if not others:
        return row.result.upper()
    only = "" if row.invariant in row.violated else "only "
    return f"{row.result.upper()} ({only}{', '.join(others)})"


def searched_line(searched: dict[str, int]) -> str:
    """How far the state machine went: the sweep's programs, then the random examples."""
    parts = [f"{searched['sweep_programs']:,} fault-sweep programs"] if searched.get(
        "sweep_programs") else []
    if searched.get("examples") or not parts:
        parts.append(f"{searched.get('examples', 0):,} random examples")
    else:
        parts.append("no random search (its findings left nothing to search)")
    return f"state machine: {', then '.join(parts)} ({searched.get('steps', 0):,} steps in all)"


def render_report(report: GateReport) -> str:
    """The gate's verdict as `queue-chaos gate` prints it: the table, the traces of what
    blocks, the machine's minimal programs, warnings, the verdict line."""
    rows = [(r.id, r.severity, r.invariant, _result_text(r), "BLOCKS" if r.blocking else "")
            for r in report.rows]
    parts = [f"queue-chaos gate: target {report.target} on {report.server}",
             render_table(("id", "severity", "invariant", "result", ""), rows), ""]
    parts += [f"{row.trace}\n" for row in report.blocked if row.trace]
    if report.machine_report and report.blocked:
        parts += ["state machine (minimal failing programs):", report.machine_report, ""]
    if report.searched:
        parts.append(searched_line(report.searched))
    not_run = [r.id for r in report.rows if r.result == "not run"]
    if not_run:
        parts.append(f"an operation hung: the gate stopped there ({len(not_run)} rows not run)")
    unsearched = [r.invariant for r in report.rows if r.result == NOT_SEARCHED]
    if unsearched:
        parts.append(f"not searched: {', '.join(unsearched)}: {UNSEARCHED_WHY}; "
                     "--every-severity searches each severity for its own counterexample")
    notes = sorted({f"{r.invariant}: {r.note}" for r in report.rows if r.result == NOT_CHECKED})
    parts += [f"not checked: {note}" for note in notes]
    if report.undeclared_keys:
        parts.append(warning(report.undeclared_keys))
    verdict = ("PASS" if report.passed else
               f"FAIL: {len(report.blocked)} blocking finding(s): "
               + ", ".join(r.id for r in report.blocked))
    parts.append(f"verdict: {verdict} (blocking: {', '.join(report.blocking_severities)})")
    return "\n".join(parts)
