"""The stateful machine's part of a nightly run, through `harness.machine.run_machine`.

The machine is imported lazily and only used when it offers
`run_machine(target_spec, services, profile, database_dir)`; otherwise the journal says it
was not run and why. Its example database lives in the run's output directory, so a
failure found at night replays the next morning from that directory.
"""

from __future__ import annotations

import importlib
import inspect
import time
from pathlib import Path
from typing import Any

from harness.services import Services

PROFILE = "nightly"
MAX_DETAIL = 20_000  # characters of Hypothesis's report kept in the journal


def _not_run(detail: str) -> dict[str, Any]:
    return {"status": "not_run", "detail": detail, "invariants_violated": [],
            "seconds": 0.0, "database": None}


def machine_entry_point() -> Any:
    """harness.machine.run_machine when it has the signature the nightly run calls, else None."""
    try:
        module = importlib.import_module("harness.machine")
    except ImportError:
        return None
    run_machine = getattr(module, "run_machine", None)
    if not callable(run_machine):
        return None
    try:
        inspect.signature(run_machine).bind(
            target_spec="t", services=None, profile=PROFILE, database_dir=Path()
        )
    except TypeError:
        return None
    return run_machine


def run_stateful_machine(target: str, services: Services, database_dir: Path) -> dict[str, Any]:
    """The machine's result as journal fields; InfrastructureError propagates (no verdict)."""
    run_machine = machine_entry_point()
    if run_machine is None:
        return _not_run("stateful machine: not run (not available: harness.machine offers no "
                        "run_machine(target_spec, services, profile, database_dir))")
    database_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = run_machine(target_spec=target, services=services, profile=PROFILE,
                         database_dir=database_dir)
    violated = sorted(getattr(result, "invariants_violated", []) or [])
    report = str(getattr(result, "report", "") or "")
    if len(report) > MAX_DETAIL:
        report = report[:MAX_DETAIL] + "\n[... cut; rerun to see the rest]"
    status = "failed" if violated else "passed"
    detail = report or ("no counterexample found" if status == "passed" else "")
    return {
        "status": status,
        "detail": detail,
        "invariants_violated": violated,
        "seconds": round(time.monotonic() - started, 3),
        "database": database_dir.name,
    }
