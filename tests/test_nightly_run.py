"""Short nightly runs on real servers: the verdicts, the files, and the infrastructure paths."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest
from cli_runs import default_sigint
from prometheus_client.parser import text_string_to_metric_families

from harness.cli import main
from harness.invariants import INVARIANTS
from harness.nightly.artifacts import write_artifacts
from harness.nightly.run import NightlyOptions, NightlyRun
from harness.nightly.schedule import ScheduleShape
from harness.report.journal import JOURNAL_SCHEMA, read_journal
from harness.servers.config import ServicesConfig
from harness.servers.services import open_services

pytestmark = pytest.mark.servers

FILES = ("report.html", "journal.json", "junit.xml", "metrics.prom", "history.jsonl",
         "timeseries.jsonl")


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("nightly") / "reference"
    code = main(["nightly", "--budget", "3s", "--seed", "11", "--target", "reference",
                 "--out", str(out), "--quiet"])
    return code, out


@pytest.fixture(scope="module")
def phase1_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("nightly") / "phase1"
    code = main(["nightly", "--budget", "3s", "--seed", "11", "--target", "phase1",
                 "--out", str(out), "--quiet", "--no-machine"])
    return code, out


# --- verdicts -----------------------------------------------------------------------------
def test_a_short_run_against_the_reference_holds(reference_run):
    code, out = reference_run
    journal = read_journal(out)
    assert (code, journal["verdict"]["status"]) == (0, "holds")
    assert journal["summary"]["lost"] == 0 and journal["summary"]["acknowledged"] > 0


def test_a_short_run_against_phase1_is_violated_with_evidence_traces_and_replay(phase1_run):
    code, out = phase1_run
    journal = read_journal(out)
    assert (code, journal["verdict"]["status"]) == (1, "violated")
    assert journal["violations"]
    for violation in journal["violations"]:
        assert violation["evidence"]
        assert violation["replay"] == ("queue-chaos nightly --seed 11 --target phase1 "
                                       "--budget 3s")
    assert any(v["trace"] for v in journal["violations"])


def test_every_file_of_the_report_is_written(reference_run):
    _, out = reference_run
    assert [name for name in FILES if not (out / name).is_file()] == []


def test_the_journal_follows_its_documented_schema(reference_run, phase1_run):
    for _, out in (reference_run, phase1_run):
        jsonschema.validate(read_journal(out), JOURNAL_SCHEMA)


def test_the_journal_and_the_page_name_the_redis_server_the_run_used(reference_run):
    _, out = reference_run
    server = read_journal(out)["versions"]["redis_server"]
    assert server.split()[0] in ("redis", "valkey") and server.split()[1][0].isdigit()
    assert f"local: {server} (speaks Redis" in (out / "report.html").read_text()


def test_the_history_on_disk_holds_every_operation_of_the_run(reference_run):
    _, out = reference_run
    lines = (out / "history.jsonl").read_text().splitlines()
    assert len(lines) == read_journal(out)["operations"]["total"]
    assert sorted(json.loads(line)["index"] for line in lines) == list(range(len(lines)))


def test_the_applied_windows_are_those_the_seed_planned(reference_run):
    _, out = reference_run
    journal = read_journal(out)
    planned = NightlyOptions(budget=3.0, seed=11).planned_schedule().to_json()
    applied = [{k: w[k] for k in planned[0]} for w in journal["faults"]["applied"]]
    assert applied and applied == planned[: len(applied)]


def test_junit_has_one_case_per_invariant(reference_run, phase1_run):
    import xml.etree.ElementTree as ET  # noqa: PLC0415 - only this test reads XML

    for _, out in (reference_run, phase1_run):
        names = [c.get("name") for c in ET.parse(out / "junit.xml").iter("testcase")]
        assert names == list(INVARIANTS)
    failed = {c.get("name") for c in ET.parse(phase1_run[1] / "junit.xml").iter("testcase")
              if c.find("failure") is not None}
    assert failed == set(read_journal(phase1_run[1])["violations_by_invariant"])


def test_metrics_prom_parses_and_counts_every_operation(reference_run):
    _, out = reference_run
    families = {f.name: f for f in
                text_string_to_metric_families((out / "metrics.prom").read_text())}
    ops = sum(s.value for s in families["queue_chaos_nightly_operations"].samples
              if s.name.endswith("_total"))
    assert ops == read_journal(out)["operations"]["total"]


def test_the_stateful_machine_is_recorded_as_run_or_not_and_why(reference_run):
    machine = read_journal(reference_run[1])["stateful_machine"]
    assert machine["status"] in ("passed", "failed", "not_run")
    assert machine["detail"]


# --- the report command ------------------------------------------------------------------
def test_the_report_command_renders_the_page_again_from_the_journal(reference_run):
    _, out = reference_run
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    assert "holds" in (out / "report.html").read_text()


def test_the_report_command_compares_two_runs(reference_run, phase1_run, capsys):
    _, out = phase1_run
    assert main(["report", str(out), "--compare", str(reference_run[1])]) == 0
    page = (out / "report.html").read_text()
    assert "Compared with reference" in page
    assert "verdict" in capsys.readouterr().out


# --- infrastructure, never "lost jobs" ---------------------------------------------------
def _kill_once_running(process, out: Path) -> None:
    """Kill a server a second after the workload's first operation reached the history."""
    history, deadline = out / "history.jsonl", time.monotonic() + 30
    while not (history.exists() and history.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    process.kill()


@pytest.mark.parametrize("server", ["redis-server", "toxiproxy-server"])
def test_a_server_dying_mid_run_ends_as_infrastructure_not_as_lost_jobs(server, tmp_path):
    options = NightlyOptions(budget=6.0, seed=3, machine=False,
                             schedule=ScheduleShape(warmup=0.2))
    with open_services(ServicesConfig()) as services:
        victim = next(p for p in services.processes if p.name == server)
        threading.Thread(target=_kill_once_running, args=(victim, tmp_path), daemon=True).start()
        result = NightlyRun(options, services, tmp_path).execute()
        write_artifacts(result)
    journal = read_journal(tmp_path)
    assert (result.exit_code, journal["verdict"]["status"]) == (3, "infrastructure")
    assert f"{server} (pid {victim.pid}) exited" in journal["verdict"]["reason"]
    assert journal["violations"] == [] and journal["summary"] == {}
    assert {row["status"] for row in journal["invariants"]} == {"not_judged"}
    assert "No verdict on the queue" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_early_and_still_writes_a_report_that_says_interrupted(tmp_path, signum,
                                                                             code):
    out = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-m", "harness", "nightly", "--budget", "60s", "--seed", "5",
         "--out", str(out), "--quiet", "--no-machine"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=Path(__file__).parent.parent,
        preexec_fn=default_sigint,  # noqa: PLW1509 - a background test run ignores SIGINT
    )
    try:
        deadline = time.monotonic() + 30
        history = out / "history.jsonl"
        while not (history.exists() and history.stat().st_size > 0):
            assert time.monotonic() < deadline, "the run never started"
            assert child.poll() is None, child.stdout.read().decode()
            time.sleep(0.1)
        time.sleep(1.0)
        os.kill(child.pid, signum)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    journal = read_journal(out)
    assert journal["verdict"]["status"] == "interrupted"
    assert child.returncode == (1 if journal["violations"] else code)
    assert journal["run"]["interrupted"] and journal["run"]["workload_seconds"] < 30
    assert signal.Signals(signum).name in journal["verdict"]["reason"] or code == 130
