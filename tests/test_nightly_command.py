"""The nightly and report commands: where reports go, and bad input refused before any server."""

import json

from harness.cli import main
from harness.commands.report_directory import report_directory
from harness.nightly.artifacts import link_latest
from harness.report.journal import JOURNAL_SCHEMA


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
    directory, is_default = report_directory(None)
    assert is_default and directory.parent.name == "reports"
    directory.mkdir(parents=True)
    again, _ = report_directory(None)
    assert again != directory


def test_an_out_directory_that_holds_files_is_refused(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("x")
    assert main(["nightly", "--budget", "1s", "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_a_target_that_does_not_import_is_refused_before_any_server_starts(tmp_path, capsys):
    assert main(["nightly", "--budget", "1s", "--target", "no_such_mod:factory",
                 "--out", str(tmp_path / "run")]) == 2
    assert "does not import" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_bad_budget_is_refused_by_the_parser(capsys):
    assert main(["nightly", "--budget", "soon"]) == 2
    assert "bad duration" in capsys.readouterr().err


def test_report_needs_a_directory_with_a_journal(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no journal.json" in capsys.readouterr().err


def test_report_refuses_a_journal_of_another_schema_version(tmp_path, capsys):
    (tmp_path / "journal.json").write_text(json.dumps(
        {"kind": "queue-chaos-nightly", "schema_version": 99}))
    assert main(["report", str(tmp_path)]) == 2
    assert "schema_version 99" in capsys.readouterr().err


def test_report_prints_the_journal_schema(capsys):
    assert main(["report", "--schema"]) == 0
    assert json.loads(capsys.readouterr().out) == JOURNAL_SCHEMA
