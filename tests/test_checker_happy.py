"""A state a correct queue leaves behind yields no violation, with or without its history."""

from checker_states import WS_A, WS_B, Ops, State, jid, observe_all, rid

from harness.checker import Checker, check_snapshot
from harness.history import Outcome
from harness.target import DEFAULT_SCHEMA, JobStatus


def reference_like_run() -> tuple[State, Ops, list]:
    """Jobs pending, leased, completed and failed in two workspaces, a legacy job seeded
    old-only, a Phase-2 job seeded new-only, and an unknown enqueue that never happened."""
    state = (State()
             .pending(jid(1)).pending(jid(2), WS_B)
             .leased(jid(3))
             .finished(jid(4)).finished(jid(5), WS_B, JobStatus.FAILED)
             .legacy(jid(6))
             .pending(jid(7), WS_B, schemas="new", idem=False))
    ops = Ops()
    history = [ops.enqueue(WS_A, rid(1), jid(1)), ops.enqueue(WS_B, rid(2), jid(2)),
               ops.enqueue(WS_A, rid(3), jid(3)), ops.enqueue(WS_A, rid(4), jid(4)),
               ops.enqueue(WS_B, rid(5), jid(5)), ops.seed(WS_A, jid(6), "old"),
               ops.seed(WS_B, jid(7), "new"),
               ops.enqueue(WS_A, rid(8), None, Outcome.UNKNOWN)]
    return state, ops, history


def test_the_reference_like_state_breaks_nothing_alone():
    state, _, _ = reference_like_run()
    assert check_snapshot(state.build()) == []


def test_the_reference_like_state_breaks_nothing_with_its_history():
    state, _, history = reference_like_run()
    checker = Checker(DEFAULT_SCHEMA)
    assert observe_all(checker, history) == []
    assert checker.check_state(state.build()) == []


def test_the_reference_like_run_sums_up_as_nothing_lost():
    state, _, history = reference_like_run()
    checker = Checker(DEFAULT_SCHEMA)
    observe_all(checker, history)
    summary = checker.summary(state.build())
    assert {k: summary[k] for k in ("attempted", "acknowledged", "unknown", "unresolved",
                                    "recovered", "lost", "duplicated", "unexpected",
                                    "seeded")} == {
        "attempted": 6, "acknowledged": 5, "unknown": 1, "unresolved": 1, "recovered": 0,
        "lost": 0, "duplicated": 0, "unexpected": 0, "seeded": 2}


def test_the_unknown_enqueue_is_the_one_request_left_to_retry():
    _, _, history = reference_like_run()
    checker = Checker(DEFAULT_SCHEMA)
    observe_all(checker, history)
    assert checker.pending_requests() == [(WS_A, rid(8), {"n": 1})]


def test_an_empty_redis_breaks_nothing():
    assert check_snapshot(State().build()) == []
