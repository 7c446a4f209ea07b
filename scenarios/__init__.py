"""The scenario catalogue: the review's findings and the field's failure modes, by id.

To add one, write a harness.scenario.Scenario (see scenarios/review.py) and list it in a
module's SCENARIOS; `queue-chaos list` shows it and `reproduce ID` runs it. The gate runs
CATALOGUE; OPT_IN scenarios need more servers (a replica) and run only when asked for.
"""

from __future__ import annotations

from harness.errors import UsageError
from harness.scenario import Scenario
from scenarios import failover, field, review

CATALOGUE: tuple[Scenario, ...] = (*review.SCENARIOS, *field.SCENARIOS)
OPT_IN: tuple[Scenario, ...] = failover.SCENARIOS
BY_ID: dict[str, Scenario] = {s.id: s for s in (*CATALOGUE, *OPT_IN)}


def select(ids: str) -> list[Scenario]:
    """Scenarios by id; "MEDIUM-4" names its whole group (MEDIUM-4.1 ... MEDIUM-4.7)."""
    chosen = [s for s in (*CATALOGUE, *OPT_IN) if s.id == ids or s.id.startswith(f"{ids}.")]
    if not chosen:
        raise UsageError(f"unknown scenario {ids!r}: 'queue-chaos list' shows the ids")
    return chosen
