"""Bad arguments, refused the way every error is: one line on stderr, exit 2 (3 where the
environment failed), nothing written. And the normal morning after a clean night: a repro
with nothing in its database says so and exits 0.
"""

from __future__ import annotations

import pytest
from cli_runs import assert_one_line_error, compose_flags, run_cli

from harness.errors import ExitCode

NO_SERVER = ("--backend", "compose", "--redis-url", "redis://127.0.0.1:1/0")  # never reached


@pytest.mark.parametrize("budget", ["nan", "inf", "1e400", "99999h", "-5s"])
def test_a_budget_that_is_not_a_finite_span_of_at_most_a_day_is_refused(tmp_path, budget):
    out = tmp_path / "run"
    run = run_cli("nightly", f"--budget={budget}", "--out", str(out), *NO_SERVER)
    assert_one_line_error(run, ExitCode.USAGE, "--budget", "bad duration")
    assert not out.exists()


@pytest.mark.parametrize("limit", ["nan", "0", "inf"])
def test_an_operation_time_limit_that_is_not_a_finite_span_is_refused(limit):
    run = run_cli("gate", "--op-timeout", limit, *NO_SERVER)
    assert_one_line_error(run, ExitCode.USAGE, "--op-timeout", "bad duration")


@pytest.mark.parametrize(("command", "flag", "value"), [
    ("machine", "--examples", "0"), ("machine", "--examples", "-3"),
    ("machine", "--steps", "0"), ("gate", "--examples", "0"), ("gate", "--steps", "0")])
def test_examples_and_steps_must_be_at_least_one(command, flag, value):
    run = run_cli(command, f"{flag}={value}", *NO_SERVER)
    assert_one_line_error(run, ExitCode.USAGE, flag, "at least 1")


@pytest.mark.parametrize("under", ["", "sub"], ids=["the-file", "under-the-file"])
def test_a_nightly_out_that_is_or_is_under_a_file_is_refused_before_anything(tmp_path, under):
    (tmp_path / "notes").write_text("keep me")
    out = tmp_path / "notes" / under if under else tmp_path / "notes"
    run = run_cli("nightly", "--budget", "1s", "--out", str(out), *NO_SERVER)
    assert_one_line_error(run, ExitCode.USAGE, f"--out {out}", "is a file")
    assert (tmp_path / "notes").read_text() == "keep me"


@pytest.mark.parametrize("option", ["--junit", "--json"])
def test_a_report_path_under_a_file_is_refused_before_the_run(tmp_path, option):
    (tmp_path / "notes").write_text("keep me")
    run = run_cli("gate", "--no-machine", option, str(tmp_path / "notes" / "gate.xml"),
                  *NO_SERVER)
    assert_one_line_error(run, ExitCode.USAGE, f"{tmp_path / 'notes'} is a file")


@pytest.mark.servers
def test_a_report_that_cannot_be_written_ends_with_exit_3_and_no_verdict(qc_services):
    run = run_cli("gate", "--no-machine", "--junit", "/dev/full", *compose_flags(qc_services))
    assert_one_line_error(run, ExitCode.INFRASTRUCTURE, "cannot write /dev/full",
                          "No space left on device")


@pytest.mark.parametrize("profile", ["nightly", "repro"])
def test_a_database_that_is_a_file_is_refused(tmp_path, profile):
    (tmp_path / "db").write_text("not a directory")
    run = run_cli("machine", "--profile", profile, "--database", str(tmp_path / "db"),
                  *NO_SERVER)
    assert_one_line_error(run, ExitCode.USAGE, f"--database {tmp_path / 'db'}", "is a file")


def test_a_database_the_gate_profile_would_ignore_is_refused(tmp_path):
    run = run_cli("machine", "--database", str(tmp_path), *NO_SERVER)
    assert_one_line_error(run, ExitCode.USAGE, "--database", "nightly or repro")


def test_a_repro_database_that_does_not_exist_is_refused(tmp_path):
    run = run_cli("machine", "--profile", "repro", "--database", str(tmp_path / "none"),
                  *NO_SERVER)
    assert_one_line_error(run, ExitCode.USAGE, "does not exist")


@pytest.mark.servers
@pytest.mark.parametrize("content", ["empty", "garbage"])
def test_a_repro_of_a_database_holding_no_failure_says_nothing_to_replay(qc_services, tmp_path,
                                                                         content):
    database = tmp_path / "hypothesis-db"
    database.mkdir()
    if content == "garbage":
        (database / "0123abcd").mkdir()
        (database / "0123abcd" / "feed").write_bytes(b"\x00\xffnot an example")
        (database / "README").write_text("hello")
    run = run_cli("machine", "--profile", "repro", "--database", str(database),
                  *compose_flags(qc_services))
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert "nothing to replay" in run.out.splitlines()[-1]
