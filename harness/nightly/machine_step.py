"""The stateful machine's part of a nightly run: the `nightly` profile, for a time share.

Hypothesis has no wall-clock budget, so the machine runs in batches of examples until its
share of the budget is spent or a batch finds a counterexample. Batches are random, not
seeded: Hypothesis saves no failure to its database under a fixed seed, and the database is
what makes a night's failure replay. It lives in the run's output directory:
`queue-chaos machine --target T --profile repro --database DIR/hypothesis-db`; with a shared
database (`nightly --database URL`: a Redis, another folder, a CI artifact to read from) the
failures go there too, and the replay command names it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.databases import parse_database, refuse_redis_under_test, with_local
from harness.machine import MachineResult, MachineSetup, replay_command, run_by_severity
from harness.op_deadline import DEFAULT_OP_TIMEOUT
from harness.profiles import profile_settings
from harness.servers.services import Services

PROFILE = "nightly"
BATCH_EXAMPLES = 25  # examples per severity pass in one batch
MAX_DETAIL = 20_000  # characters of Hypothesis's report kept in the journal


def run_stateful_machine(target: str, services: Services, database_dir: Path,
                         seconds: float, *, shared: str | None = None,
                         op_timeout: float = DEFAULT_OP_TIMEOUT,
                         seed: int | None = None) -> dict[str, Any]:
    """The machine's result as journal fields; InfrastructureError propagates (no verdict).

    With the night's seed, batch k draws from seed + k: the same night runs the same
    programs (after what the database replays), and no two batches repeat each other.
    """
    database_dir.mkdir(parents=True, exist_ok=True)
    url = parse_database(shared) if shared else None
    refuse_redis_under_test(url, services.redis.host, services.redis.port)
    settings = profile_settings(PROFILE, database_dir=with_local(database_dir, url),
                                max_examples=BATCH_EXAMPLES)
    started = time.monotonic()
    batches = 0
    result = MachineResult(target, PROFILE)
    while batches == 0 or (time.monotonic() - started < seconds and result.holds):
        batches += 1
        result = run_by_severity(MachineSetup(services, target, op_timeout=op_timeout),
                                 settings, seed=None if seed is None else seed + batches)
    report = result.report
    if len(report) > MAX_DETAIL:
        report = report[:MAX_DETAIL] + "\n[... cut; rerun to see the rest]"
    status = "passed" if result.holds else "failed"
    return {
        "status": status,
        "detail": report or f"no counterexample in {batches} batch(es) of "
                            f"{BATCH_EXAMPLES} examples per severity",
        "invariants_violated": sorted(result.invariants_violated),
        "seconds": round(time.monotonic() - started, 3),
        "batches": batches,
        "database": database_dir.name,
        "shared_database": url.display() if url is not None else None,
        "replay": replay_command(target, url.display() if url is not None
                                 else str(database_dir)),
    }
