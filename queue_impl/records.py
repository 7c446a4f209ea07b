"""Small record helpers the queues share, so that no queue copies another's code."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

import redis

from harness.target import Job, JobStatus, KeySchema, encode_job


def new_job(workspace_id: str, payload: Mapping[str, Any], client_request_id: str) -> Job:
    """A fresh queued job; job ids are uuid4().hex, as the key schema expects."""
    return Job(uuid.uuid4().hex, workspace_id, client_request_id, payload, JobStatus.QUEUED)


def write_records(
    client: redis.Redis | redis.client.Pipeline, schema: KeySchema, job: Job
) -> None:
    """HSET old record, then new: two round trips on a client, two commands in a pipeline."""
    record = encode_job(job)
    client.hset(schema.old_job_key(job.job_id), mapping=record)
    client.hset(schema.new_job_key(job.workspace_id, job.job_id), mapping=record)


def existing_records(
    client: redis.Redis, schema: KeySchema, workspace_id: str, job_id: str
) -> list[str]:
    """Keys of the job's records that exist in that workspace, old first (one round trip)."""
    old_key, new_key = schema.old_job_key(job_id), schema.new_job_key(workspace_id, job_id)
    pipe = client.pipeline(transaction=False)
    pipe.hget(old_key, "workspace_id")
    pipe.exists(new_key)
    old_workspace, new_exists = pipe.execute()
    found = ((old_key, old_workspace == workspace_id), (new_key, bool(new_exists)))
    return [key for key, exists in found if exists]


def glob_literal(text: str) -> str:
    """`text` matched literally inside a SCAN MATCH pattern (glob characters escaped)."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def workspace_record_patterns(schema: KeySchema, workspace_id: str) -> tuple[str, str]:
    """SCAN MATCH patterns for list_jobs: every old record, and the workspace's new ones."""
    return (f"{glob_literal(schema.old_job_prefix)}*",
            f"{glob_literal(schema.new_job_prefix)}{glob_literal(workspace_id)}:*")
