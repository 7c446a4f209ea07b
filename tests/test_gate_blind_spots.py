"""What the gate could not judge is said, never passed off as HOLDS: checks skipped on a queue
without telemetry are "not checked" rows (table, JSON, JUnit), and keys a target writes
outside its declared KeySchema, which no check reads, are a loud warning (not a violation).

The queues: examples/external_queue (no telemetry) and the reference with one extra key, written
when it is built, outside its schema. Commands run in process on the session's servers.
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_runs import Run, compose_flags, gate_table, run_cli

from harness.errors import ExitCode

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[1]
TELEMETRY_ROWS = ("MEDIUM-2", "LOW-1", "STATEFUL/telemetry_agreement")

COUNTING_QUEUE = '''
"""The reference queue, and a key its KeySchema does not declare: the version it runs."""

from queue_impl.reference import ReferenceQueue


def make_queue(client, registry):
    client.set("version:counting-queue", "1")
    return ReferenceQueue(client, registry)
'''


@pytest.fixture(scope="module")
def queues(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("queues")
    (folder / "counting_queue.py").write_text(textwrap.dedent(COUNTING_QUEUE))
    return folder


def gate(services, target: str, reports: Path) -> tuple[Run, dict, ET.Element]:
    run = run_cli("gate", "--target", target, "--examples", "3", "--steps", "8",
                  "--json", str(reports / "gate.json"), "--junit", str(reports / "gate.xml"),
                  *compose_flags(services))
    return (run, json.loads((reports / "gate.json").read_text()),
            ET.parse(reports / "gate.xml").getroot())


@pytest.fixture(scope="module")
def no_telemetry(qc_services, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(ROOT / "examples" / "external_queue"))
        return gate(qc_services, "simple_queue:make_queue", tmp_path_factory.mktemp("no-tel"))


@pytest.fixture(scope="module")
def counting(qc_services, tmp_path_factory, queues):
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(queues))
        return gate(qc_services, "counting_queue:make_queue", tmp_path_factory.mktemp("count"))


def test_a_queue_without_telemetry_gets_not_checked_rows_and_still_passes(no_telemetry):
    run, _, _ = no_telemetry
    assert run.code == ExitCode.HOLDS, run.out + run.err
    rows = gate_table(run.out)
    assert {r: rows[r]["result"] for r in TELEMETRY_ROWS} == dict.fromkeys(
        TELEMETRY_ROWS, "NOT CHECKED")
    assert rows["CRITICAL-1"]["result"] == "HOLDS"
    assert ("not checked: telemetry_agreement: the target registers none of queue_dual_write"
            in run.out)


def test_the_json_names_the_rows_not_checked_and_why(no_telemetry):
    _, summary, _ = no_telemetry
    assert summary["not_checked"] == list(TELEMETRY_ROWS)
    notes = {row["id"]: row["note"] for row in summary["rows"] if row["result"] == "not checked"}
    assert set(notes) == set(TELEMETRY_ROWS)
    assert all("registers none of" in note for note in notes.values())


def test_the_junit_skips_the_rows_not_checked(no_telemetry):
    _, _, junit = no_telemetry
    skipped = {case.get("name").split()[0]: case.find("skipped").get("message")
               for case in junit.iter("testcase") if case.find("skipped") is not None}
    assert set(skipped) == set(TELEMETRY_ROWS)
    assert all(message.startswith("not checked: ") for message in skipped.values())


def test_keys_outside_the_schema_are_a_warning_that_names_them_not_a_violation(counting):
    run, summary, _ = counting
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert summary["verdict"] == "pass"
    assert ("warning: the target wrote 1 key(s) outside its declared KeySchema, which no "
            "check reads: version:counting-queue") in run.out


def test_keys_outside_the_schema_are_in_the_json_and_a_skipped_junit_case(counting):
    _, summary, junit = counting
    assert summary["undeclared_keys"] == {"count": 1, "keys": ["version:counting-queue"]}
    case = next(c for c in junit.iter("testcase") if c.get("name") == "undeclared keys")
    assert "version:counting-queue" in case.find("skipped").get("message")


def test_a_queue_inside_its_schema_gets_no_warning(no_telemetry):
    run, summary, junit = no_telemetry
    assert "outside its declared KeySchema" not in run.out
    assert summary["undeclared_keys"] == {"count": 0, "keys": []}
    assert not [c for c in junit.iter("testcase") if c.get("name") == "undeclared keys"]


def test_reproduce_warns_about_keys_outside_the_schema_too(qc_services, queues, monkeypatch):
    monkeypatch.syspath_prepend(str(queues))
    run = run_cli("reproduce", "CRITICAL-1", "--target", "counting_queue:make_queue",
                  *compose_flags(qc_services))
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert run.out.strip().splitlines()[-1].startswith(
        "warning: the target wrote 1 key(s) outside its declared KeySchema")
