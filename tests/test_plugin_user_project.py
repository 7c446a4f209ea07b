"""A team's own queue, outside this repo, gated by `queue-chaos gate` and by its own pytest file.

The project lives in a temp directory: its queue (examples/external_queue/simple_queue.py
under another name), a variant with a tenant leak, a pytest.ini naming the target, and a
test file that uses the plugin's fixtures. Both run as a team runs them: as commands, with
the project on PYTHONPATH.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from cli_runs import QUEUE_CHAOS, gate_table, run_command

from harness.errors import ExitCode

pytestmark = pytest.mark.servers

EXAMPLE_QUEUE = Path(__file__).resolve().parents[1] / "examples/external_queue/simple_queue.py"

LEAKY_QUEUE = '''
"""The team's queue with a bug: the old-record fallback of get_job forgets the workspace."""

from harness.target import decode_job
from teamqueue import SimpleQueue


class LeakyQueue(SimpleQueue):
    def get_job(self, workspace_id, job_id):
        self._check(workspace_id, job_id)
        record = (self.redis.hgetall(self.key_schema.new_job_key(workspace_id, job_id))
                  or self.redis.hgetall(self.key_schema.old_job_key(job_id)))
        return decode_job(record) if record else None


def make_queue(client, registry):
    return LeakyQueue(client)
'''

PYTEST_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
qc_target = teamqueue:make_queue
"""

TEAM_TESTS = '''
"""The team's own tests: the queue under real faults, through the queue-chaos fixtures."""

import pytest

import teamqueue
from harness.faults import Fault, FaultKind
from harness.target import DEFAULT_SCHEMA


def test_the_queue_keeps_every_invariant_under_faults(qc_check_queue):
    qc_check_queue(max_examples=5, steps=10)


@pytest.mark.parametrize("finding", ["CRITICAL-1", "HIGH-1", "FIELD-1", "FIELD-7"])
def test_the_queue_holds_where_the_review_found_bugs(qc_reproduce, finding):
    result = qc_reproduce(finding)
    assert not result.violated, result.trace


def test_a_lost_exec_reply_still_gives_the_job_once(
        qc_injector, qc_faulted_client, qc_registry, qc_redis):
    queue = teamqueue.make_queue(qc_faulted_client, qc_registry)
    with qc_injector.operation([Fault(FaultKind.REPLY_LOST, 3)]) as run:  # WATCH, GET, EXEC
        job_id = queue.enqueue("team-a", {"n": 1}, "req-1")  # tries again, finds its job
    assert run.fired == [Fault(FaultKind.REPLY_LOST, 3)]
    assert queue.enqueue("team-a", {"n": 1}, "req-1") == job_id
    assert qc_redis.lrange(DEFAULT_SCHEMA.queue_key, 0, -1) == [job_id]


def test_a_driver_judges_the_queue_after_each_operation(qc_target):
    driver = qc_target(teamqueue.make_queue)
    driver.heal_and_retry()
    assert driver.judge() == []
'''


@pytest.fixture(scope="module")
def team_project(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("team-project")
    shutil.copy(EXAMPLE_QUEUE, project / "teamqueue.py")
    (project / "leakyqueue.py").write_text(LEAKY_QUEUE)
    (project / "pytest.ini").write_text(textwrap.dedent(PYTEST_INI))
    (project / "test_teamqueue.py").write_text(TEAM_TESTS)
    return project


def team_pytest(project: Path, *args: str):
    return run_command([sys.executable, "-m", "pytest", "-q", *args], cwd=project,
                       pythonpath=project)


def team_gate(project: Path, *args: str):
    return run_command([QUEUE_CHAOS, "gate", *args], cwd=project, pythonpath=project)


def test_the_team_test_file_passes_on_the_team_queue(team_project):
    run = team_pytest(team_project)
    assert run.code == 0, run.out + run.err
    assert "7 passed" in run.out


def test_the_team_test_file_fails_on_the_leaky_queue_naming_the_finding(team_project):
    # The finding named is a scenario's (FIELD-7). The team's state machine test is left
    # out of this run: on the leak it shrank for 13 of the run's 16 s, and nothing here
    # read its outcome (the run exits 1 on FIELD-7 either way).
    run = team_pytest(team_project, "--qc-target", "leakyqueue:make_queue", "--deselect",
                      "test_teamqueue.py::test_the_queue_keeps_every_invariant_under_faults")
    assert run.code == 1, run.out + run.err
    assert "FAILED test_teamqueue.py::test_the_queue_holds_where_the_review_found_bugs[FIELD-7]" \
        in run.out
    assert "tenant_isolation" in run.out


def test_the_gate_passes_the_team_queue_with_its_state_machine(team_project):
    report = team_project / "reports" / "gate.json"
    run = team_gate(team_project, "--target", "teamqueue:make_queue", "--examples", "5",
                    "--steps", "10", "--json", str(report))
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert run.out.strip().splitlines()[-1].startswith("verdict: PASS")
    summary = json.loads(report.read_text())
    assert summary["target"] == "teamqueue:make_queue"
    assert any(row["id"].startswith("STATEFUL/") for row in summary["rows"])


def test_the_gate_fails_the_leaky_queue_on_the_tenant_leak(team_project):
    run = team_gate(team_project, "--target", "leakyqueue:make_queue", "--no-machine")
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    rows = gate_table(run.out)
    assert rows["FIELD-7"]["result"].startswith("VIOLATED")
    assert rows["FIELD-7"]["blocks"] == "BLOCKS"
    assert run.out.strip().splitlines()[-1].startswith("verdict: FAIL")
