"""No server process of ours outlives the process that started it, however that one ends.

Each test runs a separate Python process that opens the local services, reads the server
pids it prints, ends it in one way (SIGTERM, SIGINT, SIGKILL), and checks the servers are gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runs import default_sigint, start_command
from process_state import running

from harness.errors import InfrastructureError
from harness.servers.config import ServicesConfig
from harness.servers.processes import ManagedProcess, live_processes
from harness.servers.services import open_services

DATA = Path(__file__).parent / "data"
GONE_WITHIN = 10.0  # seconds; a bound on waiting, not a speed claim


def wait_until_gone(pids: list[int]) -> list[int]:
    """The pids still running after GONE_WITHIN seconds (empty when all are gone)."""
    deadline = time.monotonic() + GONE_WITHIN
    while time.monotonic() < deadline and any(running(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if running(pid)]


class Holder:
    """A child Python process holding services; its server pids once it has printed them."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.popen = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=Path(__file__).parent.parent, env={**os.environ, **(env or {})},
            preexec_fn=default_sigint,  # noqa: PLW1509 - the tests send it SIGINT
        )
        self.server_pids = self._read_pids()

    def _read_pids(self) -> list[int]:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if line.startswith("["):
                return [int(pid) for pid in json.loads(line)]
        raise AssertionError(f"the holder printed no pids: {self.popen.stderr.read()}")

    def signal(self, signum: int) -> tuple[int, str]:
        """Send `signum`, wait for the holder to end; its exit code and remaining output."""
        self.popen.send_signal(signum)
        out, _ = self.popen.communicate(timeout=GONE_WITHIN)
        return self.popen.returncode, out


@pytest.fixture
def holder() -> Iterator[Holder]:
    held = Holder([sys.executable, str(DATA / "hold_services.py")])
    yield held
    held.popen.kill()
    held.popen.communicate()


def test_the_holder_runs_both_servers(holder):
    assert len(holder.server_pids) == 2
    assert all(running(pid) for pid in holder.server_pids)


def test_servers_die_with_their_parent_on_sigkill(holder):
    returncode, out = holder.signal(signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    assert "unwound" not in out  # nothing of ours ran: the kernel (PDEATHSIG) stopped them
    assert wait_until_gone(holder.server_pids) == []


def test_sigterm_unwinds_open_services_and_stops_the_servers(holder):
    returncode, out = holder.signal(signal.SIGTERM)
    assert returncode == 128 + signal.SIGTERM  # SystemExit from our handler, not a plain death
    assert "unwound" in out
    assert wait_until_gone(holder.server_pids) == []


def test_sigint_unwinds_open_services_and_stops_the_servers(holder):
    returncode, out = holder.signal(signal.SIGINT)
    assert returncode == -signal.SIGINT  # an uncaught KeyboardInterrupt, re-raised as SIGINT
    assert "unwound" in out
    assert wait_until_gone(holder.server_pids) == []


def test_ctrl_c_on_pytest_stops_the_session_servers():
    session = Holder([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                      str(DATA / "interruptible_session.py")])
    try:
        _, out = session.signal(signal.SIGINT)
        assert "KeyboardInterrupt" in out
        assert wait_until_gone(session.server_pids) == []
    finally:
        session.popen.kill()
        session.popen.communicate()


def test_a_folder_left_by_a_run_killed_outright_goes_when_the_next_run_starts(tmp_path,
                                                                             monkeypatch):
    env = {"TMPDIR": str(tmp_path)}
    killed = Holder([sys.executable, str(DATA / "hold_services.py")], env)
    (left,) = tmp_path.glob("queue-chaos-*")
    alive = Holder([sys.executable, str(DATA / "hold_services.py")], env)
    try:
        (kept,) = set(tmp_path.glob("queue-chaos-*")) - {left}
        killed.signal(signal.SIGKILL)
        assert left.is_dir()  # kill -9: nothing of ours ran to remove it
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        with open_services(ServicesConfig(backend="local")):
            assert not left.exists()
            assert kept.is_dir()  # its owner is alive
    finally:
        for holder in (killed, alive):
            holder.popen.kill()
            holder.popen.communicate()


def test_a_child_the_tests_start_gets_a_default_sigint_when_the_test_run_ignores_it():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under nohup or `&`
    try:
        child = start_command([sys.executable, "-c",
                               "import signal; print(signal.getsignal(signal.SIGINT))"])
        out, _ = child.communicate(timeout=GONE_WITHIN)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert "default_int_handler" in out


def test_stop_reaps_the_process_and_is_idempotent(tmp_path):
    process = ManagedProcess("sleeper", ["sleep", "60"], log_dir=tmp_path)
    process.stop()
    process.stop()
    assert not running(process.pid)
    assert process not in live_processes()


def test_a_server_that_exits_while_starting_is_an_infrastructure_error(tmp_path):
    process = ManagedProcess("false", ["false"], log_dir=tmp_path)
    try:
        with pytest.raises(InfrastructureError, match="exited with code 1 while starting"):
            process.wait_ready(lambda: False)
    finally:
        process.stop()
