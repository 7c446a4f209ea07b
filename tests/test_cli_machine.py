"""`queue-chaos machine`: a night's failure lands in the database and replays the next morning.

The nightly profile is random: MEDIUM-3 (bad workspace ids accepted) was found within 24
examples in each of 20 seeds measured (python -m benchmarks machine), with one client: 100
leave a margin. The overlapping steps of a second client take a third of the steps and
would thin that margin; what is tested here is the replay, so one client.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from cli_runs import Run, compose_flags, run_cli

from harness.errors import ExitCode


@pytest.fixture(scope="module")
def night(qc_services, tmp_path_factory) -> tuple[Run, Path]:
    """The night both mornings replay (seeded: the same run whoever asks first)."""
    database = tmp_path_factory.mktemp("night") / "hypothesis-db"
    run = run_cli("machine", "--target", "variant:MEDIUM-3", "--profile", "nightly",
                  "--database", str(database), "--examples", "100", "--steps", "10",
                  "--seed", "1", "--clients", "1", *compose_flags(qc_services))
    return run, database


@pytest.fixture
def nights_database(night, tmp_path) -> Path:
    """A copy of the night's database per morning: a replay may delete what no longer fails."""
    return Path(shutil.copytree(night[1], tmp_path / "hypothesis-db"))


def test_a_failure_found_under_nightly_replays_from_its_database(night, nights_database,
                                                                 qc_services):
    run, _ = night
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    assert any(nights_database.iterdir())

    morning = run_cli("machine", "--target", "variant:MEDIUM-3", "--profile", "repro",
                      "--database", str(nights_database), "--clients", "1",
                      "--shrink-budget", "0", *compose_flags(qc_services))
    assert morning.code == ExitCode.VIOLATION, morning.out + morning.err
    assert "input_validation" in morning.out.splitlines()[-1]


def test_the_replayed_failure_does_not_happen_on_the_fixed_queue(nights_database, qc_services):
    fixed = run_cli("machine", "--target", "reference", "--profile", "repro",
                    "--database", str(nights_database), "--clients", "1",
                    *compose_flags(qc_services))
    assert fixed.code == ExitCode.HOLDS, fixed.out + fixed.err
    # a program was replayed and held (an empty database also exits 0: "nothing to replay")
    assert "every invariant held" in fixed.out.splitlines()[-1], fixed.out


def test_repro_without_a_database_is_a_usage_error(qc_services):
    run = run_cli("machine", "--profile", "repro", *compose_flags(qc_services))
    assert run.code == ExitCode.USAGE
    assert "--database" in run.err


def test_the_machine_says_how_many_examples_and_steps_it_ran(qc_services):
    run = run_cli("machine", "--target", "reference", "--examples", "5", "--steps", "10",
                  *compose_flags(qc_services))
    assert run.code == ExitCode.HOLDS, run.out + run.err
    counts = re.search(r"\(([\d,]+) examples run, ([\d,]+) steps\)$", run.out.strip())
    assert counts, run.out
    examples, steps = (int(n.replace(",", "")) for n in counts.groups())
    assert examples >= 5  # Hypothesis also runs examples it does not count towards max_examples
    assert 0 < steps <= 10 * examples


def test_the_first_failing_program_is_printed_at_once_and_shrinking_keeps_its_budget(
        qc_services):
    run = run_cli("machine", "--target", "variant:QC-12", "--examples", "10",
                  "--shrink-budget", "0.001", *compose_flags(qc_services))
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    assert "state machine: found a failing program; shrinking it (at most 0.001 s" in run.err
    assert "queue_order" in run.err.split("As found:")[1]
    assert "shrinking: stopped at its budget of 0.001 s" in run.out
    assert "five minutes" not in run.out  # Hypothesis's own warning, replaced by ours
