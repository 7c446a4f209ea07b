"""Hypothesis settings profiles for the three ways queue-chaos runs the state machine.

  gate     every PR: derandomized (same code, same examples, same verdict), bounded, no database.
  nightly  explores: random, many more and longer examples, no shrinking (it would not fit
           a budget); failures kept in a database directory, to replay the next morning.
  repro    replays what a database holds (or a @reproduce_failure blob) and shrinks it.

Hypothesis loads its own `ci` profile when CI is set; the gate does not depend on it, it
is derandomized itself.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

PROFILES = ("gate", "nightly", "repro")

_COMMON = {
    "deadline": None,  # network faults and socket timeouts make step times vary by design
    "suppress_health_check": list(HealthCheck),
    "print_blob": True,
}


def profile_settings(
    name: str,
    database_dir: Path | ExampleDatabase | None = None,
    max_examples: int | None = None,
    step_count: int | None = None,
) -> settings:
    """Settings for a named profile; the optional overrides scale a run up or down.

    `database_dir` is a folder, or any Hypothesis database (harness.databases opens those
    a --database URL names); the gate profile uses none.
    """
    database = (database_dir if isinstance(database_dir, ExampleDatabase | None)
                else DirectoryBasedExampleDatabase(str(database_dir)))
    if name == "gate":
        base = settings(derandomize=True, database=None, max_examples=100,
                        stateful_step_count=40, phases=[Phase.explicit, Phase.generate,
                                                        Phase.shrink], **_COMMON)
    elif name == "nightly":
        # No shrinking at night: the budget is honoured, the failure is saved to the
        # database, and `repro` shrinks it in the morning.
        base = settings(derandomize=False, database=database, max_examples=400,
                        stateful_step_count=40,
                        phases=[Phase.explicit, Phase.reuse, Phase.generate], **_COMMON)
    elif name == "repro":
        base = settings(derandomize=False, database=database, max_examples=1,
                        stateful_step_count=40, verbosity=Verbosity.normal,
                        phases=[Phase.explicit, Phase.reuse, Phase.shrink], **_COMMON)
    else:
        raise ValueError(f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}")
    overrides: dict[str, object] = {}
    if max_examples is not None:
        overrides["max_examples"] = max_examples
    if step_count is not None:
        overrides["stateful_step_count"] = step_count
    return settings(base, **overrides) if overrides else base
