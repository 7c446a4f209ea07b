"""`queue-chaos machine --target rq`: the job-queue state machine from the command line, with
the exit codes of every command (0 holds, 1 violation, 2 usage, 3 infrastructure)."""

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
needs_dramatiq = pytest.mark.skipif(
    importlib.util.find_spec("dramatiq") is None,
    reason="dramatiq is not installed: pip install 'queue-chaos[dramatiq]'")

SMALL = ("--examples", "40", "--seed", "1", "--shrink-budget", "5")


@pytest.fixture(scope="module")
def servers(qc_services) -> list[str]:
    return compose_flags(qc_services)


@needs_rq
def test_machine_on_rq_with_two_queues_exits_1_with_the_program_and_the_invariant(servers):
    run = run_cli("machine", "--target", "rq", "--option", "queues=2", *SMALL, *servers)
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    assert "state.take(" in run.out  # the shrunk program
    assert "no_lost_jobs violated on rq (rq 2.12.0, 2 queue(s)" in run.out
    assert run.out.rstrip().splitlines()[-1].startswith(
        "job-queue state machine on rq {'queues': 2}: violated ")


@needs_dramatiq
def test_machine_on_dramatiq_exits_0_when_every_invariant_holds(servers):
    run = run_cli("machine", "--target", "dramatiq", *SMALL, *servers)
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert "job-queue state machine on dramatiq: every invariant held" in run.out


def test_machine_without_rq_installed_says_which_extra_to_install(servers, monkeypatch):
    monkeypatch.delitem(sys.modules, "queue_impl.adapters.rq_adapter", raising=False)
    monkeypatch.setitem(sys.modules, "rq", None)  # import rq now raises ModuleNotFoundError
    run = run_cli("machine", "--target", "rq", *SMALL, *servers)
    assert run.code == ExitCode.USAGE, run.out + run.err
    assert "pip install 'queue-chaos[rq]'" in run.err and not run.out


@needs_rq
def test_machine_with_an_option_the_adapter_refuses_is_a_usage_error(servers):
    run = run_cli("machine", "--target", "rq", "--option", "queues=5", *SMALL, *servers)
    assert run.code == ExitCode.USAGE, run.out + run.err
    assert "rq does not take the options {'queues': 5}" in run.err


def test_an_adapter_option_on_a_dual_write_target_is_a_usage_error(servers):
    run = run_cli("machine", "--target", "reference", "--option", "queues=2", *servers)
    assert run.code == ExitCode.USAGE
    assert "--option is for a job-queue target" in run.err


@needs_rq
def test_a_dual_write_profile_on_a_job_queue_target_is_a_usage_error(servers):
    run = run_cli("machine", "--target", "rq", "--profile", "nightly", *servers)
    assert run.code == ExitCode.USAGE
    assert "--profile is for the dual-write machine" in run.err


SABOTAGED_ADAPTER = textwrap.dedent("""
    import os
    import signal

    from queue_impl.adapters.rq_adapter import make_rq

    calls = 0


    def make(client, **options):
        global calls
        calls += 1
        if calls == 3:  # the third example: the server dies under the queue
            os.kill(int(os.environ["QC_KILL_PID"]), signal.SIGKILL)
        return make_rq(client, **options)
""")


@needs_rq
def test_a_job_queue_factory_whose_redis_is_killed_ends_with_exit_3_and_no_verdict(tmp_path):
    (tmp_path / "sabotaged_adapter.py").write_text(SABOTAGED_ADAPTER)
    with local_services(ServicesConfig()) as private:
        victim = next(p for p in private.processes if p.name == "redis-server")
        run = run_command([QUEUE_CHAOS, "machine", "--target", "sabotaged_adapter:make",
                           "--option", "queues=2", *SMALL, *compose_flags(private)],
                          pythonpath=tmp_path, env={"QC_KILL_PID": str(victim.pid)})
        assert not victim.alive()
    assert run.code == ExitCode.INFRASTRUCTURE, run.out + run.err
    assert "violated" not in run.out and "held" not in run.out
    error = run.err.strip().splitlines()[-1]
    assert error.startswith("queue-chaos: error: ") and "Redis" in error, error
