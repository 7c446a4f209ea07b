"""A failing gate stops searching once its verdict is known: the rows it left out say "not
searched" (table, JSON, JUnit), never HOLDS; `--every-severity` searches each severity anyway.

The queue: the reference with CRITICAL-1's defect, which the machine's first run breaks within
a few examples. Commands run in process on the session's servers, without shrinking.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_runs import Run, compose_flags, gate_table, run_cli

from harness.errors import ExitCode

pytestmark = pytest.mark.servers

TARGET = "variant:CRITICAL-1"


def gate(services, reports: Path, *extra: str) -> tuple[Run, dict, ET.Element]:
    run = run_cli("gate", "--target", TARGET, "--examples", "40", "--shrink-budget", "0",
                  "--json", str(reports / "gate.json"), "--junit", str(reports / "gate.xml"),
                  *extra, *compose_flags(services))
    return (run, json.loads((reports / "gate.json").read_text()),
            ET.parse(reports / "gate.xml").getroot())


@pytest.fixture(scope="module")
def failing_gate(qc_services, tmp_path_factory):
    return gate(qc_services, tmp_path_factory.mktemp("fail-fast"))


@pytest.fixture(scope="module")
def every_severity(qc_services, tmp_path_factory):
    return gate(qc_services, tmp_path_factory.mktemp("every"), "--every-severity")


def machine_results(run: Run) -> dict[str, str]:
    return {row: cells["result"] for row, cells in gate_table(run.out).items()
            if row.startswith("STATEFUL/")}


def test_a_failing_gate_leaves_rows_not_searched_and_says_so(failing_gate):
    run, _, _ = failing_gate
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    results = machine_results(run)
    assert "VIOLATED" in results.values()
    assert "NOT SEARCHED" in results.values()
    assert "--every-severity searches each severity" in run.out


def test_the_json_lists_the_rows_not_searched(failing_gate):
    run, summary, _ = failing_gate
    assert summary["not_searched"] == [row for row, result in machine_results(run).items()
                                       if result == "NOT SEARCHED"]


def test_the_junit_skips_the_rows_not_searched(failing_gate):
    _, summary, junit = failing_gate
    skipped = {case.get("name").split()[0] for case in junit.iter("testcase")
               if case.find("skipped") is not None}
    assert set(summary["not_searched"]) <= skipped


def test_every_severity_searches_each_row_and_keeps_the_verdict(failing_gate, every_severity):
    run, summary, _ = every_severity
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    assert summary["not_searched"] == []
    assert "NOT SEARCHED" not in machine_results(run).values()
    assert set(failing_gate[1]["blocked"]) <= set(summary["blocked"])
