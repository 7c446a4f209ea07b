"""Adapters: third-party queue libraries as harness.job_queue_target.JobQueueTarget.

Each drives its library's own primitives on the client the harness builds; each needs its
library as an optional extra (`pip install 'queue-chaos[rq]'`).
"""
