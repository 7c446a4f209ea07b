"""Signals end a command the way a shell and a CI runner expect: SIGTERM (a CI cancel) is
answered with exit 143 and the word "terminated", never a verdict on the queue, and a
nightly run still writes its journal and report.

Each command runs as a child with a default SIGINT (cli_runs.start_command) against the
session's servers, and is signalled once the target's factory has left its mark.
"""

from __future__ import annotations

import signal

import pytest
from cli_runs import DATA, QUEUE_CHAOS, compose_flags, signal_when, start_command

from harness.report.journal import read_journal

pytestmark = pytest.mark.servers

SIGTERM_CODE = 128 + signal.SIGTERM


@pytest.mark.parametrize("command", ["gate", "machine"])
def test_sigterm_during_the_state_machine_ends_with_143_and_says_terminated(qc_services,
                                                                             tmp_path, command):
    mark = tmp_path / "machine-started"
    child = start_command([QUEUE_CHAOS, command, "--target", "marked_queue:make_queue",
                           *compose_flags(qc_services)], pythonpath=DATA,
                          env={"QC_MARK": str(mark), "QC_MARK_MACHINE": "1"})
    run = signal_when(child, mark, signal.SIGTERM, after=1.0)
    assert run.code == SIGTERM_CODE, run.out + run.err
    assert run.err.strip().splitlines()[-1] == "queue-chaos: terminated"
    assert "verdict" not in run.out


def test_sigterm_before_the_nightly_workload_still_writes_a_journal_that_says_so(qc_services,
                                                                                tmp_path):
    mark, out = tmp_path / "factory-called", tmp_path / "run"
    child = start_command([QUEUE_CHAOS, "nightly", "--budget", "30s", "--no-machine", "--quiet",
                           "--target", "marked_queue:make_queue", "--out", out,
                           *compose_flags(qc_services)], pythonpath=DATA,
                          env={"QC_MARK": str(mark), "QC_SLOW_FACTORY": "0.5"})
    run = signal_when(child, mark, signal.SIGTERM)
    assert run.code == SIGTERM_CODE, run.out + run.err
    assert "Traceback" not in run.err
    journal = read_journal(out)
    assert journal["verdict"]["status"] == "interrupted"
    assert "SIGTERM" in journal["verdict"]["reason"]
    assert (out / "report.html").is_file()
