"""no_duplicates: a job id at most once in the pending and processing lists together."""

from checker_states import State, jid

from harness.checker import check_snapshot


def test_a_job_pending_twice_is_a_duplicate():
    [violation] = check_snapshot(State().pending(jid(1)).set(queue=[jid(1), jid(1)]).build())
    assert violation.invariant == "no_duplicates"
    assert violation.evidence == {"job_id": jid(1), "pending": 2, "processing": 0}


def test_a_job_both_pending_and_processing_is_a_duplicate():
    state = State().leased(jid(1)).set(queue=[jid(1)])
    [violation] = check_snapshot(state.build())
    assert violation.evidence == {"job_id": jid(1), "pending": 1, "processing": 1}


def test_distinct_jobs_across_both_lists_are_no_duplicates():
    assert check_snapshot(State().pending(jid(1)).leased(jid(2)).build()) == []
