"""tenant_isolation: no workspace reads, lists or reuses another workspace's job."""

from checker_states import WS_A, WS_B, Ops, State, jid, job_value, rid

from harness.checker import Checker, check_snapshot
from harness.target import DEFAULT_SCHEMA


def acknowledged(*jobs: tuple[str, str]) -> tuple[Ops, Checker]:
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    for n, (ws, job_id) in enumerate(jobs, start=1):
        assert checker.observe(ops.enqueue(ws, rid(n), job_id)) == []
    return ops, checker


def test_get_job_in_the_owners_workspace_is_fine():
    ops, checker = acknowledged((WS_A, jid(1)))
    assert checker.observe(ops.get_job(WS_A, jid(1), job_value(jid(1)))) == []


def test_get_job_returning_a_job_whose_field_names_another_workspace_is_a_leak():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    [violation] = checker.observe(ops.get_job(WS_B, jid(1), job_value(jid(1), WS_A)))
    assert violation.invariant == "tenant_isolation"
    assert violation.evidence["job_workspace_id"] == WS_A


def test_get_job_returning_another_workspaces_job_under_our_name_is_a_leak():
    ops, checker = acknowledged((WS_A, jid(1)))
    [violation] = checker.observe(ops.get_job(WS_B, jid(1), job_value(jid(1), WS_B)))
    assert violation.evidence["owners"] == [WS_A]
    assert violation.operations == (0, 1)


def test_a_leaking_read_that_completes_before_the_enqueue_is_still_caught():
    ops, checker = Ops(), Checker(DEFAULT_SCHEMA)
    read = ops.get_job(WS_B, jid(1), job_value(jid(1), WS_B))
    enqueue = ops.enqueue(WS_A, rid(1), jid(1))
    assert checker.observe(read) == []
    [violation] = checker.observe(enqueue)
    assert violation.invariant == "tenant_isolation"
    assert violation.operations == (0, 1)


def test_list_jobs_returning_another_workspaces_job_is_a_leak():
    ops, checker = acknowledged((WS_A, jid(1)), (WS_B, jid(2)))
    found = checker.observe(ops.list_jobs(WS_B, [job_value(jid(1)), job_value(jid(2), WS_B)]))
    assert [v.evidence["job_id"] for v in found] == [jid(1)]


def test_an_enqueue_in_one_workspace_returning_anothers_job_id_is_a_leak():
    ops, checker = acknowledged((WS_A, jid(1)))
    [violation] = checker.observe(ops.enqueue(WS_B, rid(1), jid(1)))
    assert violation.invariant == "tenant_isolation"
    assert violation.evidence["requests"] == [[WS_A, rid(1)], [WS_B, rid(1)]]


def test_a_new_key_filed_under_another_workspace_is_a_leak():
    state = State().pending(jid(1), WS_A).build()
    state.new_jobs[(WS_B, jid(1))] = state.new_jobs.pop((WS_A, jid(1)))
    found = [v for v in check_snapshot(state) if v.invariant == "tenant_isolation"]
    assert [v.evidence for v in found] == [
        {"key": f"ai:job:{WS_B}:{jid(1)}", "workspace_id": WS_A}]
