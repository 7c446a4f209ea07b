"""A server that dies in the middle of a run ends the command with exit 3, never a verdict.

The command runs as a child process against a private Redis and Toxiproxy that this test
starts; the target's factory kills one of them (by pid) the Nth time it is called, so the
server goes away while scenarios are running.
"""

from __future__ import annotations

import textwrap

import pytest
from cli_runs import QUEUE_CHAOS, compose_flags, run_command

from harness.errors import ExitCode
from harness.servers.config import ServicesConfig
from harness.servers.services import local_services

pytestmark = pytest.mark.servers

SABOTAGED_QUEUE = textwrap.dedent("""
    import os
    import signal

    from harness.target import load_factory

    REFERENCE = load_factory("reference")
    calls = 0


    def make_queue(client, registry):
        global calls
        calls += 1
        queue = REFERENCE(client, registry)
        if calls == int(os.environ["QC_KILL_ON_CALL"]):  # the server dies under the queue
            os.kill(int(os.environ["QC_KILL_PID"]), signal.SIGKILL)
        return queue
""")


@pytest.fixture
def sabotaged_queue(tmp_path):
    (tmp_path / "sabotaged_queue.py").write_text(SABOTAGED_QUEUE)
    return tmp_path


@pytest.mark.parametrize(("command", "server", "says"), [
    (("gate", "--no-machine"), "toxiproxy-server", "Toxiproxy at http://"),
    (("reproduce", "CRITICAL-1"), "toxiproxy-server", "Toxiproxy at http://"),
    (("gate", "--no-machine"), "redis-server", "Redis"),
], ids=["gate-toxiproxy", "reproduce-toxiproxy", "gate-redis"])
def test_a_server_killed_mid_run_ends_with_exit_3_and_says_which(sabotaged_queue, command,
                                                                  server, says):
    with local_services(ServicesConfig()) as private:
        victim = next(p for p in private.processes if p.name == server)
        run = run_command(
            [QUEUE_CHAOS, *command, "--target", "sabotaged_queue:make_queue",
             *compose_flags(private)],
            pythonpath=sabotaged_queue,
            env={"QC_KILL_PID": str(victim.pid), "QC_KILL_ON_CALL": "2"})
        assert not victim.alive()  # the run really lost its server
    assert run.code == ExitCode.INFRASTRUCTURE, run.out + run.err
    assert "verdict" not in run.out
    error = run.err.strip().splitlines()[-1]
    assert error.startswith("queue-chaos: error: ")
    assert says in error
