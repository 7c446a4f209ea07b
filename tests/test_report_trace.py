"""A violation's minimal trace: the operations it names and those on the same job, from disk."""

from harness.history import History, OpKind, Outcome
from harness.report.trace import minimal_traces
from harness.target import Job

JOB = "0" * 31 + "1"
OTHER_JOB = "f" * 32


def _history(path):
    history = History.to_file(path)
    def op(kind, args, outcome, value=None, error=None):
        history.complete(history.invoke("producer-0", kind, args), outcome, value, error)
    request = {"workspace_id": "ws-a", "payload": {"n": 1}, "client_request_id": "r1"}
    op(OpKind.ENQUEUE, request, Outcome.UNKNOWN, error="ConnectionError")  # 0
    op(OpKind.ENQUEUE, request, Outcome.OK, JOB)  # 1
    op(OpKind.ENQUEUE, {"workspace_id": "ws-a", "payload": {}, "client_request_id": "r2"},
       Outcome.OK, OTHER_JOB)  # 2: another job
    op(OpKind.DEQUEUE, {"lease_seconds": 5}, Outcome.OK,
       Job(JOB, "ws-a", "r1", {"n": 1}, "running"))  # 3
    op(OpKind.GET_JOB, {"workspace_id": "ws-a", "job_id": JOB}, Outcome.OK, None)  # 4
    history.close()


def test_a_trace_holds_the_named_ops_and_those_on_the_same_request_and_job(tmp_path):
    _history(tmp_path / "history.jsonl")
    (trace,) = minimal_traces(tmp_path / "history.jsonl", [((1,), {})])
    assert [op["index"] for op in trace] == [0, 1, 3, 4]


def test_a_job_id_in_the_evidence_pulls_in_that_jobs_operations(tmp_path):
    _history(tmp_path / "history.jsonl")
    (trace,) = minimal_traces(tmp_path / "history.jsonl", [((), {"keys": [f"ai:job:ws-a:{JOB}"]})])
    assert [op["index"] for op in trace] == [0, 1, 3, 4]


def test_each_violation_gets_its_own_trace(tmp_path):
    _history(tmp_path / "history.jsonl")
    first, second = minimal_traces(tmp_path / "history.jsonl", [((2,), {}), ((4,), {})])
    assert [op["index"] for op in first] == [2]
    assert 4 in [op["index"] for op in second] and 2 not in [op["index"] for op in second]


def test_a_trace_is_cut_to_the_limit_but_keeps_the_named_ops(tmp_path):
    _history(tmp_path / "history.jsonl")
    (trace,) = minimal_traces(tmp_path / "history.jsonl", [((4,), {})], limit=2)
    indexes = [op["index"] for op in trace]
    assert len(indexes) == 2 and 4 in indexes


def test_no_history_file_gives_empty_traces(tmp_path):
    assert minimal_traces(tmp_path / "missing.jsonl", [((1,), {})]) == [[]]
