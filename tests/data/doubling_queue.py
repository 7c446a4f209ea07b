"""The reference queue, except that its first QC_DOUBLE enqueues (default 49) also leave a
second job for the same request, as a retried MULTI/EXEC does: each request then has two
jobs in Redis while the caller was given one.
"""

import os
import uuid

from harness.target import Job, JobStatus, encode_job, load_factory

REFERENCE = load_factory("reference")
DOUBLED: list[str] = []  # request ids doubled so far, in this process


class DoublingQueue:
    def __init__(self, inner, client):
        self._inner, self._client = inner, client
        self.key_schema = inner.key_schema

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def enqueue(self, workspace_id, payload, client_request_id):
        job_id = self._inner.enqueue(workspace_id, payload, client_request_id)
        if len(DOUBLED) < int(os.environ.get("QC_DOUBLE", "49")) \
                and client_request_id not in DOUBLED:
            DOUBLED.append(client_request_id)
            twin = Job(uuid.uuid4().hex, workspace_id, client_request_id, payload,
                       JobStatus.QUEUED)
            schema = self.key_schema
            pipe = self._client.pipeline(transaction=True)
            pipe.hset(schema.old_job_key(twin.job_id), mapping=encode_job(twin))
            pipe.hset(schema.new_job_key(workspace_id, twin.job_id), mapping=encode_job(twin))
            pipe.rpush(schema.queue_key, twin.job_id)
            pipe.execute()
        return job_id


def make_queue(client, registry):
    return DoublingQueue(REFERENCE(client, registry), client)
