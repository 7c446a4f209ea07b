"""Where the machine's faults go: over the round trips a kind of operation was seen to make
in the example, learnt only from runs that show the kind's whole path."""

from __future__ import annotations

from harness.fault_planning import UNSEEN_ROUND_TRIPS, RoundTripsSeen
from harness.injector import RoundTrip

READ, WRITE = ("HGET",), ("HSET",)


def test_a_kind_not_seen_yet_is_guessed():
    assert RoundTripsSeen().round_trips("update_status") == UNSEEN_ROUND_TRIPS


def test_a_run_that_answered_gives_the_kind_its_length():
    seen = RoundTripsSeen()
    seen.record("update_status", [RoundTrip(1, READ), RoundTrip(2, WRITE),
                                  RoundTrip(3, WRITE)], answered=True)
    assert seen.round_trips("update_status") == 3
    assert seen.writing["update_status"] == {2, 3}


def test_a_run_that_stopped_early_does_not_shorten_the_guess():
    seen = RoundTripsSeen()  # JobNotFound after the first read, or a fault on it
    seen.record("update_status", [RoundTrip(1, READ)], answered=False)
    assert seen.round_trips("update_status") == UNSEEN_ROUND_TRIPS


def test_a_run_that_stopped_late_lengthens_the_guess():
    seen = RoundTripsSeen()
    seen.record("enqueue", [RoundTrip(n, WRITE) for n in range(1, 7)], answered=False)
    assert seen.round_trips("enqueue") == 6
    assert seen.writing["enqueue"] == set(range(1, 7))


def test_the_longest_answered_run_wins_over_a_shorter_one():
    seen = RoundTripsSeen()
    seen.record("dequeue", [RoundTrip(1, READ), RoundTrip(2, WRITE)], answered=True)
    seen.record("dequeue", [RoundTrip(1, READ)], answered=True)  # nothing to lease
    assert seen.round_trips("dequeue") == 2
