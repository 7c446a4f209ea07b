"""`queue-chaos reproduce RQ-1716 --target rq`: a queue library's issue, with the exit codes
of every command (1 violation, 2 usage, 3 infrastructure)."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import pytest
from cli_runs import QUEUE_CHAOS, compose_flags, run_cli, run_command

from harness.errors import ExitCode
from harness.servers.config import ServicesConfig
from harness.servers.services import local_services

pytestmark = pytest.mark.servers

needs_rq = pytest.mark.skipif(importlib.util.find_spec("rq") is None,
                              reason="rq is not installed: pip install 'queue-chaos[rq]'")


@pytest.fixture(scope="module")
def servers(qc_services) -> list[str]:
    return compose_flags(qc_services)


@needs_rq
@pytest.mark.parametrize(("scenario", "invariant"), [("RQ-1716", "no_lost_jobs"),
                                                      ("RQ-2061", "no_unrun_failures"),
                                                      ("RQ-2424", "done_stays_done")])
def test_reproduce_exits_1_on_rq_with_a_trace_naming_the_job(servers, scenario, invariant):
    run = run_cli("reproduce", scenario, "--target", "rq", *servers)
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    assert f"{invariant}: job-1" in run.out
    assert f"https://github.com/rq/rq/issues/{scenario[3:]}" in run.out
    assert "rq 2.12.0" in run.out


@needs_rq
def test_a_job_queue_scenario_runs_on_its_own_library_by_default(servers):
    run = run_cli("reproduce", "RQ-2061", *servers)
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    assert "target: rq (" in run.out


def test_a_job_queue_scenario_on_a_dual_write_target_is_a_usage_error(servers):
    run = run_cli("reproduce", "RQ-1716", "--target", "phase1", *servers)
    assert run.code == ExitCode.USAGE
    assert "--target rq" in run.err and not run.out


def test_without_rq_installed_the_command_says_which_extra_to_install(servers, monkeypatch):
    monkeypatch.delitem(sys.modules, "queue_impl.adapters.rq_adapter", raising=False)
    monkeypatch.setitem(sys.modules, "rq", None)  # import rq now raises ModuleNotFoundError
    run = run_cli("reproduce", "RQ-1716", "--target", "rq", *servers)
    assert run.code == ExitCode.USAGE, run.out + run.err
    assert "pip install 'queue-chaos[rq]'" in run.err and not run.out


SABOTAGED_ADAPTER = textwrap.dedent("""
    import os
    import signal

    from queue_impl.adapters.rq_adapter import make_rq

    calls = 0


    def make(client, **options):
        global calls
        calls += 1
        if calls == 2:  # the real run, after the dry run: the server dies under the queue
            os.kill(int(os.environ["QC_KILL_PID"]), signal.SIGKILL)
        return make_rq(client, **options)
""")


@needs_rq
def test_redis_killed_mid_run_ends_with_exit_3_and_no_verdict(tmp_path):
    (tmp_path / "sabotaged_adapter.py").write_text(SABOTAGED_ADAPTER)
    with local_services(ServicesConfig()) as private:
        victim = next(p for p in private.processes if p.name == "redis-server")
        run = run_command([QUEUE_CHAOS, "reproduce", "RQ-2061", "--target",
                           "sabotaged_adapter:make", *compose_flags(private)],
                          pythonpath=tmp_path, env={"QC_KILL_PID": str(victim.pid)})
        assert not victim.alive()
    assert run.code == ExitCode.INFRASTRUCTURE, run.out + run.err
    assert "VIOLATED" not in run.out and "HOLDS" not in run.out
    error = run.err.strip().splitlines()[-1]
    assert error.startswith("queue-chaos: error: ") and "Redis" in error, error


def test_list_shows_the_job_queue_scenarios_with_their_library():
    run = run_cli("list")
    assert run.code == ExitCode.HOLDS
    section = run.out.split("job-queue contract", 1)[1]
    for scenario_id in ("RQ-1716", "RQ-2061", "RQ-2424"):
        line = next(line for line in section.splitlines() if line.startswith(scenario_id))
        assert line.rstrip().endswith("rq")


@pytest.mark.skipif(importlib.util.find_spec("dramatiq") is None,
                    reason="dramatiq is not installed: pip install 'queue-chaos[dramatiq]'")
def test_an_rq_scenario_on_another_library_whose_round_trips_it_cannot_aim_at_holds_as_such(
        servers):
    run = run_cli("reproduce", "RQ-1716", "--target", "dramatiq", *servers)
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert "no round trip of step 2 on dramatiq sends LPOP" in run.out
