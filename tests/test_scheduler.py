"""The scheduler of overlapping operations: one client's round trip at a time, in the
schedule's order, the same order every time (pure logic: the clients here are functions
that call `turn()` where a connection would before each round trip)."""

from __future__ import annotations

import threading
import time

import pytest

from harness.scheduler import Scheduler, StepHung, Turn, describe_turns


def client(scheduler: Scheduler, name: str, round_trips: int, log: list[str]):
    def run() -> str:
        for number in range(1, round_trips + 1):
            scheduler.turn()
            log.append(f"{name}{number}")
        return name
    return run


def run(schedule: list[int], *round_trips: int) -> tuple[list[str], list[Turn]]:
    scheduler = Scheduler(schedule, timeout=5.0)
    log: list[str] = []
    done = scheduler.run([client(scheduler, "ABC"[i], n, log)
                          for i, n in enumerate(round_trips)])
    return log, done.turns


def test_the_empty_schedule_runs_the_clients_one_after_the_other():
    log, _ = run([], 2, 3)
    assert log == ["A1", "A2", "B1", "B2", "B3"]


def test_each_entry_names_the_client_that_makes_the_next_round_trip():
    log, _ = run([1, 0, 1], 2, 2)
    assert log == ["B1", "A1", "B2", "A2"]


def test_past_the_end_of_the_schedule_the_client_that_went_last_keeps_going():
    log, _ = run([1], 2, 2)
    assert log == ["B1", "B2", "A1", "A2"]


def test_an_entry_naming_a_finished_client_falls_to_the_one_that_went_last():
    log, _ = run([1, 1, 1, 0], 2, 1)
    assert log == ["B1", "A1", "A2"]


def test_the_turns_record_the_order_the_round_trips_ran_in():
    log, turns = run([0, 1, 1, 0], 2, 2)
    assert [str(t) for t in turns] == log == ["A1", "B1", "B2", "A2"]


def test_the_same_schedule_gives_the_same_interleaving_every_time():
    orders = {tuple(run([1, 0, 2, 2, 0, 1], 3, 2, 2)[0]) for _ in range(30)}
    assert len(orders) == 1


def test_a_client_making_no_round_trip_just_finishes():
    scheduler = Scheduler([1, 0], timeout=5.0)
    done = scheduler.run([lambda: "no round trip", lambda: 42])
    assert done.results == ["no round trip", 42]
    assert done.turns == []


def test_a_client_that_raises_hands_its_error_back():
    scheduler = Scheduler([], timeout=5.0)

    def broken() -> None:
        scheduler.turn()
        raise ValueError("bad input")

    done = scheduler.run([broken, lambda: "fine"])
    assert isinstance(done.errors[0], ValueError)
    assert done.results[1] == "fine"


def test_a_thread_that_is_no_client_of_the_step_passes_at_once():
    scheduler = Scheduler([], timeout=5.0)
    scheduler.turn()  # the test's own thread: not parked


def test_a_client_let_go_that_never_comes_back_ends_the_step_as_hung():
    scheduler = Scheduler([0], timeout=0.3)
    never = threading.Event()

    def stuck() -> None:
        scheduler.turn()
        never.wait(10)  # waits on something only another client would do

    started = time.monotonic()
    with pytest.raises(StepHung) as hung:
        scheduler.run([stuck, client(scheduler, "B", 1, [])])
    assert hung.value.client == 0
    assert time.monotonic() - started < 5
    scheduler.release()  # the parked client goes its own way now
    never.set()


def test_describe_says_whose_round_trips_ran_between_anothers():
    turns = [Turn(0, 1), Turn(1, 1), Turn(1, 2), Turn(0, 2)]
    assert describe_turns(turns) == ("A1 B1 B2 A2: B's round trips 1-2 ran between A's 1 "
                                     "and 2")


def test_describe_says_when_nothing_overlapped():
    assert describe_turns([Turn(0, 1), Turn(1, 1)]) == "A1 B1: no overlap"
