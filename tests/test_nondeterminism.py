"""A target that behaves differently on the same program is a verdict on the target, once
both servers are known to answer: `deterministic` is violated and the report shows both
outcomes; the gate keeps its scenario table. A dead server is still named (exit 3).

The unsteady queue (tests/data/unsteady_queue.py) breaks the contract once, then leases
nothing: the program that found the break replays another way. Commands run as children:
the queue's state lives in its module.
"""

from __future__ import annotations

import pytest
from cli_runs import DATA, QUEUE_CHAOS, compose_flags, gate_table, run_command

from harness.errors import ExitCode
from harness.servers.config import ServicesConfig
from harness.servers.services import local_services
from scenarios import CATALOGUE

pytestmark = pytest.mark.servers

UNSTEADY = ("--target", "unsteady_queue:make_queue", "--examples", "50")


def unsteady(command: str, servers: list[str], env: dict[str, str] | None = None):
    return run_command([QUEUE_CHAOS, command, *UNSTEADY, *servers], pythonpath=DATA, env=env,
                       timeout=300)


def test_a_target_that_replays_another_way_violates_deterministic_with_both_outcomes(
        qc_services):
    run = unsteady("machine", compose_flags(qc_services))
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    verdict = run.out.splitlines()[-1]
    assert "violated " in verdict and "deterministic (" in verdict
    first = run.out.split("--- first run ---")[1].split("--- replay")[0]
    assert "[HIGH] contract: complete raised KeyError" in first
    assert "#0 " in run.out.split("--- replay")[1]  # the replay's own history


def test_the_gate_keeps_its_scenario_table_when_the_machine_meets_such_a_target(qc_services):
    run = unsteady("gate", compose_flags(qc_services))
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    rows = gate_table(run.out)
    assert {s.id for s in CATALOGUE} <= set(rows)
    assert rows["STATEFUL/deterministic"]["result"] == "VIOLATED"
    assert rows["STATEFUL/deterministic"]["blocks"] == "BLOCKS"


def test_a_server_that_died_as_the_replay_went_astray_is_named_not_blamed_on_the_target():
    with local_services(ServicesConfig()) as private:
        victim = next(p for p in private.processes if p.name == "toxiproxy-server")
        run = unsteady("machine", compose_flags(private), env={"QC_KILL_PID": str(victim.pid)})
        assert not victim.alive()
    assert run.code == ExitCode.INFRASTRUCTURE, run.out + run.err
    error = run.err.strip().splitlines()[-1]
    assert error.startswith("queue-chaos: error: ") and "Toxiproxy at http://" in error
