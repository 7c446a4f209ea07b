"""A target that hangs is judged, not waited for: past the operation time limit the call is
recorded as hung (liveness, HIGH), and the gate, the machine and the nightly run end with a
verdict. A nightly run also judges progress: a producer or worker whose calls never ended ok
is a violation, and a run that attempted nothing is no pass.

The hanging queue (tests/data/hanging_queue.py) sleeps in its own code, so no socket
timeout can end its call. Commands run as children, bounded by run_command's timeout.
"""

from __future__ import annotations

import pytest
from cli_runs import DATA, QUEUE_CHAOS, compose_flags, gate_table, run_command

from harness.errors import ExitCode
from harness.history import read_jsonl
from harness.nightly.run import NightlyOptions, NightlyRun
from harness.report.journal import read_journal

pytestmark = pytest.mark.servers


def hanging(command: list[str], method: str = "enqueue"):
    """The command on the hanging queue (the default operation time limit is 10 s)."""
    return run_command([QUEUE_CHAOS, *command, "--target", "hanging_queue:make_queue"],
                       pythonpath=DATA, env={"QC_HANG": method}, timeout=90)


def test_a_gate_on_a_queue_whose_enqueue_hangs_fails_on_liveness_and_stops_there(qc_services):
    run = hanging(["gate", *compose_flags(qc_services)])
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    rows = gate_table(run.out)
    first = next(iter(rows.values()))
    assert first["result"].startswith("VIOLATED (only liveness") and first["blocks"] == "BLOCKS"
    assert {row["result"] for row in list(rows.values())[1:]} == {"NOT RUN"}
    assert "enqueue did not return within 10 s" in run.out


def test_the_machine_ends_at_a_hang_with_liveness_violated(qc_services):
    run = hanging(["machine", "--op-timeout", "1s", *compose_flags(qc_services)])
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    assert "violated liveness (" in run.out.splitlines()[-1]
    assert "OperationHung" in run.out


@pytest.mark.parametrize(("method", "stuck"), [("enqueue", "producer"), ("dequeue", "worker")])
def test_a_nightly_run_on_a_queue_that_hangs_is_violated_by_the_clients_that_made_no_progress(
        qc_services, tmp_path, method, stuck):
    out = tmp_path / "run"
    run = hanging(["nightly", "--budget", "3s", "--op-timeout", "2s", "--no-machine",
                   "--no-nemesis", "--quiet", "--out", str(out), *compose_flags(qc_services)],
                  method)
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    journal = read_journal(out)
    liveness = [v["message"] for v in journal["violations"] if v["invariant"] == "liveness"]
    assert sum(f"{method} did not return within 2 s" in m for m in liveness) >= 3
    answered = {op["process"] for op in read_jsonl(out / "history.jsonl")
                if op["outcome"] == "ok"}
    silent = {f"{role}-{i}" for role in ("producer", "worker") for i in range(3)} - answered
    assert silent and {name.split("-")[0] for name in silent} == {stuck}
    assert {m.split()[0] for m in liveness if "made no progress" in m} == silent


def test_a_nightly_run_that_attempted_no_enqueue_is_not_a_pass(qc_services, tmp_path):
    options = NightlyOptions(budget=1.0, producers=0, workers=1, racers=0, nemesis=False,
                             machine=False)
    result = NightlyRun(options, qc_services, tmp_path).execute()
    assert result.status == "violated"
    assert [v.message for v in result.violations] == [
        "the run attempted no enqueue: nothing it did could be judged"]
