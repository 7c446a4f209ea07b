"""`qc_gate`: the verdict `queue-chaos gate` gives, from a team's own pytest file.

The queue that shows why it exists: an enqueue written as one non-transactional pipeline
(the review's fix with `transaction=False`). A pipeline cut part-way runs only its first
commands, which FIELD-3 shows and the gate blocks on; the test run through qc_gate must fail
the same way. The team's pytest runs in process (pytester) on the session's servers.
"""

from __future__ import annotations

import pytest
from cli_runs import compose_env

pytest_plugins = ("pytester",)
pytestmark = pytest.mark.servers

LOOSE_QUEUE = '''
from queue_impl.pipeline_fix import PipelineFixQueue
from queue_impl.records import write_records


class LoosePipelineQueue(PipelineFixQueue):
    def _write_new_job(self, job, idem_key):
        pipe = self.client.pipeline(transaction=False)
        write_records(pipe, self.key_schema, job)
        pipe.rpush(self.key_schema.queue_key, job.job_id)
        pipe.set(idem_key, job.job_id)
        pipe.execute()


def make_queue(client, registry):
    return LoosePipelineQueue(client, registry)
'''

TEAM_TESTS = '''
def test_the_queue_passes_the_gate(qc_gate):
    report = qc_gate(max_examples=3, steps=8, shrink_budget=0)
    assert report.passed
'''


@pytest.fixture
def team(pytester, qc_services, monkeypatch):
    """A project whose pytest uses the session's servers through QUEUE_CHAOS_* variables."""
    for name, value in compose_env(qc_services).items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(loosequeue=LOOSE_QUEUE, test_team=TEAM_TESTS)
    pytester.syspathinsert()
    return pytester


def test_qc_gate_fails_a_queue_the_gate_blocks_naming_the_finding(team):
    result = team.runpytest("--qc-target", "loosequeue:make_queue")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FIELD-3 * HIGH * no_orphan_keys * VIOLATED * BLOCKS*",
                                 "*verdict: FAIL: * blocking finding(s): *FIELD-3*"])


def test_qc_check_queue_takes_a_shrink_budget_and_the_failure_says_where_it_stopped(team):
    team.makepyfile(test_team='''
def test_qc_12(qc_check_queue):
    qc_check_queue("variant:QC-12", max_examples=10, severity_passes=False, shrink_budget=0)
''')
    result = team.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*violates*queue_order*",
                                 "*shrinking: stopped at its budget of 0 s*"])


def test_qc_gate_passes_the_reference_and_returns_the_report(team):
    team.runpytest("--qc-target", "reference").assert_outcomes(passed=1)


def test_qc_gate_blocks_on_the_severities_it_is_given(team):
    team.makepyfile(test_team='''
def test_only_critical_blocks(qc_gate):
    # Without the fault sweep, which also finds this queue's CRITICAL retry defect (a
    # pipeline cut before its SET): the question here is which severities block.
    report = qc_gate(block_on="CRITICAL", max_examples=3, steps=8, shrink_budget=0,
                     sweep=False)
    assert "FIELD-3" not in [row.id for row in report.blocked]
''')
    team.runpytest("--qc-target", "loosequeue:make_queue").assert_outcomes(passed=1)
