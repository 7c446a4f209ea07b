"""list_jobs_complete: list_jobs(ws) returns every job of ws that either schema holds."""

from checker_states import WS_A, WS_B, Ops, State, jid, job_value

from harness.checker import Checker
from harness.target import DEFAULT_SCHEMA


def state_with_all_schemas():
    """A target-made job, a legacy old-only job and a Phase-2 new-only job in WS_A."""
    return (State().pending(jid(1)).legacy(jid(2))
            .pending(jid(3), schemas="new", idem=False).pending(jid(4), WS_B).build())


def test_a_listing_of_every_job_of_the_workspace_is_complete():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    snapshot = state_with_all_schemas()
    listing = ops.list_jobs(WS_A, [job_value(jid(n)) for n in (1, 2, 3)])
    assert checker.observe(listing, snapshot) == []


def test_a_listing_that_scans_the_old_schema_only_misses_new_only_jobs():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    snapshot = state_with_all_schemas()
    [violation] = checker.observe(ops.list_jobs(WS_A, [job_value(jid(1)), job_value(jid(2))]),
                                  snapshot)
    assert violation.invariant == "list_jobs_complete"
    assert violation.evidence["missing"] == [jid(3)]
    assert violation.evidence["held_in"] == {jid(3): ["new"]}


def test_a_listing_is_not_judged_without_a_snapshot():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    assert checker.observe(ops.list_jobs(WS_A, [])) == []


def test_a_job_that_appeared_during_the_listing_may_be_missing():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    before = State().pending(jid(1)).build()
    checker.check_state(before)
    after = State().pending(jid(1)).pending(jid(9)).build()
    assert checker.observe(ops.list_jobs(WS_A, [job_value(jid(1))]), after) == []
