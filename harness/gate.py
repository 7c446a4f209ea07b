"""The CI gate: every scenario plus the state machine under the `gate` profile, one verdict.

A row per scenario (its finding's severity) and a row per invariant of the state machine
(that invariant's severity). The gate fails when a row at a blocking severity is violated;
CRITICAL and HIGH block by default, as the review's "MUST DO (Blocks Merge)" did.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import settings as Settings

from harness import __version__
from harness.files import write_whole
from harness.invariants import INVARIANTS, STATIC_INVARIANTS, Severity
from harness.machine import MachineResult, MachineSetup, run_by_severity
from harness.op_deadline import DEFAULT_OP_TIMEOUT
from harness.scenario import Scenario, run_scenario
from harness.services import Services

DEFAULT_BLOCKING = frozenset({Severity.CRITICAL, Severity.HIGH})
MACHINE_PREFIX = "STATEFUL"


@dataclass
class GateRow:
    id: str
    title: str
    severity: str
    invariant: str  # what the row is about
    result: str  # "violated", "holds", "not applicable" or "not run" (after a hang)
    violated: list[str] = field(default_factory=list)  # invariants actually violated
    blocking: bool = False
    seconds: float = 0.0
    trace: str = ""


@dataclass
class GateReport:
    target: str
    rows: list[GateRow]
    blocking_severities: list[str]
    machine_report: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def blocked(self) -> list[GateRow]:
        return [row for row in self.rows if row.blocking]

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
        }

    def write_json(self, path: Path) -> None:
        write_whole(path, (json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n").encode())


def scenario_row(result_scenario: Scenario, result: Any, blocking: frozenset[Severity]) -> GateRow:
    violated = sorted({v.invariant for v in result.violations})
    return GateRow(
        id=result_scenario.id, title=result_scenario.title,
        severity=str(result_scenario.severity), invariant=result_scenario.breaks,
        result=result.verdict, violated=violated,
        blocking=result.violated and result_scenario.severity in blocking,
        seconds=round(result.seconds, 3), trace=result.trace,
    )


def machine_rows(result: MachineResult | None, blocking: frozenset[Severity]) -> list[GateRow]:
    """A row per invariant the machine judges; "not run" for each when it did not run."""
    rows = []
    for name, invariant in INVARIANTS.items():
        if name in STATIC_INVARIANTS:
            continue
        violated = result is not None and name in result.invariants_violated
        outcome = "not run" if result is None else "violated" if violated else "holds"
        rows.append(GateRow(
            id=f"{MACHINE_PREFIX}/{name}", title=f"state machine: {invariant.promise}",
            severity=str(invariant.severity), invariant=name,
            result=outcome, violated=[name] if violated else [],
            blocking=violated and invariant.severity in blocking,
        ))
    return rows


def run_gate(
    services: Services,
    target: str,
    scenarios: Iterable[Scenario],
    machine_settings: Settings | None,
    *,
    blocking: frozenset[Severity] = DEFAULT_BLOCKING,
    on_progress: Callable[[str], None] = lambda _text: None,
    op_timeout: float = DEFAULT_OP_TIMEOUT,
) -> GateReport:
    """Run every scenario, then the machine (unless `machine_settings` is None).

    An operation that hangs ends the gate at that verdict: what is left is "not run" (each
    scenario would wait the whole operation time limit again).
    """
    rows: list[GateRow] = []
    hung = False
    for scenario in scenarios:
        if hung:
            rows.append(GateRow(scenario.id, scenario.title, str(scenario.severity),
                                scenario.breaks, "not run"))
            continue
        on_progress(scenario.id)
        result = run_scenario(scenario, services, target, op_timeout)
        rows.append(scenario_row(scenario, result, blocking))
        hung = result.hung
    machine_report = ""
    if machine_settings is not None and hung:
        rows.extend(machine_rows(None, blocking))
    elif machine_settings is not None:
        on_progress(MACHINE_PREFIX)
        started = time.monotonic()
        machine = run_by_severity(MachineSetup(services, target, op_timeout=op_timeout),
                                  machine_settings)
        elapsed = round(time.monotonic() - started, 3)
        for row in machine_rows(machine, blocking):
            row.seconds = elapsed
            rows.append(row)
        machine_report = machine.report
    return GateReport(target, rows, sorted(str(s) for s in blocking), machine_report,
                      services.versions())
