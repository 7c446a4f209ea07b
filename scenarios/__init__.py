"""The scenario catalogue: the review's findings and the field's failure modes, by id.

To add one, write a harness.scenario.Scenario (see scenarios/review.py) and list it in a
module's SCENARIOS; `queue-chaos list` shows it and `reproduce ID` runs it.
"""

from __future__ import annotations

from harness.errors import UsageError
from harness.scenario import Scenario
from scenarios import field, review

CATALOGUE: tuple[Scenario, ...] = (*review.SCENARIOS, *field.SCENARIOS)
BY_ID: dict[str, Scenario] = {s.id: s for s in CATALOGUE}


def select(ids: str) -> list[Scenario]:
    """Scenarios by id; "MEDIUM-4" names its whole group (MEDIUM-4.1 ... MEDIUM-4.7)."""
    chosen = [s for s in CATALOGUE if s.id == ids or s.id.startswith(f"{ids}.")]
    if not chosen:
        raise UsageError(f"unknown scenario {ids!r}: 'queue-chaos list' shows the ids")
    return chosen
