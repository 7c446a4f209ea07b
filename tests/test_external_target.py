"""A queue written by someone else to the documented contract runs under the harness unchanged.

examples/external_queue/simple_queue.py imports only harness.target; it is loaded by its
"module:factory" string once its directory is on the import path, as a team would load theirs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.target import DEFAULT_SCHEMA, Job, JobNotFound, build_target

pytestmark = pytest.mark.servers

EXTERNAL_QUEUE_DIR = Path(__file__).resolve().parents[1] / "examples" / "external_queue"


@pytest.fixture
def queue(qc_client, qc_registry, monkeypatch):
    monkeypatch.syspath_prepend(str(EXTERNAL_QUEUE_DIR))
    return build_target("simple_queue:make_queue", qc_client, qc_registry)


def test_the_external_queue_imports_nothing_from_queue_impl():
    source = (EXTERNAL_QUEUE_DIR / "simple_queue.py").read_text()
    assert "queue_impl" not in source


def test_the_external_queue_runs_a_job_from_enqueue_to_completion(queue, qc_redis):
    job_id = queue.enqueue("team-a", {"task": "resize"}, "req-1")
    assert queue.enqueue("team-a", {"task": "resize"}, "req-1") == job_id
    assert queue.get_job("team-a", job_id) == Job(job_id, "team-a", "req-1", {"task": "resize"},
                                                  "queued")
    assert queue.dequeue(30).job_id == job_id
    queue.complete("team-a", job_id)
    assert [job.status for job in queue.list_jobs("team-a")] == ["completed"]
    assert qc_redis.lrange(DEFAULT_SCHEMA.processing_key, 0, -1) == []


def test_the_external_queue_keeps_jobs_inside_their_workspace(queue):
    job_id = queue.enqueue("team-a", {"task": "resize"}, "req-1")
    assert queue.get_job("team-b", job_id) is None
    with pytest.raises(JobNotFound):
        queue.update_status("team-b", job_id, "failed")


def test_the_external_queue_refuses_bad_input_and_writes_nothing(queue, qc_redis):
    with pytest.raises(ValueError):
        queue.enqueue("", {"task": "resize"}, "req-1")
    with pytest.raises(ValueError):
        queue.enqueue("team-a", {"task": object()}, "req-1")
    assert qc_redis.keys() == []
