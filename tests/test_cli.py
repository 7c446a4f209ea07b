"""`queue-chaos list`, `reproduce` and `gate`: exit codes, tables and reports, as CI reads them.

Commands run in process (harness.cli.main) against the session's servers through
`--backend compose`, so each costs its scenarios only.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_runs import Run, compose_flags, gate_table, run_cli, table_text

from harness.errors import ExitCode
from scenarios import CATALOGUE

pytestmark = pytest.mark.servers

REVIEW_FINDINGS = [s for s in CATALOGUE if s.source.startswith("review")]
REVIEW_BLOCKING = ["CRITICAL-1", "HIGH-1", "HIGH-2", "HIGH-3"]


@pytest.fixture(scope="module")
def servers(qc_services) -> list[str]:
    return compose_flags(qc_services)


def gate(servers: list[str], target: str, *extra: str) -> Run:
    return run_cli("gate", "--no-machine", "--target", target, *extra, *servers)


@pytest.fixture(scope="module")
def phase1_gate(servers, tmp_path_factory) -> tuple[Run, Path]:
    reports = tmp_path_factory.mktemp("gate-phase1") / "reports" / "gate"  # made by the gate
    run = gate(servers, "phase1", "--json", str(reports / "gate.json"),
               "--junit", str(reports / "gate.xml"))
    return run, reports


@pytest.fixture(scope="module")
def reference_gate(servers) -> Run:
    return gate(servers, "reference")


def test_list_shows_every_scenario_with_its_severity_and_invariant():
    run = run_cli("list")
    assert run.code == ExitCode.HOLDS
    rows = gate_table(run.out)
    assert list(rows) == [s.id for s in CATALOGUE]
    for scenario in CATALOGUE:
        assert rows[scenario.id]["severity"] == scenario.severity
        assert rows[scenario.id]["invariant"] == scenario.breaks


@pytest.mark.parametrize("scenario", REVIEW_FINDINGS, ids=lambda s: s.id)
def test_reproduce_exits_1_on_phase1_for_every_review_finding(servers, scenario):
    run = run_cli("reproduce", scenario.id, "--target", "phase1", *servers)
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    verdict = run.out.strip().splitlines()[-1]
    assert verdict.startswith("VIOLATED")
    if scenario.is_static:  # the linter's own line shows it
        assert f" {scenario.lint_rule} " in run.out
    else:  # the trace names the invariant the finding breaks
        assert scenario.breaks in verdict


@pytest.mark.parametrize("scenario", CATALOGUE, ids=lambda s: s.id)
def test_reproduce_exits_0_on_the_reference_for_every_scenario(servers, scenario):
    run = run_cli("reproduce", scenario.id, "--target", "reference", *servers)
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert run.out.strip().splitlines()[-1].startswith("HOLDS")


def test_reproduce_a_group_id_runs_each_of_its_scenarios(servers):
    run = run_cli("reproduce", "MEDIUM-4", "--target", "phase1", *servers)
    assert run.code == ExitCode.VIOLATION
    shown = [line.split()[0] for line in run.out.splitlines() if line.startswith("MEDIUM-4.")]
    assert shown == [f"MEDIUM-4.{n}" for n in range(1, 8)]


def test_the_gate_on_phase1_exits_1_listing_the_blocking_findings(phase1_gate):
    run, _ = phase1_gate
    assert run.code == ExitCode.VIOLATION, run.err
    rows = gate_table(run.out)
    blocked = [row_id for row_id, row in rows.items() if row.get("blocks") == "BLOCKS"]
    assert set(REVIEW_BLOCKING) <= set(blocked)
    assert all(rows[r]["severity"] in ("CRITICAL", "HIGH") for r in blocked)
    verdict = run.out.strip().splitlines()[-1]
    assert verdict.startswith(f"verdict: FAIL: {len(blocked)} blocking finding(s): "
                              + ", ".join(blocked))


def test_the_gate_on_the_reference_exits_0_with_every_row_holding(reference_gate):
    assert reference_gate.code == ExitCode.HOLDS, reference_gate.out + reference_gate.err
    rows = gate_table(reference_gate.out)
    assert list(rows) == [s.id for s in CATALOGUE]
    assert {row["result"] for row in rows.values()} == {"HOLDS"}
    assert reference_gate.out.strip().endswith("verdict: PASS (blocking: CRITICAL, HIGH)")


def test_the_json_summary_agrees_with_the_table(phase1_gate):
    run, reports = phase1_gate
    summary = json.loads((reports / "gate.json").read_text())
    rows = gate_table(run.out)
    assert summary["target"] == "phase1"
    assert summary["verdict"] == "fail"
    assert [row["id"] for row in summary["rows"]] == list(rows)
    for row in summary["rows"]:
        assert rows[row["id"]]["result"].startswith(row["result"].upper())
        assert row["blocking"] == (rows[row["id"]].get("blocks") == "BLOCKS")
    assert summary["blocked"] == [r for r, row in rows.items() if row.get("blocks")]


def test_the_junit_report_fails_exactly_the_blocking_rows(phase1_gate):
    run, reports = phase1_gate
    rows = gate_table(run.out)
    suite = ET.parse(reports / "gate.xml").getroot()
    cases = suite.findall("./testsuite/testcase")
    assert [case.get("name").split()[0] for case in cases] == list(rows)
    failed = [case.get("name").split()[0] for case in cases if case.find("failure") is not None]
    assert failed == [r for r, row in rows.items() if row.get("blocks")]
    assert suite.get("failures") == str(len(failed))


def test_two_gate_runs_print_the_same_table(servers, phase1_gate):
    first, _ = phase1_gate
    again = gate(servers, "phase1")
    assert again.code == first.code
    assert table_text(again.out) == table_text(first.out)


def test_block_on_chooses_the_severities_that_fail_the_gate(servers):
    run = gate(servers, "phase1", "--block-on", "critical")
    rows = gate_table(run.out)
    blocked = [r for r, row in rows.items() if row.get("blocks")]
    assert run.code == ExitCode.VIOLATION
    assert blocked and {rows[r]["severity"] for r in blocked} == {"CRITICAL"}
    assert "HIGH-1" not in blocked
    assert rows["HIGH-1"]["result"].startswith("VIOLATED")


def test_a_scenario_that_saw_only_a_low_invariant_break_does_not_block(servers):
    run = gate(servers, "variant:LOW-1")  # counts no update_status: HIGH-2's step shows it
    rows = gate_table(run.out)
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert rows["HIGH-2"]["result"] == "VIOLATED (only telemetry_agreement)"
    assert not rows["HIGH-2"].get("blocks")
