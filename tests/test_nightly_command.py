"""The nightly and report commands: where reports go, and bad input refused before any server."""

import argparse
import json

import pytest

from harness.commands import nightly, report
from harness.errors import UsageError
from harness.nightly.artifacts import link_latest
from harness.report.journal import JOURNAL_SCHEMA


def _command(module, argv):
    parser = argparse.ArgumentParser(prog="queue-chaos")
    module.add_parser(parser.add_subparsers(dest="command"))
    return module.run(parser.parse_args(argv))


def test_latest_points_at_the_newest_run(tmp_path):
    first, second = tmp_path / "20250101T000000Z", tmp_path / "20250102T000000Z"
    first.mkdir()
    second.mkdir()
    link_latest(first)
    link_latest(second)
    latest = tmp_path / "latest"
    assert latest.is_symlink() and latest.resolve() == second.resolve()
    assert latest.readlink().name == second.name  # relative: the reports dir can move


def test_by_default_a_run_gets_a_fresh_timestamped_directory_under_reports(tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    directory, is_default = nightly._out_dir(None)
    assert is_default and directory.parent.name == "reports"
    directory.mkdir(parents=True)
    again, _ = nightly._out_dir(None)
    assert again != directory


def test_an_out_directory_that_holds_files_is_refused(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        _command(nightly, ["nightly", "--budget", "1s", "--out", str(tmp_path)])


def test_a_target_that_does_not_import_is_refused_before_any_server_starts(tmp_path):
    with pytest.raises(UsageError, match="does not import"):
        _command(nightly, ["nightly", "--budget", "1s", "--target", "no_such_mod:factory",
                           "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_a_bad_budget_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _command(nightly, ["nightly", "--budget", "soon"])
    assert exit_info.value.code == 2
    assert "bad duration" in capsys.readouterr().err


def test_report_needs_a_directory_with_a_journal(tmp_path):
    with pytest.raises(UsageError, match=r"no journal\.json"):
        _command(report, ["report", str(tmp_path)])


def test_report_refuses_a_journal_of_another_schema_version(tmp_path):
    (tmp_path / "journal.json").write_text(json.dumps(
        {"kind": "queue-chaos-nightly", "schema_version": 99}))
    with pytest.raises(UsageError, match="schema_version 99"):
        _command(report, ["report", str(tmp_path)])


def test_report_prints_the_journal_schema(capsys):
    assert _command(report, ["report", "--schema"]) == 0
    assert json.loads(capsys.readouterr().out) == JOURNAL_SCHEMA
